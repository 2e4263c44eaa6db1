"""How much did each usage-based (Azure) subscription consume, day by day and month by
month? (Reports, ``GET /usage``, the reconciliation file, the plans' entitlements)

``read_usage_daily`` holds the rated rows of ``UsageRecorded``: one per day × entitlement ×
meter, with the partner cost and customer price the import recorded (never recomputed).
``read_usage`` holds the older per-meter ``UsageReported`` reports."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from csp.aggregates.currency import AppliedRate
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
DAILY = Table(
    "read_usage_daily",
    cols(
        "entitlement_id uuid!, day text!, meter text!, subscription_id uuid!, reseller_id uuid!, "
        "organization_id uuid!, entitlement_name text!, meter_category text!, unit text!, quantity decimal!, "
        "unit_price decimal!, partner_cost money!, customer_price money!"
    ),
    key=("entitlement_id", "day", "meter"),
    indexes=(("reseller_id", "day"), ("subscription_id", "day")),
)
ENTITLEMENTS = Table(
    "read_azure_entitlements",
    cols(
        "id uuid!, subscription_id uuid!, reseller_id uuid!, organization_id uuid!, name text!, "
        "monthly_budget money, vendor_entitlement_id text, created_at time!"
    ),
    key=("id",),
    indexes=(("subscription_id",),),
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
    version = 2  # 2: daily rated rows per entitlement × meter, and the plans' entitlements
    tables = (USAGE_SUBSCRIPTIONS, USAGE, DAILY, ENTITLEMENTS)

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

    @handles(Subscription.EntitlementAdded)
    def entitlement_added(self, e: Subscription.EntitlementAdded, rows: Rows) -> None:
        sub = rows.get(USAGE_SUBSCRIPTIONS, (e.originator_id,))
        if sub is None:
            return
        ent = e.entitlement
        rows.put(
            ENTITLEMENTS,
            {
                "id": ent.id,
                "subscription_id": e.originator_id,
                "reseller_id": sub["reseller_id"],
                "organization_id": sub["organization_id"],
                "name": ent.name,
                "monthly_budget": ent.monthly_budget,
                "vendor_entitlement_id": ent.vendor_entitlement_id,
                "created_at": ent.created_at,
            },
        )

    @handles(Subscription.EntitlementLinked)
    def entitlement_linked(self, e: Subscription.EntitlementLinked, rows: Rows) -> None:
        found = rows.get(ENTITLEMENTS, (e.entitlement_id,))
        if found is not None:
            rows.put(ENTITLEMENTS, {**found, "vendor_entitlement_id": e.vendor_entitlement_id})

    @handles(Subscription.UsageRecorded)
    def usage_recorded(self, e: Subscription.UsageRecorded, rows: Rows) -> None:
        sub = rows.get(USAGE_SUBSCRIPTIONS, (e.originator_id,))
        if sub is None:
            return
        for r in e.rows:
            rows.put(
                DAILY,
                {
                    "entitlement_id": e.entitlement_id,
                    "day": e.day,
                    "meter": r.meter,
                    "subscription_id": e.originator_id,
                    "reseller_id": sub["reseller_id"],
                    "organization_id": sub["organization_id"],
                    "entitlement_name": e.entitlement_name,
                    "meter_category": r.meter_category,
                    "unit": r.unit,
                    "quantity": r.quantity,
                    "unit_price": r.unit_price,
                    "partner_cost": r.partner_cost,
                    "customer_price": r.customer_price,
                },
            )


def daily_usage(
    view: ReadView,
    reseller_id: UUID,
    organization_id: UUID | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    meter: str | None = None,
    subscription_id: UUID | None = None,
) -> list[dict[str, Any]]:
    """The rated rows, oldest day first: ``from`` and ``to`` are whole days, both included."""
    where, params = '"reseller_id" = ?', db_params(view, DAILY, reseller_id=reseller_id)
    if organization_id is not None:
        where += ' AND "organization_id" = ?'
        params += db_params(view, DAILY, organization_id=organization_id)
    if subscription_id is not None:
        where += ' AND "subscription_id" = ?'
        params += db_params(view, DAILY, subscription_id=subscription_id)
    if date_from is not None:
        where += ' AND "day" >= ?'
        params.append(date_from.isoformat())
    if date_to is not None:
        where += ' AND "day" <= ?'
        params.append(date_to.isoformat())
    if meter:
        where += ' AND "meter" = ?'
        params.append(meter)
    out = [dict(r) for r in select_rows(view, DAILY, where, params, '"day", "entitlement_name", "meter"')]
    return out


def entitlements(view: ReadView, subscription_id: UUID, month: str) -> list[dict[str, Any]]:
    """A plan's entitlements, oldest first, each with its customer price so far in ``month``."""
    params = db_params(view, ENTITLEMENTS, subscription_id=subscription_id)
    ents = [dict(r) for r in select_rows(view, ENTITLEMENTS, '"subscription_id" = ?', params, '"created_at", "name"')]
    spent: dict[UUID, Decimal] = defaultdict(Decimal)
    for r in select_rows(
        view,
        DAILY,
        '"subscription_id" = ? AND "day" >= ? AND "day" < ?',
        [*db_params(view, DAILY, subscription_id=subscription_id), f"{month}-01", f"{month}-32"],
    ):
        spent[r["entitlement_id"]] += r["customer_price"]
    for e in ents:
        e["month_to_date"] = money(spent.get(e["id"], Decimal(0)))
    return ents


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
    usage = [
        *select_rows(view, USAGE, where, params, '"day"'),
        *({**r, "amount": r["partner_cost"]} for r in select_rows(view, DAILY, where, params, '"day"')),
    ]
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


RECONCILIATION_COLUMNS = (
    "PartnerId",
    "CustomerId",
    "CustomerName",
    "CustomerDomainName",
    "SubscriptionId",
    "EntitlementId",
    "EntitlementDescription",
    "UsageDate",
    "ChargeType",
    "MeterCategory",
    "MeterName",
    "Unit",
    "Quantity",
    "UnitPrice",
    "BillingPreTaxTotal",
    "CustomerPrice",
    "BillingCurrency",
    # the invoice's currency (issue 18): the rate it converts with, and each row's share of
    # the invoice's converted usage line (so the column sums to the invoice's usage lines)
    "InvoiceCurrency",
    "ExchangeRate",
    "ExchangeRateMonth",
    "InvoicePreTaxTotal",
)


def invoice_shares(rows: list[dict[str, Any]], rate: AppliedRate | None) -> list[Decimal]:
    """Each row's partner cost in the invoice's currency, such that the rows of one invoice
    line (plan × entitlement × meter over the month) sum to that line as the invoice
    converted it: ``convert(Σ EUR)``. By day, each row gets convert(running EUR total) minus
    what the rows before it got, so no row is off its own conversion by more than one minor
    unit and the line's sum is exact. In EUR (no rate): the partner cost itself."""
    if rate is None:
        return [money(r["partner_cost"]) for r in rows]
    out: list[Decimal] = [Decimal(0)] * len(rows)
    running: dict[tuple[Any, ...], tuple[Decimal, Decimal]] = {}  # line → (EUR so far, converted so far)
    order = sorted(range(len(rows)), key=lambda i: rows[i]["day"])
    for i in order:
        r = rows[i]
        key = (r["subscription_id"], str(r.get("entitlement_id") or ""), r["meter"])
        eur, given = running.get(key, (Decimal(0), Decimal(0)))
        eur += money(r["partner_cost"])
        share = rate.convert(eur) - given
        out[i] = share
        running[key] = (eur, given + share)
    return out


def reconciliation_csv(view: ReadView, reseller_id: UUID, period: str, rate: AppliedRate | None = None) -> str:
    """Partner Center's daily rated usage reconciliation, for one month: one row per day ×
    meter × entitlement. ``BillingPreTaxTotal`` is the partner cost of the row in EUR (as
    recorded, rounded per row), so the column sums to the usage lines of that month's EUR
    invoice; ``InvoicePreTaxTotal`` is the row's share of its invoice line in the invoice's
    currency (``rate``: the one the invoice recorded, or will use), so it sums to the usage
    lines of the converted invoice (``invoice_shares``)."""
    first = date.fromisoformat(f"{period}-01")
    last = date(first.year + first.month // 12, first.month % 12 + 1, 1) - timedelta(days=1)
    rows = daily_usage(view, reseller_id, date_from=first, date_to=last)
    subs = {
        r["subscription_id"]: r
        for r in select_rows(
            view,
            USAGE_SUBSCRIPTIONS,
            '"reseller_id" = ?',
            db_params(view, USAGE_SUBSCRIPTIONS, reseller_id=reseller_id),
        )
    }
    vendor_ids = {
        r["id"]: r["vendor_entitlement_id"]
        for r in select_rows(
            view, ENTITLEMENTS, '"reseller_id" = ?', db_params(view, ENTITLEMENTS, reseller_id=reseller_id)
        )
    }
    names = organization_names(view, reseller_id)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(RECONCILIATION_COLUMNS)
    rows.sort(
        key=lambda r: (
            r["day"],
            str(r["organization_id"]),
            str(r["subscription_id"]),
            r["entitlement_name"],
            r["meter"],
        )
    )
    shares = invoice_shares(rows, rate)
    rate_columns = (rate.currency, rate.rate, rate.month) if rate is not None else ("EUR", "", "")
    for r, share in zip(rows, shares, strict=True):
        w.writerow(
            (
                reseller_id,
                r["organization_id"],
                names.get(r["organization_id"], {}).get("name", ""),
                subs.get(r["subscription_id"], {}).get("tenant_domain", ""),
                r["subscription_id"],
                vendor_ids.get(r["entitlement_id"]) or r["entitlement_id"],
                r["entitlement_name"],
                r["day"],
                "new",
                r["meter_category"],
                r["meter"],
                r["unit"],
                r["quantity"],
                r["unit_price"],
                money(r["partner_cost"]),
                money(r["customer_price"]),
                "EUR",
                *rate_columns,
                share,
            )
        )
    return out.getvalue()
