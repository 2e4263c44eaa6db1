"""Decoding a stored row (the hot loop of every page) gives what ``from_db`` gives for
each column, on both dialects, from a ``sqlite3.Row`` and from a dict alike."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from csp.projections.sql import Dialect, PostgresDialect, SQLiteDialect, cols

TABLE_TYPES = {c.name: c.type for c in cols("i uuid, t text, n int, m money, d decimal, at time, b bool, j json")}


def _reference(dialect: Dialect, row: dict[str, Any]) -> dict[str, Any]:
    return {k: dialect.from_db(TABLE_TYPES[k], v) if k in TABLE_TYPES else v for k, v in row.items()}


def _stored(dialect: Dialect) -> dict[str, Any]:
    at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    values = {
        "i": uuid4(),
        "t": "text",
        "n": 3,
        "m": Decimal("15.58"),
        "d": Decimal("5.0000"),
        "at": at,
        "b": True,
        "j": ["a", {"b": 1}],
    }
    if isinstance(dialect, SQLiteDialect):
        return {k: dialect.to_db(TABLE_TYPES[k], v) for k, v in values.items()}
    # as psycopg gives them: typed values, a time in the session's zone, JSON as text
    return values | {"at": at.astimezone(timezone(timedelta(hours=2))), "j": dialect.to_db("json", values["j"])}


@pytest.mark.parametrize("dialect", [SQLiteDialect(), PostgresDialect("s")], ids=["sqlite", "postgres"])
@pytest.mark.parametrize("nulls", [False, True])
def test_a_decoded_row_is_from_db_of_each_column(dialect: Dialect, nulls: bool):
    row = _stored(dialect) | {"joined": "a joined name"}
    if nulls:
        row = dict.fromkeys(row)
    decoded = dialect.decode_row(TABLE_TYPES, row)
    assert decoded == _reference(dialect, row)
    assert [type(v) for v in decoded.values()] == [type(v) for v in _reference(dialect, row).values()]
    if not nulls:
        assert decoded["at"].utcoffset() == timedelta(0)
    if isinstance(dialect, SQLiteDialect):
        # from a sqlite3.Row, in the row's order
        c = sqlite3.connect(":memory:")
        c.row_factory = sqlite3.Row
        names = list(row)
        found = c.execute(f"SELECT {', '.join('? AS ' + n for n in names)}", list(row.values())).fetchone()
        assert dialect.decode_row(TABLE_TYPES, found) == decoded
        assert list(dialect.decode_row(TABLE_TYPES, found)) == names
