"""A reseller's own catalog: hidden offers, customer segments and customer prices.

Who sees and buys what: a customer sees the offers of the segments it is eligible for
(academic, government, non-profit), minus those its reseller hides; when it belongs to
a customer segment that lists offers, only those. Its customer price for an offer is
the segment's price (a fixed price, or an extra markup on top of the reseller's default
markup) or else the default markup alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, Value, deterministic_id
from csp.aggregates.catalog import Eligibility, Offer, check_eligible
from csp.aggregates.errors import InvalidInput, OfferNotAvailable, SegmentError
from csp.aggregates.pricing import MAX_MARKUP, as_decimal, customer_price, money

_NAME_MAX = 100


class CatalogCustomization(CspAggregate):
    """The offers a reseller hides from its customers (one per reseller)."""

    class Started(CspAggregate.Created):
        reseller_id: UUID

    @event(Started)
    def __init__(self, reseller_id: UUID, actor: Actor, at: datetime) -> None:
        self.reseller_id = reseller_id
        self.hidden_offer_ids: tuple[UUID, ...] = ()
        self.segment_ids: tuple[UUID, ...] = ()

    @staticmethod
    def create_id(reseller_id: UUID) -> UUID:
        return CatalogCustomization.id_for(reseller_id)

    @staticmethod
    def id_for(reseller_id: UUID) -> UUID:
        return deterministic_id("catalog-customization", reseller_id)

    class OfferHidden(CspAggregate.Event):
        offer_id: UUID

    class OfferShown(CspAggregate.Event):
        offer_id: UUID

    def set_visible(self, offer: Offer, visible: bool, actor: Actor, at: datetime) -> None:
        hidden = offer.id in self.hidden_offer_ids
        if visible and hidden:
            self._show(offer_id=offer.id, actor=actor, at=at)
        elif not visible and not hidden:
            self._hide(offer_id=offer.id, actor=actor, at=at)

    @event(OfferHidden)
    def _hide(self, offer_id: UUID, actor: Actor, at: datetime) -> None:
        self.hidden_offer_ids = (*self.hidden_offer_ids, offer_id)

    @event(OfferShown)
    def _show(self, offer_id: UUID, actor: Actor, at: datetime) -> None:
        self.hidden_offer_ids = tuple(o for o in self.hidden_offer_ids if o != offer_id)

    def is_visible(self, offer_id: UUID) -> bool:
        return offer_id not in self.hidden_offer_ids

    class SegmentAdded(CspAggregate.Event):
        segment_id: UUID

    def add_segment(self, segment_id: UUID, actor: Actor, at: datetime) -> None:
        if segment_id not in self.segment_ids:
            self._add_segment(segment_id=segment_id, actor=actor, at=at)

    @event(SegmentAdded)
    def _add_segment(self, segment_id: UUID, actor: Actor, at: datetime) -> None:
        self.segment_ids = (*self.segment_ids, segment_id)


@dataclass(frozen=True)
class SegmentPrice(Value):
    """A customer price for one offer in a segment: an extra markup or a fixed price."""

    offer_id: UUID
    markup_percent: Decimal | None = None
    customer_price: Decimal | None = None

    def unit_price(self, partner_price: Decimal, default_markup_percent: Decimal) -> Decimal:
        if self.customer_price is not None:
            return self.customer_price
        return customer_price(partner_price, self.markup_percent or Decimal(0), default_markup_percent)


def segment_price(offer_id: UUID, markup_percent: object = None, customer_price: object = None) -> SegmentPrice:
    """Validate a segment price: exactly one of the two, a sane number."""
    if (markup_percent is None) == (customer_price is None):
        raise InvalidInput("markup_percent", "give either markup_percent or customer_price")
    if markup_percent is not None:
        m = as_decimal(markup_percent, "markup_percent")  # type: ignore[arg-type]
        if m < -100 or m > MAX_MARKUP:
            raise InvalidInput("markup_percent", f"must be between -100 and {MAX_MARKUP}")
        return SegmentPrice(offer_id=offer_id, markup_percent=m)
    p = money(as_decimal(customer_price, "customer_price"))  # type: ignore[arg-type]
    if p < 0:
        raise InvalidInput("customer_price", "must not be negative")
    return SegmentPrice(offer_id=offer_id, customer_price=p)


class CustomerSegment(CspAggregate):
    """A group of a reseller's customers, with the offers assigned to it and its prices."""

    class Created(CspAggregate.Created):
        reseller_id: UUID
        name: str
        offer_ids: tuple[UUID, ...]
        organization_ids: tuple[UUID, ...]

    @event(Created)
    def __init__(
        self,
        reseller_id: UUID,
        name: str,
        offer_ids: tuple[UUID, ...],
        organization_ids: tuple[UUID, ...],
        actor: Actor,
        at: datetime,
    ) -> None:
        self.reseller_id = reseller_id
        self.name = name
        self.offer_ids = offer_ids
        self.organization_ids = organization_ids
        self.prices: tuple[SegmentPrice, ...] = ()
        self.created_at = at

    @classmethod
    def create(
        cls,
        id: UUID,
        reseller_id: UUID,
        name: str,
        offer_ids: tuple[UUID, ...],
        organization_ids: tuple[UUID, ...],
        actor: Actor,
        at: datetime,
    ) -> CustomerSegment:
        return cls._create(
            cls.Created,
            id=id,
            reseller_id=reseller_id,
            name=_check_name(name),
            offer_ids=_unique(offer_ids),
            organization_ids=_unique(organization_ids),
            actor=actor,
            at=at,
        )

    class Changed(CspAggregate.Event):
        name: str
        offer_ids: tuple[UUID, ...]
        organization_ids: tuple[UUID, ...]

    def change(
        self, name: str, offer_ids: tuple[UUID, ...], organization_ids: tuple[UUID, ...], actor: Actor, at: datetime
    ) -> None:
        name, offers, orgs = _check_name(name), _unique(offer_ids), _unique(organization_ids)
        if (name, offers, orgs) != (self.name, self.offer_ids, self.organization_ids):
            self._change(name=name, offer_ids=offers, organization_ids=orgs, actor=actor, at=at)

    @event(Changed)
    def _change(
        self, name: str, offer_ids: tuple[UUID, ...], organization_ids: tuple[UUID, ...], actor: Actor, at: datetime
    ) -> None:
        self.name = name
        self.offer_ids = offer_ids
        self.organization_ids = organization_ids
        # Prices of offers no longer in the segment are dropped with them.
        if offer_ids:
            self.prices = tuple(p for p in self.prices if p.offer_id in offer_ids)

    class PriceSet(CspAggregate.Event):
        price: SegmentPrice

    def set_price(self, price: SegmentPrice, actor: Actor, at: datetime) -> None:
        if self.offer_ids and price.offer_id not in self.offer_ids:
            raise SegmentError("the offer is not assigned to this segment", offer_id=price.offer_id)
        if self.price_for(price.offer_id) == price:
            return
        self._set_price(price=price, actor=actor, at=at)

    @event(PriceSet)
    def _set_price(self, price: SegmentPrice, actor: Actor, at: datetime) -> None:
        self.prices = (*(p for p in self.prices if p.offer_id != price.offer_id), price)

    def price_for(self, offer_id: UUID) -> SegmentPrice | None:
        return next((p for p in self.prices if p.offer_id == offer_id), None)

    def allows(self, offer_id: UUID) -> bool:
        """A segment without offers restricts nothing; one with offers, to those."""
        return not self.offer_ids or offer_id in self.offer_ids


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > _NAME_MAX:
        raise InvalidInput("name", f"is required (at most {_NAME_MAX} characters)")
    return name


def _unique(ids: tuple[UUID, ...]) -> tuple[UUID, ...]:
    return tuple(dict.fromkeys(ids))


def check_available(
    offer: Offer,
    eligibility: Eligibility,
    customization: CatalogCustomization | None,
    segment: CustomerSegment | None,
) -> None:
    """Raise ``OfferNotAvailable`` unless a customer may see and buy the offer."""
    check_eligible(offer, eligibility)
    if customization is not None and not customization.is_visible(offer.id):
        raise OfferNotAvailable(f"{offer.name} is not offered to this customer", offer_id=offer.id)
    if segment is not None and not segment.allows(offer.id):
        raise OfferNotAvailable(f"{offer.name} is not in this customer's segment", offer_id=offer.id)


def is_available(
    offer: Offer,
    eligibility: Eligibility,
    customization: CatalogCustomization | None,
    segment: CustomerSegment | None,
) -> bool:
    try:
        check_available(offer, eligibility, customization, segment)
    except OfferNotAvailable:
        return False
    return True
