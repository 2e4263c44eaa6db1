"""How many licences did each customer buy, and how many are assigned, per product? (Reports)

A query over the subscriptions list: licence-based subscriptions (trials included, as
on the portal's screen) summed per customer and offer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from csp.projections.organizations_list import organization_names
from csp.projections.reports_subscriptions import in_range
from csp.projections.store import ReadView
from csp.projections.subscriptions_list import LIVE, reseller_subscriptions

COLUMNS = (
    "organization_id",
    "organization_name",
    "product_group",
    "offer_id",
    "offer_name",
    "subscriptions",
    "purchased",
    "assigned",
    "unassigned",
)


def report(
    view: ReadView,
    reseller_id: UUID,
    organization_id: UUID | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
) -> list[dict[str, Any]]:
    """Live subscriptions without a range; with one, those live at some point of it."""
    names = organization_names(view, reseller_id)
    ranged = date_from is not None or date_to is not None
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for s in reseller_subscriptions(view, reseller_id):
        if s["type"] != "licence" or (organization_id is not None and s["organization_id"] != organization_id):
            continue
        if (ranged and not in_range(s, date_from, date_to)) or (not ranged and s["status"] not in LIVE):
            continue
        key = (s["organization_id"], s["offer_id"])
        row = totals.setdefault(
            key,
            {
                "organization_id": s["organization_id"],
                "organization_name": names.get(s["organization_id"], {}).get("name", ""),
                "product_group": s["product_group"] or "",
                "offer_id": s["offer_id"],
                "offer_name": s["offer_name"],
                "subscriptions": 0,
                "purchased": 0,
                "assigned": 0,
                "unassigned": 0,
            },
        )
        row["subscriptions"] += 1
        row["purchased"] += s["purchased"]
        row["assigned"] += s["assigned"]
        row["unassigned"] = max(0, row["purchased"] - row["assigned"])
    return sorted(totals.values(), key=lambda r: (r["organization_name"], r["product_group"], r["offer_name"]))
