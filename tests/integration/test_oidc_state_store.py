"""Pending Microsoft sign-ins on each store (SQLite, PostgreSQL, Redis): used once, even
by racing replicas; expired ones told apart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from csp.persistence import parse_database_url
from csp.persistence.oidc_states import PendingSignIn, RedisStateStore, SQLStateStore, StateStore
from tests.support import postgres_schema


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def states(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        s: StateStore = SQLStateStore.for_database(parse_database_url(f"sqlite:///{tmp_path / 'csp.db'}"))
        yield s
        s.close()
    elif request.param == "postgres":
        url = request.getfixturevalue("postgres_dsn")
        with postgres_schema(url) as schema:
            s = SQLStateStore.for_database(parse_database_url(f"{url}?schema={schema}"))
            yield s
            s.close()
    else:
        s = RedisStateStore(
            request.getfixturevalue("api_redis_url"), prefix=request.getfixturevalue("api_redis_prefix")
        )
        yield s
        s.close()


def pending(ttl: float = 60.0, method: str = "microsoft_work") -> PendingSignIn:
    now = time.time()
    return PendingSignIn(method, "nonce-1", "v" * 48, "/orders", "browser-hash", now, now + ttl)


def test_a_pending_sign_in_is_taken_once(states: StateStore):
    put = pending()
    states.put("state-a", put)
    states.put("state-b", pending(method="microsoft_personal"))
    taken = states.take("state-a")
    assert taken == put  # every field comes back as it went in
    assert not taken.expired
    assert states.take("state-a") is None
    assert states.take("unknown") is None
    assert states.take("state-b").method == "microsoft_personal"


def test_an_expired_sign_in_is_still_told_apart_from_an_unknown_one(states: StateStore):
    states.put("old", pending(ttl=-1))
    taken = states.take("old")
    assert taken is not None
    assert taken.expired


def test_racing_takes_of_one_state_give_it_to_one_only(states: StateStore):
    for i in range(20):
        states.put(f"race-{i}", pending())
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: states.take(f"race-{i % 20}"), range(80)))
    assert sum(g is not None for g in got) == 20
