"""Server-side sessions, and the attempt counters of the throttles (sign-in, sign-up,
password resets).

Two stores behind one port: SQL (a ``csp.auth.db`` file beside the events' SQLite file,
or tables in the events' PostgreSQL database) for the embedded default, and Redis when
``CSP_SESSION_URL`` (or a Redis ``CSP_BROKER_URL``) names one. Only the SHA-256 of a
session id is stored, so a copy of the store opens no session. Times here are wall
time, not domain time: sessions and throttling are operations, not business facts.

A throttle (``csp.api.throttles``) reserves an attempt before the work it guards
(checking a password): one atomic step (one SQL statement, one Redis script) counts the attempt on every key it
is limited by and answers the counts, so that however many requests arrive at once,
on however many API processes, no more than the limit get through.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from csp.aggregates.secrets import secret_hash
from csp.persistence import Database
from csp.persistence.sqlstore import SQLTableStore
from csp.settings import Settings


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

    def delete_for_user(self, user_id: UUID, keep: str | None = None) -> int:
        """End every session of the user (but the one whose id hash is ``keep``); how many."""
        ...

    def count_attempt(self, keys: Sequence[str], window_seconds: float) -> dict[str, tuple[int, float]]:
        """Count one attempt on each key, atomically (all keys in one step): per key, the
        attempts in its current window, this one included, and the seconds until that
        window ends. A key's window starts with its first attempt and lasts
        ``window_seconds``; the next attempt after it starts a new one."""
        ...

    def release_attempt(self, key: str) -> None:
        """Give one attempt back (it turned out not to count: a good password)."""
        ...

    def clear_attempts(self, key: str) -> None: ...

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
    "CREATE TABLE IF NOT EXISTS {p}throttle_attempts (key TEXT PRIMARY KEY, attempts INTEGER NOT NULL, "
    "window_ends DOUBLE PRECISION NOT NULL)",
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

    def delete_for_user(self, user_id: UUID, keep: str | None = None) -> int:
        with self._tx() as c:
            cur = c.execute(
                self._sql("DELETE FROM {p}sessions WHERE user_id = ? AND id_hash <> ?"), (str(user_id), keep or "")
            )
            return int(cur.rowcount or 0)

    def count_attempt(self, keys: Sequence[str], window_seconds: float) -> dict[str, tuple[int, float]]:
        # One statement: an upsert locks each key's row (PostgreSQL) or the database
        # (SQLite) until it commits, so concurrent attempts are counted one after another.
        # Keys in a fixed order, so that two statements never wait for each other's rows.
        names = sorted(set(keys))
        now = time.time()
        t = "{p}throttle_attempts"
        statement = self._sql(
            f"INSERT INTO {t} (key, attempts, window_ends) VALUES {', '.join('(?, 1, ?)' for _ in names)} "
            f"ON CONFLICT (key) DO UPDATE SET "
            f"attempts = CASE WHEN {t}.window_ends <= ? THEN 1 ELSE {t}.attempts + 1 END, "
            f"window_ends = CASE WHEN {t}.window_ends <= ? THEN excluded.window_ends ELSE {t}.window_ends END "
            f"RETURNING key, attempts, window_ends"
        )
        params = [v for k in names for v in (k, now + window_seconds)] + [now, now]
        with self._tx() as c:
            rows = c.execute(statement, params).fetchall()
        return {k: (int(n), min(window_seconds, max(0.0, float(ends) - now))) for k, n, ends in rows}

    def release_attempt(self, key: str) -> None:
        with self._tx() as c:
            c.execute(
                self._sql("UPDATE {p}throttle_attempts SET attempts = attempts - 1 WHERE key = ? AND attempts > 0"),
                (key,),
            )

    def clear_attempts(self, key: str) -> None:
        with self._tx() as c:
            c.execute(self._sql("DELETE FROM {p}throttle_attempts WHERE key = ?"), (key,))
            c.execute(self._sql("DELETE FROM {p}throttle_attempts WHERE window_ends < ?"), (time.time(),))

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

    def delete_for_user(self, user_id: UUID, keep: str | None = None) -> int:
        user_key = f"{self._p}user-sessions:{user_id}"
        hashes = [h.decode() for h in self._r.smembers(user_key) if h.decode() != keep]  # type: ignore[union-attr]
        n = 0
        if hashes:
            n = int(self._r.delete(*(f"{self._p}session:{h}" for h in hashes)))
            self._r.srem(user_key, *hashes)
        return n

    # Every key: count one more attempt, start its window with the first one; answer
    # each key's attempts and the milliseconds left in its window. A script runs
    # atomically: no other command runs on the server between its lines.
    _COUNT = """
    local out = {}
    for i, key in ipairs(KEYS) do
        local n = redis.call('INCR', key)
        local left = redis.call('PTTL', key)
        if n == 1 or left < 0 then
            redis.call('PEXPIRE', key, ARGV[1])
            left = tonumber(ARGV[1])
        end
        out[i] = {n, left}
    end
    return out
    """
    _RELEASE = """
    if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
    """

    def count_attempt(self, keys: Sequence[str], window_seconds: float) -> dict[str, tuple[int, float]]:
        names = sorted(set(keys))
        answer = self._r.eval(
            self._COUNT, len(names), *(self._attempts_key(k) for k in names), int(window_seconds * 1000)
        )
        return {k: (int(n), int(left) / 1000) for k, (n, left) in zip(names, answer, strict=True)}  # type: ignore[arg-type]

    def release_attempt(self, key: str) -> None:
        self._r.eval(self._RELEASE, 1, self._attempts_key(key))

    def clear_attempts(self, key: str) -> None:
        self._r.delete(self._attempts_key(key))

    def _attempts_key(self, key: str) -> str:
        return f"{self._p}throttle:{key}"

    def ping(self) -> None:
        self._r.ping()

    def close(self) -> None:
        self._r.close()


def build_session_store(settings: Settings, db: Database) -> SessionStore:
    """Redis when ``CSP_SESSION_URL`` (or a Redis broker) is set, else the database."""
    url = settings.session_url or (settings.broker_url if settings.broker_url.startswith("redis") else "")
    if url:
        return RedisSessionStore(url, prefix=settings.redis_prefix)
    return SQLSessionStore.for_database(db)
