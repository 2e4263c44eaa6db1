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
from csp.projections.organizations_list import organization_names
from csp.projections.sql import Row, as_utc
from csp.projections.store import ReadView
from csp.projections.subscriptions_list import reseller_subscriptions

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
        trial = s["is_trial"]
        seats = s["purchased"] if is_billed(s["status"]) else 0  # an ended one costs nothing
        out.append(
            {
                "organization_id": s["organization_id"],
                "organization_name": names.get(s["organization_id"], {}).get("name", ""),
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
        )
    out.sort(key=lambda r: (r["organization_name"], r["product_group"], r["tenant_domain"], r["offer_name"]))
    return out
