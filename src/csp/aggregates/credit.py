"""Credit limits: a customer's monthly spend at customer prices against its limit.

The monthly spend is the monthly-equivalent cost, at the customer's prices, of

- each of its live subscriptions (active or suspended: suspending does not stop billing;
  a trial is free and an ended one costs nothing): unit customer price × seats, half-up
  to the cent per subscription (add-ons are subscriptions of their own) — the
  Subscriptions screen's monthly cost, whatever the billing cycle, since every customer
  price is per unit per month;
- plus the new order's customer total per month (``Order.total``: each line priced by
  the one pricing decision, ``CustomerPricing``; a change line counts its ±seats, a
  trial nothing).

An order whose spend would be above the limit (strictly: exactly at it is within) needs
the reseller's approval. Only customer users' orders are checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from csp.aggregates.base import Value
from csp.aggregates.errors import InvalidInput
from csp.aggregates.pricing import as_decimal, money
from csp.aggregates.subscription import is_billed

if TYPE_CHECKING:
    from csp.aggregates.subscription import Subscription

MAX_CREDIT_LIMIT = Decimal("1000000000")


def parse_credit_limit(value: Decimal | int | str | None) -> Decimal | None:
    """A monthly limit from the API: a non-negative decimal, to the cent; None clears it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    d = as_decimal(value.strip() if isinstance(value, str) else value, "monthly_limit")
    if d < 0:
        raise InvalidInput("monthly_limit", "must not be negative", value=str(d))
    if d > MAX_CREDIT_LIMIT:
        raise InvalidInput("monthly_limit", f"must be at most {MAX_CREDIT_LIMIT}", value=str(d))
    if d != money(d):
        raise InvalidInput("monthly_limit", "at most two decimals (cents)", value=str(d))
    return money(d)


def subscription_monthly_cost(sub: Subscription) -> Decimal:
    """What a subscription costs the customer per month now (0 for a trial or an ended one)."""
    if not is_billed(sub.status) or sub.is_trial:
        return money(0)
    return money(sub.unit_customer_price * sub.quantity)


def monthly_spend(subscriptions: Iterable[Subscription]) -> Decimal:
    return money(sum((subscription_monthly_cost(s) for s in subscriptions), Decimal(0)))


@dataclass(frozen=True)
class CreditCheck(Value):
    """The customer's limit and its live subscriptions' monthly spend, when an order is placed."""

    monthly_limit: Decimal
    current_spend: Decimal
    organization_name: str = ""  # recorded with the request, for the reseller's list

    def spend_with(self, order_total: Decimal) -> Decimal:
        return money(self.current_spend + order_total)

    def exceeded_by(self, order_total: Decimal) -> bool:
        return self.spend_with(order_total) > self.monthly_limit


__all__ = ["CreditCheck", "monthly_spend", "parse_credit_limit", "subscription_monthly_cost"]
