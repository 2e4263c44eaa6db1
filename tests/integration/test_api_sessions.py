"""Sessions and the throttles' attempt counters on each store: SQLite, PostgreSQL, Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

import pytest

from csp.api.throttles import LoginThrottle, Throttle, ThrottlePolicy
from csp.persistence import parse_database_url
from csp.persistence.sessions import RedisSessionStore, SessionStore, SQLSessionStore
from tests.support import postgres_schema


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionStore]:
    if request.param == "sqlite":
        s: SessionStore = SQLSessionStore.for_database(parse_database_url(f"sqlite:///{tmp_path / 'csp.db'}"))
        yield s
        s.close()
    elif request.param == "postgres":
        url = request.getfixturevalue("postgres_dsn")
        with postgres_schema(url) as schema:
            s = SQLSessionStore.for_database(parse_database_url(f"{url}?schema={schema}"))
            yield s
            s.close()
    else:
        url = request.getfixturevalue("api_redis_url")
        prefix = request.getfixturevalue("api_redis_prefix")
        s = RedisSessionStore(url, prefix=prefix)
        yield s
        s.close()


def test_a_session_is_found_by_its_id_only_until_it_ends(store: SessionStore):
    user = uuid4()
    sid, session = store.create(user, "local", ttl_seconds=60)
    found = store.get(sid)
    assert found is not None
    assert (found.user_id, found.csrf_token) == (user, session.csrf_token)
    assert sid not in found.id_hash  # only the hash is stored
    assert store.get(sid + "x") is None
    store.delete(sid)
    assert store.get(sid) is None


def test_disabling_ends_every_session_of_the_user(store: SessionStore):
    user, other = uuid4(), uuid4()
    a, _ = store.create(user, "local", 60)
    b, _ = store.create(user, "local", 60)
    c, _ = store.create(other, "local", 60)
    store.delete_for_user(user)
    assert (store.get(a), store.get(b)) == (None, None)
    assert store.get(c) is not None


def test_an_expired_session_is_not_found(store: SessionStore):
    sid, _ = store.create(uuid4(), "local", ttl_seconds=0.2)
    time.sleep(0.3)
    assert store.get(sid) is None


def test_the_throttle_counts_attempts_per_account_and_per_address(store: SessionStore):
    throttle = LoginThrottle(store, ThrottlePolicy(per_account=3, per_address=5, window_seconds=60))
    for _ in range(3):
        assert throttle.reserve("ana@example.com", "10.0.0.1") == 0
    assert 0 < throttle.reserve("ANA@example.com", "10.0.0.9") <= 60
    throttle.succeeded("ana@example.com", "10.0.0.9")  # a good password clears the account
    assert throttle.reserve("ana@example.com", "10.0.0.9") == 0
    # 10.0.0.1 has tried 3 times (each reserved), and a good password gave one back
    throttle.succeeded("ana@example.com", "10.0.0.1")
    for i in range(3):
        assert throttle.reserve(f"u{i}@example.com", "10.0.0.1") == 0
    assert throttle.reserve("new@example.com", "10.0.0.1") > 0
    store.ping()


def test_concurrent_reservations_let_exactly_the_limit_through(store: SessionStore):
    throttle = Throttle(store, window_seconds=60)
    barrier = threading.Barrier(30)

    def attempt(_: int) -> float:
        barrier.wait()
        return throttle.reserve([("account:bob@example.com", 5), (f"address:10.0.0.{_ % 3}", 100)])

    with ThreadPoolExecutor(max_workers=30) as pool:
        waits = list(pool.map(attempt, range(30)))
    assert waits.count(0.0) == 5
    assert all(0 < w <= 60 for w in waits if w), waits


def test_a_window_ends_and_the_next_attempt_starts_a_new_one(store: SessionStore):
    throttle = Throttle(store, window_seconds=0.5)
    assert [throttle.reserve([("k", 2)]) for _ in range(3)][:2] == [0, 0]
    assert throttle.reserve([("k", 2)]) > 0
    time.sleep(0.6)
    assert throttle.reserve([("k", 2)]) == 0
    store.clear_attempts("k")
    assert store.count_attempt(["k"], 60)["k"][0] == 1


def test_ending_a_users_other_sessions_keeps_the_one_asked_for(store: SessionStore):
    user = uuid4()
    a, kept = store.create(user, "local", 60)
    b, _ = store.create(user, "local", 60)
    c, _ = store.create(user, "local", 60)
    assert store.delete_for_user(user, keep=kept.id_hash) == 2
    assert store.get(a) is not None
    assert (store.get(b), store.get(c)) == (None, None)
    assert store.delete_for_user(user) == 1
    assert store.get(a) is None
