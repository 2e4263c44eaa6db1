"""The cart's shared steps: the next order number (``OrderNumbers``), and a
new-subscription line built from what a user asks for (``NewLineRequest``). Orders and accepted quotes both add lines
through ``Carts``; it is composed into the application (``app.carts``), not inherited,
so no command builds a line differently. The line itself (defaults, rules, add-on term
and cycle, prices) is decided by the domain (``csp.aggregates.order.price_new_line``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from csp.aggregates.base import Actor, CspAggregate
from csp.aggregates.catalog import Catalog, Offer
from csp.aggregates.errors import InvalidInput
from csp.aggregates.index import Counter
from csp.aggregates.order import NewSubscriptionLine, Order, format_order_number, price_new_line
from csp.aggregates.organization import Organization
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.aggregates.terms import parse_billing_cycle, parse_term
from csp.application.pricing import CustomerPricing

ORDER_NUMBER_COUNTER = "order-number"
FIRST_ORDER_NUMBER = 27000


@dataclass(frozen=True)
class AddonRequest:
    offer_id: UUID
    quantity: int


@dataclass(frozen=True)
class NewLineRequest:
    """What a user asks for in a new-subscription line. ``term`` and ``billing_cycle``
    left out are the domain's defaults (the offer's first term; monthly)."""

    offer_id: UUID
    tenant_id: UUID
    quantity: int | None
    billing_cycle: str | None
    term: str | None
    markup_percent: Decimal | None = None
    target_price: Decimal | None = None
    addons: tuple[AddonRequest, ...] = ()
    parent_subscription_id: UUID | None = None
    parent_line_no: int | None = None

    @classmethod
    def amend(
        cls,
        base: NewSubscriptionLine,
        *,
        quantity: int | None = None,
        billing_cycle: str | None = None,
        term: str | None = None,
        markup_percent: Decimal | None = None,
        target_price: Decimal | None = None,
        addons: tuple[AddonRequest, ...] | None = None,
        parent_subscription_id: UUID | None = None,
    ) -> NewLineRequest:
        """A cart line edited (a PATCH): what is not named stays as the line has it, its
        markup too unless a markup or a target price is given."""
        if markup_percent is None and target_price is None:
            markup_percent = base.markup_percent
        return cls(
            offer_id=base.offer_id,
            tenant_id=base.tenant_id,
            quantity=quantity if quantity is not None else base.quantity,
            billing_cycle=billing_cycle or base.billing_cycle,
            term=term or base.term,
            markup_percent=markup_percent,
            target_price=target_price,
            addons=addons if addons is not None else tuple(AddonRequest(a.offer_id, a.quantity) for a in base.addons),
            parent_subscription_id=parent_subscription_id or base.parent_subscription_id,
            parent_line_no=base.parent_line_no,
        )


class OrderNumbers:
    """Order numbers, unique across processes, without a write per order: each process
    reserves a block of ``BLOCK`` numbers on the order-number ``Counter`` (one save, its
    own transaction) and hands them out from memory. Numbers stay unique and readable
    (``#07-12-2026 27013``); a process that stops leaves the rest of its block unused
    (a gap), and orders of several processes interleave their blocks."""

    BLOCK = 20

    def __init__(
        self,
        find: Callable[..., CspAggregate | None],
        save: Callable[..., object],
        retrying: Callable[[Callable[[], range]], range],
        now: Callable[[], datetime],
    ) -> None:
        self._find = find
        self._save = save
        self._retrying = retrying
        self._now = now
        self._lock = threading.Lock()
        self._left: Iterator[int] = iter(())

    def next(self, actor: Actor) -> str:
        """The next order number, dated now."""
        with self._lock:
            value = next(self._left, None)
            if value is None:
                self._left = iter(self._retrying(lambda: self._reserve(actor)))
                value = next(self._left)
        return format_order_number(self._now(), value)

    def _reserve(self, actor: Actor) -> range:
        now = self._now()
        counter = self._find(Counter, Counter.id_for(ORDER_NUMBER_COUNTER), "counter")
        if counter is None:
            counter = Counter(name=ORDER_NUMBER_COUNTER, value=FIRST_ORDER_NUMBER, actor=actor, at=now)
        assert isinstance(counter, Counter)
        block = counter.reserve(self.BLOCK, actor=actor, at=now)
        self._save(counter)
        return block


class Carts:
    """New lines, over the application's ``read`` (the aggregates a line is priced from
    are only read: no copies), ``catalog``, clock (``now``) and the customer's pricing."""

    def __init__(
        self,
        read: Callable[..., CspAggregate],
        catalog: Callable[[], Catalog],
        now: Callable[[], datetime],
        pricing: CustomerPricing,
    ) -> None:
        self._read = read
        self._catalog = catalog
        self._now = now
        self._pricing = pricing

    def new_line(self, order: Order, line_no: int, req: NewLineRequest) -> NewSubscriptionLine:
        """The line ``req`` asks for in ``order``: what the customer may buy (refused
        first), then the domain's rules and prices."""
        catalog = self._catalog()
        buyer = self._read(Organization, order.organization_id, "organization")
        assert isinstance(buyer, Organization)
        offer = catalog.offer(req.offer_id)
        self._pricing.check_offer_available(buyer, offer)
        for a in req.addons:
            self._pricing.check_offer_available(buyer, catalog.offer(a.offer_id))
        tenant = self._read(Tenant, req.tenant_id, "tenant")
        assert isinstance(tenant, Tenant)
        parent_sub = None
        parent_line = None
        parent_offer = None
        if req.parent_subscription_id is not None:
            parent_sub = self._read(Subscription, req.parent_subscription_id, "subscription")
            assert isinstance(parent_sub, Subscription)
            if parent_sub.organization_id != order.organization_id:
                raise InvalidInput("parent_subscription_id", "the subscription belongs to another organization")
        elif req.parent_line_no is not None:
            base = order.line(req.parent_line_no)
            if not isinstance(base, NewSubscriptionLine):
                raise InvalidInput("parent_line_no", "an add-on's base must be a new-subscription line")
            parent_line = base
            parent_offer = catalog.offer(base.offer_id)
        elif offer.is_addon:
            parent_line, parent_offer = _find_base_in_cart(order, catalog, offer, req.tenant_id)
        addons: list[tuple[Offer, int]] = [(catalog.offer(a.offer_id), a.quantity) for a in req.addons]
        return price_new_line(
            line_no=line_no,
            offer=offer,
            tenant=tenant,
            buyer=buyer,
            quantity=req.quantity,
            billing_cycle=parse_billing_cycle(req.billing_cycle) if req.billing_cycle else None,
            term=parse_term(req.term) if req.term else None,
            markup_percent=req.markup_percent,
            target_price=req.target_price,
            price=self._pricing.pricer(buyer, self._now()),
            addons=addons,
            parent_subscription=parent_sub,
            parent_line=parent_line,
            parent_offer=parent_offer,
        )


def _find_base_in_cart(
    order: Order, catalog: Catalog, addon: Offer, tenant_id: UUID
) -> tuple[NewSubscriptionLine | None, Offer | None]:
    for line in order.lines:
        if isinstance(line, NewSubscriptionLine) and line.tenant_id == tenant_id and not line.is_trial:
            base_offer = catalog.offer(line.offer_id)
            if base_offer.accepts_addon(addon.id):
                return line, base_offer
    return None, None
