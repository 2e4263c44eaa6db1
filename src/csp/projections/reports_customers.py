"""Who are this reseller's customers, and how much do they buy? (Reports)

A query over the organizations and subscriptions lists: a row per customer with its live
subscriptions, licences and what they cost per month (partner and customer price).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from csp.aggregates.pricing import money
from csp.projections.organizations_list import organization_names
from csp.projections.sql import as_utc
from csp.projections.store import ReadView
from csp.projections.subscriptions_list import LIVE, reseller_subscriptions

COLUMNS = (
    "organization_id",
    "name",
    "country",
    "industry",
    "created_at",
    "subscriptions",
    "licences",
    "assigned",
    "monthly_partner_cost",
    "monthly_customer_price",
)


def monthly(unit: Decimal, quantity: int) -> Decimal:
    return money(unit * quantity)


def report(
    view: ReadView,
    reseller_id: UUID,
    organization_id: UUID | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
) -> list[dict[str, Any]]:
    start, end = as_utc(date_from), as_utc(date_to, end=True)
    orgs = [
        o
        for o in organization_names(view, reseller_id).values()
        if o["kind"] == "customer"
        and (organization_id is None or o["id"] == organization_id)
        and (start is None or o["created_at"] >= start)
        and (end is None or o["created_at"] < end)
    ]
    subs = [s for s in reseller_subscriptions(view, reseller_id) if s["status"] in LIVE]
    out = []
    for o in sorted(orgs, key=lambda o: (o["search"], str(o["id"]))):
        mine = [s for s in subs if s["organization_id"] == o["id"]]
        paid = [s for s in mine if not s["is_trial"]]
        licences = [s for s in mine if s["type"] == "licence"]
        out.append(
            {
                "organization_id": o["id"],
                "name": o["name"],
                "country": o["country"],
                "industry": o["industry"],
                "created_at": o["created_at"],
                "subscriptions": len(mine),
                "licences": sum(s["purchased"] for s in licences),
                "assigned": sum(s["assigned"] for s in licences),
                "monthly_partner_cost": money(
                    sum((monthly(s["unit_partner_price"], s["purchased"]) for s in paid), Decimal(0))
                ),
                "monthly_customer_price": money(
                    sum((monthly(s["unit_customer_price"], s["purchased"]) for s in paid), Decimal(0))
                ),
            }
        )
    return out
