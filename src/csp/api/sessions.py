"""Server-side sessions and the record of failed logins (for throttling).

Two stores behind one port: SQL (a ``csp.auth.db`` file beside the events' SQLite file,
or tables in the events' PostgreSQL database) for the embedded default, and Redis when
``CSP_SESSION_URL`` (or a Redis ``CSP_BROKER_URL``) names one. Only the SHA-256 of a
session id is stored, so a copy of the store opens no session. Times here are wall
time, not domain time: sessions and throttling are operations, not business facts.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from csp.api.sqlstore import SQLTableStore
from csp.application.passwords import secret_hash


@dataclass(frozen=True)
class Session:
    id_hash: str
    user_id: UUID
    csrf_token: str
    method: str
    created_at: float
    expires_at: float


class SessionStore(Protocol):
    def create(self, user_id: UUID, method: str, ttl_seconds: float) -> tuple[str, Session]: ...

    def get(self, session_id: str) -> Session | None: ...

    def delete(self, session_id: str) -> None: ...

    def delete_for_user(self, user_id: UUID) -> int: ...

    def record_failure(self, key: str, window_seconds: float) -> None: ...

    def failures(self, key: str, window_seconds: float) -> tuple[int, float]:
        """How many failures in the window, and the seconds until the oldest leaves it."""
        ...

    def clear_failures(self, key: str) -> None: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


def _new_session(user_id: UUID, method: str, ttl: float) -> tuple[str, Session]:
    sid = secrets.token_urlsafe(32)
    now = time.time()
    return sid, Session(
        id_hash=secret_hash(sid),
        user_id=user_id,
        csrf_token=secrets.token_urlsafe(32),
        method=method,
        created_at=now,
        expires_at=now + ttl,
    )


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS {p}sessions (id_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, "
    "csrf_token TEXT NOT NULL, method TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
    "expires_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {n}sessions_user ON {p}sessions (user_id)",
    "CREATE TABLE IF NOT EXISTS {p}login_failures (key TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {n}login_failures_key ON {p}login_failures (key, at)",
)


class SQLSessionStore(SQLTableStore):
    """Sessions in SQL: SQLite (its own file) or PostgreSQL (the events' database)."""

    SCHEMA = _SCHEMA
    POOL_SIZE = 4

    def create(self, user_id: UUID, method: str, ttl_seconds: float) -> tuple[str, Session]:
        sid, s = _new_session(user_id, method, ttl_seconds)
        with self._tx() as c:
            c.execute(self._sql("DELETE FROM {p}sessions WHERE expires_at < ?"), (s.created_at,))
            c.execute(
                self._sql("INSERT INTO {p}sessions VALUES (?, ?, ?, ?, ?, ?)"),
                (s.id_hash, str(user_id), s.csrf_token, method, s.created_at, s.expires_at),
            )
        return sid, s

    def get(self, session_id: str) -> Session | None:
        with self._tx() as c:
            row = c.execute(
                self._sql(
                    "SELECT id_hash, user_id, csrf_token, method, created_at, expires_at FROM {p}sessions "
                    "WHERE id_hash = ?"
                ),
                (secret_hash(session_id),),
            ).fetchone()
        if row is None or row[5] < time.time():
            return None
        return Session(row[0], UUID(row[1]), row[2], row[3], row[4], row[5])

    def delete(self, session_id: str) -> None:
        with self._tx() as c:
            c.execute(self._sql("DELETE FROM {p}sessions WHERE id_hash = ?"), (secret_hash(session_id),))

    def delete_for_user(self, user_id: UUID) -> int:
        with self._tx() as c:
            cur = c.execute(self._sql("DELETE FROM {p}sessions WHERE user_id = ?"), (str(user_id),))
            return int(cur.rowcount or 0)

    def record_failure(self, key: str, window_seconds: float) -> None:
        now = time.time()
        with self._tx() as c:
            c.execute(self._sql("DELETE FROM {p}login_failures WHERE at < ?"), (now - window_seconds,))
            c.execute(self._sql("INSERT INTO {p}login_failures VALUES (?, ?)"), (key, now))

    def failures(self, key: str, window_seconds: float) -> tuple[int, float]:
        now = time.time()
        with self._tx() as c:
            row = c.execute(
                self._sql("SELECT COUNT(*), MIN(at) FROM {p}login_failures WHERE key = ? AND at >= ?"),
                (key, now - window_seconds),
            ).fetchone()
        count, oldest = int(row[0] or 0), row[1]
        return count, (oldest + window_seconds - now) if oldest is not None else 0.0

    def clear_failures(self, key: str) -> None:
        with self._tx() as c:
            c.execute(self._sql("DELETE FROM {p}login_failures WHERE key = ?"), (key,))

    def ping(self) -> None:
        with self._tx() as c:
            c.execute(self._sql("SELECT COUNT(*) FROM {p}sessions WHERE expires_at < 0")).fetchone()


class RedisSessionStore:
    """Sessions in Redis, under a key prefix (one per deployment, or per test)."""

    def __init__(self, url: str, prefix: str = "csp:") -> None:
        import redis

        self._r = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self._p = prefix

    def create(self, user_id: UUID, method: str, ttl_seconds: float) -> tuple[str, Session]:
        sid, s = _new_session(user_id, method, ttl_seconds)
        key = f"{self._p}session:{s.id_hash}"
        user_key = f"{self._p}user-sessions:{user_id}"
        pipe = self._r.pipeline()
        pipe.hset(
            key,
            mapping={
                "user_id": str(user_id),
                "csrf_token": s.csrf_token,
                "method": method,
                "created_at": s.created_at,
                "expires_at": s.expires_at,
            },
        )
        pipe.expire(key, int(ttl_seconds) + 1)
        pipe.sadd(user_key, s.id_hash)
        pipe.expire(user_key, int(ttl_seconds) + 1)
        pipe.execute()
        return sid, s

    def get(self, session_id: str) -> Session | None:
        h = secret_hash(session_id)
        data = self._r.hgetall(f"{self._p}session:{h}")
        if not data:
            return None
        d = {k.decode(): v.decode() for k, v in data.items()}  # type: ignore[union-attr]
        s = Session(h, UUID(d["user_id"]), d["csrf_token"], d["method"], float(d["created_at"]), float(d["expires_at"]))
        return s if s.expires_at >= time.time() else None

    def delete(self, session_id: str) -> None:
        h = secret_hash(session_id)
        data = self._r.hget(f"{self._p}session:{h}", "user_id")
        self._r.delete(f"{self._p}session:{h}")
        if data:
            self._r.srem(f"{self._p}user-sessions:{data.decode()}", h)  # type: ignore[union-attr]

    def delete_for_user(self, user_id: UUID) -> int:
        user_key = f"{self._p}user-sessions:{user_id}"
        hashes = self._r.smembers(user_key)
        n = 0
        if hashes:
            n = int(self._r.delete(*(f"{self._p}session:{h.decode()}" for h in hashes)))  # type: ignore[union-attr]
        self._r.delete(user_key)
        return n

    def record_failure(self, key: str, window_seconds: float) -> None:
        now = time.time()
        k = f"{self._p}login-failures:{key}"
        pipe = self._r.pipeline()
        pipe.zremrangebyscore(k, 0, now - window_seconds)
        pipe.zadd(k, {f"{now}:{secrets.token_hex(4)}": now})
        pipe.expire(k, int(window_seconds) + 1)
        pipe.execute()

    def failures(self, key: str, window_seconds: float) -> tuple[int, float]:
        now = time.time()
        k = f"{self._p}login-failures:{key}"
        entries = self._r.zrangebyscore(k, now - window_seconds, "+inf", withscores=True)
        if not entries:
            return 0, 0.0
        oldest = min(score for _, score in entries)  # type: ignore[union-attr]
        return len(entries), oldest + window_seconds - now  # type: ignore[arg-type]

    def clear_failures(self, key: str) -> None:
        self._r.delete(f"{self._p}login-failures:{key}")

    def ping(self) -> None:
        self._r.ping()

    def close(self) -> None:
        self._r.close()


@dataclass(frozen=True)
class ThrottlePolicy:
    per_account: int = 5
    per_address: int = 20
    window_seconds: float = 15 * 60


class LoginThrottle:
    """After repeated failures, an account (and an address) waits before trying again."""

    def __init__(self, store: SessionStore, policy: ThrottlePolicy = ThrottlePolicy()) -> None:
        self.store = store
        self.policy = policy

    def retry_after(self, email: str, address: str) -> float:
        """Seconds to wait before another try (0: go ahead)."""
        p = self.policy
        wait = 0.0
        for key, limit in ((f"account:{email.strip().lower()}", p.per_account), (f"address:{address}", p.per_address)):
            count, remaining = self.store.failures(key, p.window_seconds)
            if count >= limit:
                wait = max(wait, remaining)
        return wait

    def failed(self, email: str, address: str) -> None:
        self.store.record_failure(f"account:{email.strip().lower()}", self.policy.window_seconds)
        self.store.record_failure(f"address:{address}", self.policy.window_seconds)

    def succeeded(self, email: str) -> None:
        self.store.clear_failures(f"account:{email.strip().lower()}")
