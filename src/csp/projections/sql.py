"""A thin SQL dialect shim: table schemas, placeholders and value conversion for SQLite
and PostgreSQL, so every read model is written once.

SQL is written with ``?`` placeholders; PostgreSQL gets ``%s``. Column types are ours:
money and decimals are NUMERIC on PostgreSQL and TEXT on SQLite (NUMERIC affinity there
would turn them into floats), times are TIMESTAMPTZ on PostgreSQL and fixed-width UTC
ISO text on SQLite (so they sort), ids are UUID or TEXT, JSON is text on both.
"""

from __future__ import annotations

import functools
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

ColumnType = Literal["uuid", "text", "int", "money", "decimal", "time", "bool", "json"]
Row = dict[str, Any]
Key = tuple[Any, ...]

# SQLite allows 32766 variables per statement, PostgreSQL 65535.
MAX_PARAMS = 30000
MEMO_SIZE = 10_000  # recent conversions kept (ids and times recur across rows); cleared when full

Encode = Callable[[Any], Any]


class Memo:
    """A bounded memo of a pure conversion: a replay converts the same ids and times to
    text again and again (a subscription's id is in every row it touches), and
    ``str(UUID)`` or ``UUID(text)`` cost ten times a dict lookup. Cleared when full, so
    memory stays bounded whatever the number of events."""

    __slots__ = ("_fn", "_size", "_values")

    def __init__(self, fn: Encode, size: int = MEMO_SIZE) -> None:
        self._fn = fn
        self._size = size
        self._values: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        found = self._values.get(value)
        if found is None:
            found = self._fn(value)
            if len(self._values) >= self._size:
                self._values.clear()
            self._values[value] = found
        return found


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """A read-model table: its live name, columns, primary key and secondary indexes."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @functools.cached_property
    def column_set(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns)

    @functools.cached_property
    def pairs(self) -> tuple[tuple[str, ColumnType], ...]:
        return tuple((c.name, c.type) for c in self.columns)

    def types(self) -> dict[str, ColumnType]:
        return {c.name: c.type for c in self.columns}

    def key_of(self, row: Mapping[str, Any]) -> Key:
        if len(self.key) == 1:
            return (row[self.key[0]],)
        return tuple(row[k] for k in self.key)

    @functools.cached_property
    def encoders(self) -> dict[str, Callable[[Mapping[str, Any]], list[Any]]]:
        """Each dialect's compiled row encoder (``Dialect.encode_row``), by dialect name."""
        return {}

    def signature(self) -> str:
        return json.dumps([self.name, [[c.name, c.type, c.nullable] for c in self.columns], self.key, self.indexes])


def cols(spec: str) -> tuple[Column, ...]:
    """Columns from ``"id uuid!, name text, total money"`` (``!`` = not null)."""
    out = []
    for part in spec.split(","):
        name, kind = part.split()
        out.append(Column(name, kind.rstrip("!"), nullable=not kind.endswith("!")))  # type: ignore[arg-type]
    return tuple(out)


@functools.lru_cache(maxsize=65536)
def uuid_of(text: str) -> UUID:
    """A stored id as a ``UUID`` (UUIDs are immutable, so the same id read again, as on
    every page of a list, costs a look-up, not a parse)."""
    return UUID(text)


def to_json(value: Any) -> str:
    """JSON text; an object with ``to_state()`` (a fold kept live between events, such as
    a subscription's ledger) is stored as its state."""
    state = getattr(value, "to_state", None)
    if state is not None:
        value = state()
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def utc_text(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("read-model times must carry a timezone")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def as_utc(value: date | datetime | None, *, end: bool = False) -> datetime | None:
    """A filter bound: a datetime as given (in UTC), a date as its midnight (UTC);
    with ``end`` a date means the end of that day (inclusive date ranges)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("times must carry a timezone")
        return value.astimezone(UTC)
    start = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


class Dialect(ABC):
    """What differs between SQLite and PostgreSQL; each has its subclass."""

    name: str = ""

    def q(self, sql: str) -> str:
        """The SQL with this driver's placeholders."""
        return sql

    def qualify(self, table: str) -> str:
        return f'"{table}"'

    @abstractmethod
    def ddl_type(self, kind: ColumnType) -> str: ...

    @abstractmethod
    def to_db(self, kind: ColumnType, value: Any) -> Any: ...

    @abstractmethod
    def from_db(self, kind: ColumnType, value: Any) -> Any: ...

    # --- DDL ------------------------------------------------------------------

    def create_table(self, table: Table, physical: str) -> str:
        columns = ", ".join(
            f'"{c.name}" {self.ddl_type(c.type)}{"" if c.nullable else " NOT NULL"}' for c in table.columns
        )
        key = ", ".join(f'"{k}"' for k in table.key)
        return f"CREATE TABLE {self.qualify(physical)} ({columns}, PRIMARY KEY ({key}))"

    def create_indexes(self, table: Table, physical: str, generation: int) -> list[str]:
        return [
            f'CREATE INDEX "ix_{table.name}_{generation}_{i}" ON {self.qualify(physical)} '
            f"({', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)})"
            for i, columns in enumerate(table.indexes)
        ]

    def drop_table(self, physical: str) -> str:
        return f"DROP TABLE IF EXISTS {self.qualify(physical)}"

    def rename_table(self, physical: str, new_name: str) -> str:
        return f'ALTER TABLE {self.qualify(physical)} RENAME TO "{new_name}"'

    @abstractmethod
    def list_tables_sql(self) -> str: ...

    # --- rows -------------------------------------------------------------------

    def encoder(self, kind: ColumnType) -> Encode | None:
        """How a non-null value of this type is written (None: as it is)."""
        return functools.partial(self.to_db, kind)

    def decoder(self, kind: ColumnType) -> Encode | None:
        """How a non-null value of this type is read (None: as it is)."""
        return functools.partial(self.from_db, kind)

    def encode_row(self, table: Table, row: Mapping[str, Any]) -> list[Any]:
        encode = table.encoders.get(self.name)
        if encode is None:
            encode = table.encoders[self.name] = self._row_encoder(table)
        return encode(row)

    def _row_encoder(self, table: Table) -> Callable[[Mapping[str, Any]], list[Any]]:
        columns = tuple((c.name, self.encoder(c.type)) for c in table.columns)

        def encode(row: Mapping[str, Any]) -> list[Any]:
            return [v if (v := row[n]) is None or f is None else f(v) for n, f in columns]

        return encode

    def decode_row(self, types: Mapping[str, ColumnType], row: Mapping[str, Any]) -> Row:
        """A row as stored, in Python values (``from_db`` per column; a column not of the
        table, e.g. a joined name, as it is). The hot loop of every page: one converter
        per kind, looked up once, and none called on NULL or on what needs none."""
        out = {}
        converters = self.converters
        # a sqlite3.Row finds a value by name with a linear, case-blind search: walk it in order
        pairs = row.items() if isinstance(row, dict) else zip(row.keys(), row, strict=True)
        for k, v in pairs:
            if v is not None:
                kind = types.get(k)
                if kind is not None:
                    convert = converters[kind]
                    if convert is not None:
                        v = convert(v)
            out[k] = v
        return out

    @functools.cached_property
    def converters(self) -> dict[str, Callable[[Any], Any] | None]:
        """``from_db`` as one function per kind of column (None: the value as it is)."""
        kinds: tuple[ColumnType, ...] = ("uuid", "text", "int", "money", "decimal", "time", "bool", "json")
        return {kind: functools.partial(self.from_db, kind) for kind in kinds}

    def upsert(self, table: Table, physical: str, nrows: int) -> str:
        names = ", ".join(f'"{c}"' for c in table.column_names)
        one = "(" + ", ".join("?" for _ in table.columns) + ")"
        values = ", ".join(one for _ in range(nrows))
        key = ", ".join(f'"{k}"' for k in table.key)
        updates = [f'"{c}" = excluded."{c}"' for c in table.column_names if c not in table.key]
        action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        return self.q(f"INSERT INTO {self.qualify(physical)} ({names}) VALUES {values} ON CONFLICT ({key}) {action}")

    def write_rows(self, tx: Any, table: Table, physical: str, rows: Sequence[Sequence[Any]]) -> None:
        """Upsert encoded rows: multi-row ``INSERT ... VALUES`` statements."""
        per_statement = max(1, MAX_PARAMS // len(table.columns))
        for chunk in chunks(rows, per_statement):
            tx.execute(self.upsert(table, physical, len(chunk)), [v for r in chunk for v in r])

    def select_by_key(self, table: Table, physical: str) -> str:
        names = ", ".join(f'"{c}"' for c in table.column_names)
        where = " AND ".join(f'"{k}" = ?' for k in table.key)
        return self.q(f"SELECT {names} FROM {self.qualify(physical)} WHERE {where}")

    def delete_by_key(self, table: Table, physical: str) -> str:
        where = " AND ".join(f'"{k}" = ?' for k in table.key)
        return self.q(f"DELETE FROM {self.qualify(physical)} WHERE {where}")

    def key_params(self, table: Table, key: Key) -> list[Any]:
        types = table.types()
        return [self.to_db(types[k], v) for k, v in zip(table.key, key, strict=True)]


class SQLiteDialect(Dialect):
    name = "sqlite"
    _ddl: dict[str, str] = {  # noqa: RUF012
        "uuid": "TEXT",
        "text": "TEXT",
        "int": "INTEGER",
        "money": "TEXT",
        "decimal": "TEXT",
        "time": "TEXT",
        "bool": "INTEGER",
        "json": "TEXT",
    }

    def __init__(self) -> None:
        self._uuid_text = Memo(str)
        self._time_text = Memo(utc_text)
        self._uuid = Memo(UUID)

    def ddl_type(self, kind: ColumnType) -> str:
        return self._ddl[kind]

    def encoder(self, kind: ColumnType) -> Encode | None:
        if kind == "uuid":
            return self._uuid_text
        if kind in ("money", "decimal"):
            return str
        if kind == "time":
            return self._time_text
        if kind == "bool":
            return _bool_int
        if kind == "json":
            return to_json
        return None

    def decoder(self, kind: ColumnType) -> Encode | None:
        if kind == "uuid":
            return self._uuid
        if kind in ("money", "decimal"):
            return Decimal
        if kind == "time":
            return datetime.fromisoformat
        if kind == "bool":
            return bool
        if kind == "json":
            return json.loads
        return None

    def to_db(self, kind: ColumnType, value: Any) -> Any:
        if value is None:
            return None
        if kind == "uuid":
            return self._uuid_text(value)
        if kind in ("money", "decimal"):
            return str(value)
        if kind == "time":
            return self._time_text(value)
        if kind == "bool":
            return 1 if value else 0
        if kind == "json":
            return to_json(value)
        return value

    def from_db(self, kind: ColumnType, value: Any) -> Any:
        if value is None:
            return None
        if kind == "uuid":
            return self._uuid(value)
        if kind in ("money", "decimal"):
            return Decimal(value)
        if kind == "time":
            return datetime.fromisoformat(value)
        if kind == "bool":
            return bool(value)
        if kind == "json":
            return json.loads(value)
        return value

    def list_tables_sql(self) -> str:
        return "SELECT name FROM sqlite_master WHERE type = 'table'"

    @functools.cached_property
    def converters(self) -> dict[str, Callable[[Any], Any] | None]:
        return {
            "uuid": uuid_of,
            "text": None,
            "int": None,
            "money": Decimal,
            "decimal": Decimal,
            "time": datetime.fromisoformat,
            "bool": bool,
            "json": json.loads,
        }


class PostgresDialect(Dialect):
    name = "postgres"
    _ddl: dict[str, str] = {  # noqa: RUF012
        "uuid": "UUID",
        "text": "TEXT",
        "int": "BIGINT",
        "money": "NUMERIC",
        "decimal": "NUMERIC",
        "time": "TIMESTAMPTZ",
        "bool": "BOOLEAN",
        "json": "TEXT",
    }

    def __init__(self, schema: str) -> None:
        self.schema = schema

    def q(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def qualify(self, table: str) -> str:
        return f'"{self.schema}"."{table}"'

    def ddl_type(self, kind: ColumnType) -> str:
        return self._ddl[kind]

    def encoder(self, kind: ColumnType) -> Encode | None:
        if kind == "json":
            return to_json
        if kind == "time":
            return _aware
        return None

    def decoder(self, kind: ColumnType) -> Encode | None:
        if kind == "json":
            return json.loads
        if kind == "time":
            return _as_utc_time
        if kind == "uuid":
            return _as_uuid
        return None

    def to_db(self, kind: ColumnType, value: Any) -> Any:
        if value is None:
            return None
        if kind == "json":
            return to_json(value)
        if kind == "time" and value.tzinfo is None:
            raise ValueError("read-model times must carry a timezone")
        return value

    def from_db(self, kind: ColumnType, value: Any) -> Any:
        if value is None:
            return None
        if kind == "json":
            return json.loads(value)
        if kind == "time":
            return value.astimezone(UTC)
        if kind == "uuid" and not isinstance(value, UUID):
            return UUID(str(value))
        return value

    def list_tables_sql(self) -> str:
        return f"SELECT tablename AS name FROM pg_tables WHERE schemaname = '{self.schema}'"

    @functools.cached_property
    def converters(self) -> dict[str, Callable[[Any], Any] | None]:
        # psycopg gives UUID, Decimal, int, bool and aware datetimes already
        return {
            "uuid": lambda v: v if isinstance(v, UUID) else uuid_of(str(v)),
            "text": None,
            "int": None,
            "money": None,
            "decimal": None,
            "time": lambda v: v.astimezone(UTC),
            "bool": None,
            "json": json.loads,
        }

    def write_rows(self, tx: Any, table: Table, physical: str, rows: Sequence[Sequence[Any]]) -> None:
        """Upsert encoded rows in one statement: ``INSERT ... SELECT * FROM unnest(arrays)``
        (one array per column; a short statement, parsed once, whatever the row count).
        Many rows (a batch of a catch-up or a rebuild) are copied (binary ``COPY``) into a
        temporary table of the transaction and upserted from it: psycopg dumps the arrays
        of ``unnest`` value by value in Python, ~20 us a row, ``COPY`` ~3 us."""
        if not rows:
            return
        names = ", ".join(f'"{c}"' for c in table.column_names)
        key = ", ".join(f'"{k}"' for k in table.key)
        updates = [f'"{c}" = excluded."{c}"' for c in table.column_names if c not in table.key]
        action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        if len(rows) >= COPY_MIN_ROWS and hasattr(tx, "copy_rows"):
            stage = f"stage_{table.name}"
            if tx.stage(stage):
                columns = ", ".join(f'"{c.name}" {self._ddl[c.type]}' for c in table.columns)
                tx.execute(f'CREATE TEMPORARY TABLE "{stage}" ({columns}) ON COMMIT DROP')
            tx.copy_rows(f'COPY "{stage}" ({names}) FROM STDIN (FORMAT BINARY)', self._copy_types(table), rows)
            tx.execute(
                f'INSERT INTO {self.qualify(physical)} ({names}) SELECT {names} FROM "{stage}" '
                f"ON CONFLICT ({key}) {action}"
            )
            tx.execute(f'DELETE FROM "{stage}"')
            return
        arrays = ", ".join(f"%s::{self._ddl[c.type]}[]" for c in table.columns)
        sql = f"INSERT INTO {self.qualify(physical)} ({names}) SELECT * FROM unnest({arrays}) ON CONFLICT ({key}) {action}"
        # Binary: arrays of ids, numbers and times dump without text quoting.
        tx.execute(sql, [list(column) for column in zip(*rows, strict=True)], binary=True)

    def _copy_types(self, table: Table) -> list[str]:
        return [_COPY_TYPES[c.type] for c in table.columns]


COPY_MIN_ROWS = 200  # fewer rows are upserted from arrays (one statement, no temporary table)
_COPY_TYPES = {
    "uuid": "uuid",
    "text": "text",
    "int": "int8",
    "money": "numeric",
    "decimal": "numeric",
    "time": "timestamptz",
    "bool": "bool",
    "json": "text",
}


_UNKNOWN = object()


def _bool_int(value: Any) -> int:
    return 1 if value else 0


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("read-model times must carry a timezone")
    return value


def _as_utc_time(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _as_uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def schema_hash(tables: Iterable[Table], version: int) -> str:
    text = json.dumps([version, [t.signature() for t in tables]])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chunks(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def like_pattern(text: str) -> str:
    """A case-folded ``LIKE`` pattern matching ``text`` anywhere (wildcards escaped)."""
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
