"""The relay: follows the notification log and enqueues the outside work events call for.

The event store is the outbox. For each event, the relay enqueues Dramatiq messages
carrying ids only, then records what the event changed in the sagas' tables (the
schedule of due work, pending work) together with its tracking position, in one
transaction. A crash between the two re-enqueues on restart (at least once; every
actor is idempotent). At each (re)start it re-derives pending work from the aggregates'
states, so even the in-process broker, whose queue dies with the process, loses none.
It runs under a supervisor loop that restarts it when it raises (a dropped LISTEN
connection, a database restart).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.projection import ApplicationSubscription

from csp.aggregates.customer_invoice import CustomerInvoice
from csp.aggregates.gdap import GdapRelationship
from csp.aggregates.order import Order
from csp.aggregates.subscription import TERMINAL, Subscription
from csp.aggregates.tenant import Tenant
from csp.application import CspApplication
from csp.workers.gdap_steps import rederive_gdap
from csp.workers.notify import NotifyRouter
from csp.workers.steps import needs_push
from csp.workers.store import RelayWrite, SagaStore
from csp.workers.webhook_store import WebhookStore

log = logging.getLogger("csp.relay")

Message = tuple[str, tuple[Any, ...]]  # actor name, args
Enqueue = Callable[[str, tuple[Any, ...]], None]


def subscription_due(sub: Subscription) -> datetime | None:
    """When time-driven work next falls due for one subscription (None: never again)."""
    if sub.status in TERMINAL:
        return None
    times = [sub.ends_at]
    if sub.billing_cycle_change_due is not None:
        times.append(sub.billing_cycle_change_due)
    times.extend(t.window_ends_at for t in sub.tranches if t.number not in sub.closed_window_numbers)
    return min(times)


class Router:
    """What each event calls for: messages to enqueue and rows to write."""

    def __init__(self, app: CspApplication) -> None:
        self.app = app

    def route(self, event: Any) -> tuple[RelayWrite | None, list[Message]]:
        agg = event.originator_id
        v = event.originator_version
        if isinstance(event, Order.Placed):
            return RelayWrite({}, {}, pending_add=(("order", agg, v), ("mail:order_placed", agg, v))), [
                ("provision_order", (str(agg),)),
                ("send_mail", ("order_placed", str(agg), v)),
            ]
        if isinstance(event, Order.ProvisionFinished):
            return self._done("order", agg, mail=("licences_provisioned", v))
        if isinstance(event, Order.ProvisionFailed):
            return self._done("order", agg, mail=("provisioning_failed", v))
        if isinstance(event, Order.ProvisionPartlyFinished):
            return self._done("order", agg, mail=("partially_provisioned", v))
        if isinstance(event, Order.FailedLinesRetried):
            return RelayWrite({}, {}, pending_add=(("order", agg, v),)), [("provision_order", (str(agg),))]
        if isinstance(event, Tenant.Requested):
            return RelayWrite({}, {}, pending_add=(("tenant", agg, v),)), [("create_tenant", (str(agg),))]
        if isinstance(event, Tenant.CreatedAtVendor):
            return self._done("tenant", agg, mail=("tenant_created", v))
        if isinstance(event, (Tenant.Linked, Tenant.Rejected)):
            return self._done("tenant", agg)
        if isinstance(event, Subscription.Event):
            return self._subscription(event)
        # issue 16: a GDAP relationship is saga work until it is expired or ended at the vendor
        if isinstance(event, (GdapRelationship.Requested, GdapRelationship.Terminated)):
            return RelayWrite({}, {}, pending_add=(("gdap", agg, v),)), [("sync_gdap", (str(agg),))]
        if isinstance(
            event, (GdapRelationship.Expired, GdapRelationship.ApprovalExpired, GdapRelationship.TerminationConfirmed)
        ):
            return self._done("gdap", agg)
        if isinstance(event, CustomerInvoice.Issued) and event.email_to:  # customer invoices (issue 18)
            return RelayWrite({}, {}, pending_add=(("mail:customer_invoice_issued", agg, v),)), [
                ("send_mail", ("customer_invoice_issued", str(agg), v))
            ]
        return None, []

    def _done(self, kind: str, agg: UUID, mail: tuple[str, int] | None = None) -> tuple[RelayWrite, list[Message]]:
        if mail is None:
            return RelayWrite({}, {}, pending_done=((kind, agg, None),)), []
        mail_kind, v = mail
        return RelayWrite({}, {}, pending_add=((f"mail:{mail_kind}", agg, v),), pending_done=((kind, agg, None),)), [
            ("send_mail", (mail_kind, str(agg), v))
        ]

    def _subscription(self, event: Any) -> tuple[RelayWrite, list[Message]]:
        sid = event.originator_id
        v = event.originator_version
        sub = self.app.load(Subscription, sid, "subscription")
        base = sub if sub.parent_id is None else self.app.load(Subscription, sub.parent_id, "subscription")
        addons = [self.app.load(Subscription, a, "subscription") for a in base.addon_ids]
        dues = [d for d in (subscription_due(s) for s in (base, *addons)) if d is not None]
        write = RelayWrite(
            schedule={base.id: min(dues) if dues else None},
            subscriptions={s.id: (base.id, s.type == "usage", s.status not in TERMINAL) for s in (sub, base, *addons)},
        )
        messages: list[Message] = []
        pending_add: list[tuple[str, UUID, int]] = []
        pending_done: list[tuple[str, UUID, int | None]] = []
        lanes: tuple[tuple[UUID, UUID, int], ...] = ()
        if needs_push(event):
            pending_add.append(("push", sid, v))
            lanes = ((base.id, sid, v),)  # one lane per family: the base and its add-ons
            messages.append(("push_change", (str(sid), v)))
        if isinstance(event, (Subscription.VendorChangeAcknowledged, Subscription.VendorChangeRefused)):
            pending_done.append(("push", sid, event.change_version))
        if isinstance(event, Subscription.EntitlementAdded) or (
            isinstance(event, (Subscription.Provisioned, Subscription.VendorSubscriptionLinked)) and sub.type == "usage"
        ):
            messages.append(("sync_entitlements", (str(sid),)))  # an Azure plan's entitlements at the vendor
        if isinstance(event, Subscription.VendorChangeRefused):
            pending_add.append(("mail:vendor_refused", sid, v))
            messages.append(("send_mail", ("vendor_refused", str(sid), v)))
        return RelayWrite(
            write.schedule,
            write.subscriptions,
            pending_add=tuple(pending_add),
            pending_done=tuple(pending_done),
            lanes=lanes,
        ), messages


class Relay:
    def __init__(self, app: CspApplication, store: SagaStore, enqueue: Enqueue) -> None:
        self.app = app
        self.store = store
        self.enqueue = enqueue
        self.router = Router(app)
        self.notify = NotifyRouter(app, WebhookStore(store))  # notices and webhooks (csp.workers.notify)
        self._stopping = threading.Event()
        self._subscription: ApplicationSubscription[UUID] | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self.position: int = store.position() or 0
        # Set once the pending work has been re-derived at (re)start: until then the
        # queues may look empty while work is still owed.
        self.rederived = threading.Event()
        self.restarts = 0
        self.enqueued = 0

    # --- running ----------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self.run, name="relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        sub = self._subscription
        if sub is not None:
            sub.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run(self) -> None:
        """The supervisor loop: follow the log; when that raises, log it and start again."""
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                self.run_once()
                backoff = 0.5
            except Exception:
                self.restarts += 1
                log.exception("relay stopped by an error; restarting in %.1f s", backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def run_once(self) -> None:
        self.rederived.clear()
        self.rederive()
        self.rederived.set()
        with ApplicationSubscription(self.app, gt=self.store.position()) as sub:
            self._subscription = sub
            try:
                if self._stopping.is_set():
                    return
                for event, tracking in sub:
                    write, messages = self.router.route(event)
                    write, messages, after_commit = self.notify.extend(event, write, messages)
                    for actor, args in messages:
                        self.enqueue(actor, args)
                        self.enqueued += 1
                    self.store.commit(tracking, write)
                    for actor, args in after_commit:  # webhook deliveries: their rows are written now
                        self.enqueue(actor, args)
                        self.enqueued += 1
                    with self._cond:
                        self.position = tracking.notification_id
                        self._cond.notify_all()
                    if self._stopping.is_set():
                        return
            finally:
                self._subscription = None

    def rederive(self) -> int:
        """Re-enqueue the work still pending, checked against the aggregates' states."""
        count = 0
        for kind, agg, version in self.store.pending():
            message = self._still_needed(kind, agg, version)
            if message is None:
                self.store.complete(kind, agg, version)
                continue
            self.enqueue(*message)
            count += 1
        count += self.notify.rederive(self.enqueue)
        if count:
            log.info("relay: re-enqueued %d pending saga step(s)", count)
        return count

    def _still_needed(self, kind: str, agg: UUID, version: int) -> Message | None:
        app = self.app
        if kind.startswith("notice:"):  # a notice an event calls for (csp.workers.notify)
            return self.notify.still_needed(kind, agg, version)
        if kind == "order":
            order = app.load(Order, agg, "order")
            return ("provision_order", (str(agg),)) if order.status in ("placed", "provision_started") else None
        if kind == "tenant":
            tenant = app.load(Tenant, agg, "tenant")
            return ("create_tenant", (str(agg),)) if tenant.status in ("requested", "verifying") else None
        if kind == "push":
            return None if app.vendor_answer_recorded(agg, version) else ("push_change", (str(agg), version))
        if kind == "gdap":
            return rederive_gdap(app, agg)
        if kind.startswith("mail:"):
            sent = self.store.mail_sent(f"{agg}:{version}")
            return None if sent else ("send_mail", (kind[5:], str(agg), version))
        log.warning("relay: unknown pending kind %s", kind)
        return None

    # --- waiting ---------------------------------------------------------------

    def wait(self, notification_id: int, timeout: float) -> bool:
        """Until the relay has re-derived pending work and processed ``notification_id``
        (in this process)."""
        started = time.monotonic()
        if not self.rederived.wait(timeout):
            return False
        timeout = max(0.0, timeout - (time.monotonic() - started))
        with self._cond:
            return self._cond.wait_for(lambda: self.position >= notification_id, timeout=timeout)
