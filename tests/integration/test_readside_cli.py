"""The read side's commands, as an operator runs them (SQLite, one process each)."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from csp.application import CspApplication
from csp.clock import SettableClock
from csp.persistence import eventsourcing_env, parse_database_url
from csp.projections import ReadModels
from tests.support import ACTOR, FORMULA, catalog_with_formula_name, make_world


@pytest.fixture
def store(tmp_path: Path) -> tuple[dict[str, str], CspApplication]:
    """A store with a customer and a subscription bought on 5 January 2026."""
    url = f"sqlite:///{tmp_path / 'csp.db'}"
    clock = SettableClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    app = CspApplication(env=eventsourcing_env(parse_database_url(url)), clock=clock)
    w = make_world(app, clock)
    sub = w.buy(4)
    clock.set(datetime(2026, 1, 20, 9, 0, tzinfo=UTC))
    app.change_subscription_quantity(sub.id, 6, actor=ACTOR)
    env = {"CSP_DATABASE_URL": url, "PATH": "", "HOME": str(tmp_path), "COLUMNS": "200"}
    env["SUBSCRIPTION"], env["CUSTOMER"] = str(sub.id), str(w.customer.id)
    return env, app


def csp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "csp.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_rebuild_lists_rebuilds_and_names_a_bad_model(store):
    env, _ = store
    listed = csp(env, "rebuild", "--list")
    assert "orders_list" in listed.stdout.split()
    r = csp(env, "rebuild", "--all")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("rebuilt orders_list, subscriptions_list")
    assert "events/s" in r.stderr  # the progress bar
    bad = csp(env, "rebuild", "order_list")
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith("csp: invalid_input: name: must be one of orders_list")


def test_billing_run_issues_once_and_export_writes_the_lines(store, tmp_path: Path):
    env, _ = store
    first = csp(env, "billing", "run", "--period", "2026-01")
    assert first.returncode == 0, first.stderr
    assert "INV-202601-0001" in first.stdout
    again = csp(env, "billing", "run", "--period", "2026-01")
    assert "nothing to invoice" in again.stdout
    out = tmp_path / "january.csv"
    r = csp(env, "billing", "export", "--period", "2026-01", "--output", str(out))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    # 4 × 14.16 = 56.64 on 5 January; 2 × 14.16 × 16/31 = 14.62 on 20 January
    assert [(r["number"], r["amount"]) for r in rows] == [("INV-202601-0001", "56.64"), ("INV-202601-0001", "14.62")]
    bad = csp(env, "billing", "run", "--period", "January")
    assert bad.returncode == 1
    assert "period: must be a month like 2026-11" in bad.stderr


def test_audit_show_replays_a_subscription_as_of_a_time(store):
    env, _ = store
    now = csp(env, "audit", "show", env["SUBSCRIPTION"])
    assert now.returncode == 0, now.stderr
    assert "Provisioned" in now.stdout
    assert "SeatsAdded" in now.stdout
    assert '"quantity": 6' in now.stdout
    before = csp(env, "audit", "show", env["SUBSCRIPTION"], "--as-of", "2026-01-10T00:00:00+00:00", "--json")
    assert '"quantity": 4' in before.stdout
    assert "SeatsAdded" not in before.stdout
    assert csp(env, "audit", "show", "not-an-id").stderr.strip() == "csp: invalid_input: id: is not an id (a UUID)"


def test_csp_project_follows_the_log_until_stopped(store):
    env, app = store
    proc = subprocess.Popen(
        [sys.executable, "-m", "csp.cli", "project"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    following = threading.Event()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "following the log" in line:
                following.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        db = parse_database_url(env["CSP_DATABASE_URL"])
        read = ReadModels(database=db, app=app)
        assert read.wait(app.recorder.max_notification_id(), timeout=60)
        assert read.subscriptions(UUID(env["CUSTOMER"])).items[0]["purchased"] == 6
        read.close()
        # caught up, then following (the catch-up alone reaches the position first)
        assert following.wait(60), "".join(lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        proc.wait(timeout=30)
        reader.join(10)
    assert proc.returncode == 0, "".join(lines)
    assert time.monotonic() - started < 15


def test_billing_export_writes_a_formula_in_a_line_as_text(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'csp.db'}"
    clock = SettableClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    app = CspApplication(env=eventsourcing_env(parse_database_url(url)), clock=clock)
    app.import_catalog(catalog_with_formula_name(tmp_path))
    make_world(app, clock).buy(1)
    app.close()
    env = {"CSP_DATABASE_URL": url, "PATH": "", "HOME": str(tmp_path), "COLUMNS": "200"}
    assert csp(env, "billing", "run", "--period", "2026-01").returncode == 0
    r = csp(env, "billing", "export", "--period", "2026-01")
    assert r.returncode == 0, r.stderr
    (row,) = csv.DictReader(io.StringIO(r.stdout))
    assert row["description"].startswith(f"'{FORMULA} · ")
    assert row["amount"] == "14.16"
