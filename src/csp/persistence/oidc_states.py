"""Sign-ins in progress: what ``/start`` sent to the provider, kept server-side until the
browser comes back to ``/callback`` — once.

A pending sign-in holds the nonce and the PKCE code verifier, where to go afterwards,
and the hash of the browser cookie it was started with. It is found by the hash of its
``state`` and deleted in the same statement that reads it (``DELETE … RETURNING``, or
a Redis ``MULTI`` of GET and DEL), so a state is used at most once, even by two
replicas at the same moment. It lives beside the sessions: a ``csp.auth.db`` file on
SQLite, a ``csp_oidc_states`` table on PostgreSQL, keys under the prefix on Redis.
Times are wall time (the provider's tokens are too), never the test clock.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Protocol

from csp.aggregates.secrets import secret_hash
from csp.persistence import Database
from csp.persistence.sqlstore import SQLTableStore
from csp.settings import Settings

# An expired state is kept a little longer, to tell "expired" from "unknown".
GRACE_SECONDS = 300.0


def wall_time() -> float:
    return time.time()


@dataclass(frozen=True)
class PendingSignIn:
    method: str
    nonce: str
    code_verifier: str
    next_path: str
    browser_hash: str
    created_at: float
    expires_at: float

    @property
    def expired(self) -> bool:
        return wall_time() > self.expires_at


class StateStore(Protocol):
    def put(self, state: str, pending: PendingSignIn) -> None: ...

    def take(self, state: str) -> PendingSignIn | None:
        """The pending sign-in of this state, removed: a second take finds nothing."""
        ...

    def close(self) -> None: ...


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {p}oidc_states (state_hash TEXT PRIMARY KEY, method TEXT NOT NULL, "
    "nonce TEXT NOT NULL, code_verifier TEXT NOT NULL, next_path TEXT NOT NULL, browser_hash TEXT NOT NULL, "
    "created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {n}oidc_states_expiry ON {p}oidc_states (expires_at)",
)
_COLUMNS = "method, nonce, code_verifier, next_path, browser_hash, created_at, expires_at"


class SQLStateStore(SQLTableStore):
    """Pending sign-ins in SQL: SQLite (the sessions' file) or PostgreSQL (the events' database)."""

    SCHEMA = _SCHEMA

    def put(self, state: str, pending: PendingSignIn) -> None:
        p = pending
        with self._tx() as c:
            c.execute(self._sql("DELETE FROM {p}oidc_states WHERE expires_at < ?"), (wall_time() - GRACE_SECONDS,))
            c.execute(
                self._sql(
                    "INSERT INTO {p}oidc_states (state_hash, {cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", cols=_COLUMNS
                ),
                (
                    secret_hash(state),
                    p.method,
                    p.nonce,
                    p.code_verifier,
                    p.next_path,
                    p.browser_hash,
                    p.created_at,
                    p.expires_at,
                ),
            )

    def take(self, state: str) -> PendingSignIn | None:
        with self._tx() as c:
            row = c.execute(
                self._sql("DELETE FROM {p}oidc_states WHERE state_hash = ? RETURNING {cols}", cols=_COLUMNS),
                (secret_hash(state),),
            ).fetchone()
        if row is None:
            return None
        return PendingSignIn(row[0], row[1], row[2], row[3], row[4], float(row[5]), float(row[6]))


class RedisStateStore:
    """Pending sign-ins in Redis, under the deployment's key prefix, expiring by themselves."""

    def __init__(self, url: str, prefix: str = "csp:") -> None:
        import redis

        self._r = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self._p = prefix

    def _key(self, state: str) -> str:
        return f"{self._p}oidc-state:{secret_hash(state)}"

    def put(self, state: str, pending: PendingSignIn) -> None:
        ttl = max(1, int(pending.expires_at - wall_time() + GRACE_SECONDS))
        self._r.set(self._key(state), json.dumps(asdict(pending)), ex=ttl)

    def take(self, state: str) -> PendingSignIn | None:
        pipe = self._r.pipeline(transaction=True)
        pipe.get(self._key(state))
        pipe.delete(self._key(state))
        raw, _ = pipe.execute()
        if raw is None:
            return None
        return PendingSignIn(**json.loads(raw))

    def close(self) -> None:
        self._r.close()


def build_state_store(settings: Settings, db: Database) -> StateStore:
    """Where the sessions are: Redis when ``CSP_SESSION_URL`` (or a Redis broker) is set,
    else the database."""
    url = settings.session_url or (settings.broker_url if settings.broker_url.startswith("redis") else "")
    if url:
        return RedisStateStore(url, prefix=settings.redis_prefix)
    return SQLStateStore.for_database(db)
