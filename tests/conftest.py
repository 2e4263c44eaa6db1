"""Shared fixtures: a settable clock, and the application on each event store.

PostgreSQL comes from ``CSP_TEST_POSTGRES_URL`` (default: local ``csp_test``). When it
cannot be reached, the tests that need it skip on a developer machine and **fail**
in CI (``CI=true``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from csp.application import CspApplication
from csp.clock import SettableClock
from csp.persistence import eventsourcing_env, parse_database_url
from tests.support import postgres_schema, postgres_url

# Each area's fixtures live in their own module, listed here.
pytest_plugins: list[str] = [
    "tests.fixtures.readside",
    "tests.fixtures.sagas",
    "tests.fixtures.api",
    "tests.fixtures.portal",
    "tests.fixtures.oidc",
]

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False
)
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def _postgres_available(url: str) -> str | None:
    import psycopg

    db = parse_database_url(url)
    try:
        with psycopg.connect(host=db.host, port=db.port, user=db.user or None, dbname="postgres", connect_timeout=3):
            return None
    except psycopg.OperationalError as e:
        return str(e).strip().splitlines()[0]


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    url = postgres_url()
    problem = _postgres_available(url)
    if problem:
        message = f"PostgreSQL is not reachable at {url}: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture(params=["sqlite", "postgres"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The eventsourcing environment of a fresh store, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield eventsourcing_env(parse_database_url(f"sqlite:///{tmp_path / 'csp.db'}"))
    else:
        url = request.getfixturevalue("postgres_dsn")
        with postgres_schema(url) as schema:
            yield eventsourcing_env(parse_database_url(f"{url}?schema={schema}"))


@pytest.fixture
def store_app(store_env: dict[str, str], clock: SettableClock) -> Iterator[CspApplication]:
    app = CspApplication(env=store_env, clock=clock)
    try:
        yield app
    finally:
        app.close()
