"""Organization commands: reseller accounts, customers, profiles and reseller settings."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from slugify import slugify

from csp.aggregates.base import Actor
from csp.aggregates.catalog import Eligibility
from csp.aggregates.errors import AlreadyExists, ConcurrentModification
from csp.aggregates.index import UniqueKey
from csp.aggregates.organization import (
    SIGN_IN_METHODS,
    Address,
    Organization,
    OrganizationProfile,
    ResellerSettings,
    SignInMethod,
)
from csp.application.base import CspApplicationBase
from csp.application.directory import SLUG_KEYS


class OrganizationCommands(CspApplicationBase):
    def register_reseller(
        self,
        profile: OrganizationProfile,
        actor: Actor,
        slug: str | None = None,
        organization_id: UUID | None = None,
    ) -> Organization:
        """A new reseller account; its slug names its public portal (made unique here)."""
        if profile.eligibility != Eligibility():
            profile = profile.replace(eligibility=Eligibility())
        base = slugify(slug or profile.name, max_length=48) or "reseller"
        org_id = organization_id or uuid4()
        for n in range(1, 1000):
            candidate = base if n == 1 else f"{base}-{n}"
            if self.exists(UniqueKey.id_for(SLUG_KEYS, candidate)):
                if slug:
                    raise AlreadyExists(f"the portal address {candidate!r} is taken", field="slug", value=candidate)
                continue
            now = self.now()
            org = Organization.register_reseller(org_id, candidate, profile, actor=actor, at=now)
            key = UniqueKey(namespace=SLUG_KEYS, key=candidate, owner_id=org_id, actor=actor, at=now)
            try:
                self.save(org, key)
            except ConcurrentModification:
                continue  # someone took that slug a moment ago
            return org
        raise AlreadyExists("no free portal address for this name", field="slug")

    def reseller_by_slug(self, slug: str) -> Organization:
        return self.directory.reseller_by_slug(slug)

    def register_customer(
        self,
        reseller_id: UUID,
        profile: OrganizationProfile,
        actor: Actor,
        self_registered: bool = False,
        organization_id: UUID | None = None,
    ) -> Organization:
        reseller = self.load(Organization, reseller_id, "organization")
        org = Organization.register_customer(
            organization_id or uuid4(), reseller, profile, actor=actor, at=self.now(), self_registered=self_registered
        )
        self.save(org)
        return org

    def change_organization(
        self, organization_id: UUID, actor: Actor, expected_version: int | None = None, **changes: Any
    ) -> Organization:
        org = self.load_for_update(Organization, organization_id, "organization", expected_version)
        if "address" in changes and isinstance(changes["address"], dict):
            changes["address"] = Address(**changes["address"])
        if "eligibility" in changes and isinstance(changes["eligibility"], dict):
            changes["eligibility"] = Eligibility(**changes["eligibility"])
        if org.kind == "customer" and "currency" in changes and not str(changes["currency"] or "").strip():
            reseller = self.read(Organization, org.owner_reseller_id, "organization")
            changes["currency"] = reseller.reseller_settings().currency  # "": back to the reseller's
        org.change_profile(actor=actor, at=self.now(), **changes)
        self.save(org)
        return org

    def change_settings(
        self,
        reseller_id: UUID,
        settings: ResellerSettings,
        actor: Actor,
        expected_version: int | None = None,
        offered_methods: tuple[SignInMethod, ...] = SIGN_IN_METHODS,
    ) -> Organization:
        org = self.load_for_update(Organization, reseller_id, "organization", expected_version)
        org.change_settings(settings, actor=actor, at=self.now(), offered_methods=offered_methods)
        self.save(org)
        return org
