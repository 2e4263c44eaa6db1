"""The catalog: categories → product groups → offers, with dated prices per term.

The catalog lives in the event store as one ``Catalog`` aggregate, so every price the
platform ever quoted can be replayed. Prices carry an effective date: a subscription
locks the partner price of its term start and takes the price in force at renewal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, get_args
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, Value, deterministic_id
from csp.aggregates.errors import InvalidInput, NotFound, OfferNotAvailable
from csp.aggregates.terms import BillingCycle, Term, check_cycle_allowed

Segment = Literal["commercial", "academic", "government", "nonprofit"]
SEGMENTS: tuple[Segment, ...] = get_args(Segment)
LicenceType = Literal["licence", "usage"]
CATALOG_ID = deterministic_id("catalog")


def parse_segment(value: str, field: str = "segment") -> Segment:
    if value not in SEGMENTS:
        raise InvalidInput(field, f"must be one of {', '.join(SEGMENTS)}", value=value)
    return value


@dataclass(frozen=True)
class ProductGroup(Value):
    id: UUID
    slug: str
    name: str


@dataclass(frozen=True)
class Category(Value):
    id: UUID
    slug: str
    name: str
    product_groups: tuple[ProductGroup, ...]


@dataclass(frozen=True)
class PricePoint(Value):
    """Unit prices per licence per month for one term, in force from a date."""

    term: Term
    effective_from: datetime
    partner_price: Decimal
    erp_price: Decimal | None


@dataclass(frozen=True)
class Offer(Value):
    id: UUID
    vendor_offer_id: str
    name: str
    description: str
    vendor: str
    category_id: UUID
    product_group_id: UUID
    type: LicenceType
    segment: Segment
    terms: tuple[Term, ...]
    billing_cycles: tuple[BillingCycle, ...]
    prices: tuple[PricePoint, ...]
    is_trial: bool = False
    trial_converts_to: UUID | None = None
    is_addon: bool = False
    addon_offer_ids: tuple[UUID, ...] = ()
    min_quantity: int = 1
    max_quantity: int = 10000
    unit: str = "Users"
    currency: str = "EUR"
    # Offers of the same family a subscription of this one may move to mid-term (Partner
    # Center's transition eligibilities): only upgrades; the reverse is a downgrade.
    upgrade_offer_ids: tuple[UUID, ...] = ()

    def price_at(self, at: datetime, term: Term | None = None) -> PricePoint:
        """The price point in force at ``at`` for the term (default: the first term)."""
        term = term or self.terms[0]
        candidates = [p for p in self.prices if p.term == term and p.effective_from <= at]
        if not candidates:
            # Before the first dated price, the earliest one applies.
            candidates = [p for p in self.prices if p.term == term]
        if not candidates:
            raise InvalidInput("term", f"offer {self.name} is not sold with a {term} term", offer_id=self.id)
        return max(candidates, key=lambda p: p.effective_from)

    def check_term_and_cycle(self, term: Term, cycle: BillingCycle) -> None:
        if term not in self.terms:
            raise InvalidInput("term", f"{self.name} allows terms: {', '.join(self.terms)}", offer_id=self.id)
        if cycle not in self.billing_cycles:
            raise InvalidInput(
                "billing_cycle",
                f"{self.name} allows billing cycles: {', '.join(self.billing_cycles)}",
                offer_id=self.id,
            )
        check_cycle_allowed(term, cycle)

    def addon_term_and_cycle(self, base_term: Term, base_cycle: BillingCycle) -> tuple[Term, BillingCycle]:
        """The term and billing cycle of this add-on on a base: the base's where the add-on
        offers them, else the add-on's own first."""
        term = base_term if base_term in self.terms else self.terms[0]
        cycle = base_cycle if base_cycle in self.billing_cycles else self.billing_cycles[0]
        return term, cycle

    def check_quantity(self, quantity: int, field: str = "quantity") -> None:
        if quantity < self.min_quantity:
            raise InvalidInput(field, f"must be at least {self.min_quantity}", offer_id=self.id)
        if quantity > self.max_quantity:
            raise InvalidInput(field, f"must be at most {self.max_quantity} for {self.name}", offer_id=self.id)

    def accepts_addon(self, addon_offer_id: UUID) -> bool:
        return addon_offer_id in self.addon_offer_ids


@dataclass(frozen=True)
class Eligibility(Value):
    academic: bool = False
    government: bool = False
    nonprofit: bool = False

    def segments(self) -> frozenset[Segment]:
        out: set[Segment] = {"commercial"}
        if self.academic:
            out.add("academic")
        if self.government:
            out.add("government")
        if self.nonprofit:
            out.add("nonprofit")
        return frozenset(out)


def check_eligible(offer: Offer, eligibility: Eligibility) -> None:
    """A customer buys only offers of the segments it is eligible for."""
    if offer.segment not in eligibility.segments():
        raise OfferNotAvailable(
            f"{offer.name} is a {offer.segment} offer; the organization is not eligible",
            offer_id=offer.id,
            segment=offer.segment,
        )


class Catalog(CspAggregate):
    """The distributor's catalog, imported from a file and then re-priced over time."""

    class Imported(CspAggregate.Created):
        categories: tuple[Category, ...]
        offers: tuple[Offer, ...]
        source: str

    @event(Imported)
    def __init__(
        self, categories: tuple[Category, ...], offers: tuple[Offer, ...], source: str, actor: Actor, at: datetime
    ) -> None:
        self.categories = tuple(categories)
        self.offers = {o.id: o for o in offers}
        self.source = source

    @staticmethod
    def create_id(**_: object) -> UUID:
        return CATALOG_ID

    @classmethod
    def load(
        cls, categories: tuple[Category, ...], offers: tuple[Offer, ...], source: str, actor: Actor, at: datetime
    ) -> Catalog:
        _check_consistent(categories, offers)
        return cls(categories=tuple(categories), offers=tuple(offers), source=source, actor=actor, at=at)

    class Reimported(CspAggregate.Event):
        categories: tuple[Category, ...]
        offers: tuple[Offer, ...]
        source: str

    def reimport(
        self, categories: tuple[Category, ...], offers: tuple[Offer, ...], source: str, actor: Actor, at: datetime
    ) -> None:
        """Replace the catalog with a new edition (offers removed from it stop being sold)."""
        _check_consistent(categories, offers)
        self._reimport(categories=tuple(categories), offers=tuple(offers), source=source, actor=actor, at=at)

    @event(Reimported)
    def _reimport(
        self, categories: tuple[Category, ...], offers: tuple[Offer, ...], source: str, actor: Actor, at: datetime
    ) -> None:
        self.categories = tuple(categories)
        self.offers = {o.id: o for o in offers}
        self.source = source

    class PriceScheduled(CspAggregate.Event):
        offer_id: UUID
        price: PricePoint

    def schedule_price(self, offer_id: UUID, price: PricePoint, actor: Actor, at: datetime) -> None:
        """A new partner/ERP price from a date on; subscriptions meet it at renewal."""
        offer = self.offer(offer_id)
        if price.term not in offer.terms:
            raise InvalidInput("term", f"{offer.name} is not sold with a {price.term} term")
        if price.partner_price < 0 or (price.erp_price is not None and price.erp_price < 0):
            raise InvalidInput("partner_price", "prices must not be negative")
        self._schedule_price(offer_id=offer_id, price=price, actor=actor, at=at)

    @event(PriceScheduled)
    def _schedule_price(self, offer_id: UUID, price: PricePoint, actor: Actor, at: datetime) -> None:
        offer = self.offers[offer_id]
        self.offers = {**self.offers, offer_id: offer.replace(prices=(*offer.prices, price))}

    # --- queries ---------------------------------------------------------

    def offer(self, offer_id: UUID) -> Offer:
        try:
            return self.offers[offer_id]
        except KeyError:
            raise NotFound("offer", offer_id) from None

    def category_of(self, offer: Offer) -> Category:
        for c in self.categories:
            if c.id == offer.category_id:
                return c
        raise NotFound("category", offer.category_id)

    def product_group_of(self, offer: Offer) -> ProductGroup:
        for c in self.categories:
            for g in c.product_groups:
                if g.id == offer.product_group_id:
                    return g
        raise NotFound("product_group", offer.product_group_id)


def _check_consistent(categories: tuple[Category, ...], offers: tuple[Offer, ...]) -> None:
    groups = {g.id for c in categories for g in c.product_groups}
    groups_of = {c.id: {g.id for g in c.product_groups} for c in categories}
    cats = {c.id for c in categories}
    ids = {o.id for o in offers}
    if len(ids) != len(offers):
        raise InvalidInput("offers", "duplicate offer ids")
    for o in offers:
        if o.category_id not in cats or o.product_group_id not in groups:
            raise InvalidInput("offers", f"{o.name}: unknown category or product group")
        if o.product_group_id not in groups_of[o.category_id]:
            raise InvalidInput("offers", f"{o.name}: its product group is not in its category")
        if not o.prices:
            raise InvalidInput("offers", f"{o.name}: has no price")
        for t in o.terms:
            if not any(p.term == t for p in o.prices):
                raise InvalidInput("offers", f"{o.name}: no price for the {t} term")
        if o.is_trial and (o.trial_converts_to is None or o.trial_converts_to not in ids):
            raise InvalidInput("offers", f"{o.name}: a trial must convert to an offer of the catalog")
        for a in o.addon_offer_ids:
            if a not in ids:
                raise InvalidInput("offers", f"{o.name}: unknown add-on offer {a}")
        for u in o.upgrade_offer_ids:
            if u not in ids or u == o.id:
                raise InvalidInput("offers", f"{o.name}: unknown upgrade offer {u}")
    by_id = {o.id: o for o in offers}
    for o in offers:
        for u in o.upgrade_offer_ids:
            if o.id in by_id[u].upgrade_offer_ids:
                raise InvalidInput("offers", f"{o.name} and {by_id[u].name} cannot be upgrades of each other")
