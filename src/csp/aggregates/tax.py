"""Tax on customer invoices: VAT numbers, the reseller's rates, and the decision per invoice.

A reseller sets a rate per country (its customers' billing countries); each invoice line
is taxed at the rate the invoice's decision names: the standard rate of the customer's
country, 0 with a legal mention for an EU business customer (a valid VAT number) in
another member state than the reseller's when reverse charge is on, 0 with "VAT exempt"
for an organization the reseller marks exempt. Per line: tax = net × rate / 100 rounded
half-up to the invoice currency's minor unit (the cent for EUR, 1 for JPY, 0.001 for KWD),
gross = net + tax; an invoice's totals are the sums of its lines.
VAT numbers are checked by format with python-stdnum (a pure library: no look-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

import stdnum  # type: ignore[import-untyped]
from eventsourcing.domain import event
from stdnum.eu import vat as eu_vat  # type: ignore[import-untyped]

from csp.aggregates.base import Actor, CspAggregate, Value, deterministic_id
from csp.aggregates.currency import BASE_CURRENCY, in_minor_unit
from csp.aggregates.errors import Conflict, InvalidInput

# The EU member states, by ISO 3166 code (Greece's VAT prefix is EL).
EU_COUNTRIES: frozenset[str] = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)
REVERSE_CHARGE_MENTION = "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC)"
EXEMPT_MENTION = "VAT exempt"
TaxKind = Literal["standard", "reverse_charge", "exempt"]
MAX_RATE = Decimal(100)


class InvalidVatNumber(InvalidInput):
    code = "invalid_vat_number"


class TaxRateMissing(Conflict):
    code = "tax_rate_missing"


def _vat_prefix(country: str) -> str:
    return "EL" if country == "GR" else country


def check_vat_number(country: str, value: str, field: str = "vat_number") -> str:
    """The VAT number in its compact form (EU numbers with their country prefix), or
    ``InvalidVatNumber`` when the country has a known format it does not match. A
    country python-stdnum has no VAT format for keeps the number as given, compacted."""
    raw = value.strip()
    if not raw:
        return ""
    if country in EU_COUNTRIES:
        number = "".join(ch for ch in raw if ch.isalnum()).upper()
        if not number[:2].isalpha():
            number = _vat_prefix(country) + number
        if number[:2] != _vat_prefix(country) or not eu_vat.is_valid(number):
            raise InvalidVatNumber(
                field,
                f"is not a valid VAT number for {country} (expected e.g. {_vat_prefix(country)}123456789)",
                value=raw,
            )
        return str(number)
    module = stdnum.get_cc_module(country.lower(), "vat")
    if module is None:
        return "".join(raw.split()).upper()
    number = module.compact(raw)
    if not module.is_valid(number):
        raise InvalidVatNumber(field, f"is not a valid VAT number for {country}", value=raw)
    return str(number)


def tax_of(net: Decimal, rate_percent: Decimal, currency: str = BASE_CURRENCY) -> Decimal:
    """The tax of one line: net × rate / 100, rounded half-up to the currency's minor unit
    (once, per line); never "-0.00" (a refund line at 0 %)."""
    return in_minor_unit(net * rate_percent / 100, currency)


@dataclass(frozen=True)
class TaxRate(Value):
    country: str
    rate_percent: Decimal


@dataclass(frozen=True)
class TaxDecision(Value):
    """How an invoice is taxed: one rate for all its lines, and the legal mention."""

    kind: TaxKind
    rate_percent: Decimal
    country: str
    mention: str = ""


@dataclass(frozen=True)
class TaxParty(Value):
    """Who the decision looks at: the seller (the reseller) or the buyer (its customer)."""

    organization_id: UUID
    country: str
    vat_number: str = ""


def tax_settings_id_for(reseller_id: UUID) -> UUID:
    return deterministic_id("tax-settings", reseller_id)


class TaxSettings(CspAggregate):
    """A reseller's tax rates per country, reverse charge, exempt customers, and whether
    issued customer invoices are emailed to the customer."""

    class Opened(CspAggregate.Created):
        reseller_id: UUID

    @event(Opened)
    def __init__(self, reseller_id: UUID, actor: Actor, at: datetime) -> None:
        self.reseller_id = reseller_id
        self.rates: tuple[TaxRate, ...] = ()
        self.reverse_charge_eu = True
        self.exempt_organization_ids: tuple[UUID, ...] = ()
        self.email_customer_invoices = False

    @classmethod
    def open(cls, reseller_id: UUID, actor: Actor, at: datetime) -> TaxSettings:
        return cls._create(cls.Opened, id=tax_settings_id_for(reseller_id), reseller_id=reseller_id, actor=actor, at=at)

    class Changed(CspAggregate.Event):
        rates: tuple[TaxRate, ...]
        reverse_charge_eu: bool
        exempt_organization_ids: tuple[UUID, ...]
        email_customer_invoices: bool

    def change(
        self,
        rates: tuple[TaxRate, ...],
        reverse_charge_eu: bool,
        exempt_organization_ids: tuple[UUID, ...],
        email_customer_invoices: bool,
        actor: Actor,
        at: datetime,
    ) -> None:
        seen: set[str] = set()
        checked: list[TaxRate] = []
        for n, r in enumerate(rates):
            country = r.country.strip().upper()
            if len(country) != 2 or not country.isalpha():
                raise InvalidInput(f"rates[{n}].country", "must be an ISO 3166 two-letter code", value=r.country)
            if country in seen:
                raise InvalidInput(f"rates[{n}].country", "is given twice", value=country)
            if not Decimal(0) <= r.rate_percent <= MAX_RATE:
                raise InvalidInput(f"rates[{n}].rate_percent", "must be between 0 and 100", value=r.rate_percent)
            seen.add(country)
            # 19.50 → 19.5, 20 stays 20 (never 2E+1)
            checked.append(
                TaxRate(country, Decimal(f"{r.rate_percent.normalize():f}") if r.rate_percent else Decimal(0))
            )
        exempt = tuple(dict.fromkeys(exempt_organization_ids))
        new = (tuple(sorted(checked, key=lambda r: r.country)), reverse_charge_eu, exempt, email_customer_invoices)
        if new == (self.rates, self.reverse_charge_eu, self.exempt_organization_ids, self.email_customer_invoices):
            return
        self._change(
            rates=new[0],
            reverse_charge_eu=reverse_charge_eu,
            exempt_organization_ids=exempt,
            email_customer_invoices=email_customer_invoices,
            actor=actor,
            at=at,
        )

    @event(Changed)
    def _change(
        self,
        rates: tuple[TaxRate, ...],
        reverse_charge_eu: bool,
        exempt_organization_ids: tuple[UUID, ...],
        email_customer_invoices: bool,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.rates = rates
        self.reverse_charge_eu = reverse_charge_eu
        self.exempt_organization_ids = exempt_organization_ids
        self.email_customer_invoices = email_customer_invoices

    def rate_for(self, country: str) -> Decimal | None:
        return next((r.rate_percent for r in self.rates if r.country == country), None)

    def decide(self, seller: TaxParty, buyer: TaxParty) -> TaxDecision:
        """The tax of an invoice from ``seller`` to ``buyer``, with these settings now."""
        if buyer.organization_id in self.exempt_organization_ids:
            return TaxDecision("exempt", Decimal(0), buyer.country, EXEMPT_MENTION)
        if (
            self.reverse_charge_eu
            and buyer.vat_number
            and buyer.country in EU_COUNTRIES
            and seller.country in EU_COUNTRIES
            and buyer.country != seller.country
        ):
            return TaxDecision("reverse_charge", Decimal(0), buyer.country, REVERSE_CHARGE_MENTION)
        rate = self.rate_for(buyer.country)
        if rate is None:
            raise TaxRateMissing(
                f"no tax rate is set for {buyer.country}: set one in the tax settings first", country=buyer.country
            )
        return TaxDecision("standard", rate, buyer.country)


def default_tax_settings(reseller_id: UUID, at: datetime) -> TaxSettings:
    """The settings of a reseller that has never set any (not saved): no rates yet."""
    return TaxSettings.open(reseller_id, actor="system:billing", at=at)


def line_amounts(
    net: Decimal, rate_percent: Decimal, currency: str = BASE_CURRENCY
) -> tuple[Decimal, Decimal, Decimal]:
    """net, tax, gross of a line, each to the currency's minor unit."""
    net = in_minor_unit(net, currency)
    tax = tax_of(net, rate_percent, currency)
    return net, tax, net + tax
