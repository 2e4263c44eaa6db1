"""Pricing as pure functions on Decimal: markup, target price, margin, pro-rating.

Customer price = P × (1 + (default markup + extra markup) / 100), rounded half-up to
the cent, per unit per month. A target customer price may be given instead of an extra
markup; the markup is then derived from it. Margin = customer price − P.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Literal, Protocol

from csp.aggregates.errors import InvalidInput

if TYPE_CHECKING:
    from csp.aggregates.catalog import Offer
    from csp.aggregates.terms import Term

CENT = Decimal("0.01")
PERCENT_QUANTUM = Decimal("0.0001")
DEFAULT_MARKUP_PERCENT = Decimal("5")
HUNDRED = Decimal(100)
# A markup below -100 % would make the price negative.
MIN_TOTAL_MARKUP = Decimal(-100)
MAX_MARKUP = Decimal(1000)


def money(value: Decimal | int | str) -> Decimal:
    """A Decimal rounded half-up to the cent."""
    try:
        return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as e:
        raise InvalidInput("amount", f"not a decimal number: {value!r}") from e


def as_decimal(value: Decimal | int | str, field: str = "amount") -> Decimal:
    """Parse a decimal strictly (never through float)."""
    if isinstance(value, float):
        raise InvalidInput(field, "money must be a decimal string, not a float")
    try:
        d = Decimal(value)
    except InvalidOperation as e:
        raise InvalidInput(field, f"not a decimal number: {value!r}") from e
    if not d.is_finite():
        raise InvalidInput(field, "must be a finite number")
    return d


def customer_price(
    partner_price: Decimal,
    extra_markup_percent: Decimal = Decimal(0),
    default_markup_percent: Decimal = DEFAULT_MARKUP_PERCENT,
) -> Decimal:
    """Unit customer price from the partner price and the two markups."""
    total = default_markup_percent + extra_markup_percent
    if total < MIN_TOTAL_MARKUP:
        raise InvalidInput("markup_percent", "the total markup cannot be below -100 %")
    if extra_markup_percent > MAX_MARKUP:
        raise InvalidInput("markup_percent", f"must be at most {MAX_MARKUP} %")
    return money(partner_price * (HUNDRED + total) / HUNDRED)


def markup_for_target(
    partner_price: Decimal,
    target_price: Decimal,
    default_markup_percent: Decimal = DEFAULT_MARKUP_PERCENT,
) -> Decimal:
    """The extra markup (percent, 4 places) that a target customer price implies."""
    if target_price < 0:
        raise InvalidInput("target_price", "must not be negative")
    if partner_price == 0:
        raise InvalidInput("target_price", "the offer has no partner price to mark up")
    total = (target_price / partner_price - 1) * HUNDRED
    return (total - default_markup_percent).quantize(PERCENT_QUANTUM, rounding=ROUND_HALF_UP)


def margin(customer: Decimal, partner: Decimal) -> Decimal:
    return money(customer - partner)


PriceBasis = Literal["explicit", "segment", "default"]
"""Where a customer price came from: a markup or price given for this line or
subscription (``explicit``), the customer segment's price for the offer, or the
reseller's default markup alone. A renewal keeps an explicit price's markup and
decides the others again, as a new order line would."""


@dataclass(frozen=True)
class PriceQuote:
    """A unit price worked out for one offer and quantity (per licence per month)."""

    partner_price: Decimal
    erp_price: Decimal | None
    customer_price: Decimal
    margin: Decimal
    markup_percent: Decimal  # the extra markup, on top of the default
    default_markup_percent: Decimal
    quantity: int
    basis: PriceBasis = "explicit"

    @property
    def total(self) -> Decimal:
        return money(self.customer_price * self.quantity)

    @property
    def partner_total(self) -> Decimal:
        return money(self.partner_price * self.quantity)

    @property
    def margin_total(self) -> Decimal:
        return money(self.margin * self.quantity)


def quote(
    partner_price: Decimal,
    erp_price: Decimal | None,
    quantity: int = 1,
    *,
    markup_percent: Decimal | None = None,
    target_price: Decimal | None = None,
    default_markup_percent: Decimal = DEFAULT_MARKUP_PERCENT,
    basis: PriceBasis = "explicit",
) -> PriceQuote:
    """Price one offer: either an extra markup or a target customer price, not both."""
    if markup_percent is not None and target_price is not None:
        raise InvalidInput("target_price", "give either markup_percent or target_price, not both")
    if quantity < 1:
        raise InvalidInput("quantity", "must be at least 1")
    if target_price is not None:
        target = money(target_price)
        extra = markup_for_target(partner_price, target, default_markup_percent)
        unit = target
    else:
        extra = markup_percent if markup_percent is not None else Decimal(0)
        unit = customer_price(partner_price, extra, default_markup_percent)
    return PriceQuote(
        partner_price=partner_price,
        erp_price=erp_price,
        customer_price=unit,
        margin=margin(unit, partner_price),
        markup_percent=extra,
        default_markup_percent=default_markup_percent,
        quantity=quantity,
        basis=basis,
    )


def customer_quote(
    partner_price: Decimal,
    erp_price: Decimal | None,
    quantity: int = 1,
    *,
    markup_percent: Decimal | None = None,
    target_price: Decimal | None = None,
    segment_markup_percent: Decimal | None = None,
    segment_customer_price: Decimal | None = None,
    default_markup_percent: Decimal = DEFAULT_MARKUP_PERCENT,
) -> PriceQuote:
    """The one pricing decision for a customer's seat: a markup or target price given
    for it wins; else the customer segment's price for the offer (an extra markup or a
    fixed customer price); else the reseller's default markup alone."""
    if markup_percent is not None or target_price is not None:
        basis: PriceBasis = "explicit"
    elif segment_markup_percent is not None or segment_customer_price is not None:
        markup_percent, target_price, basis = segment_markup_percent, segment_customer_price, "segment"
    else:
        basis = "default"
    return quote(
        partner_price,
        erp_price,
        quantity,
        markup_percent=markup_percent,
        target_price=target_price,
        default_markup_percent=default_markup_percent,
        basis=basis,
    )


class SeatPricer(Protocol):
    """Prices a customer's seats of an offer (the application's one pricing decision,
    handed to the pure rules that check and build order and quote lines)."""

    def __call__(
        self,
        offer: Offer,
        term: Term,
        quantity: int,
        *,
        markup_percent: Decimal | None = None,
        target_price: Decimal | None = None,
    ) -> PriceQuote: ...


def days_between(start: datetime, end: datetime) -> int:
    """Whole days from start to end, counted on UTC calendar dates."""
    if end <= start:
        return 0
    return (end.astimezone(UTC).date() - start.astimezone(UTC).date()).days


def prorate(amount: Decimal, part_days: int, period_days: int) -> Decimal:
    """The share of a period's amount for part of it, by day, half-up to the cent."""
    if period_days <= 0:
        raise InvalidInput("period_days", "must be positive")
    if part_days < 0:
        raise InvalidInput("part_days", "must not be negative")
    part_days = min(part_days, period_days)
    return money(amount * part_days / period_days)
