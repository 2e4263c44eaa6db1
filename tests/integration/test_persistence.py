"""Event-store wiring: URLs, start-up errors, and the SQLite subscription."""

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from eventsourcing.projection import ApplicationSubscription

from csp.application import CspApplication
from csp.clock import SettableClock
from csp.errors import StartupError
from csp.persistence import eventsourcing_env, parse_database_url
from tests.support import ACTOR, profile


def test_database_urls_are_parsed():
    db = parse_database_url("postgresql://csp:s%40cret@db.internal:5433/csp?pool_size=3&max_overflow=2")
    assert (db.kind, db.host, db.port, db.user, db.password, db.dbname, db.pool_size, db.max_overflow) == (
        "postgres",
        "db.internal",
        5433,
        "csp",
        "s@cret",
        "csp",
        3,
        2,
    )
    assert parse_database_url("sqlite:///var/csp.db").path == Path("var/csp.db")
    assert parse_database_url("sqlite:////tmp/x/csp.db").path == Path("/tmp/x/csp.db")
    assert parse_database_url("sqlite:///:memory:").path is None
    assert parse_database_url("sqlite:///var/csp.db").sibling("read") == Path("var/csp.read.db")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://localhost/x", "must start with sqlite:/// or postgresql://"),
        ("postgresql://root@127.0.0.1:5432/", "names no database"),
        ("sqlite://host/x.db", "has no host"),
        ("postgresql://root@127.0.0.1:5432/x?pool_size=lots", "bad number"),
    ],
)
def test_a_bad_url_is_one_clear_error(url: str, says: str):
    with pytest.raises(StartupError) as e:
        parse_database_url(url)
    assert says in str(e.value)


def test_an_unreachable_database_stops_start_up_with_one_line(tmp_path: Path):
    env = {"CSP_DATABASE_URL": "postgresql://root@127.0.0.1:1/csp", "PATH": "", "HOME": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, "-m", "csp.cli", "check"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("csp: cannot connect to PostgreSQL root@127.0.0.1:1/csp")
    assert "Traceback" not in r.stderr


def test_the_sqlite_store_has_a_subscription_woken_by_writes(tmp_path: Path):
    env = eventsourcing_env(parse_database_url(f"sqlite:///{tmp_path / 'csp.db'}"))
    app = CspApplication(env=env, clock=SettableClock())
    app.register_reseller(profile(), actor=ACTOR)
    seen: list[int] = []
    with ApplicationSubscription(app, gt=None) as sub:

        def follow() -> None:
            for _, tracking in sub:
                seen.append(tracking.notification_id)
                if len(seen) == 4:
                    break

        t = threading.Thread(target=follow)
        t.start()
        time.sleep(0.05)
        started = time.monotonic()
        app.register_reseller(profile("Second"), actor=ACTOR)  # two events: organization and slug
        t.join(timeout=5)
        assert seen == [1, 2, 3, 4]
        # woken by the write, not by the half-second poll
        assert time.monotonic() - started < 0.4
    app.close()


def test_the_sqlite_subscription_sees_writes_of_other_processes_by_polling(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'csp.db'}"
    env = eventsourcing_env(parse_database_url(url))
    app = CspApplication(env=env, clock=SettableClock())
    with ApplicationSubscription(app, gt=None) as sub:
        r = subprocess.run(
            [sys.executable, "-m", "csp.cli", "catalog", "import"],
            capture_output=True,
            text=True,
            env={"CSP_DATABASE_URL": url, "PATH": ""},
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        event, tracking = next(sub)
        assert type(event).__name__ == "Imported"
        assert tracking.notification_id == 1
    app.close()


def test_processes_starting_at_once_on_a_fresh_postgres_database_all_start(postgres_dsn: str):
    from tests.support import postgres_schema

    code = (
        "from csp.settings import Settings\n"
        "from csp.bootstrap import bootstrap\n"
        "from csp.persistence.sessions import build_session_store\n"
        "s = bootstrap(Settings())\n"
        "store = build_session_store(s.settings, s.database)\n"
        "s.close()\n"
    )
    with postgres_schema(postgres_dsn) as schema:
        env = {"CSP_DATABASE_URL": f"{postgres_dsn}?schema={schema}", "PATH": ""}
        procs = [
            subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True) for _ in range(5)
        ]
        results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert [rc for rc, _ in results] == [0] * 5, [err[-400:] for rc, err in results if rc]
