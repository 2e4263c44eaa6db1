"""How much did each usage-based (Azure) subscription consume, month by month? (Reports)"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from csp.aggregates.pricing import money
from csp.aggregates.subscription import Subscription
from csp.projections.model import ReadModel, handles
from csp.projections.organizations_list import organization_names
from csp.projections.query import db_params, select_rows
from csp.projections.rows import Rows
from csp.projections.sql import Table, as_utc, cols
from csp.projections.store import ReadView

USAGE_SUBSCRIPTIONS = Table(
    "read_usage_subscriptions",
    cols("subscription_id uuid!, reseller_id uuid!, organization_id uuid!, offer_name text!, tenant_domain text!"),
    key=("subscription_id",),
)
USAGE = Table(
    "read_usage",
    cols(
        "subscription_id uuid!, version int!, day text!, meter text!, reseller_id uuid!, organization_id uuid!, "
        "quantity decimal!, amount money!"
    ),
    key=("subscription_id", "version"),
    indexes=(("reseller_id", "day"),),
)
COLUMNS = (
    "month",
    "organization_id",
    "organization_name",
    "subscription_id",
    "offer_name",
    "tenant_domain",
    "meter",
    "days",
    "quantity",
    "amount",
)


class ReportsConsumption(ReadModel):
    name = "reports_consumption"
    tables = (USAGE_SUBSCRIPTIONS, USAGE)

    @handles(Subscription.Provisioned)
    def provisioned(self, e: Subscription.Provisioned, rows: Rows) -> None:
        t = e.terms
        if t.type != "usage":
            return
        rows.put(
            USAGE_SUBSCRIPTIONS,
            {
                "subscription_id": e.originator_id,
                "reseller_id": t.reseller_id,
                "organization_id": t.organization_id,
                "offer_name": t.offer_name,
                "tenant_domain": t.tenant_domain,
            },
        )

    @handles(Subscription.UsageReported)
    def usage(self, e: Subscription.UsageReported, rows: Rows) -> None:
        sub = rows.get(USAGE_SUBSCRIPTIONS, (e.originator_id,))
        if sub is None:
            return
        # A row per report (summed when queried): writing one needs no read.
        rows.put(
            USAGE,
            {
                "subscription_id": e.originator_id,
                "version": e.originator_version,
                "day": e.day,
                "meter": e.meter,
                "reseller_id": sub["reseller_id"],
                "organization_id": sub["organization_id"],
                "quantity": Decimal(e.quantity),
                "amount": money(e.amount),
            },
        )


def report(
    view: ReadView,
    reseller_id: UUID,
    organization_id: UUID | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
) -> list[dict[str, Any]]:
    where, params = '"reseller_id" = ?', db_params(view, USAGE, reseller_id=reseller_id)
    if organization_id is not None:
        where += ' AND "organization_id" = ?'
        params += db_params(view, USAGE, organization_id=organization_id)
    start, end = as_utc(date_from), as_utc(date_to, end=True)
    if start is not None:
        where += ' AND "day" >= ?'
        params.append(f"{start:%Y-%m-%d}")
    if end is not None:
        where += ' AND "day" < ?'
        params.append(f"{end:%Y-%m-%d}")
    usage = select_rows(view, USAGE, where, params, '"day"')
    subs = {
        r["subscription_id"]: r
        for r in select_rows(
            view,
            USAGE_SUBSCRIPTIONS,
            '"reseller_id" = ?',
            db_params(view, USAGE_SUBSCRIPTIONS, reseller_id=reseller_id),
        )
    }
    names = organization_names(view, reseller_id)
    groups: dict[tuple[str, UUID, str], list[dict[str, Any]]] = defaultdict(list)
    for u in usage:
        groups[(u["day"][:7], u["subscription_id"], u["meter"])].append(u)
    out = []
    for (month, subscription_id, meter), us in groups.items():
        sub = subs.get(subscription_id, {})
        org_id = us[0]["organization_id"]
        out.append(
            {
                "month": month,
                "organization_id": org_id,
                "organization_name": names.get(org_id, {}).get("name", ""),
                "subscription_id": subscription_id,
                "offer_name": sub.get("offer_name", ""),
                "tenant_domain": sub.get("tenant_domain", ""),
                "meter": meter,
                "days": len({u["day"] for u in us}),
                "quantity": sum((u["quantity"] for u in us), Decimal(0)),
                "amount": money(sum((u["amount"] for u in us), Decimal(0))),
            }
        )
    out.sort(key=lambda r: (r["month"], r["organization_name"], r["offer_name"], str(r["subscription_id"]), r["meter"]))
    return out
