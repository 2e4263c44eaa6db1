"""The SQL home of the API's operational tables (sessions, login failures, sign-ins in
progress): a ``csp.auth.db`` file beside the events' SQLite file (shared memory when
the events are in memory), or tables in the events' PostgreSQL database.

These are operations, not business facts: plain tables, not events.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Self

from csp.persistence import Database, schema_lock


class SQLTableStore:
    """Base of a store kept in a few SQL tables; a subclass names its ``SCHEMA``
    (statements with ``{p}`` for the table prefix and ``{n}`` for index names)."""

    SCHEMA: ClassVar[tuple[str, ...]] = ()
    POOL_SIZE: ClassVar[int] = 2

    def __init__(self, connect: Callable[[], Any], placeholder: str, prefix: str, index_prefix: str) -> None:
        self._connect = connect
        self._ph = placeholder
        self._p = prefix
        self._pool: Any = None
        self._keeper: sqlite3.Connection | None = None
        with self._tx() as c:
            for statement in self.SCHEMA:
                c.execute(statement.format(p=prefix, n=index_prefix))

    @classmethod
    def for_database(cls, db: Database) -> Self:
        if db.is_sqlite:
            path = db.sibling("auth")
            if path is None:
                # An in-memory store lives as long as one connection holds it.
                uri = f"file:csp-{cls.__name__.lower()}-{secrets.token_hex(4)}?mode=memory&cache=shared"
                keeper = sqlite3.connect(uri, uri=True, check_same_thread=False)
                store = cls(lambda: sqlite3.connect(uri, uri=True, timeout=30), "?", "csp_", "csp_")
                store._keeper = keeper
                return store
            return cls(lambda: sqlite3.connect(str(path), timeout=30), "?", "csp_", "csp_")
        from psycopg_pool import ConnectionPool

        pool = ConnectionPool(
            kwargs={
                "host": db.host,
                "port": db.port,
                "user": db.user or None,
                "password": db.password or None,
                "dbname": db.dbname,
                "autocommit": True,
                "connect_timeout": 5,
            },
            min_size=1,
            max_size=cls.POOL_SIZE,
            check=ConnectionPool.check_connection,  # a dropped connection is replaced, not handed out
            open=True,
        )
        prefix = f'"{db.schema}".csp_' if db.schema else "csp_"
        try:
            with schema_lock(db):  # processes starting at once create the tables once
                store = cls(pool.connection, "%s", prefix, "csp_")
        except BaseException:
            pool.close()
            raise
        store._pool = pool
        return store

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._connect() as conn:
            yield conn
            if isinstance(conn, sqlite3.Connection):
                conn.commit()

    def _sql(self, statement: str, **names: str) -> str:
        """``statement`` with its table prefix (and any other ``{name}``), in the driver's
        placeholder style (``?`` is written, ``%s`` is sent to PostgreSQL)."""
        return statement.format(p=self._p, **names).replace("?", self._ph)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._keeper is not None:
            self._keeper.close()
