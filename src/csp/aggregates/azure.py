"""Azure plans: entitlements (the Azure subscriptions under one plan), daily rated usage
and monthly budgets, as values and pure rules (the events are the Subscription's).

Rating, decided once at import and recorded on ``Subscription.UsageRecorded``:

- partner cost = quantity × the vendor's unit price, rounded half-up to the cent, per row
  (one row per day × entitlement × meter);
- customer price = that partner cost × (1 + (default markup + extra markup) / 100),
  rounded half-up to the cent, per row (``pricing.customer_price``, the markup every other
  customer price of the subscription uses).

Sums (a month's invoice line, the reconciliation file) add rounded rows, so they agree to
the cent. A budget is on the customer price, month to date, per entitlement: crossing 80 %
and 100 % is recorded once per month and threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from csp.aggregates.base import Value
from csp.aggregates.errors import InvalidInput
from csp.aggregates.pricing import customer_price, money

BUDGET_THRESHOLDS: tuple[int, ...] = (80, 100)
MAX_ENTITLEMENT_NAME = 64


@dataclass(frozen=True)
class Entitlement(Value):
    """One Azure subscription under an Azure plan (Partner Center's entitlement)."""

    id: UUID
    name: str
    monthly_budget: Decimal | None
    vendor_entitlement_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class UsageRow(Value):
    """A day's rated usage of one meter of one entitlement."""

    meter: str
    meter_category: str
    unit: str
    quantity: Decimal
    unit_price: Decimal  # the vendor's (partner) price per unit
    partner_cost: Decimal
    customer_price: Decimal


@dataclass(frozen=True)
class MeterReading:
    """What the vendor rated for one meter of one entitlement on one day."""

    meter: str
    meter_category: str
    unit: str
    quantity: Decimal
    unit_price: Decimal


def rate(
    meter: str,
    meter_category: str,
    unit: str,
    quantity: Decimal,
    unit_price: Decimal,
    extra_markup_percent: Decimal,
    default_markup_percent: Decimal,
) -> UsageRow:
    """A vendor line rated for the reseller and its customer (rounded per row)."""
    if quantity < 0 or unit_price < 0:
        raise InvalidInput("quantity", "rated usage must not be negative")
    partner = money(quantity * unit_price)
    return UsageRow(
        meter=meter,
        meter_category=meter_category,
        unit=unit,
        quantity=quantity,
        unit_price=unit_price,
        partner_cost=partner,
        customer_price=customer_price(partner, extra_markup_percent, default_markup_percent),
    )


def check_entitlement_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("name", "an Azure subscription has a name")
    if len(name) > MAX_ENTITLEMENT_NAME:
        raise InvalidInput("name", f"at most {MAX_ENTITLEMENT_NAME} characters")
    return name


def check_budget(budget: Decimal | None) -> Decimal | None:
    if budget is None:
        return None
    if not budget.is_finite() or budget < 0:
        raise InvalidInput("monthly_budget", "must be a decimal amount of at least 0")
    return money(budget)


def thresholds_crossed(budget: Decimal | None, before: Decimal, after: Decimal, done: set[int]) -> list[int]:
    """The budget thresholds (percent) that month-to-date cost crosses going from ``before``
    to ``after``, leaving out those already alerted this month (``done``). A budget of 0
    is crossed by any cost above 0."""
    if budget is None or after <= before:
        return []
    out = []
    for pct in BUDGET_THRESHOLDS:
        limit = budget * pct / 100
        reached = after > 0 and after >= limit if budget > 0 else after > 0
        if reached and pct not in done:
            out.append(pct)
    return out
