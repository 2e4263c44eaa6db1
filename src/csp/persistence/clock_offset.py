"""Where the test clock's offset lives: one row in the events' database."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from csp.persistence import Database

TABLE = "csp_test_clock"


class SQLiteOffsetStore:
    def __init__(self, path: str) -> None:
        self._path = path
        with self._connect() as c:
            c.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), offset_us INTEGER)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=30, uri=self._path.startswith("file:"))

    def read(self) -> timedelta:
        with self._connect() as c:
            row = c.execute(f"SELECT offset_us FROM {TABLE} WHERE id = 1").fetchone()
        return timedelta(microseconds=row[0]) if row else timedelta(0)

    def write(self, offset: timedelta) -> None:
        us = offset // timedelta(microseconds=1)
        with self._connect() as c:
            c.execute(
                f"INSERT INTO {TABLE} (id, offset_us) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET offset_us = ?",
                (us, us),
            )


class PostgresOffsetStore:
    def __init__(self, db: Database) -> None:
        import psycopg

        self._psycopg = psycopg
        self._db = db
        self._table = f'"{db.schema}".{TABLE}' if db.schema else TABLE
        with self._connect() as c:
            c.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} (id INTEGER PRIMARY KEY CHECK (id = 1), offset_us BIGINT)"
            )

    def _connect(self):  # type: ignore[no-untyped-def]
        d = self._db
        return self._psycopg.connect(
            host=d.host,
            port=d.port,
            user=d.user or None,
            password=d.password or None,
            dbname=d.dbname,
            autocommit=True,
            connect_timeout=5,
        )

    def read(self) -> timedelta:
        with self._connect() as c:
            row = c.execute(f"SELECT offset_us FROM {self._table} WHERE id = 1").fetchone()
        return timedelta(microseconds=row[0]) if row else timedelta(0)

    def write(self, offset: timedelta) -> None:
        us = offset // timedelta(microseconds=1)
        with self._connect() as c:
            c.execute(
                f"INSERT INTO {self._table} (id, offset_us) VALUES (1, %s) "
                "ON CONFLICT (id) DO UPDATE SET offset_us = EXCLUDED.offset_us",
                (us,),
            )


def offset_store_for(db: Database, sqlite_name: str):  # type: ignore[no-untyped-def]
    return SQLiteOffsetStore(sqlite_name) if db.is_sqlite else PostgresOffsetStore(db)
