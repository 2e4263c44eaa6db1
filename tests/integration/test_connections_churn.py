"""Connections under churn: start-up races and dropped connections are survived."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import PersistenceError

import csp.bootstrap as bootstrap_module
from csp.bootstrap import bootstrap
from csp.persistence import is_transient_startup_error, parse_database_url
from csp.projections import reader_env
from csp.settings import Settings
from tests.support import ACTOR, postgres_schema, profile


@pytest.mark.parametrize(
    "message",
    [
        "tuple concurrently updated",
        'duplicate key value violates unique constraint "pg_type_typname_nsp_index"',
        'relation "stored_events" already exists',
        "FATAL:  sorry, too many clients already",
        "server closed the connection unexpectedly",
        "terminating connection due to administrator command",
    ],
)
def test_start_up_races_and_dropped_connections_are_transient(message: str):
    assert is_transient_startup_error(PersistenceError(message))


def test_a_wrong_address_is_not_retried():
    assert not is_transient_startup_error(PersistenceError('connection refused: is the server running on "x"?'))
    assert not is_transient_startup_error(ValueError("tuple concurrently updated"))


def test_start_up_backs_off_and_retries_a_schema_race(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    real = bootstrap_module.open_application
    failures = iter(["tuple concurrently updated", "sorry, too many clients already"])

    def flaky(db, clock, secrets):  # type: ignore[no-untyped-def]
        reason = next(failures, None)
        if reason is not None:
            raise PersistenceError(reason)
        return real(db, clock, secrets)

    monkeypatch.setattr(bootstrap_module, "open_application", flaky)
    monkeypatch.setattr(bootstrap_module, "STARTUP_BACKOFF_SECONDS", 0.01)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'csp.db'}", data_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="csp.bootstrap"):
        system = bootstrap(settings, load_catalog=False, role="tool")
    try:
        retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
        assert len(retries) == 2, retries
        assert "tuple concurrently updated" in retries[0]
        assert "too many clients" in retries[1]
    finally:
        system.close()


def test_start_up_gives_up_after_its_attempts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from csp.errors import StartupError

    def always(db, clock, secrets):  # type: ignore[no-untyped-def]
        raise PersistenceError("tuple concurrently updated")

    monkeypatch.setattr(bootstrap_module, "open_application", always)
    monkeypatch.setattr(bootstrap_module, "STARTUP_BACKOFF_SECONDS", 0.01)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'csp.db'}", data_dir=tmp_path, startup_attempts=3)
    with pytest.raises(StartupError, match=r"after 3 attempts.*tuple concurrently updated"):
        bootstrap(settings, load_catalog=False, role="tool")


def test_followers_of_the_log_create_no_tables(postgres_dsn: str):
    """Only the composition root creates tables (under the schema lock): the log readers
    that the projector opens later must not race the other processes' start-up."""
    env = reader_env(parse_database_url(postgres_dsn))
    assert env["CREATE_TABLE"] == "no"


FLEET = (
    "import sys\n"
    "from csp.settings import Settings\n"
    "from csp.bootstrap import bootstrap\n"
    "from csp.projections.runner import LogReader\n"
    "role = sys.argv[1]\n"
    "s = bootstrap(Settings(), role=role)\n"
    "if s.projector is not None:\n"
    "    LogReader(s.projector.reader_env).close()\n"
    "s.close()\n"
)


def test_a_fleet_started_at_once_on_a_fresh_postgres_schema_all_comes_up(postgres_dsn: str, tmp_path: Path):
    with postgres_schema(postgres_dsn) as schema:
        env = {"CSP_DATABASE_URL": f"{postgres_dsn}?schema={schema}", "PATH": "", "HOME": str(tmp_path)}
        roles = ["all", "read", "sagas", "sagas", "sagas", "read", "all", "sagas"]
        procs = [
            subprocess.Popen([sys.executable, "-c", FLEET, r], env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
            for r in roles
        ]
        results = [(p.wait(timeout=180), p.stderr.read() if p.stderr else "") for p in procs]
    assert [rc for rc, _ in results] == [0] * len(roles), [err[-600:] for rc, err in results if rc]


def _terminate(dsn: str, app_name: str) -> int:
    with psycopg.connect(dsn, autocommit=True, application_name="csp-churn-terminator") as c:
        rows = c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (app_name,)
        ).fetchall()
    return len(rows)


def test_a_running_process_survives_its_backends_being_terminated(
    postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    app_name = f"csp-churn-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PGAPPNAME", app_name)
    with postgres_schema(postgres_dsn) as schema:
        settings = Settings(database_url=f"{postgres_dsn}?schema={schema}", data_dir=tmp_path)
        system = bootstrap(settings, load_catalog=False, role="all")
        try:
            assert system.sagas is not None
            assert system.read is not None
            first = system.app.register_reseller(profile("Contoso"), actor=ACTOR)
            system.sagas.store.failed()
            system.read.view.max_tracking_id("CspApplication")
            killed = _terminate(postgres_dsn, app_name)
            assert killed >= 3, killed
            # every store's next use reconnects
            second = system.app.register_reseller(profile("Fabrikam"), actor=ACTOR)
            assert system.app.repository.get(first.id).id == first.id
            assert system.app.repository.get(second.id).id == second.id
            assert system.sagas.store.failed() == []
            system.read.view.max_tracking_id("CspApplication")
        finally:
            system.close()
