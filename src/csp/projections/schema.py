"""Creating read-model tables, and knowing which models must be rebuilt.

``read_meta`` records each model's schema hash (its tables and version) and the
generation of its tables (index names carry it, so a rebuilt table's indexes never
clash with the live one's). A model is stale when its tables or handlers changed, or
when it joins a group that has already followed part of the log: the leader rebuilds
stale models before it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from csp.projections.model import ReadModel, ReadModelGroup
from csp.projections.rows import RowBuffer
from csp.projections.sql import Table, cols
from csp.projections.store import Tx

META = Table(
    "read_meta",
    cols("model text!, schema_hash text!, generation int!, status text!, updated_at time!"),
    key=("model",),
)


def table_names(tx: Tx) -> set[str]:
    return {str(r["name"]) for r in tx.query(tx.dialect.list_tables_sql())}


def create_tables(tx: Tx, tables: tuple[Table, ...], names: dict[str, str], generation: int, indexes: bool) -> None:
    d = tx.dialect
    for t in tables:
        physical = names.get(t.name, t.name)
        tx.execute(d.drop_table(physical))
        tx.execute(d.create_table(t, physical))
        if indexes:
            create_indexes(tx, t, physical, generation)


def create_indexes(tx: Tx, table: Table, physical: str, generation: int) -> None:
    for statement in tx.dialect.create_indexes(table, physical, generation):
        tx.execute(statement)


def set_meta(rows: RowBuffer, model: ReadModel, generation: int, status: str) -> None:
    rows.put(
        META,
        {
            "model": model.name,
            "schema_hash": model.schema_hash(),
            "generation": generation,
            "status": status,
            "updated_at": datetime.now(UTC),
        },
    )


def ensure_schema(tx: Tx, group: ReadModelGroup, position: int | None) -> list[str]:
    """Create what is missing; returns the names of the models that need a rebuild."""
    tx.lock_tracking()
    existing = table_names(tx)
    if META.name not in existing:
        create_tables(tx, (META,), {}, 0, indexes=False)
    rows = RowBuffer(tx)
    stale = []
    for m in group.models:
        meta: dict[str, Any] | None = rows.get(META, (m.name,))
        missing = any(t.name not in existing for t in m.tables)
        if meta is None or missing:
            create_tables(tx, m.tables, {}, 0, indexes=True)
            status = "stale" if position else "ready"
            set_meta(rows, m, 0, status)
        elif meta["schema_hash"] != m.schema_hash():
            status = "stale"
            meta.update(status="stale")
            rows.put(META, meta)
        else:
            status = meta["status"]
        if status == "stale":
            stale.append(m.name)
    rows.flush()
    return stale
