"""The login throttle holds under concurrency: 20 wrong guesses at once on one account,
against API servers on loopback ports, check at most 5 passwords; on each store of
the throttle (SQLite, PostgreSQL, Redis)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from csp.application.passwords import Passwords
from csp.bootstrap import System, bootstrap
from csp.settings import Settings
from tests.fixtures.api import API, PASSWORD, serve, sign_up
from tests.support import postgres_schema

pytestmark = pytest.mark.postgres


class CountingPasswords(Passwords):
    """Passwords that count how many times a password was checked (a test's spy)."""

    def __init__(self) -> None:
        super().__init__()
        self.checks = 0
        self._lock = threading.Lock()

    def verify(self, password_hash: str | None, password: str) -> bool:
        with self._lock:
            self.checks += 1
        return super().verify(password_hash, password)


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def throttled_system(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[System]:
    base = {"data_dir": tmp_path, "test_mode": True, "public_url": "http://testserver"}
    if request.param == "sqlite":
        system = bootstrap(Settings(**base))
        yield from _running(system)
    elif request.param == "postgres":
        url = request.getfixturevalue("postgres_dsn")
        with postgres_schema(url) as schema:
            yield from _running(bootstrap(Settings(**base, database_url=f"{url}?schema={schema}")))
    else:
        redis_url = request.getfixturevalue("api_redis_url")
        prefix = request.getfixturevalue("api_redis_prefix")
        yield from _running(bootstrap(Settings(**base, session_url=redis_url, redis_prefix=prefix)))


def _running(system: System) -> Iterator[System]:
    assert system.projector is not None
    system.projector.start()
    try:
        yield system
    finally:
        system.close()


def test_twenty_parallel_wrong_guesses_check_at_most_five_passwords(throttled_system: System):
    from csp.bootstrap import web_app

    system = throttled_system
    account = sign_up(web_app(system), system)
    spy = CountingPasswords()
    system.app._passwords = spy
    # two API servers (each its own sessions and throttle store connection) on one store
    with serve(system) as first, serve(system) as second:
        barrier = threading.Barrier(20)

        def guess(i: int) -> int:
            url = first if i % 2 else second
            with httpx.Client(timeout=60) as c:
                barrier.wait()
                r = c.post(f"{url}{API}/auth/login", json={"email": account.email, "password": f"wrong-guess-{i:04}"})
                return r.status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(guess, range(20)))
        # then at most 5 guesses were checked; every other one was throttled unchecked
        assert spy.checks <= 5, f"{spy.checks} passwords checked"
        assert statuses.count(401) == spy.checks
        assert statuses.count(429) == 20 - spy.checks
        # the right password is throttled too, now, without a check
        r = httpx.post(f"{first}{API}/auth/login", json={"email": account.email, "password": PASSWORD}, timeout=30)
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) > 0
        assert spy.checks <= 5
