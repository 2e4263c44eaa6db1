"""Quotes: a priced proposal for a customer that converts into a draft order.

open ──accept──▶ accepted (a draft order holds its lines, at the quoted prices)
  └── (valid_until passes) ──▶ expired
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, Value
from csp.aggregates.catalog import Eligibility, Offer, check_eligible
from csp.aggregates.errors import InvalidInput, QuoteExpired, QuoteNotOpen
from csp.aggregates.pricing import SeatPricer, money
from csp.aggregates.terms import BillingCycle, Term

QuoteStatus = Literal["open", "accepted", "expired"]
DEFAULT_VALIDITY = timedelta(days=30)
MAX_VALIDITY_DAYS = 365
MAX_LINES = 50
_NOTE_MAX = 2000


@dataclass(frozen=True)
class QuoteLine(Value):
    line_no: int
    offer_id: UUID
    offer_name: str
    quantity: int
    billing_cycle: BillingCycle
    term: Term
    tenant_id: UUID | None
    unit_partner_price: Decimal
    erp_price: Decimal | None
    unit_customer_price: Decimal
    markup_percent: Decimal
    margin: Decimal

    @property
    def total(self) -> Decimal:
        return money(self.unit_customer_price * self.quantity)


def price_quote_line(
    *,
    line_no: int,
    offer: Offer,
    eligibility: Eligibility,
    quantity: int,
    billing_cycle: BillingCycle,
    term: Term,
    tenant_id: UUID | None,
    markup_percent: Decimal | None,
    target_price: Decimal | None,
    price: SeatPricer,
) -> QuoteLine:
    """Check and price one proposed line (the same rules and the same pricing decision,
    ``price``, as an order line's offer)."""
    check_eligible(offer, eligibility)
    offer.check_term_and_cycle(term, billing_cycle)
    if offer.is_trial:
        raise InvalidInput("offer_id", "a trial is free: order it, there is nothing to quote")
    if offer.is_addon:
        raise InvalidInput("offer_id", "quote the base offer; add-ons are chosen when ordering")
    offer.check_quantity(quantity)
    q = price(offer, term, quantity, markup_percent=markup_percent, target_price=target_price)
    return QuoteLine(
        line_no=line_no,
        offer_id=offer.id,
        offer_name=offer.name,
        quantity=quantity,
        billing_cycle=billing_cycle,
        term=term,
        tenant_id=tenant_id,
        unit_partner_price=q.partner_price,
        erp_price=q.erp_price,
        unit_customer_price=q.customer_price,
        markup_percent=q.markup_percent,
        margin=q.margin,
    )


class Quote(CspAggregate):
    class Created(CspAggregate.Created):
        organization_id: UUID
        reseller_id: UUID
        lines: tuple[QuoteLine, ...]
        valid_until: datetime
        note: str

    @event(Created)
    def __init__(
        self,
        organization_id: UUID,
        reseller_id: UUID,
        lines: tuple[QuoteLine, ...],
        valid_until: datetime,
        note: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.organization_id = organization_id
        self.reseller_id = reseller_id
        self.lines = lines
        self.valid_until = valid_until
        self.note = note
        self.created_by = actor
        self.created_at = at
        self.accepted = False
        self.order_id: UUID | None = None
        self.accepted_at: datetime | None = None
        self.accepted_by: Actor | None = None

    @classmethod
    def create(
        cls,
        id: UUID,
        organization_id: UUID,
        reseller_id: UUID,
        lines: tuple[QuoteLine, ...],
        valid_days: int | None,
        note: str,
        actor: Actor,
        at: datetime,
    ) -> Quote:
        if not lines:
            raise InvalidInput("lines", "a quote needs at least one line")
        if len(lines) > MAX_LINES:
            raise InvalidInput("lines", f"at most {MAX_LINES} lines")
        validity = DEFAULT_VALIDITY
        if valid_days is not None:
            if not 1 <= valid_days <= MAX_VALIDITY_DAYS:
                raise InvalidInput("valid_days", f"must be between 1 and {MAX_VALIDITY_DAYS}")
            validity = timedelta(days=valid_days)
        if len(note) > _NOTE_MAX:
            raise InvalidInput("note", f"at most {_NOTE_MAX} characters")
        return cls._create(
            cls.Created,
            id=id,
            organization_id=organization_id,
            reseller_id=reseller_id,
            lines=lines,
            valid_until=at + validity,
            note=note.strip(),
            actor=actor,
            at=at,
        )

    @property
    def total(self) -> Decimal:
        return money(sum((line.total for line in self.lines), Decimal(0)))

    def status_at(self, at: datetime) -> QuoteStatus:
        if self.accepted:
            return "accepted"
        return "expired" if at >= self.valid_until else "open"

    def check_acceptable(self, at: datetime) -> None:
        if self.accepted:
            raise QuoteNotOpen("this quote was accepted already", quote_id=self.id, order_id=self.order_id)
        if at >= self.valid_until:
            raise QuoteExpired(
                f"this quote expired at {self.valid_until.isoformat()}", quote_id=self.id, valid_until=self.valid_until
            )

    class Accepted(CspAggregate.Event):
        order_id: UUID

    def accept(self, order_id: UUID, actor: Actor, at: datetime) -> None:
        self.check_acceptable(at)
        self._accept(order_id=order_id, actor=actor, at=at)

    @event(Accepted)
    def _accept(self, order_id: UUID, actor: Actor, at: datetime) -> None:
        self.accepted = True
        self.order_id = order_id
        self.accepted_at = at
        self.accepted_by = actor
