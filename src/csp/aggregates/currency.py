"""Currencies: the distributor's monthly exchange rates, and converting EUR amounts with them.

The catalog and the charges ledger are in EUR (``BASE_CURRENCY``). A reseller (or a
customer organization) may be invoiced in another ISO 4217 currency: each amount is
converted with the distributor's rate ``EUR→X`` for the month, set by the operator or
imported (``ExchangeRates``, one table for the platform). The month's rate is the one set
for it, else the latest earlier month's (the ``AppliedRate`` names the month it was set
for); with none at all nothing is converted (prices and invoices stay in EUR: a rate is
never guessed).

Rounding: an amount is converted as ``amount × rate`` rounded half-up to the currency's
minor unit (2 decimals for RON, 0 for JPY, 3 for BHD; Babel's ISO 4217 data), once per
price or invoice line; a total is the sum of its converted lines, never a converted total.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

from babel.numbers import get_currency_precision, list_currencies
from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, Value, deterministic_id
from csp.aggregates.errors import InvalidInput

BASE_CURRENCY = "EUR"
RATE_DECIMALS = 6
MAX_RATE = Decimal(1_000_000)
RateSource = Literal["operator", "import"]
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
EXCHANGE_RATES_ID = deterministic_id("exchange-rates")


class UnknownCurrency(InvalidInput):
    code = "unknown_currency"


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(list_currencies())


def check_currency(value: str, field: str = "currency") -> str:
    """The ISO 4217 code, upper-cased, or ``UnknownCurrency`` (422) when Babel does not know it."""
    code = str(value or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code) or code not in _known():
        raise UnknownCurrency(field, "is not an ISO 4217 currency code (e.g. EUR, USD, GBP, RON)", value=value)
    return code


def check_month(value: str, field: str = "month") -> str:
    month = str(value or "").strip()
    if not _MONTH.match(month):
        raise InvalidInput(field, "must be a month like 2026-11", value=value)
    return month


def check_rate(value: object, field: str = "rate") -> Decimal:
    """A rate ``EUR→X``: a decimal number > 0 with at most 6 decimals."""
    try:
        rate = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError) as e:
        raise InvalidInput(field, "must be a decimal number, e.g. 4.9750", value=str(value)) from e
    if not rate.is_finite() or rate <= 0:
        raise InvalidInput(field, "must be a number greater than 0", value=str(value))
    if rate >= MAX_RATE:
        raise InvalidInput(field, f"must be less than {MAX_RATE}", value=str(value))
    exponent = rate.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > RATE_DECIMALS:
        raise InvalidInput(field, f"has at most {RATE_DECIMALS} decimals", value=str(value))
    return rate.quantize(Decimal(1).scaleb(-RATE_DECIMALS))


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest amount: 0.01 for EUR or RON, 1 for JPY, 0.001 for BHD."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def in_minor_unit(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up to ``currency``'s minor unit (never "-0": a zero is 0)."""
    out = amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)
    return abs(out) if out == 0 else out


def zero(currency: str) -> Decimal:
    """0 written with the currency's decimals (0.00 EUR, 0 JPY, 0.000 KWD): a sum's start."""
    return Decimal(0).quantize(minor_unit(currency))


def convert(amount: Decimal, rate: Decimal, currency: str) -> Decimal:
    """``amount`` (EUR) in ``currency``: × rate, rounded half-up to the currency's minor unit."""
    return (amount * rate).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class AppliedRate(Value):
    """The rate a price list or an invoice of ``for_month`` used: ``EUR→currency`` as set
    for ``month`` (``for_month`` itself, or the latest earlier month with a rate)."""

    currency: str
    rate: Decimal
    month: str
    for_month: str

    @property
    def fallback(self) -> bool:
        return self.month != self.for_month

    def convert(self, amount: Decimal) -> Decimal:
        return convert(amount, self.rate, self.currency)

    def convert_or_none(self, amount: Decimal | None) -> Decimal | None:
        return None if amount is None else self.convert(amount)


class ExchangeRates(CspAggregate):
    """The distributor's rates ``EUR→X`` per month (one table for the platform). A rate set
    again for the same month replaces it; invoices already issued keep the rate they recorded."""

    class Opened(CspAggregate.Created):
        pass

    @event(Opened)
    def __init__(self, actor: Actor, at: datetime) -> None:
        self.rates: dict[str, dict[str, Decimal]] = {}  # currency → month → rate

    @classmethod
    def open(cls, actor: Actor, at: datetime) -> ExchangeRates:
        return cls._create(cls.Opened, id=EXCHANGE_RATES_ID, actor=actor, at=at)

    class RateSet(CspAggregate.Event):
        month: str
        currency: str
        rate: Decimal
        source: RateSource

    def set_rate(self, month: str, currency: str, rate: object, source: RateSource, actor: Actor, at: datetime) -> bool:
        """Set ``EUR→currency`` for ``month``; False (no event) when it is that already."""
        month = check_month(month)
        code = check_currency(currency)
        if code == BASE_CURRENCY:
            raise InvalidInput("currency", f"{BASE_CURRENCY} is the catalog's currency (its rate is 1)", value=currency)
        value = check_rate(rate)
        if self.rates.get(code, {}).get(month) == value:
            return False
        self._set(month=month, currency=code, rate=value, source=source, actor=actor, at=at)
        return True

    @event(RateSet)
    def _set(self, month: str, currency: str, rate: Decimal, source: RateSource, actor: Actor, at: datetime) -> None:
        self.rates = {**self.rates, currency: {**self.rates.get(currency, {}), month: rate}}

    def rate_for(self, currency: str, month: str) -> AppliedRate | None:
        """The rate for ``month`` (else the latest earlier month's); None for EUR or with none."""
        return applied_rate(self.rates, currency, month)

    def table(self, month: str) -> list[AppliedRate]:
        """Every currency's rate for ``month`` (with the fallback rule), by currency."""
        out = [applied_rate(self.rates, c, month) for c in sorted(self.rates)]
        return [r for r in out if r is not None]


def applied_rate(rates: dict[str, dict[str, Decimal]], currency: str, month: str) -> AppliedRate | None:
    if currency == BASE_CURRENCY:
        return None
    months = rates.get(currency, {})
    earlier = [m for m in months if m <= month]  # "YYYY-MM" sorts as the months do
    if not earlier:
        return None
    found = max(earlier)
    return AppliedRate(currency=currency, rate=months[found], month=found, for_month=month)
