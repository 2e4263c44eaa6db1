"""Quote commands: price a proposal for a customer; accepting it makes a draft order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID, uuid4

from csp.aggregates.base import Actor
from csp.aggregates.errors import InvalidInput
from csp.aggregates.order import Order
from csp.aggregates.organization import Organization
from csp.aggregates.quote import Quote, QuoteLine, price_quote_line
from csp.aggregates.tenant import Tenant
from csp.aggregates.terms import parse_billing_cycle, parse_term
from csp.application.base import CspApplicationBase
from csp.application.carts import NewLineRequest


@dataclass(frozen=True)
class QuoteLineRequest:
    offer_id: UUID
    quantity: int
    billing_cycle: str
    term: str
    tenant_id: UUID | None = None
    markup_percent: Decimal | None = None
    target_price: Decimal | None = None


class QuoteCommands(CspApplicationBase):
    def create_quote(
        self,
        organization_id: UUID,
        lines: list[QuoteLineRequest],
        actor: Actor,
        valid_days: int | None = None,
        note: str = "",
    ) -> Quote:
        org = self.load(Organization, organization_id, "organization")
        catalog = self.catalog()
        now = self.now()
        price = self.pricing.pricer(org, now)
        priced: list[QuoteLine] = []
        for n, req in enumerate(lines, start=1):
            offer = catalog.offer(req.offer_id)
            self.pricing.check_offer_available(org, offer)
            if req.tenant_id is not None:
                self._check_tenant_of(org, req.tenant_id)
            priced.append(
                price_quote_line(
                    line_no=n,
                    offer=offer,
                    eligibility=org.eligibility,
                    quantity=req.quantity,
                    billing_cycle=parse_billing_cycle(req.billing_cycle),
                    term=parse_term(req.term),
                    tenant_id=req.tenant_id,
                    markup_percent=req.markup_percent,
                    target_price=req.target_price,
                    price=price,
                )
            )
        quote = Quote.create(
            uuid4(), org.id, org.owner_reseller_id, tuple(priced), valid_days, note, actor=actor, at=now
        )
        self.save(quote)
        return quote

    def _check_tenant_of(self, org: Organization, tenant_id: UUID) -> None:
        tenant = self.load(Tenant, tenant_id, "tenant")
        if tenant.organization_id != org.id:
            raise InvalidInput("tenant_id", "the tenant belongs to another organization")

    def accept_quote(
        self, quote_id: UUID, actor: Actor, tenant_id: UUID | None = None, expected_version: int | None = None
    ) -> tuple[Quote, Order]:
        """A draft order with the quote's lines at the quoted customer prices, atomically."""
        self.load_for_update(Quote, quote_id, "quote", expected_version)

        def attempt() -> tuple[Quote, Order]:
            quote = self.load(Quote, quote_id, "quote")
            now = self.now()
            quote.check_acceptable(now)
            org = self.load(Organization, quote.organization_id, "organization")
            number = self.order_numbers.next(actor)
            order = Order.draft(uuid4(), org.id, org.owner_reseller_id, number, actor=actor, at=now)
            for ql in quote.lines:
                tenant = ql.tenant_id or tenant_id
                if tenant is None:
                    raise InvalidInput("tenant_id", f"line {ql.line_no} names no tenant: give tenant_id")
                req = NewLineRequest(
                    offer_id=ql.offer_id,
                    tenant_id=tenant,
                    quantity=ql.quantity,
                    billing_cycle=ql.billing_cycle,
                    term=ql.term,
                    target_price=ql.unit_customer_price,
                )
                order.add_line(self.carts.new_line(order, order.next_line_no, req), actor=actor, at=now)
            quote.accept(order.id, actor=actor, at=now)
            self.save(order, quote)
            return quote, order

        return self.retrying(attempt)
