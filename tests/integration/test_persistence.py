"""Event-store wiring: URLs, start-up errors, and the SQLite subscription."""

import subprocess
import sys
import threading
import time
import uuid
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
    lags: list[float] = []
    with ApplicationSubscription(app, gt=None) as sub:
        assert [next(sub)[1].notification_id for _ in range(2)] == [1, 2]
        for i in range(5):
            started = time.monotonic()
            app.register_reseller(profile(f"Reseller {i}"), actor=ACTOR)  # two events: organization and slug
            assert [next(sub)[1].notification_id for _ in range(2)] == [3 + 2 * i, 4 + 2 * i]
            lags.append(time.monotonic() - started)
    app.close()
    # woken by the write, not by the half-second poll (which would average ~0.25 s)
    assert sorted(lags)[2] < 0.1, lags


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


def test_a_sqlite_write_in_another_process_wakes_the_subscription_at_once(tmp_path: Path):
    """A follower is woken by another process's write through its socket, not at its next poll."""
    url = f"sqlite:///{tmp_path / 'csp.db'}"
    app = CspApplication(env=eventsourcing_env(parse_database_url(url)), clock=SettableClock())
    app.register_reseller(profile(), actor=ACTOR)  # notifications 1 and 2
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from csp.application import CspApplication\n"
            "from csp.clock import SettableClock\n"
            "from csp.persistence import eventsourcing_env, parse_database_url\n"
            "from tests.support import ACTOR, profile\n"
            f"app = CspApplication(env=eventsourcing_env(parse_database_url({url!r})), clock=SettableClock())\n"
            "for line in sys.stdin:\n"
            "    app.register_reseller(profile(line.strip()), actor=ACTOR)\n"
            "    print(time.time(), flush=True)\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    lags: list[float] = []
    try:
        with ApplicationSubscription(app, gt=2) as sub:
            for i in range(5):
                assert writer.stdin is not None
                assert writer.stdout is not None
                writer.stdin.write(f"Reseller {i}\n")
                writer.stdin.flush()
                written = float(writer.stdout.readline())
                for _ in range(2):  # the organization and its slug
                    next(sub)
                lags.append(time.time() - written)
    finally:
        writer.kill()
        writer.wait(timeout=10)
        app.close()
    # the poll is every 0.5 s: five writes woken by it would average ~0.25 s, none under 0.1 s
    assert sorted(lags)[2] < 0.1, lags


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_position_signal_reaches_every_listener_and_forgets_the_gone(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
):
    from csp.persistence.signals import SocketDirSignal, position_signal
    from tests.support import postgres_schema

    def run(url: str) -> None:
        db = parse_database_url(url)
        publisher, listeners = position_signal(db, "test"), [position_signal(db, "test") for _ in range(2)]
        assert publisher is not None
        got: list[list[int | None]] = [[], []]
        events = [threading.Event(), threading.Event()]
        try:
            for i, listener in enumerate(listeners):
                assert listener is not None

                def on(position: int | None, i: int = i) -> None:
                    got[i].append(position)
                    if position == 42:
                        events[i].set()

                listener.listen(on)
            time.sleep(0.3)  # LISTEN is in place
            publisher.publish(42)
            assert all(e.wait(5) for e in events), got
            assert all(g[0] is None and g[-1] == 42 for g in got), got  # told to re-read first
            if isinstance(publisher, SocketDirSignal):
                gone = publisher.folder / "1-gone.sock"
                gone.touch()
                publisher.publish(43)
                assert not gone.exists()  # a socket nobody reads is removed
        finally:
            for s in (publisher, *listeners):
                assert s is not None
                s.close()

    if kind == "sqlite":
        run(f"sqlite:///{tmp_path / 'csp.db'}")
        return
    pg = request.getfixturevalue("postgres_dsn")
    with postgres_schema(pg) as schema:
        run(f"{pg}?schema={schema}")


@pytest.mark.postgres
def test_the_histories_of_many_aggregates_are_read_in_one_query_as_one_by_one(store_env: dict[str, str]):
    from csp.persistence import select_histories

    app = CspApplication(env=store_env, clock=SettableClock())
    try:
        ids = [app.register_reseller(profile(f"Reseller {i}"), actor=ACTOR).id for i in range(5)]
        org = app.repository.get(ids[0])
        ids.append(org.id)
        missing = uuid.uuid4()
        found = select_histories(app.recorder, [*ids, missing])
        assert missing not in found
        for oid in ids:
            assert found[oid] == list(app.recorder.select_events(oid))
    finally:
        app.close()
