"""The reports (the reports_* read models) by name: their columns, the choice of columns
and the sort a caller asks for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from csp.aggregates.errors import InvalidInput
from csp.projections import (
    reports_consumption,
    reports_customers,
    reports_evolution,
    reports_licenses,
    reports_subscriptions,
)

REPORTS: dict[str, tuple[tuple[str, ...], Callable[..., list[dict[str, Any]]]]] = {
    "customers": (reports_customers.COLUMNS, reports_customers.report),
    "subscriptions": (reports_subscriptions.COLUMNS, reports_subscriptions.report),
    "licenses": (reports_licenses.COLUMNS, reports_licenses.report),
    "consumption": (reports_consumption.COLUMNS, reports_consumption.report),
    "evolution": (reports_evolution.COLUMNS, reports_evolution.report),
}
# Reports whose rows depend on the clock (their default range ends at ``now``'s month).
TIMED_REPORTS = frozenset({"evolution"})


def report_columns(name: str, columns: Sequence[str] | None) -> tuple[str, ...]:
    """The columns asked for, in the order asked (all of the report's if none); an
    unknown or repeated one is refused by the field ``columns``."""
    known = REPORTS[name][0]
    if not columns:
        return known
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise InvalidInput("columns", f"unknown column {unknown[0]}; one of {', '.join(known)}", value=unknown[0])
    if len(set(columns)) != len(columns):
        raise InvalidInput("columns", "a column is chosen twice", value=",".join(columns))
    return tuple(columns)


def sort_rows(
    name: str, rows: list[dict[str, Any]], sort: str | None, descending: bool = False
) -> list[dict[str, Any]]:
    """The rows by one column (text without case; empty cells last either way), ties
    in the report's own order; an unknown column is refused by the field ``sort``."""
    if not sort:
        return rows
    if sort not in REPORTS[name][0]:
        raise InvalidInput("sort", f"unknown column {sort}; one of {', '.join(REPORTS[name][0])}", value=sort)

    def key(r: dict[str, Any]) -> Any:
        v = r.get(sort)
        if isinstance(v, str):
            return v.casefold()
        if isinstance(v, UUID):
            return str(v)
        return v

    filled = [r for r in rows if r.get(sort) not in (None, "")]
    empty = [r for r in rows if r.get(sort) in (None, "")]
    return sorted(filled, key=key, reverse=descending) + empty
