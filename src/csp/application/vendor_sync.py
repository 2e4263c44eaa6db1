"""Commands the sagas record from the vendor's answers: a pushed change acknowledged or
refused (with its compensation), a vendor subscription id linked."""

from __future__ import annotations

import contextlib
from uuid import UUID

from csp.aggregates.base import SYSTEM_PROVISIONING, Actor, CspAggregate
from csp.aggregates.errors import Conflict, InvalidInput
from csp.aggregates.subscription import TERMINAL, Subscription
from csp.application.base import CspApplicationBase


class VendorSyncCommands(CspApplicationBase):
    def subscription_event(self, subscription_id: UUID, version: int) -> CspAggregate.Event:
        """The subscription's event at ``version`` (the change a saga pushes)."""
        events = list(self.repository.event_store.get(subscription_id, gt=version - 1, lte=version))
        if not events:
            raise InvalidInput("version", f"subscription {subscription_id} has no event {version}")
        return events[0]  # type: ignore[return-value]

    def vendor_answer_recorded(self, subscription_id: UUID, change_version: int) -> bool:
        """Whether the vendor's answer to that change is already recorded (acknowledged or refused)."""
        for e in self.repository.event_store.get(subscription_id, gt=change_version):
            if (
                isinstance(e, (Subscription.VendorChangeAcknowledged, Subscription.VendorChangeRefused))
                and e.change_version == change_version
            ):
                return True
        return False

    def acknowledge_vendor_change(
        self, subscription_id: UUID, change_version: int, actor: Actor = SYSTEM_PROVISIONING
    ) -> Subscription:
        def attempt() -> Subscription:
            sub = self.load(Subscription, subscription_id, "subscription")
            if self.vendor_answer_recorded(subscription_id, change_version):
                return sub
            sub.acknowledge_vendor_change(change_version, actor=actor, at=self.now())
            self.save(sub)
            return sub

        return self.retrying(attempt)

    def record_vendor_refusal(
        self, subscription_id: UUID, change_version: int, reason: str, actor: Actor = SYSTEM_PROVISIONING
    ) -> Subscription:
        """The vendor refused a change: compensate it. An add-on the vendor refused to
        create is ended here too, and its base says so (and detaches it)."""

        def attempt() -> Subscription:
            sub = self.load(Subscription, subscription_id, "subscription")
            if self.vendor_answer_recorded(subscription_id, change_version):
                return sub
            change = self.subscription_event(subscription_id, change_version)
            now = self.now()
            sub.record_vendor_refusal(change, reason, actor=actor, at=now)
            changed: list[Subscription] = [sub]
            if isinstance(change, Subscription.Provisioned) and sub.parent_id is not None:
                if sub.status not in TERMINAL:
                    with contextlib.suppress(Conflict):  # outside its window: it stays, refusal recorded
                        sub.cancel(actor=actor, at=now)
                base = self.load(Subscription, sub.parent_id, "subscription")
                base.record_addon_refusal(sub, reason, actor=actor, at=now)
                changed.append(base)
            self.save(*changed)
            return sub

        return self.retrying(attempt)

    def link_vendor_subscription(
        self, subscription_id: UUID, vendor_subscription_id: str, actor: Actor = SYSTEM_PROVISIONING
    ) -> Subscription:
        def attempt() -> Subscription:
            sub = self.load(Subscription, subscription_id, "subscription")
            before = sub.version
            sub.link_vendor_subscription(vendor_subscription_id, actor=actor, at=self.now())
            if sub.version != before:
                self.save(sub)
            return sub

        return self.retrying(attempt)
