"""PostgreSQL appends (``csp.persistence.postgres``): one round trip each, concurrent saves
committed together, a follower never skipping an event, one save's failure never
failing another's, and the pool's check costing no round trip unless needed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from csp.aggregates.index import Counter
from csp.application import CspApplication
from csp.persistence import eventsourcing_env, parse_database_url
from csp.persistence.postgres import GroupCommitRecorder
from tests.support import ACTOR, postgres_schema

AT = datetime(2026, 1, 5, tzinfo=UTC)
pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_env(postgres_dsn: str) -> Iterator[dict[str, str]]:
    with postgres_schema(postgres_dsn) as schema:
        env = eventsourcing_env(parse_database_url(f"{postgres_dsn}?schema={schema}"))
        env["POSTGRES_POOL_SIZE"] = "4"
        env["POSTGRES_MAX_OVERFLOW"] = "8"
        yield env


@pytest.fixture
def app(pg_env: dict[str, str]) -> Iterator[CspApplication]:
    a = CspApplication(env=pg_env)
    try:
        yield a
    finally:
        a.close()


def recorder(app: CspApplication) -> GroupCommitRecorder:
    assert isinstance(app.recorder, GroupCommitRecorder)
    return app.recorder


def groups(app: CspApplication) -> list[list[int]]:
    """Record the sizes (events per save) of each append the recorder sends."""
    rec = recorder(app)
    sent: list[list[int]] = []
    real = rec._append_once

    def spy(group: list[Any]) -> Any:
        sent.append([len(s.events) for s in group])
        return real(group)

    rec._append_once = spy  # type: ignore[method-assign]
    return sent


@pytest.fixture
def table_lock(pg_env: dict[str, str]) -> Iterator[Any]:
    """Hold the events table's lock from another connection until ``release()``."""
    dsn = {k: pg_env[f"POSTGRES_{k.upper()}"] for k in ("dbname", "host", "port", "user")}
    conn = psycopg.connect(**dsn)
    conn.execute(f'LOCK TABLE "{pg_env["POSTGRES_SCHEMA"]}".csp_events IN EXCLUSIVE MODE')
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


def counter(name: str, advances: int = 0) -> Counter:
    c = Counter(name=name, value=0, actor=ACTOR, at=AT)
    for _ in range(advances):
        c.advance(actor=ACTOR, at=AT)
    return c


def start(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except Exception as e:
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    return t, out


def wait_for_queue(app: CspApplication, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(recorder(app)._queue) < n:
        assert time.monotonic() < deadline, "the saves never queued"
        time.sleep(0.005)


def test_saves_that_arrive_while_one_is_in_flight_commit_together_and_a_conflict_fails_alone(
    app: CspApplication, table_lock: Any
):
    sent = groups(app)
    # given a save in flight (waiting for the table's lock, held elsewhere)
    first, first_out = start(lambda: app.save(counter("first")))
    deadline = time.monotonic() + 10
    while not sent:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    # when three more saves arrive meanwhile: one of them writes a version already taken
    stale = counter("first")  # the same aggregate id at version 1 again: a conflict
    others = [start(lambda: app.save(counter("second", advances=1))), start(lambda: app.save(stale))]
    others.append(start(lambda: app.save(counter("third"))))
    wait_for_queue(app, 3)
    table_lock.rollback()  # the lock is free: the first append goes, then the group
    for t, _ in [(first, first_out), *others]:
        t.join(10)
    # then the three were one append (one round trip, one transaction)
    assert len(sent) == 2, sent
    assert sent[0] == [1]
    assert sorted(sent[1]) == [1, 1, 2]
    # and only the stale save failed; the others are stored
    assert "error" not in first_out
    results = [out for _, out in others]
    errors = [out.get("error") for out in results]
    assert sum(e is not None for e in errors) == 1, errors
    assert type(next(e for e in errors if e is not None)).__name__ == "ConcurrentModification"
    assert app.load(Counter, Counter.id_for("second"), "counter").value == 1
    assert app.load(Counter, Counter.id_for("third"), "counter").value == 0


def test_a_save_that_breaks_a_combined_append_fails_alone(app: CspApplication, table_lock: Any):
    sent = groups(app)
    first, _ = start(lambda: app.save(counter("a")))
    deadline = time.monotonic() + 10
    while not sent:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    # a version no bigint holds: the server refuses the whole append (not a conflict)
    bad = StoredEvent(originator_id=uuid4(), originator_version=2**70, topic="x", state=b"{}")
    broken, broken_out = start(lambda: app.recorder.insert_events([bad]))
    good, good_out = start(lambda: app.save(counter("good")))
    wait_for_queue(app, 2)
    table_lock.rollback()
    for t in (first, broken, good):
        t.join(10)
    assert "error" in broken_out
    assert not isinstance(broken_out["error"], IntegrityError)
    assert "error" not in good_out, good_out
    assert app.load(Counter, Counter.id_for("good"), "counter").version == 1


def test_many_concurrent_writers_never_make_a_follower_skip_an_event(pg_env: dict[str, str]):
    # two applications (two pools, as two processes) × 6 threads, saves of 1 to 3 events
    apps = [CspApplication(env=pg_env), CspApplication(env=pg_env)]
    follower = CspApplication(env=pg_env)
    stop = threading.Event()
    seen: list[int] = []

    def follow() -> None:
        last = 0
        while True:
            done = stop.is_set()
            for n in follower.recorder.select_notifications(start=last + 1, limit=500):
                seen.append(n.id)
                last = n.id
            if done:
                return

    def write(app: CspApplication, k: int) -> None:
        for i in range(40):
            app.save(counter(f"w-{id(app)}-{k}-{i}", advances=i % 3))

    try:
        reader = threading.Thread(target=follow)
        reader.start()
        writers = [threading.Thread(target=write, args=(a, k)) for a in apps for k in range(6)]
        for t in writers:
            t.start()
        for t in writers:
            t.join(60)
        stop.set()
        reader.join(30)
        stored = [n.id for n in follower.recorder.select_notifications(start=1, limit=100_000)]
    finally:
        for a in [*apps, follower]:
            a.close()
    assert len(stored) == 12 * sum(1 + i % 3 for i in range(40))
    assert seen == stored  # every event, in order: none passed over and found later


def test_a_pooled_connection_is_pinged_only_when_needed(pg_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    from psycopg_pool import ConnectionPool

    app_name = f"csp-ping-{uuid4().hex[:8]}"
    monkeypatch.setenv("PGAPPNAME", app_name)
    app = CspApplication(env=pg_env)
    pings = 0
    real = ConnectionPool.check_connection

    def counting(conn: Any) -> None:
        nonlocal pings
        pings += 1
        real(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counting))
    try:
        app.save(counter("warm"))
        for _ in range(8):  # every connection of the pool checked out once
            app.recorder.max_notification_id()
        pings = 0
        for i in range(10):
            app.save(counter(f"hot-{i}"))
        assert pings == 0  # a connection in use is not pinged
        # when the server drops the pool's connections, the next use replaces them
        dsn = {k: pg_env[f"POSTGRES_{k.upper()}"] for k in ("dbname", "host", "port", "user")}
        with psycopg.connect(**dsn, autocommit=True, application_name="csp-ping-terminator") as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (app_name,)
            ).fetchall()
        assert killed
        time.sleep(0.3)  # the backends' goodbyes reach the sockets
        app.save(counter("after"))
        assert pings >= 1
        assert app.load(Counter, Counter.id_for("after"), "counter").version == 1
    finally:
        app.close()
