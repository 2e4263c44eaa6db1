"""Query helpers shared by the read models: pages, paging checks, CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from csp.aggregates.errors import InvalidInput
from csp.projections.sql import Row, Table
from csp.projections.store import ReadView

MAX_LIMIT = 200


@dataclass
class Page:
    """One page of a list: the items asked for, and how many there are in all."""

    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0


def check_paging(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT}", value=limit)
    if offset < 0:
        raise InvalidInput("offset", "must not be negative", value=offset)


def check_choice(field_name: str, value: str | None, choices: Sequence[str]) -> None:
    if value is not None and value not in choices:
        raise InvalidInput(field_name, f"must be one of {', '.join(choices)}", value=value)


def select_page(
    view: ReadView,
    table: Table,
    where: str,
    params: Sequence[Any],
    order_by: str,
    limit: int,
    offset: int,
) -> tuple[list[Row], int]:
    """Rows of a page and the total, read in one transaction (a consistent snapshot)."""
    check_paging(limit, offset)
    d = view.dialect
    names = ", ".join(f'"{c}"' for c in table.column_names)
    with view.tx(write=False) as tx:
        total = tx.query(d.q(f"SELECT COUNT(*) AS n FROM {d.qualify(table.name)} WHERE {where}"), list(params))
        found = tx.query(
            d.q(f"SELECT {names} FROM {d.qualify(table.name)} WHERE {where} ORDER BY {order_by} LIMIT ? OFFSET ?"),
            [*params, limit, offset],
        )
    types = table.types()
    return [d.decode_row(types, r) for r in found], int(total[0]["n"])


def select_rows(view: ReadView, table: Table, where: str, params: Sequence[Any], order_by: str = "") -> list[Row]:
    d = view.dialect
    names = ", ".join(f'"{c}"' for c in table.column_names)
    order = f" ORDER BY {order_by}" if order_by else ""
    with view.tx(write=False) as tx:
        found = tx.query(d.q(f"SELECT {names} FROM {d.qualify(table.name)} WHERE {where}{order}"), list(params))
    types = table.types()
    return [d.decode_row(types, r) for r in found]


def db_params(view: ReadView, table: Table, **values: Any) -> list[Any]:
    """Filter values converted for the database, by the columns they compare with."""
    types = table.types()
    return [view.dialect.to_db(types[k], v) for k, v in values.items()]


def in_list(n: int) -> str:
    return "(" + ", ".join("?" for _ in range(n)) + ")"


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """CSV with a header; money and ids as text, times in ISO 8601, lists as JSON.

    The one writer of every export (reports, invoices, ``csp billing export``), safe to
    open in a spreadsheet: a text cell that would start a formula gets a leading ``'``
    and every text cell is quoted (so that another locale's separator inside it cannot
    start a cell); numbers are written as they are, unquoted.
    """
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([neutralised(c) for c in columns])
    w = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    for r in rows:
        w.writerow([csv_cell(r.get(c)) for c in columns])
    return out.getvalue()


def csv_cell(value: Any) -> str | int | float | Decimal:
    """A value as a CSV cell: a number stays a number (the writer leaves it unquoted),
    everything else becomes neutralised text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return value
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return neutralised(json.dumps(value, default=str))
    return neutralised(str(value))


def neutralised(text: str) -> str:
    """Text that a spreadsheet shows as text: a leading ``'`` where it would be a formula."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
