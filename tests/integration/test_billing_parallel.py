"""A big billing run bills its resellers in a pool of processes: the invoices and the
customers' drafts are those one process issues from a copy of the same store (SQLite file
and PostgreSQL; the in-memory stores never leave the process)."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench.generate import START, generate

from csp.aggregates.customer_invoice import CustomerInvoice, customer_invoice_id_for
from csp.application import CspApplication
from csp.application import billing as billing_module
from csp.clock import SettableClock
from tests.support import postgres_schema


def _generated(env: dict[str, str]) -> None:
    clock = SettableClock(START)
    app = CspApplication(env=env, clock=clock)
    try:
        generate(app, clock, 3000, seed=3)
    finally:
        app.close()


def _billed(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, parallel_from: int) -> list[object]:
    """March billed, in one process or in a pool: the invoices and the customers' drafts."""
    monkeypatch.setattr(billing_module, "PARALLEL_FROM_BATCHES", parallel_from)
    monkeypatch.setattr(billing_module, "_HISTORY_BATCH", 10)  # (a small store: several batches)
    app = CspApplication(env=env, clock=SettableClock(datetime(2026, 4, 1, 0, 5, tzinfo=UTC)))
    try:
        batches = -(-sum(1 for _ in app.subscriptions_by_reseller()) // 10)
        pooled = min(len(os.sched_getaffinity(0)), batches) if parallel_from <= 1 else 1
        assert batches > 2
        assert billing_module._fold_processes(batches, app.env) == pooled
        invoices = app.run_billing("2026-03")
        assert len(invoices) > 2
        assert sum(len(i.lines) for i in invoices) > 40
        out: list[object] = [(i.id, i.number, i.total, i.lines) for i in invoices]
        for i in invoices:
            for org_id in sorted({line.organization_id for line in i.lines} - {i.reseller_id}, key=str):
                d = app.find(CustomerInvoice, customer_invoice_id_for(i.reseller_id, org_id, "2026-03"), "draft")
                if d is not None:
                    out.append((d.id, d.organization_id, d.lines))
        assert len(out) > len(invoices)
        return out
    finally:
        app.close()


def test_a_pooled_run_issues_the_invoices_of_one_process_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from csp.persistence import eventsourcing_env, parse_database_url

    def env(name: str) -> dict[str, str]:
        return eventsourcing_env(parse_database_url(f"sqlite:///{tmp_path / name}"))

    _generated(env("a.db"))
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    assert _billed(env("b.db"), monkeypatch, 1) == _billed(env("a.db"), monkeypatch, 10**9)


@pytest.mark.postgres
def test_a_pooled_run_issues_the_invoices_of_one_process_on_postgres(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
):
    import psycopg

    from csp.persistence import eventsourcing_env, parse_database_url

    with postgres_schema(postgres_dsn) as a, postgres_schema(postgres_dsn) as b:
        env_a = eventsourcing_env(parse_database_url(f"{postgres_dsn}?schema={a}"))
        env_b = eventsourcing_env(parse_database_url(f"{postgres_dsn}?schema={b}"))
        _generated(env_a)
        CspApplication(env=env_b).close()  # its tables, then a's rows copied into them
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (a,))]
            for t in tables:
                conn.execute(f'INSERT INTO "{b}"."{t}" OVERRIDING SYSTEM VALUE SELECT * FROM "{a}"."{t}"')
                seq = conn.execute(
                    "SELECT pg_get_serial_sequence(format('%%I.%%I', table_schema, table_name), column_name)"
                    " FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                    " AND column_name = 'notification_id'",
                    (b, t),
                )
                row = seq.fetchone()
                if row is not None and row[0] is not None:
                    conn.execute(f'SELECT setval(%s, (SELECT max(notification_id) FROM "{b}"."{t}"))', (row[0],))
        assert _billed(env_b, monkeypatch, 1) == _billed(env_a, monkeypatch, 10**9)


def test_the_events_a_fold_reads_as_ticks_give_the_charges_of_the_events_decoded(tmp_path: Path):
    """A billing run hands the ledger the events it only advances to (licence syncs, windows
    closing…) as their time alone: the charges are those of the whole events, decoded."""
    from csp.aggregates.billing import LEDGER_IGNORES, charges_until
    from csp.persistence import eventsourcing_env, parse_database_url, select_histories

    clock = SettableClock(START)
    app = CspApplication(env=eventsourcing_env(parse_database_url(f"sqlite:///{tmp_path / 'csp.db'}")), clock=clock)
    try:
        generate(app, clock, 3000, seed=5)
        ids = [sid for sid, _ in app.subscriptions_by_reseller()]
        end = datetime(2026, 4, 1, tzinfo=UTC)
        histories = select_histories(app.recorder, ids)
        ticks = sum(1 for events in histories.values() for e in events if e.topic in LEDGER_IGNORES)
        assert ticks > 10
        decoded = []
        for sid in ids:
            decoded += charges_until(sid, [app.mapper.to_domain_event(e) for e in histories.get(sid, ())], end)
        assert len(decoded) > 100
        assert billing_module.fold_charges(app, ids, end) == decoded
    finally:
        app.close()
