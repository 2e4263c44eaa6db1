"""Azure plans at the vendor: entitlements kept in step, and the daily rated-usage import.

- ``sync_entitlements`` (a saga step, sent by the relay when an Azure plan is provisioned
  or an entitlement is added): the entitlements asked for here are created at the vendor
  (idempotency key: the entitlement's id, so a retried step creates one) and linked; those
  the vendor has and the platform does not (the one the plan came with) are adopted.
- ``import_usage``: each day that is over on the platform's clock and not yet recorded for
  an entitlement is fetched from the vendor and recorded (``UsageRecorded``, rated at the
  subscription's markups). Importing a day twice changes nothing: the aggregate knows
  which entitlement-days it holds. ``UsageImportJob`` runs it for every live Azure plan on
  each scheduler tick (before billing, so a month's last days are on its invoice); the
  periodic vendor sync runs it too.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from csp.aggregates.azure import MeterReading
from csp.aggregates.base import SYSTEM_VENDOR_SYNC
from csp.aggregates.errors import CspError, NotFound
from csp.aggregates.subscription import TERMINAL, Subscription
from csp.aggregates.tenant import Tenant
from csp.application import CspApplication
from csp.vendor.gateway import VendorError, VendorGateway
from csp.workers.store import SagaStore

log = logging.getLogger("csp.usage")

MAX_DAYS_PER_RUN = 62  # a long jump of the clock is caught up over a few ticks


class AzureSync:
    def __init__(self, app: CspApplication, gateway: Callable[[], VendorGateway]) -> None:
        self.app = app
        self._gateway = gateway

    def _plan(self, subscription_id: UUID) -> tuple[Subscription, str] | None:
        sub = self.app.load(Subscription, subscription_id, "subscription")
        if sub.type != "usage" or sub.status in TERMINAL or sub.vendor_subscription_id is None:
            return None
        tenant = self.app.load(Tenant, sub.tenant_id, "tenant")
        if tenant.vendor_customer_id is None:
            return None
        return sub, tenant.vendor_customer_id

    def sync_entitlements(self, subscription_id: str) -> None:
        sid = UUID(subscription_id)
        found = self._plan(sid)
        if found is None:
            return
        sub, customer_id = found
        assert sub.vendor_subscription_id is not None
        vendor = self._gateway()
        for ent in sub.entitlements:
            if ent.vendor_entitlement_id is None:
                created = vendor.create_entitlement(
                    customer_id, sub.vendor_subscription_id, ent.name, f"entitlement:{ent.id}"
                )
                self.app.retrying(
                    functools.partial(self.app.link_entitlement, sid, ent.id, created.id, SYSTEM_VENDOR_SYNC)
                )
        known = {e.vendor_entitlement_id for e in self.app.load(Subscription, sid, "subscription").entitlements}
        for ve in vendor.list_entitlements(customer_id, sub.vendor_subscription_id):
            if ve.id not in known:
                self.app.retrying(
                    functools.partial(self.app.adopt_entitlement, sid, ve.id, ve.name, SYSTEM_VENDOR_SYNC)
                )

    def import_usage(self, subscription_id: str, now: datetime | None = None) -> int:
        """Record each closed day not yet recorded; returns the entitlement-days recorded."""
        sid = UUID(subscription_id)
        found = self._plan(sid)
        if found is None:
            return 0
        sub, customer_id = found
        if any(e.vendor_entitlement_id is None for e in sub.entitlements) or not sub.entitlements:
            self.sync_entitlements(subscription_id)
            found = self._plan(sid)
            if found is None:
                return 0
            sub, customer_id = found
        assert sub.vendor_subscription_id is not None
        today = (now or self.app.now()).date()
        by_vendor = {e.vendor_entitlement_id: e for e in sub.entitlements if e.vendor_entitlement_id}
        recorded = 0
        fetched = 0
        for day in _days(sub.starts_at.date(), today):
            iso = day.isoformat()
            wanted = [
                e for e in by_vendor.values() if e.created_at.date() <= day and (e.id, iso) not in sub.usage_imported
            ]
            if not wanted:
                continue
            if fetched >= MAX_DAYS_PER_RUN:
                break
            fetched += 1
            lines = self._gateway().rated_usage(customer_id, sub.vendor_subscription_id, iso)
            if not lines:
                continue  # not final at the vendor yet
            readings: dict[UUID, list[MeterReading]] = defaultdict(list)
            for e in wanted:
                readings[e.id] = []
            unknown = False
            for line in lines:
                ent = by_vendor.get(line.entitlement_id)
                if ent is None:
                    unknown = True
                    continue
                if ent.id in readings:
                    readings[ent.id].append(
                        MeterReading(line.meter_name, line.meter_category, line.unit, line.quantity, line.unit_price)
                    )
            recorded += self.app.retrying(
                functools.partial(self.app.record_daily_usage, sid, iso, dict(readings), SYSTEM_VENDOR_SYNC)
            )
            if unknown:  # an entitlement made elsewhere: adopt it, its days come next time
                self.sync_entitlements(subscription_id)
        return recorded


def _days(first: date, today: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((today - first).days)]


class UsageImportJob:
    """Every live Azure plan's closed days, imported on each tick (cheap when none is new)."""

    name = "usage-import"

    def __init__(self, azure: AzureSync, store: SagaStore) -> None:
        self.azure = azure
        self.store = store

    def run(self, now: datetime) -> dict[str, Any]:
        recorded = failed = 0
        for sid, usage_based in self.store.live_subscriptions():
            if not usage_based:
                continue
            try:
                recorded += self.azure.import_usage(str(sid), now)
            except NotFound:
                continue
            except (CspError, VendorError) as e:
                failed += 1
                log.warning("usage import for subscription %s failed: %s", sid, e)
        return {"recorded": recorded, "failed": failed}
