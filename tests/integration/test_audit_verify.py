"""Tamper evidence: ``csp audit verify`` names the first event altered or removed in the store."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.fixtures.readside import ReadWorld

pytestmark = pytest.mark.postgres


def tamper(rw: ReadWorld, sql_sqlite: str, sql_postgres: str, params: tuple[object, ...]) -> None:
    db = rw.database
    if db.is_sqlite:
        with sqlite3.connect(str(db.path)) as conn:
            conn.execute(sql_sqlite, params)
    else:
        with psycopg.connect(host=db.host, port=db.port, user=db.user, dbname=db.dbname, autocommit=True) as conn:
            conn.execute(sql_postgres.replace("{table}", f'"{db.schema}".csp_events'), params)


def test_verify_names_the_first_row_altered_directly_in_the_database(read_world: ReadWorld):
    rw = read_world
    w = rw.world()
    w.buy(2)
    rw.sync()
    assert rw.projector.verify_audit().ok
    # someone edits a stored event (the quantity bought) behind the application's back
    n = 12
    (original,) = rw.app.recorder.select_notifications(n, 1)
    altered = original.state.replace(b'"quantity":2', b'"quantity":1') if b'"quantity":2' in original.state else b"{}"
    tamper(
        rw,
        "UPDATE stored_events SET state = ? WHERE rowid = ?",
        "UPDATE {table} SET state = %s WHERE notification_id = %s",
        (altered, n),
    )
    result = rw.projector.verify_audit()
    assert (result.problem, result.notification_id) == ("altered", n)
    assert "notification 12 was altered" in result.message


def test_verify_names_a_removed_event(read_world: ReadWorld):
    rw = read_world
    w = rw.world()
    w.buy(1)
    rw.sync()
    tamper(rw, "DELETE FROM stored_events WHERE rowid = ?", "DELETE FROM {table} WHERE notification_id = %s", (7,))
    result = rw.projector.verify_audit()
    assert (result.problem, result.notification_id) == ("removed", 7)


def test_csp_audit_verify_exits_non_zero_on_tampering(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'csp.db'}"
    env = {"CSP_DATABASE_URL": url, "PATH": "", "HOME": str(tmp_path)}
    run = [sys.executable, "-m", "csp.cli"]
    assert subprocess.run([*run, "catalog", "import"], env=env, timeout=120).returncode == 0
    r = subprocess.run([*run, "audit", "verify"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ok: 1 events match the chain" in r.stdout
    with sqlite3.connect(tmp_path / "csp.db") as conn:
        conn.execute("UPDATE stored_events SET topic = topic || ' ' WHERE rowid = 1")
    r = subprocess.run([*run, "audit", "verify"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1
    assert "TAMPERED: notification 1 was altered" in r.stdout + r.stderr
