"""A big billing run folds its subscriptions' histories in a pool of processes: the
charges are the same, in the same order, as folded in one process (SQLite file and
PostgreSQL; the in-memory stores never leave the process)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench.generate import START, generate

from csp.application import CspApplication
from csp.application import billing as billing_module
from csp.clock import SettableClock
from tests.support import postgres_schema


def _charges_both_ways(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SettableClock(START)
    app = CspApplication(env=env, clock=clock)
    try:
        generate(app, clock, 3000, seed=3)
        ids = [sid for sid, _ in app.subscriptions_by_reseller()]
        assert len(ids) > 40
        batches = [ids[i : i + 10] for i in range(0, len(ids), 10)]
        end = datetime(2026, 4, 1, tzinfo=UTC)
        monkeypatch.setattr(billing_module, "PARALLEL_FROM_BATCHES", 10**9)
        assert billing_module._fold_processes(len(batches), app.env) == 1
        alone = list(app._fold_batches(batches, end))
        monkeypatch.setattr(billing_module, "PARALLEL_FROM_BATCHES", 2)
        assert billing_module._fold_processes(len(batches), app.env) == min(len(os.sched_getaffinity(0)), len(batches))
        pooled = list(app._fold_batches(batches, end))
        assert sum(len(c) for c in alone) > 100
        assert pooled == alone
    finally:
        app.close()


def test_a_pooled_fold_gives_the_charges_of_one_process_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from csp.persistence import eventsourcing_env, parse_database_url

    _charges_both_ways(eventsourcing_env(parse_database_url(f"sqlite:///{tmp_path / 'csp.db'}")), monkeypatch)


@pytest.mark.postgres
def test_a_pooled_fold_gives_the_charges_of_one_process_on_postgres(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch):
    from csp.persistence import eventsourcing_env, parse_database_url

    with postgres_schema(postgres_dsn) as schema:
        _charges_both_ways(eventsourcing_env(parse_database_url(f"{postgres_dsn}?schema={schema}")), monkeypatch)


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
