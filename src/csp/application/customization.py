"""Catalog customisation commands: hidden offers, customer segments and their prices (the
rules they add to ordering are decided by ``CustomerPricing``)."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID, uuid4

from csp.aggregates.base import Actor
from csp.aggregates.catalog import Offer
from csp.aggregates.customization import (
    CatalogCustomization,
    CustomerSegment,
    segment_price,
)
from csp.aggregates.errors import ConcurrentModification, InvalidInput, NotFound, SegmentError
from csp.aggregates.index import UniqueKey
from csp.aggregates.organization import Organization
from csp.aggregates.terms import Term
from csp.application.base import CspApplicationBase
from csp.application.pricing import SEGMENT_MEMBER_KEYS


class CustomizationCommands(CspApplicationBase):
    # --- look-ups -------------------------------------------------------------

    def customization(self, reseller_id: UUID) -> CatalogCustomization | None:
        return self.pricing.customization(reseller_id)

    def segment(self, segment_id: UUID) -> CustomerSegment:
        return self.load(CustomerSegment, segment_id, "segment")

    def segments_of_reseller(self, reseller_id: UUID) -> list[CustomerSegment]:
        c = self.customization(reseller_id)
        return [self.segment(s) for s in c.segment_ids] if c is not None else []

    def segment_of(self, organization_id: UUID) -> CustomerSegment | None:
        return self.pricing.segment_of(organization_id)

    def offer_available_to(self, buyer: Organization, offer: Offer) -> bool:
        return self.pricing.offer_available_to(buyer, offer)

    def check_offer_available(self, buyer: Organization, offer: Offer) -> None:
        self.pricing.check_offer_available(buyer, offer)

    def customer_unit_price(self, buyer: Organization, offer: Offer, term: Term | None = None) -> Decimal | None:
        """The price per unit per month a customer sees (None for an offer without price: a trial)."""
        return self.pricing.unit_price(buyer, offer, self.now(), term)

    # --- commands ----------------------------------------------------------------

    def _customization_for_update(self, reseller_id: UUID, actor: Actor) -> CatalogCustomization:
        return self.customization(reseller_id) or CatalogCustomization(
            reseller_id=reseller_id, actor=actor, at=self.now()
        )

    def set_offer_visibility(
        self, reseller_id: UUID, offer_id: UUID, visible: bool, actor: Actor, expected_version: int | None = None
    ) -> CatalogCustomization:
        """Show or hide an offer from the reseller's customers; the answer is the reseller's
        catalog customisation (its version for the next ``If-Match``)."""
        offer = self.catalog().offer(offer_id)
        c = self._customization_for_update(reseller_id, actor)
        if expected_version is not None and c.version != expected_version:
            raise ConcurrentModification(c.id, expected_version, c.version)
        c.set_visible(offer, visible, actor=actor, at=self.now())
        self.save(c)
        return c

    def _check_segment_members(
        self, reseller_id: UUID, offer_ids: tuple[UUID, ...], organization_ids: tuple[UUID, ...]
    ) -> None:
        catalog = self.catalog()
        for o in offer_ids:
            if o not in catalog.offers:
                raise InvalidInput("offer_ids", f"no offer {o} in the catalog", offer_id=o)
        for org_id in organization_ids:
            try:
                org = self.load(Organization, org_id, "organization")
            except NotFound:
                org = None
            if org is None or org.kind != "customer" or org.owner_reseller_id != reseller_id:
                raise InvalidInput("organization_ids", f"no customer {org_id} in this account", organization_id=org_id)

    def _membership_keys(self, segment_id: UUID, added: set[UUID], removed: set[UUID], actor: Actor) -> list[UniqueKey]:
        """A customer belongs to at most one segment: claim the added, release the removed."""
        now = self.now()
        keys: list[UniqueKey] = []
        for org_id in sorted(added):
            key_id = UniqueKey.id_for(SEGMENT_MEMBER_KEYS, str(org_id))
            if self.exists(key_id):
                key = self.load(UniqueKey, key_id, "segment membership")
                if key.owner_id not in (None, segment_id):
                    other = self.segment(key.owner_id) if key.owner_id is not None else None
                    raise SegmentError(
                        f"the customer is in the segment {other.name if other else '?'} already; "
                        "a customer belongs to one segment",
                        organization_id=org_id,
                        segment_id=key.owner_id,
                    )
                key.reclaim(segment_id, actor=actor, at=now)
            else:
                key = UniqueKey(
                    namespace=SEGMENT_MEMBER_KEYS, key=str(org_id), owner_id=segment_id, actor=actor, at=now
                )
            keys.append(key)
        for org_id in sorted(removed):
            key = self.load(UniqueKey, UniqueKey.id_for(SEGMENT_MEMBER_KEYS, str(org_id)), "segment membership")
            if key.owner_id == segment_id:
                key.release(actor=actor, at=now)
                keys.append(key)
        return keys

    def create_segment(
        self,
        reseller_id: UUID,
        name: str,
        offer_ids: tuple[UUID, ...],
        organization_ids: tuple[UUID, ...],
        actor: Actor,
    ) -> CustomerSegment:
        self._check_segment_members(reseller_id, offer_ids, organization_ids)
        segment = CustomerSegment.create(
            uuid4(), reseller_id, name, offer_ids, organization_ids, actor=actor, at=self.now()
        )
        c = self._customization_for_update(reseller_id, actor)
        c.add_segment(segment.id, actor=actor, at=self.now())
        keys = self._membership_keys(segment.id, set(segment.organization_ids), set(), actor)
        self.save(segment, c, *keys)
        return segment

    def change_segment(
        self,
        segment_id: UUID,
        name: str,
        offer_ids: tuple[UUID, ...],
        organization_ids: tuple[UUID, ...],
        actor: Actor,
        expected_version: int | None = None,
    ) -> CustomerSegment:
        segment = self.load_for_update(CustomerSegment, segment_id, "segment", expected_version)
        self._check_segment_members(segment.reseller_id, offer_ids, organization_ids)
        before = set(segment.organization_ids)
        segment.change(name, offer_ids, organization_ids, actor=actor, at=self.now())
        after = set(segment.organization_ids)
        keys = self._membership_keys(segment.id, after - before, before - after, actor)
        self.save(segment, *keys)
        return segment

    def set_segment_price(
        self,
        segment_id: UUID,
        offer_id: UUID,
        actor: Actor,
        markup_percent: Decimal | None = None,
        customer_price: Decimal | None = None,
        expected_version: int | None = None,
    ) -> CustomerSegment:
        segment = self.load_for_update(CustomerSegment, segment_id, "segment", expected_version)
        self.catalog().offer(offer_id)
        segment.set_price(segment_price(offer_id, markup_percent, customer_price), actor=actor, at=self.now())
        self.save(segment)
        return segment
