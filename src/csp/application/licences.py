"""Licence assignment commands: give a subscription's seat to a user of its tenant, or take
it back. Decided here at once (``no_free_licence``), then pushed to the vendor, which holds
the tenant's users and their licences, by the subscription's push saga."""

from __future__ import annotations

from uuid import UUID

from csp.aggregates.base import Actor
from csp.aggregates.subscription import Subscription
from csp.application.base import CspApplicationBase


class LicenceCommands(CspApplicationBase):
    def assign_licence(
        self, subscription_id: UUID, tenant_user_id: str, actor: Actor, expected_version: int | None = None
    ) -> Subscription:
        """One seat to one tenant user; a request already on its way records nothing new."""
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        if sub.request_licence_assignment(tenant_user_id, actor=actor, at=self.now()):
            self.save(sub)
        return sub

    def unassign_licence(
        self, subscription_id: UUID, tenant_user_id: str, actor: Actor, expected_version: int | None = None
    ) -> Subscription:
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        if sub.request_licence_unassignment(tenant_user_id, actor=actor, at=self.now()):
            self.save(sub)
        return sub
