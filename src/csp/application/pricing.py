"""The one pricing decision for a customer's seats, used by every path that prices them,
and the one decision of which offers a customer may buy (eligibility, the reseller's
hidden offers, the customer's segment).

Order lines (and the add-ons chosen with them), add-on lines and add-ons added to a
subscription, quotes, price previews, the customer catalog's prices, trial conversion
and renewals all ask ``CustomerPricing``: a markup or target price given for the seats
wins, else the customer segment's price for the offer, else the reseller's default
markup alone (``csp.aggregates.pricing.customer_quote``). It is composed into the
application, not inherited, so no command can price differently by overriding a step.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol, TypeVar
from uuid import UUID

from csp.aggregates.base import CspAggregate
from csp.aggregates.catalog import Offer
from csp.aggregates.customization import (
    CatalogCustomization,
    CustomerSegment,
    SegmentPrice,
    check_available,
    is_available,
)
from csp.aggregates.errors import NotFound
from csp.aggregates.index import UniqueKey
from csp.aggregates.organization import Organization
from csp.aggregates.pricing import DEFAULT_MARKUP_PERCENT, PriceQuote, SeatPricer, customer_quote
from csp.aggregates.terms import Term

SEGMENT_MEMBER_KEYS = "segment-member"
A = TypeVar("A", bound=CspAggregate)


class Find(Protocol):
    """The application's ``find``: an aggregate or None, in one round trip."""

    def __call__(self, cls: type[A], aggregate_id: UUID, kind: str, *, readonly: bool = False) -> A | None: ...


class CustomerPricing:
    """What a customer pays per seat of an offer, from the catalog, the reseller's
    default markup and the customer's segment (read through ``find``: the pricing
    decisions only read, so they read the cached aggregates, without copies)."""

    def __init__(self, find: Find) -> None:
        self._find = find

    def default_markup(self, organization: Organization) -> Decimal:
        """The reseller's default markup (5 % unless its settings say otherwise)."""
        reseller = organization
        if organization.kind != "reseller":
            found = self._find(Organization, organization.owner_reseller_id, "organization", readonly=True)
            if found is None:
                raise NotFound("organization", organization.owner_reseller_id)
            reseller = found
        return reseller.settings.default_markup_percent if reseller.settings else DEFAULT_MARKUP_PERCENT

    def segment_of(self, organization_id: UUID, *, readonly: bool = False) -> CustomerSegment | None:
        """The customer segment a customer belongs to (at most one)."""
        key = self._find(
            UniqueKey, UniqueKey.id_for(SEGMENT_MEMBER_KEYS, str(organization_id)), "segment membership", readonly=True
        )
        if key is None or key.owner_id is None:
            return None
        return self._find(CustomerSegment, key.owner_id, "segment", readonly=readonly)

    def customization(self, reseller_id: UUID, *, readonly: bool = False) -> CatalogCustomization | None:
        """A reseller's catalog customisation (hidden offers, segments), if it made one."""
        return self._find(
            CatalogCustomization, CatalogCustomization.id_for(reseller_id), "customization", readonly=readonly
        )

    def offer_available_to(self, buyer: Organization, offer: Offer) -> bool:
        """Whether ``buyer`` may buy ``offer``: eligible, not hidden by its reseller, in its segment."""
        if buyer.kind == "reseller":
            return is_available(offer, buyer.eligibility, None, None)
        return is_available(offer, buyer.eligibility, *self._hidden_and_segment(buyer))

    def check_offer_available(self, buyer: Organization, offer: Offer) -> None:
        """``offer_available_to``, refused with the reason."""
        if buyer.kind == "reseller":
            check_available(offer, buyer.eligibility, None, None)
        else:
            check_available(offer, buyer.eligibility, *self._hidden_and_segment(buyer))

    def _hidden_and_segment(self, buyer: Organization) -> tuple[CatalogCustomization | None, CustomerSegment | None]:
        return self.customization(buyer.owner_reseller_id, readonly=True), self.segment_of(buyer.id, readonly=True)

    def segment_price(self, buyer: Organization, offer_id: UUID) -> SegmentPrice | None:
        segment = self.segment_of(buyer.id, readonly=True) if buyer.kind == "customer" else None
        return segment.price_for(offer_id) if segment is not None else None

    def price(
        self,
        buyer: Organization,
        offer: Offer,
        term: Term,
        quantity: int,
        at: datetime,
        *,
        markup_percent: Decimal | None = None,
        target_price: Decimal | None = None,
    ) -> PriceQuote:
        """The price of ``quantity`` seats of ``offer`` for ``buyer`` at ``at``."""
        p = offer.price_at(at, term)
        sp = self.segment_price(buyer, offer.id) if markup_percent is None and target_price is None else None
        return customer_quote(
            p.partner_price,
            p.erp_price,
            quantity,
            markup_percent=markup_percent,
            target_price=target_price,
            segment_markup_percent=sp.markup_percent if sp is not None else None,
            segment_customer_price=sp.customer_price if sp is not None else None,
            default_markup_percent=self.default_markup(buyer),
        )

    def pricer(self, buyer: Organization, at: datetime) -> SeatPricer:
        """``price`` for one buyer and moment, for the pure rules that build lines."""

        def price(
            offer: Offer,
            term: Term,
            quantity: int,
            *,
            markup_percent: Decimal | None = None,
            target_price: Decimal | None = None,
        ) -> PriceQuote:
            return self.price(
                buyer, offer, term, quantity, at, markup_percent=markup_percent, target_price=target_price
            )

        return price

    def unit_price(self, buyer: Organization, offer: Offer, at: datetime, term: Term | None = None) -> Decimal | None:
        """The price per unit per month the customer sees (None for a trial: no price)."""
        if offer.is_trial:
            return None
        return self.price(buyer, offer, term or offer.terms[0], 1, at).customer_price
