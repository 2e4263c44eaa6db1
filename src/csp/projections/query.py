"""Query helpers shared by the read models: pages, paging checks, CSV."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from csp.aggregates.errors import InvalidInput
from csp.projections.sql import ColumnType, Row, Table
from csp.projections.store import ReadView

MAX_LIMIT = 200


@dataclass
class Page:
    """One page of a list: the items asked for, and how many there are in all."""

    items: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    next_after: str | None = None  # keyset paging: the ``after`` of the next page (None: the last)


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
    rows, total, _ = select_window(view, table, where, params, order_by, limit, offset)
    return rows, total


def select_window(
    view: ReadView,
    table: Table,
    where: str,
    params: Sequence[Any],
    order_by: str,
    limit: int,
    offset: int,
    keyset: tuple[str, Sequence[Any]] | None = None,
) -> tuple[list[Row], int, bool]:
    """Rows of a page, the total of ``where`` and whether more rows follow, in one
    transaction; ``keyset`` (a condition on the sort key and its values) starts the page
    after a given row, the total still counting every row of ``where``."""
    check_paging(limit, offset)
    d = view.dialect
    names = ", ".join(f'"{c}"' for c in table.column_names)
    page_where, page_params = where, list(params)
    if keyset is not None:
        page_where += f" AND {keyset[0]}"
        page_params += keyset[1]
    with view.tx(write=False) as tx:
        total = tx.query(d.q(f"SELECT COUNT(*) AS n FROM {d.qualify(table.name)} WHERE {where}"), list(params))
        found = tx.query(
            d.q(f"SELECT {names} FROM {d.qualify(table.name)} WHERE {page_where} ORDER BY {order_by} LIMIT ? OFFSET ?"),
            [*page_params, limit + 1, offset],
        )
    types = table.types()
    return [d.decode_row(types, r) for r in found[:limit]], int(total[0]["n"]), len(found) > limit


def cursor_of(values: Sequence[Any]) -> str:
    """An opaque keyset cursor: the sort key of a page's last row."""
    text = json.dumps([v.isoformat() if isinstance(v, datetime) else str(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def values_of_cursor(view: ReadView, cursor: str, kinds: Sequence[ColumnType]) -> list[Any]:
    """The sort key a cursor carries, as database values (422 ``after`` when it is not
    one of this list's cursors)."""
    refused = InvalidInput("after", "is not a cursor of this list (give the next_after of a page)", value=cursor)
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise refused from None
    if not isinstance(raw, list) or len(raw) != len(kinds) or not all(isinstance(v, str) for v in raw):
        raise refused
    out = []
    for kind, text in zip(kinds, raw, strict=True):
        try:
            value: Any = text
            if kind == "time":
                value = datetime.fromisoformat(text)
                if value.tzinfo is None:
                    raise ValueError(text)
            elif kind == "uuid":
                value = UUID(text)
        except ValueError:
            raise refused from None
        out.append(view.dialect.to_db(kind, value))
    return out


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
