"""Invoices: one immutable invoice per reseller and billing month, issued from the ledger.

An issued invoice never changes: it has no command after ``issue``. A charge that
arrives after its month was invoiced (a correction) goes on the next invoice, because
the reseller's ``InvoiceBook`` remembers which invoices exist and each invoice names
the charges it billed. Saving a new invoice together with its book makes two billing
runs racing for the same reseller conflict instead of billing a charge twice.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, Value, deterministic_id
from csp.aggregates.billing import Charge
from csp.aggregates.currency import BASE_CURRENCY, AppliedRate
from csp.aggregates.errors import InvalidInput
from csp.aggregates.pricing import money
from csp.aggregates.terms import add_months

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(period: str) -> tuple[datetime, datetime]:
    """``YYYY-MM`` → the month's start and the next month's start (UTC)."""
    m = _PERIOD.match(period.strip())
    if not m:
        raise InvalidInput("period", "must be a month like 2026-11", value=period)
    start = datetime(int(m.group(1)), int(m.group(2)), 1, tzinfo=UTC)
    return start, add_months(start, 1)


def period_of(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m}"


def periods_ended_between(since: datetime, until: datetime) -> list[str]:
    """The months whose invoicing moment (00:00 UTC on the 1st of the next) falls in
    ``(since, until]``, oldest first."""
    out: list[str] = []
    start = datetime(since.astimezone(UTC).year, since.astimezone(UTC).month, 1, tzinfo=UTC)
    while True:
        end = add_months(start, 1)
        if end > until:
            return out
        if end > since:
            out.append(period_of(start))
        start = end


def invoice_id_for(reseller_id: UUID, period: str) -> UUID:
    return deterministic_id("invoice", reseller_id, period)


def invoice_book_id_for(reseller_id: UUID) -> UUID:
    return deterministic_id("invoice-book", reseller_id)


@dataclass(frozen=True)
class InvoiceLine(Value):
    """A line of an invoice: one charge, or a month's usage of one meter."""

    line_no: int
    subscription_id: UUID
    organization_id: UUID
    description: str
    quantity: Decimal
    unit_price: Decimal | None
    days: int
    amount: Decimal
    charge_ids: tuple[UUID, ...]


def lines_from_charges(charges: Iterable[Charge]) -> tuple[InvoiceLine, ...]:
    """Invoice lines: a subscription's period charges at one price make one line (its
    tranches together); usage is summed per subscription, entitlement and meter; every other charge
    (an increase, a refund, a reversal) is a line of its own."""
    # (UUIDs order as their text does: by their 128-bit value, which is cheaper to compare)
    ordered = sorted(charges, key=lambda c: (c.organization_id, c.subscription_id, c.charged_at, c.kind))
    groups: dict[tuple[object, ...], list[Charge]] = defaultdict(list)
    for c in ordered:
        if c.kind == "usage":
            key: tuple[object, ...] = (c.subscription_id, "usage", str(c.entitlement_id or ""), c.meter or "")
        elif c.kind == "period":
            key = (c.subscription_id, "period", c.period_start, c.period_end, c.unit_price)
        else:
            key = (c.id,)
        groups[key].append(c)
    out: list[InvoiceLine] = []
    for line_no, cs in enumerate(groups.values(), start=1):
        first = cs[0]
        days = first.days
        description = first.description
        if first.kind == "usage":
            days = len({c.charged_at for c in cs})
            description = f"{first.description.rsplit(' · ', 1)[0]} · {first.meter}, usage on {days} day(s)"
        out.append(
            InvoiceLine(
                line_no=line_no,
                subscription_id=first.subscription_id,
                organization_id=first.organization_id,
                description=description,
                quantity=sum((c.quantity for c in cs), Decimal(0)),
                unit_price=first.unit_price,
                days=days,
                amount=money(sum((c.amount for c in cs), Decimal(0))),
                charge_ids=tuple(c.id for c in cs),
            )
        )
    return tuple(out)


def converted_lines(lines: Iterable[InvoiceLine], rate: AppliedRate | None) -> tuple[InvoiceLine, ...]:
    """The lines in the rate's currency: each unit price and each line's amount converted
    and rounded to the currency's minor unit on its own (the total is then their sum)."""
    if rate is None:
        return tuple(lines)
    return tuple(
        line.replace(unit_price=rate.convert_or_none(line.unit_price), amount=rate.convert(line.amount))
        for line in lines
    )


class Invoice(CspAggregate):
    """An issued invoice. Immutable: it has no command after ``issue``."""

    cache_when_saved = False

    class Issued(CspAggregate.Created):
        reseller_id: UUID
        period: str
        number: str
        lines: tuple[InvoiceLine, ...]
        total: Decimal
        currency: str
        # Since version 2: the rate EUR→currency the lines were converted with, and the
        # month it was set for (None: in EUR, not converted).
        exchange_rate: Decimal | None
        exchange_rate_month: str | None
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["exchange_rate"] = None
            state["exchange_rate_month"] = None

    @event(Issued)
    def __init__(
        self,
        reseller_id: UUID,
        period: str,
        number: str,
        lines: tuple[InvoiceLine, ...],
        total: Decimal,
        currency: str,
        exchange_rate: Decimal | None,
        exchange_rate_month: str | None,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.reseller_id = reseller_id
        self.period = period
        self.number = number
        self.lines = lines
        self.total = total
        self.currency = currency
        self.exchange_rate = exchange_rate
        self.exchange_rate_month = exchange_rate_month
        self.issued_at = at

    @classmethod
    def issue(
        cls,
        reseller_id: UUID,
        period: str,
        number: str,
        lines: tuple[InvoiceLine, ...],
        actor: Actor,
        at: datetime,
        rate: AppliedRate | None = None,
    ) -> Invoice:
        """Issue the month's invoice from its lines in EUR: in the rate's currency when
        there is one (converted per line), else in EUR."""
        parse_period(period)
        if not lines:
            raise InvalidInput("lines", "an invoice has at least one line")
        lines = converted_lines(lines, rate)
        total = sum((line.amount for line in lines), Decimal(0))
        if rate is None:
            total = money(total)
        return cls._create(
            cls.Issued,
            id=invoice_id_for(reseller_id, period),
            reseller_id=reseller_id,
            period=period,
            number=number,
            lines=tuple(lines),
            total=total,
            currency=rate.currency if rate is not None else BASE_CURRENCY,
            exchange_rate=rate.rate if rate is not None else None,
            exchange_rate_month=rate.month if rate is not None else None,
            actor=actor,
            at=at,
        )

    @property
    def charge_ids(self) -> frozenset[UUID]:
        return frozenset(c for line in self.lines for c in line.charge_ids)


class InvoiceBook(CspAggregate):
    """A reseller's invoices, in the order they were issued (numbers are sequential)."""

    class Opened(CspAggregate.Created):
        reseller_id: UUID

    @event(Opened)
    def __init__(self, reseller_id: UUID, actor: Actor, at: datetime) -> None:
        self.reseller_id = reseller_id
        self.invoice_ids: tuple[UUID, ...] = ()
        self.periods: tuple[str, ...] = ()

    @classmethod
    def open(cls, reseller_id: UUID, actor: Actor, at: datetime) -> InvoiceBook:
        return cls._create(cls.Opened, id=invoice_book_id_for(reseller_id), reseller_id=reseller_id, actor=actor, at=at)

    @property
    def next_number(self) -> int:
        return len(self.invoice_ids) + 1

    def number_for(self, period: str) -> str:
        return f"INV-{period.replace('-', '')}-{self.next_number:04d}"

    class InvoiceAdded(CspAggregate.Event):
        invoice_id: UUID
        period: str
        number: str

    def add(self, invoice: Invoice, actor: Actor, at: datetime) -> None:
        if invoice.id in self.invoice_ids:
            return
        if invoice.reseller_id != self.reseller_id:
            raise InvalidInput("reseller_id", "the invoice belongs to another reseller")
        self._add(invoice_id=invoice.id, period=invoice.period, number=invoice.number, actor=actor, at=at)

    @event(InvoiceAdded)
    def _add(self, invoice_id: UUID, period: str, number: str, actor: Actor, at: datetime) -> None:
        self.invoice_ids = (*self.invoice_ids, invoice_id)
        self.periods = (*self.periods, period)
