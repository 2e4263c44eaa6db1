"""Outbound webhooks: which events become which kinds, the signed POST, retries, order.

The relay (``NotifyRouter.route``, called for every event of the log) turns each domain
event an integration may want into one delivery per endpoint of the reseller that asked
for its kind, written with the relay's position (at least once, never twice: the
delivery's id is derived from the endpoint and the event's stable id), and enqueues
``deliver_webhook``. The step POSTs the body signed as Standard Webhooks sign
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`` with the endpoint's ``whsec_`` secret); a non-2xx answer or a
network error is retried by Dramatiq with back-off (``CSP_WEBHOOK_*``). Deliveries of
one subject to one endpoint go one at a time, in log order: a later one waits (does
nothing) while an earlier one is pending, and the earlier one, once delivered or given
up, sends the next. After ``CSP_WEBHOOK_DISABLE_AFTER`` deliveries in a row given up, the
endpoint is disabled (an event) and the reseller told (a ``webhook_disabled`` notice).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import dramatiq
import httpx

from csp.aggregates.base import deterministic_id
from csp.aggregates.customer_invoice import CustomerInvoice
from csp.aggregates.errors import CspError
from csp.aggregates.invoice import Invoice
from csp.aggregates.notify import Notice, WebhookEndpoint
from csp.aggregates.order import Order
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.application import CspApplication
from csp.workers.store import stamp
from csp.workers.webhook_store import EndpointRow, NewDelivery, WebhookStore, WebhookWrite

log = logging.getLogger("csp.webhooks")

SYSTEM_WEBHOOKS = "system:webhooks"

SUBSCRIPTION_CHANGED: tuple[type, ...] = (
    Subscription.SeatsAdded,
    Subscription.SeatsRemoved,
    Subscription.BillingCycleChanged,
    Subscription.CustomerPriceChanged,
    Subscription.AutoRenewChanged,
    Subscription.TrialConverted,
    Subscription.Reactivated,
    Subscription.AddonAttached,
    Subscription.AddonDetached,
)


def event_id(originator_id: UUID, version: int) -> UUID:
    """The stable id of a domain event: every redelivery and replay carries it."""
    return deterministic_id("event", originator_id, version)


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``, keyed by
    the base64 part of the ``whsec_`` secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def webhook_kind(event: Any) -> str | None:
    """The webhook kind of a domain event, or None."""
    if isinstance(event, Order.Placed):
        return "order.placed"
    if isinstance(event, (Order.ProvisionFinished, Order.ProvisionPartlyFinished)):
        return "order.provision_finished"
    if isinstance(event, Order.ProvisionFailed):
        return "order.provision_failed"
    if isinstance(event, Subscription.Provisioned):
        return "subscription.created"
    if isinstance(event, SUBSCRIPTION_CHANGED):
        return "subscription.changed"
    if isinstance(event, Subscription.Renewed):
        return "subscription.renewed"
    if isinstance(event, Subscription.Suspended):
        return "subscription.suspended"
    if isinstance(event, Subscription.Cancelled):
        return "subscription.cancelled"
    if isinstance(event, Invoice.Issued):
        return "invoice.issued"
    if isinstance(event, CustomerInvoice.Issued):
        return "customer_invoice.issued"
    if isinstance(event, Tenant.CreatedAtVendor):
        return "tenant.created"
    if isinstance(event, Notice.Issued):
        return f"notice.{event.kind}"
    return None


def _data(app: CspApplication, event: Any) -> tuple[UUID, dict[str, Any]]:
    """The reseller the event belongs to, and the ``data`` of its webhook body."""
    agg, v = event.originator_id, event.originator_version
    if isinstance(event, Order.Event):
        order = app.load(Order, agg, "order", version=v)
        return order.reseller_id, {
            "order_id": str(order.id),
            "number": order.number,
            "organization_id": str(order.organization_id),
            "status": order.status,
            "total": str(order.total),
        }
    if isinstance(event, Subscription.Event):
        sub = app.load(Subscription, agg, "subscription", version=v)
        return sub.reseller_id, {
            "subscription_id": str(sub.id),
            "organization_id": str(sub.organization_id),
            "offer_id": str(sub.offer_id),
            "offer_name": sub.offer_name,
            "tenant_domain": sub.tenant_domain,
            "status": sub.status,
            "quantity": sub.quantity,
            "ends_at": _iso(sub.ends_at),
            "change": type(event).__name__,
        }
    if isinstance(event, Invoice.Issued):
        return event.reseller_id, {
            "invoice_id": str(agg),
            "number": event.number,
            "period": event.period,
            "total": str(event.total),
            "currency": event.currency,
        }
    if isinstance(event, CustomerInvoice.Issued):
        ci = app.load(CustomerInvoice, agg, "customer invoice", version=v)
        return ci.reseller_id, {
            "customer_invoice_id": str(agg),
            "number": ci.number,
            "organization_id": str(ci.organization_id),
            "period": ci.period,
            "currency": ci.currency,
            "net": str(ci.net),
            "tax": str(ci.tax_total),
            "gross": str(ci.gross),
        }
    if isinstance(event, Tenant.Event):
        tenant = app.load(Tenant, agg, "tenant", version=v)
        return tenant.reseller_id, {
            "tenant_id": str(tenant.id),
            "organization_id": str(tenant.organization_id),
            "domain": tenant.domain,
            "status": tenant.status,
        }
    if isinstance(event, Notice.Issued):
        return event.reseller_id, {
            "notice_id": str(agg),
            "kind": event.kind,
            "subject_id": str(event.subject_id),
            "due_at": _iso(event.due_at),
            "title": event.title,
        }
    raise TypeError(type(event).__name__)


def endpoint_row(event: Any, app: CspApplication) -> EndpointRow | None:
    """The relay's row of an endpoint, after one of its events."""
    if not isinstance(event, WebhookEndpoint.Event):
        return None
    endpoint = app.load(WebhookEndpoint, event.originator_id, "webhook", version=event.originator_version)
    return EndpointRow(endpoint.id, endpoint.reseller_id, endpoint.events, endpoint.enabled and not endpoint.deleted)


def fan_out(app: CspApplication, store: WebhookStore, event: Any, kind: str) -> tuple[NewDelivery, ...]:
    """One delivery per enabled endpoint of the event's reseller that wants this kind."""
    reseller_id, data = _data(app, event)
    endpoints = [e for e in store.endpoints_of(reseller_id) if e.enabled and ("*" in e.events or kind in e.events)]
    if not endpoints:
        return ()
    eid = event_id(event.originator_id, event.originator_version)
    body = json.dumps({"id": str(eid), "type": kind, "timestamp": _iso(event.at), "data": data}, sort_keys=True)
    lane = event.originator_id  # ordered per subject
    if isinstance(event, Subscription.Event):
        sub = app.load(Subscription, event.originator_id, "subscription", version=event.originator_version)
        lane = sub.parent_id or sub.id  # a family of base and add-ons shares a lane
    return tuple(
        NewDelivery(
            deterministic_id("delivery", e.endpoint_id, eid), e.endpoint_id, eid, kind, lane, body, stamp(event.at)
        )
        for e in endpoints
    )


def webhook_write(app: CspApplication, store: WebhookStore, event: Any) -> WebhookWrite | None:
    row = endpoint_row(event, app)
    if row is not None:
        return WebhookWrite(endpoints=(row,))
    kind = webhook_kind(event)
    if kind is None or not store.any_enabled():
        return None
    deliveries = fan_out(app, store, event, kind)
    return WebhookWrite(deliveries=deliveries) if deliveries else None


class DeliveryFailed(dramatiq.Retry):
    """A non-2xx answer or a network error: retried with back-off by the Retries middleware."""


class WebhookSteps:
    """The delivery actor's work, idempotent: a delivered or given-up delivery is left alone."""

    def __init__(
        self,
        app: CspApplication,
        store: WebhookStore,
        send: Callable[..., None],
        *,
        disable_after: int,
        timeout_seconds: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.store = store
        self.send = send
        self.disable_after = disable_after
        self.timeout = timeout_seconds
        self.wall_clock = wall_clock
        self._client: httpx.Client | None = None

    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _now(self) -> str:
        return stamp(self.app.now())

    def deliver(self, delivery_id: str) -> None:
        d = self.store.delivery(UUID(delivery_id))
        if d is None or d.status != "pending":
            return
        if self.store.earlier_pending(d):
            return  # the earlier one sends this one when it is done
        endpoint = self.app.find(WebhookEndpoint, d.endpoint_id, "webhook")
        if endpoint is None or not endpoint.enabled:
            self.store.record_attempt(d.id, self._now(), None, "endpoint disabled or deleted: not sent")
            self._finish(d, "failed")
            return
        try:  # the secret is stored sealed: opened here, for this signature only
            secret = self.app.webhook_signing_secret(endpoint)
        except CspError as e:  # another key than the one that sealed it: fixed by configuration, so retried
            self.store.record_attempt(d.id, self._now(), None, f"not sent: {e}"[:1000])
            raise DeliveryFailed(f"webhook {d.id}: {e.code}") from e
        body = d.body.encode()
        ts = int(self.wall_clock())  # the receiver checks it against its own clock
        headers = {
            "content-type": "application/json",
            "user-agent": "csp-webhooks/1",
            "webhook-id": str(d.event_id),
            "webhook-timestamp": str(ts),
            "webhook-signature": signature(secret, str(d.event_id), ts, body),
        }
        try:
            r = self.client().post(endpoint.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            self.store.record_attempt(d.id, self._now(), None, f"{type(e).__name__}: {e}"[:1000])
            raise DeliveryFailed(f"webhook {d.id}: {type(e).__name__}") from e
        if 200 <= r.status_code < 300:
            self.store.record_attempt(d.id, self._now(), r.status_code, "")
            self.store.record_success(d.endpoint_id)
            self._finish(d, "delivered")
            return
        answer = r.text.strip()[:200]
        self.store.record_attempt(
            d.id, self._now(), r.status_code, f"HTTP {r.status_code}" + (f": {answer}" if answer else "")
        )
        raise DeliveryFailed(f"webhook {d.id}: HTTP {r.status_code}")

    def gave_up(self, delivery_id: str, error: str) -> None:
        """The retries ran out: failed (replayable); the lane moves on; the endpoint may be disabled."""
        d = self.store.delivery(UUID(delivery_id))
        if d is None or d.status != "pending":
            return
        self._finish(d, "failed")
        failures = self.store.record_failure(d.endpoint_id)
        if failures >= self.disable_after:
            reason = f"{failures} deliveries in a row failed (last: {error})"
            log.warning("webhook endpoint %s disabled: %s", d.endpoint_id, reason)
            self.app.retrying(lambda: self.app.disable_webhook(d.endpoint_id, reason, SYSTEM_WEBHOOKS))

    def _finish(self, d: Any, status: str) -> None:
        self.store.finish(d.id, status, self._now())
        nxt = self.store.next_in_lane(d)
        if nxt is not None:
            self.send("deliver_webhook", str(nxt))
