"""Customer invoices: what a reseller bills each customer organization for a month.

    draft ──issue (numbered, taxed)──▶ issued ──pay──▶ paid
      └──void──▶ void                     └──void──▶ void

The monthly billing run drafts one per customer organization with charges that month,
next to the reseller's own invoice, from the same charges at the customer's prices
(``Charge.customer_amount``: the one fold computes both). Issuing numbers it from the
reseller's ``CustomerInvoiceBook`` (a gap-free sequence per year, saved in the same
transaction, so two issues racing conflict and retry instead of skipping a number) and
records the tax decision, the lines' tax and the seller's and buyer's details as they
are then: an issued invoice never changes (paying or voiding it changes its status
only). A correction is a ``CreditNote`` that references the invoice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, Value, deterministic_id
from csp.aggregates.billing import Charge
from csp.aggregates.currency import BASE_CURRENCY, AppliedRate, in_minor_unit, zero
from csp.aggregates.errors import Conflict, InvalidInput
from csp.aggregates.invoice import lines_from_charges, parse_period
from csp.aggregates.tax import TaxDecision, line_amounts

CustomerInvoiceStatus = Literal["draft", "issued", "paid", "void"]


class CustomerInvoiceError(Conflict):
    code = "customer_invoice_error"


class InvoiceNotDraft(CustomerInvoiceError):
    code = "invoice_not_draft"


class InvoiceNotIssued(CustomerInvoiceError):
    code = "invoice_not_issued"


class CreditExceedsInvoice(InvalidInput):
    code = "credit_exceeds_invoice"


def customer_invoice_id_for(reseller_id: UUID, organization_id: UUID, period: str) -> UUID:
    return deterministic_id("customer-invoice", reseller_id, organization_id, period)


def customer_invoice_book_id_for(reseller_id: UUID) -> UUID:
    return deterministic_id("customer-invoice-book", reseller_id)


@dataclass(frozen=True)
class CustomerInvoiceLine(Value):
    line_no: int
    subscription_id: UUID | None
    description: str
    quantity: Decimal
    unit_price: Decimal | None
    days: int
    net: Decimal
    tax_rate: Decimal
    tax: Decimal
    gross: Decimal
    charge_ids: tuple[UUID, ...] = ()

    def taxed(self, rate_percent: Decimal, currency: str = BASE_CURRENCY) -> CustomerInvoiceLine:
        net, tax, gross = line_amounts(self.net, rate_percent, currency)
        return self.replace(net=net, tax_rate=rate_percent, tax=tax, gross=gross)


@dataclass(frozen=True)
class InvoiceParty(Value):
    """A seller's or buyer's details as printed on an issued invoice."""

    organization_id: UUID
    name: str
    address_lines: tuple[str, ...]
    country: str
    vat_number: str = ""
    email: str = ""


def customer_lines(charges: Iterable[Charge]) -> tuple[CustomerInvoiceLine, ...]:
    """A customer's lines from its charges: grouped as the reseller's invoice groups them
    (``lines_from_charges``), at the customer's unit price and amount; untaxed (rate 0)."""
    priced = [dataclasses.replace(c, unit_price=c.customer_unit_price, amount=c.customer_amount) for c in charges]
    out = []
    for line in lines_from_charges(priced):
        out.append(
            CustomerInvoiceLine(
                line_no=line.line_no,
                subscription_id=line.subscription_id,
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                days=line.days,
                net=line.amount,
                tax_rate=Decimal(0),
                tax=Decimal(0),
                gross=line.amount,
                charge_ids=line.charge_ids,
            )
        )
    return tuple(out)


def converted_customer_lines(
    lines: Iterable[CustomerInvoiceLine], rate: AppliedRate | None
) -> tuple[CustomerInvoiceLine, ...]:
    """Untaxed lines in the rate's currency: each unit price and net converted and rounded
    to the currency's minor unit on its own (tax and totals then follow from the lines)."""
    if rate is None:
        return tuple(lines)
    out = []
    for line in lines:
        net = rate.convert(line.net)
        out.append(line.replace(unit_price=rate.convert_or_none(line.unit_price), net=net, gross=net))
    return tuple(out)


def totals(lines: Iterable[CustomerInvoiceLine], currency: str = BASE_CURRENCY) -> tuple[Decimal, Decimal, Decimal]:
    """net, tax, gross: the sums of the lines (never recomputed from the totals), written
    with the currency's decimals."""
    ls = list(lines)
    return (
        sum((x.net for x in ls), zero(currency)),
        sum((x.tax for x in ls), zero(currency)),
        sum((x.gross for x in ls), zero(currency)),
    )


def _taxed(
    lines: Iterable[CustomerInvoiceLine], decision: TaxDecision | None, currency: str
) -> tuple[CustomerInvoiceLine, ...]:
    rate = decision.rate_percent if decision is not None else Decimal(0)
    return tuple(line.taxed(rate, currency) for line in lines)


class CustomerInvoice(CspAggregate):
    cache_when_saved = False

    class Drafted(CspAggregate.Created):
        reseller_id: UUID
        organization_id: UUID
        period: str
        currency: str
        lines: tuple[CustomerInvoiceLine, ...]
        tax_preview: TaxDecision | None  # the decision if it were issued now (None: no rate yet)
        # Since version 2: the rate EUR→currency the lines were converted with and the month
        # it was set for (None: in EUR).
        exchange_rate: Decimal | None
        exchange_rate_month: str | None
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["exchange_rate"] = None
            state["exchange_rate_month"] = None

    @event(Drafted)
    def __init__(
        self,
        reseller_id: UUID,
        organization_id: UUID,
        period: str,
        currency: str,
        lines: tuple[CustomerInvoiceLine, ...],
        tax_preview: TaxDecision | None,
        exchange_rate: Decimal | None,
        exchange_rate_month: str | None,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.reseller_id = reseller_id
        self.organization_id = organization_id
        self.period = period
        self.currency = currency
        self.exchange_rate = exchange_rate
        self.exchange_rate_month = exchange_rate_month
        self.lines = lines
        self.tax: TaxDecision | None = tax_preview
        self.status: CustomerInvoiceStatus = "draft"
        self.number: str | None = None
        self.drafted_at = at
        self.issued_at: datetime | None = None
        self.seller: InvoiceParty | None = None
        self.buyer: InvoiceParty | None = None
        self.paid_at: datetime | None = None
        self.paid_amount: Decimal | None = None
        self.payment_reference = ""
        self.email_to = ""
        self.voided_at: datetime | None = None
        self.void_reason = ""

    @classmethod
    def draft(
        cls,
        reseller_id: UUID,
        organization_id: UUID,
        period: str,
        lines: tuple[CustomerInvoiceLine, ...],
        tax_preview: TaxDecision | None,
        actor: Actor,
        at: datetime,
        rate: AppliedRate | None = None,
    ) -> CustomerInvoice:
        """A draft from the customer's lines in EUR: in the rate's currency when there is
        one (converted per line, then taxed per line), else in EUR."""
        parse_period(period)
        if not lines:
            raise InvalidInput("lines", "an invoice has at least one line")
        currency = rate.currency if rate is not None else BASE_CURRENCY
        return cls._create(
            cls.Drafted,
            id=customer_invoice_id_for(reseller_id, organization_id, period),
            reseller_id=reseller_id,
            organization_id=organization_id,
            period=period,
            currency=currency,
            lines=_taxed(converted_customer_lines(lines, rate), tax_preview, currency),
            tax_preview=tax_preview,
            exchange_rate=rate.rate if rate is not None else None,
            exchange_rate_month=rate.month if rate is not None else None,
            actor=actor,
            at=at,
        )

    @property
    def net(self) -> Decimal:
        return totals(self.lines, self.currency)[0]

    @property
    def tax_total(self) -> Decimal:
        return totals(self.lines, self.currency)[1]

    @property
    def gross(self) -> Decimal:
        return totals(self.lines, self.currency)[2]

    class Issued(CspAggregate.Event):
        number: str
        decision: TaxDecision
        lines: tuple[CustomerInvoiceLine, ...]
        net: Decimal
        tax: Decimal
        gross: Decimal
        seller: InvoiceParty
        buyer: InvoiceParty
        email_to: str  # where it is emailed on issue, as the reseller's setting decided then ("": not emailed)

    def check_issuable(self) -> None:
        if self.status != "draft":
            raise InvoiceNotDraft(f"the invoice is {self.status}; only a draft can be issued", invoice_id=self.id)

    def issue(
        self,
        number: str,
        decision: TaxDecision,
        seller: InvoiceParty,
        buyer: InvoiceParty,
        actor: Actor,
        at: datetime,
        email_to: str = "",
    ) -> None:
        """Number it and tax it as decided now: from here on its content never changes."""
        self.check_issuable()
        lines = _taxed(self.lines, decision, self.currency)
        net, tax, gross = totals(lines, self.currency)
        self._issue(
            number=number,
            decision=decision,
            lines=lines,
            net=net,
            tax=tax,
            gross=gross,
            seller=seller,
            buyer=buyer,
            email_to=email_to,
            actor=actor,
            at=at,
        )

    @event(Issued)
    def _issue(
        self,
        number: str,
        decision: TaxDecision,
        lines: tuple[CustomerInvoiceLine, ...],
        net: Decimal,
        tax: Decimal,
        gross: Decimal,
        seller: InvoiceParty,
        buyer: InvoiceParty,
        email_to: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.status = "issued"
        self.number = number
        self.tax = decision
        self.lines = lines
        self.seller = seller
        self.buyer = buyer
        self.issued_at = at
        self.email_to = email_to

    class Paid(CspAggregate.Event):
        paid_at: datetime
        amount: Decimal
        reference: str

    def pay(
        self,
        actor: Actor,
        at: datetime,
        paid_at: datetime | None = None,
        amount: Decimal | None = None,
        reference: str = "",
    ) -> None:
        """Record the customer's payment (by hand, or a row of a payments import)."""
        if self.status != "issued":
            raise InvoiceNotIssued(
                f"the invoice is {self.status}; only an issued invoice can be paid", invoice_id=self.id
            )
        amount = self.gross if amount is None else in_minor_unit(amount, self.currency)
        if amount != self.gross:
            raise InvalidInput("amount", f"must be the invoice's gross total {self.gross}", value=amount)
        when = paid_at or at
        if self.issued_at is not None and when.astimezone(UTC).date() < self.issued_at.astimezone(UTC).date():
            raise InvalidInput("paid_at", "must not be before the day the invoice was issued", value=when)
        self._pay(paid_at=when, amount=amount, reference=reference.strip()[:200], actor=actor, at=at)

    @event(Paid)
    def _pay(self, paid_at: datetime, amount: Decimal, reference: str, actor: Actor, at: datetime) -> None:
        self.status = "paid"
        self.paid_at = paid_at
        self.paid_amount = amount
        self.payment_reference = reference

    class Voided(CspAggregate.Event):
        reason: str

    def void(self, reason: str, actor: Actor, at: datetime) -> None:
        """A draft not to be issued, or an issued invoice cancelled (it keeps its number)."""
        if self.status not in ("draft", "issued"):
            raise CustomerInvoiceError(f"the invoice is {self.status}; it cannot be voided", invoice_id=self.id)
        self._void(reason=reason.strip()[:500], actor=actor, at=at)

    @event(Voided)
    def _void(self, reason: str, actor: Actor, at: datetime) -> None:
        self.status = "void"
        self.voided_at = at
        self.void_reason = reason


@dataclass(frozen=True)
class CreditRequest(Value):
    """A line to credit: what, how many, at what unit price (net, before tax)."""

    description: str
    quantity: Decimal
    unit_price: Decimal


class CreditNote(CspAggregate):
    """A correction of an issued invoice: its own number, the invoice's number and tax
    decision, negative amounts. The invoice itself never changes."""

    class Issued(CspAggregate.Created):
        reseller_id: UUID
        organization_id: UUID
        invoice_id: UUID
        invoice_number: str
        number: str
        currency: str
        decision: TaxDecision
        lines: tuple[CustomerInvoiceLine, ...]
        net: Decimal
        tax: Decimal
        gross: Decimal
        reason: str

    @event(Issued)
    def __init__(
        self,
        reseller_id: UUID,
        organization_id: UUID,
        invoice_id: UUID,
        invoice_number: str,
        number: str,
        currency: str,
        decision: TaxDecision,
        lines: tuple[CustomerInvoiceLine, ...],
        net: Decimal,
        tax: Decimal,
        gross: Decimal,
        reason: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.reseller_id = reseller_id
        self.organization_id = organization_id
        self.invoice_id = invoice_id
        self.invoice_number = invoice_number
        self.number = number
        self.currency = currency
        self.decision = decision
        self.lines = lines
        self.net = net
        self.tax = tax
        self.gross = gross
        self.reason = reason
        self.issued_at = at

    @classmethod
    def issue_for(
        cls,
        credit_note_id: UUID,
        invoice: CustomerInvoice,
        number: str,
        requests: tuple[CreditRequest, ...],
        credited_before: Decimal,
        reason: str,
        actor: Actor,
        at: datetime,
    ) -> CreditNote:
        if invoice.status not in ("issued", "paid") or invoice.number is None or invoice.tax is None:
            raise InvoiceNotIssued(
                f"the invoice is {invoice.status}; only an issued invoice can be credited", invoice_id=invoice.id
            )
        if not requests:
            raise InvalidInput("lines", "a credit note has at least one line")
        lines = []
        for n, r in enumerate(requests):
            if not r.description.strip():
                raise InvalidInput(f"lines[{n}].description", "is required")
            if r.quantity <= 0:
                raise InvalidInput(f"lines[{n}].quantity", "must be positive", value=r.quantity)
            if r.unit_price <= 0:
                raise InvalidInput(
                    f"lines[{n}].unit_price", "must be positive (the credit is negative)", value=r.unit_price
                )
            lines.append(
                CustomerInvoiceLine(
                    line_no=n + 1,
                    subscription_id=None,
                    description=r.description.strip()[:300],
                    quantity=-r.quantity,
                    unit_price=in_minor_unit(r.unit_price, invoice.currency),
                    days=0,
                    net=-in_minor_unit(r.quantity * r.unit_price, invoice.currency),
                    tax_rate=Decimal(0),
                    tax=Decimal(0),
                    gross=Decimal(0),
                ).taxed(invoice.tax.rate_percent, invoice.currency)
            )
        net, tax, gross = totals(lines, invoice.currency)
        if credited_before - gross > invoice.gross:
            raise CreditExceedsInvoice(
                "lines",
                f"the invoice's credits would exceed its gross total {invoice.gross} "
                f"({credited_before} credited already)",
            )
        return cls._create(
            cls.Issued,
            id=credit_note_id,
            reseller_id=invoice.reseller_id,
            organization_id=invoice.organization_id,
            invoice_id=invoice.id,
            invoice_number=invoice.number,
            number=number,
            currency=invoice.currency,
            decision=invoice.tax,
            lines=tuple(lines),
            net=net,
            tax=tax,
            gross=gross,
            reason=reason.strip()[:500],
            actor=actor,
            at=at,
        )


class CustomerInvoiceBook(CspAggregate):
    """A reseller's customer invoice and credit note numbers: gap-free sequences per year
    ("INV-2026-000001", "CN-2026-000001"), and what each invoice has been credited."""

    class Opened(CspAggregate.Created):
        reseller_id: UUID

    @event(Opened)
    def __init__(self, reseller_id: UUID, actor: Actor, at: datetime) -> None:
        self.reseller_id = reseller_id
        self.counts: dict[str, int] = {}
        self.credited: dict[UUID, Decimal] = {}  # invoice id → gross credited so far (positive)

    @classmethod
    def open(cls, reseller_id: UUID, actor: Actor, at: datetime) -> CustomerInvoiceBook:
        return cls._create(
            cls.Opened, id=customer_invoice_book_id_for(reseller_id), reseller_id=reseller_id, actor=actor, at=at
        )

    def next_number(self, prefix: str, at: datetime) -> str:
        year = at.astimezone(UTC).year
        return f"{prefix}-{year}-{self.counts.get(f'{prefix}-{year}', 0) + 1:06d}"

    class Numbered(CspAggregate.Event):
        document_id: UUID
        number: str

    def number(self, document_id: UUID, prefix: str, actor: Actor, at: datetime) -> str:
        """The next number of the sequence ``prefix`` for the year of ``at``."""
        number = self.next_number(prefix, at)
        self._number(document_id=document_id, number=number, actor=actor, at=at)
        return number

    @event(Numbered)
    def _number(self, document_id: UUID, number: str, actor: Actor, at: datetime) -> None:
        key = number.rsplit("-", 1)[0]
        self.counts = {**self.counts, key: self.counts.get(key, 0) + 1}

    class Credited(CspAggregate.Event):
        invoice_id: UUID
        credit_note_id: UUID
        gross: Decimal

    def credit(self, invoice_id: UUID, credit_note_id: UUID, gross: Decimal, actor: Actor, at: datetime) -> None:
        self._credit(invoice_id=invoice_id, credit_note_id=credit_note_id, gross=gross, actor=actor, at=at)

    @event(Credited)
    def _credit(self, invoice_id: UUID, credit_note_id: UUID, gross: Decimal, actor: Actor, at: datetime) -> None:
        self.credited = {**self.credited, invoice_id: self.credited.get(invoice_id, Decimal(0)) - gross}
