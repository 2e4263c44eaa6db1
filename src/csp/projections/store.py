"""Where read models live: eventsourcing tracking recorders with transactions of our own.

A read-model group's rows and its tracking position commit in one transaction, so each
event is applied exactly once. The views subclass eventsourcing's SQLite and PostgreSQL
tracking recorders (their pools, their tracking tables) and add what the read side
needs: write transactions (``BEGIN IMMEDIATE`` on SQLite: a transaction that reads and
then writes would otherwise fail at once with "database is locked"), queries, and a
leader lock so that one ``csp project`` replica is active while the others stand by.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Protocol

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from csp.projections.sql import Dialect, PostgresDialect, SQLiteDialect

APPLICATION_NAME = "csp"


class Tx(Protocol):
    """One open transaction on a read store."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = (), binary: bool = False) -> None: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]: ...

    def insert_tracking(self, tracking: Tracking) -> None: ...

    def lock_tracking(self) -> None: ...

    def position(self) -> int | None: ...


class LeaderLock(Protocol):
    def acquire(self) -> bool: ...

    def check(self) -> None: ...

    def release(self) -> None: ...


class ReadView(Protocol):
    dialect: Dialect

    def tx(self, write: bool = True) -> Any: ...

    def max_tracking_id(self, application_name: str) -> int | None: ...

    def leader_lock(self, group: str) -> LeaderLock: ...

    def describe(self) -> str: ...


# --- SQLite -------------------------------------------------------------------------


class _SQLiteTx:
    def __init__(self, view: SQLiteReadView, cursor: Any) -> None:
        self.dialect = view.dialect
        self._view = view
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = (), binary: bool = False) -> None:
        self._cursor.execute(sql, params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        self._cursor.executemany(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        self._cursor.execute(sql, params)
        return list(self._cursor.fetchall())

    def insert_tracking(self, tracking: Tracking) -> None:
        self._view._insert_tracking(self._cursor, tracking)

    def lock_tracking(self) -> None:
        pass  # BEGIN IMMEDIATE already holds the database's write lock

    def position(self) -> int | None:
        return self._view._max_tracking_id(APPLICATION_NAME, self._cursor)


class SQLiteReadView(SQLiteTrackingRecorder):
    """Read models and their tracking in one SQLite file (``csp.read.db``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dialect: Dialect = SQLiteDialect()
        self._relaxed: weakref.WeakSet[Any] = weakref.WeakSet()  # connections set to synchronous=NORMAL

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[_SQLiteTx]:
        with self.datastore.get_connection(commit=write) as conn:
            cursor = conn.cursor()
            if write and conn not in self._relaxed:
                # No fsync per commit (WAL syncs at its checkpoints): a crash of the machine
                # may lose the last commits, never half of one; rows and position go back
                # together and the events are applied again from the log (which keeps FULL).
                # Once per connection: each SQLite call lets the GIL go, and taking it back
                # from busy request threads is what a live projection waits for most.
                cursor.execute("PRAGMA synchronous=NORMAL")
                self._relaxed.add(conn)
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield _SQLiteTx(self, cursor)
            except BaseException:
                conn.rollback()
                raise
            if write:
                conn.commit()
            else:
                conn.rollback()

    def leader_lock(self, group: str) -> LeaderLock:
        name = self.datastore.pool.db_name
        if self.datastore.pool.is_sqlite_memory_mode:
            return _ThreadLock(f"{name}/{group}")
        return _FileLock(Path(f"{name}.{group}.lock"))

    def describe(self) -> str:
        return f"SQLite {self.datastore.pool.db_name}"


class _FileLock:
    """An exclusive, non-blocking lock on a file beside the read database (one host)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def check(self) -> None:
        pass

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class _ThreadLock:
    """For an in-memory database, which only one process can see anyway."""

    _locks: ClassVar[dict[str, threading.Lock]] = {}
    _guard = threading.Lock()

    def __init__(self, name: str) -> None:
        with self._guard:
            self._lock = self._locks.setdefault(name, threading.Lock())
        self._held = False

    def acquire(self) -> bool:
        self._held = self._lock.acquire(blocking=False)
        return self._held

    def check(self) -> None:
        pass

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


# --- PostgreSQL ---------------------------------------------------------------------


class _PostgresTx:
    def __init__(self, view: PostgresReadView, cursor: Any) -> None:
        self.dialect = view.dialect
        self._view = view
        self._cursor = cursor
        self._staged: set[str] = set()

    def execute(self, sql: str, params: Sequence[Any] = (), binary: bool = False) -> None:
        self._cursor.execute(sql, params or None, binary=binary)

    def stage(self, name: str) -> bool:
        """Whether the temporary table ``name`` is still to be created in this transaction."""
        if name in self._staged:
            return False
        self._staged.add(name)
        return True

    def copy_rows(self, sql: str, types: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        with self._cursor.copy(sql) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        self._cursor.executemany(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        self._cursor.execute(sql, params or None)
        return list(self._cursor.fetchall())

    def insert_tracking(self, tracking: Tracking) -> None:
        self._view._insert_tracking(self._cursor, tracking)

    def lock_tracking(self) -> None:
        # Blocks the runner's tracking upsert (ROW EXCLUSIVE) until this transaction ends.
        self._cursor.execute(
            f"LOCK TABLE {self._view.dialect.qualify(self._view.tracking_table_name)} IN EXCLUSIVE MODE"
        )

    def position(self) -> int | None:
        return self._view._max_tracking_id(APPLICATION_NAME, self._cursor)


class PostgresReadView(PostgresTrackingRecorder):
    """Read models in the events' database, with this group's ``<name>_tracking`` table."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dialect: Dialect = PostgresDialect(self.datastore.schema)

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[_PostgresTx]:
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(force_rollback=not write),
            conn.cursor() as cursor,
        ):
            yield _PostgresTx(self, cursor)

    def _pool_kwargs(self) -> dict[str, Any]:
        kwargs = self.datastore.pool.kwargs
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    def leader_lock(self, group: str) -> LeaderLock:
        kwargs = {k: v for k, v in self._pool_kwargs().items() if k != "row_factory"}
        key = f"csp-read/{kwargs.get('dbname')}/{self.datastore.schema}/{group}"
        return _AdvisoryLock(kwargs, int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True))

    def describe(self) -> str:
        kw = self._pool_kwargs()
        return f"PostgreSQL {kw.get('user')}@{kw.get('host')}:{kw.get('port')}/{kw.get('dbname')} ({self.datastore.schema})"


class _AdvisoryLock:
    """A session advisory lock held on a connection of its own while this replica is active.

    If that connection drops, the lock is gone: ``check`` raises, the supervisor stops
    the runner, and another replica may take over. A runner that had not noticed yet
    cannot apply an event twice: its tracking upsert fails and its transaction rolls back.
    """

    def __init__(self, connect_kwargs: dict[str, Any], key: int) -> None:
        self._kwargs = connect_kwargs
        self._key = key
        self._conn: Any = None

    def acquire(self) -> bool:
        import psycopg

        conn = psycopg.connect(**self._kwargs, autocommit=True, connect_timeout=5)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        if not row or not row[0]:
            conn.close()
            return False
        self._conn = conn
        return True

    def check(self) -> None:
        if self._conn is None:
            raise RuntimeError("the leader lock is not held")
        self._conn.execute("SELECT 1")

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            except Exception:  # the connection is going away anyway
                pass
            finally:
                self._conn.close()
                self._conn = None
