"""How did each customer's licences and money evolve, month by month? (Reports)

A query over the charges ledger (``charges_ledger.charges``: the charges the events
emitted and the period charges derived up to the range's end) and the subscriptions list
(each subscription's organization, product group and unit customer price). A row per
month, organization and product group:

- ``licences``: licence-days / days in the month (2 places, half-up). A licence charge
  pays for ``quantity`` seats over days: a period charge its whole period, an increase
  or a refund the ``days`` up to its period's end (a refund's quantity is negative), a
  reversal from the day it was recorded to its period's end. 10 seats all of November
  are 10.00; +5 on 16 November (15 of 30 days) make 12.50.
- ``partner_cost``: the ledger's amounts charged in the month (dated in it), as the
  month's invoice bills them: a period is charged at its start (a yearly cycle's whole
  term at once), an increase or a refund on its day, usage (Azure) on the day of use.
  Usage counts in money only, never in licences.
- ``customer_price``: the same charges at the subscription's unit customer price
  (``amount`` × unit customer price / the charge's unit partner price: the same seats
  and days at the customer's price). The ledger holds partner prices only, so this is
  the customer price the subscription has now. Usage (Azure) has no customer rate on
  the platform (the plan's unit price is 0.00): its customer price is what the vendor
  rated.

Money is summed exactly and rounded once per row, half-up to the cent. Charges still
ahead of ``now`` in the range (the ledger's ``scheduled``: what happens if nothing
changes) count too, so the current month is whole.

Months are those overlapping ``[date_from, date_to]``; by default the last 12 months up
to ``now``'s month.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from csp.aggregates.pricing import money
from csp.projections.charges_ledger import charges
from csp.projections.organizations_list import organization_names
from csp.projections.store import ReadView
from csp.projections.subscriptions_list import reseller_subscriptions

COLUMNS = (
    "month",
    "organization_id",
    "organization_name",
    "product_group",
    "licences",
    "partner_cost",
    "customer_price",
)
DEFAULT_MONTHS = 12
TWO_PLACES = Decimal("0.01")


def _month_start(d: date) -> date:
    return date(d.year, d.month, 1)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _add_months(d: date, n: int) -> date:
    index = d.year * 12 + d.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def month_range(
    now: datetime, date_from: date | datetime | None = None, date_to: date | datetime | None = None
) -> tuple[date, date]:
    """The first day of the first month and of the month after the last (default: the
    last 12 months up to ``now``'s)."""

    def as_date(v: date | datetime) -> date:
        return _day(v) if isinstance(v, datetime) else v

    current = _month_start(_day(now))
    if date_to is not None:
        last = _month_start(as_date(date_to))
    elif date_from is not None:
        last = max(current, _month_start(as_date(date_from)))
    else:
        last = current
    first = _month_start(as_date(date_from)) if date_from is not None else _add_months(last, 1 - DEFAULT_MONTHS)
    return first, _next_month(last)


def _covered(c: dict[str, Any]) -> tuple[date, date]:
    """The days a licence charge pays for, ``[start, end)`` (UTC dates)."""
    end = _day(c["period_end"])
    if c["kind"] == "period":
        return _day(c["period_start"]), end
    if c["days"] > 0:
        return end - timedelta(days=c["days"]), end
    return min(_day(c["charged_at"]), end), end


def _overlaps(start: date, end: date, first: date, stop: date) -> list[tuple[date, int]]:
    """Each month of ``[first, stop)`` that ``[start, end)`` overlaps, with the days."""
    out = []
    m = max(_month_start(start), first)
    while m < stop and m < end:
        following = _next_month(m)
        days = (min(end, following) - max(start, m)).days
        if days > 0:
            out.append((m, days))
        m = following
    return out


def report(
    view: ReadView,
    reseller_id: UUID,
    organization_id: UUID | None = None,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    *,
    now: datetime,
) -> list[dict[str, Any]]:
    first, stop = month_range(now, date_from, date_to)
    subs = {s["id"]: s for s in reseller_subscriptions(view, reseller_id)}
    names = organization_names(view, reseller_id)
    # every charge up to the range's end: a yearly charge dated before the range pays for
    # months inside it (the ledger derives the period charges up to that end)
    ledger = charges(view, now, reseller_id, None, stop - timedelta(days=1)).items
    totals: dict[tuple[date, UUID, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for c in ledger:
        if organization_id is not None and c["organization_id"] != organization_id:
            continue
        sub = subs.get(c["subscription_id"])
        group = (sub.get("product_group") if sub else None) or ""
        usage = c["kind"] == "usage" or (sub is not None and sub["type"] == "usage")
        # money: the month the ledger charged it (as invoiced)
        day = _day(c["charged_at"])
        if first <= day < stop:
            amount: Decimal = c["amount"]
            unit: Decimal | None = c["unit_price"]
            t = totals[(_month_start(day), c["organization_id"], group)]
            t[1] += amount
            t[2] += amount * sub["unit_customer_price"] / unit if sub is not None and unit and not usage else amount
        if usage:
            continue
        # licences: the seats over the days the charge pays for
        start, end = _covered(c)
        for month, days in _overlaps(start, end, first, stop):
            month_days = (_next_month(month) - month).days
            totals[(month, c["organization_id"], group)][0] += c["quantity"] * days / month_days
    out = [
        {
            "month": f"{month:%Y-%m}",
            "organization_id": org,
            "organization_name": names.get(org, {}).get("name", ""),
            "product_group": group,
            "licences": licences.quantize(TWO_PLACES, rounding=ROUND_HALF_UP),
            "partner_cost": money(partner),
            "customer_price": money(customer),
        }
        for (month, org, group), (licences, partner, customer) in totals.items()
    ]
    # a month where what was charged was given back, and no licence was held: no row
    out = [r for r in out if r["licences"] or r["partner_cost"] or r["customer_price"]]
    out.sort(key=lambda r: (r["month"], r["organization_name"], r["product_group"], str(r["organization_id"])))
    return out
