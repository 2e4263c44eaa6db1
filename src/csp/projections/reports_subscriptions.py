"""Which subscriptions did this reseller's customers hold over a period? (Reports)

A query over the subscriptions list: a row per subscription live at some point of the
range (created before its end, not ended before its start).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from csp.aggregates.pricing import money
from csp.aggregates.subscription import is_billed
from csp.projections.organizations_list import ORGANIZATIONS, organization_names
from csp.projections.query import Page, check_paging
from csp.projections.sql import Row, as_utc
from csp.projections.store import ReadView
from csp.projections.subscriptions_list import PRODUCT_GROUPS, SUBSCRIPTIONS, reseller_subscriptions

COLUMNS = (
    "organization_id",
    "organization_name",
    "subscription_id",
    "offer_name",
    "product_group",
    "tenant_domain",
    "type",
    "status",
    "term",
    "billing_cycle",
    "created_at",
    "starts_at",
    "ends_at",
    "ended_at",
    "purchased",
    "assigned",
    "unit_partner_price",
    "unit_customer_price",
    "monthly_partner_cost",
    "monthly_customer_price",
)


def in_range(s: Row, date_from: date | datetime | None, date_to: date | datetime | None) -> bool:
    start, end = as_utc(date_from), as_utc(date_to, end=True)
    if end is not None and s["created_at"] >= end:
        return False
    return not (start is not None and s["ended_at"] is not None and s["ended_at"] < start)


def _row(s: Row, organization_name: str) -> dict[str, Any]:
    trial = s["is_trial"]
    seats = s["purchased"] if is_billed(s["status"]) else 0  # an ended one costs nothing
    return {
        "organization_id": s["organization_id"],
        "organization_name": organization_name,
        "subscription_id": s["id"],
        "offer_name": s["offer_name"],
        "product_group": s["product_group"] or "",
        "tenant_domain": s["tenant_domain"],
        "type": s["type"],
        "status": s["status"],
        "term": s["term"],
        "billing_cycle": s["billing_cycle"],
        "created_at": s["created_at"],
        "starts_at": s["starts_at"],
        "ends_at": s["ends_at"],
        "ended_at": s["ended_at"],
        "purchased": s["purchased"],
        "assigned": s["assigned"],
        "unit_partner_price": None if trial else s["unit_partner_price"],
        "unit_customer_price": None if trial else s["unit_customer_price"],
        "monthly_partner_cost": None if trial else money(s["unit_partner_price"] * seats),
        "monthly_customer_price": None if trial else money(s["unit_customer_price"] * seats),
    }


def report(
    view: ReadView,
    reseller_id: UUID,
    organization_id: UUID | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
) -> list[dict[str, Any]]:
    names = organization_names(view, reseller_id)
    out = []
    for s in reseller_subscriptions(view, reseller_id):
        if organization_id is not None and s["organization_id"] != organization_id:
            continue
        if not in_range(s, date_from, date_to):
            continue
        out.append(_row(s, names.get(s["organization_id"], {}).get("name", "")))
    out.sort(key=lambda r: (r["organization_name"], r["product_group"], r["tenant_domain"], r["offer_name"]))
    return out


def page(
    view: ReadView,
    reseller_id: UUID,
    organization_id: UUID | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """A page of ``report`` (the same rows, in the same order), filtered, ordered and cut
    in SQL: only the page's rows are read and shaped. Text is ordered by code point, as
    Python sorts it (PostgreSQL's collation would not), ties as ``report`` leaves them."""
    check_paging(limit, offset)
    d = view.dialect
    c = ' COLLATE "C"' if d.name == "postgres" else ""
    where = 's."reseller_id" = ?'
    params = [d.to_db("uuid", reseller_id)]
    if organization_id is not None:
        where += ' AND s."organization_id" = ?'
        params.append(d.to_db("uuid", organization_id))
    start, end = as_utc(date_from), as_utc(date_to, end=True)
    if end is not None:
        where += ' AND s."created_at" < ?'
        params.append(d.to_db("time", end))
    if start is not None:
        where += ' AND (s."ended_at" IS NULL OR s."ended_at" >= ?)'
        params.append(d.to_db("time", start))
    joins = (
        f"FROM {d.qualify(SUBSCRIPTIONS.name)} s "
        f'LEFT JOIN {d.qualify(PRODUCT_GROUPS.name)} g ON g."id" = s."product_group_id" '
        f'LEFT JOIN {d.qualify(ORGANIZATIONS.name)} o ON o."id" = s."organization_id"'
    )
    columns = ", ".join(f's."{n}"' for n in SUBSCRIPTIONS.column_names)
    order = (
        f'COALESCE(o."name", \'\'){c}, COALESCE(g."name", \'\'){c}, s."tenant_domain"{c}, '
        f's."offer_name"{c}, s."organization_id", s."id"'
    )
    with view.tx(write=False) as tx:
        total = tx.query(d.q(f"SELECT COUNT(*) AS n {joins} WHERE {where}"), params)
        found = tx.query(
            d.q(
                f'SELECT {columns}, g."name" AS product_group, o."name" AS organization_name {joins} '
                f"WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
            ),
            [*params, limit, offset],
        )
    types = SUBSCRIPTIONS.types()
    rows = []
    for r in found:
        s = d.decode_row(types, r)
        rows.append(_row(s, r["organization_name"] or ""))
    return Page(rows, int(total[0]["n"]))
