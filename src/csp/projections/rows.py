"""Rows by primary key: what a read model's handlers read and write.

``RowBuffer`` is a unit of work on one transaction: reads go to the buffer, then to an
optional cache, then to the database; writes stay in the buffer until ``flush`` turns
them into multi-row upserts and deletes, just before the transaction commits with its
tracking position. ``MemoryRows`` is the same interface over dicts: folding events into
it is the pure reference a stored read model is compared with.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Protocol

from csp.projections.sql import Dialect, Key, Row, Table, to_json
from csp.projections.store import Tx

_DELETED = object()
_ABSENT = object()
FLUSH_ROWS = 5000  # write buffered rows early (same transaction) past this many: memory stays bounded


class Rows(Protocol):
    def get(self, table: Table, key: Key) -> Row | None: ...

    def put(self, table: Table, row: Row) -> None: ...

    def delete(self, table: Table, key: Key) -> None: ...


class RowCache:
    """A bounded LRU of rows known to be in the database (None: known to be absent).

    Only rows of tables that handlers read are kept: most rows written (charges, audit
    links, invoice lines, usage) are never read back, and would only push out those that
    are (a subscription's row, its ledger)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._rows: OrderedDict[tuple[str, Key], Row | None] = OrderedDict()
        self._read: set[str] = set()  # tables read through this cache

    def get(self, table: str, key: Key) -> Any:
        self._read.add(table)
        k = (table, key)
        row = self._rows.get(k, _ABSENT)
        if row is not _ABSENT:
            self._rows.move_to_end(k)
        return row

    def clear(self) -> None:
        self._rows.clear()

    def set(self, table: str, key: Key, row: Row | None) -> None:
        if table not in self._read:
            return
        k = (table, key)
        self._rows[k] = row
        self._rows.move_to_end(k)
        while len(self._rows) > self._size:
            self._rows.popitem(last=False)


class RowBuffer:
    """Buffered reads and writes on one transaction, flushed as multi-row statements."""

    def __init__(
        self,
        tx: Tx,
        names: dict[str, str] | None = None,
        cache: RowCache | None = None,
        dialect: Dialect | None = None,
        flush_rows: int | None = FLUSH_ROWS,
    ) -> None:
        self.tx = tx  # reads (and writes, at flush): may be replaced before the flush
        self.dialect = dialect or tx.dialect
        self._names = names or {}
        self._cache = cache
        self._pending: dict[str, tuple[Table, dict[Key, Any]]] = {}
        self._count = 0
        self._flush_rows = flush_rows  # None: only at flush

    @property
    def count(self) -> int:
        """Rows written or deleted since the last flush."""
        return self._count

    def physical(self, table: Table) -> str:
        return self._names.get(table.name, table.name)

    def get(self, table: Table, key: Key) -> Row | None:
        pending = self._pending.get(table.name)
        if pending is not None and key in pending[1]:
            row = pending[1][key]
            return None if row is _DELETED else dict(row)
        if self._cache is not None:
            cached = self._cache.get(table.name, key)
            if cached is not _ABSENT:
                return dict(cached) if cached is not None else None
        found = self.tx.query(
            self.dialect.select_by_key(table, self.physical(table)), self.dialect.key_params(table, key)
        )
        row = self.dialect.decode_row(table.types(), found[0]) if found else None
        if self._cache is not None:
            self._cache.set(table.name, key, row)
        return dict(row) if row is not None else None

    def put(self, table: Table, row: Row) -> None:
        if not row.keys() >= table.column_set:
            raise ValueError(f"{table.name}: row lacks {sorted(table.column_set - row.keys())}")
        self._pending.setdefault(table.name, (table, {}))[1][table.key_of(row)] = dict(row)
        self._written()

    def delete(self, table: Table, key: Key) -> None:
        self._pending.setdefault(table.name, (table, {}))[1][key] = _DELETED
        self._written()

    def _written(self) -> None:
        self._count += 1
        if self._flush_rows is not None and self._count >= self._flush_rows:
            self.flush()

    def flush(self) -> int:
        """Write the buffered rows; returns how many rows were written or deleted."""
        written = 0
        for table, rows in self._pending.values():
            physical = self.physical(table)
            deletes = [self.dialect.key_params(table, k) for k, r in rows.items() if r is _DELETED]
            upserts = [self.dialect.encode_row(table, r) for r in rows.values() if r is not _DELETED]
            if deletes:
                self.tx.executemany(self.dialect.delete_by_key(table, physical), deletes)
            self.dialect.write_rows(self.tx, table, physical, upserts)
            written += len(rows)
            if self._cache is not None:
                for k, r in rows.items():
                    self._cache.set(table.name, k, None if r is _DELETED else r)
        self._pending.clear()
        self._count = 0
        return written


class MemoryRows:
    """Read-model tables as dicts: the pure fold a stored model must equal."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Key, Row]] = {}

    def get(self, table: Table, key: Key) -> Row | None:
        row = self.tables.get(table.name, {}).get(key)
        return dict(row) if row is not None else None

    def put(self, table: Table, row: Row) -> None:
        missing = set(table.column_names) - set(row)
        if missing:
            raise ValueError(f"{table.name}: row lacks {sorted(missing)}")
        self.tables.setdefault(table.name, {})[table.key_of(row)] = canonical(table, row)

    def delete(self, table: Table, key: Key) -> None:
        self.tables.get(table.name, {}).pop(key, None)

    def rows(self, table: Table) -> list[Row]:
        return sorted(self.tables.get(table.name, {}).values(), key=lambda r: sort_key(table, r))


def canonical(table: Table, row: Row) -> Row:
    """A row as the database gives it back: JSON columns round-tripped."""
    out = {}
    for c in table.columns:
        v = row.get(c.name)
        out[c.name] = json.loads(to_json(v)) if c.type == "json" and v is not None else v
    return out


def sort_key(table: Table, row: Row) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in table.key)


def read_all(tx: Tx, table: Table, physical: str | None = None) -> list[Row]:
    """Every row of a table, decoded, in primary-key order (for comparisons)."""
    d = tx.dialect
    names = ", ".join(f'"{c}"' for c in table.column_names)
    found = tx.query(f"SELECT {names} FROM {d.qualify(physical or table.name)}")
    rows = [d.decode_row(table.types(), r) for r in found]
    return sorted(rows, key=lambda r: sort_key(table, r))
