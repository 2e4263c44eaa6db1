"""Lifecycle notices: the ones time brings (a scheduler job on the test clock like the
rest) and the ones an event brings (from the relay), each recorded once as a ``Notice``
(its id derived from kind, subject and due instant) whose ``Issued`` event the relay turns
into an email to the reseller and a ``notice.<kind>`` webhook. Also the customers' copies
of their order emails, when the reseller wants them.

- ``renewal_due``: N days before a subscription renews (``renewal_days``).
- ``window_closing``: H hours before a cancellation window of a subscription closes.
- ``trial_ending``: N days before a trial ends.
- ``gdap_expiring``: when a GDAP relationship that will not extend itself becomes
  ``expiring`` (its ``ExpiringSoon`` event, 30 days before its end, as Partner Center
  warns); ``gdap_expiring_days`` 0 turns it off.
- ``invoice_issued`` / ``provisioning_failed``: when the event happens.
- ``webhook_disabled``: an endpoint the platform turned off (always on).
- ``approval_requested``: a customer user's order above the customer's credit limit waits
  for the reseller's decision (``Order.ApprovalRequested``; ``approval_requested`` off
  turns it off).

A notice is due at ``instant - offset`` and sent by the first scheduler run at or after
that time while its instant is still ahead; moving the clock again sends nothing twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from csp.aggregates.base import SYSTEM_SCHEDULER
from csp.aggregates.errors import NotFound
from csp.aggregates.gdap import GdapRelationship
from csp.aggregates.invoice import Invoice
from csp.aggregates.notify import Notice, NotificationPreferences, WebhookEndpoint
from csp.aggregates.order import Order
from csp.aggregates.organization import Organization
from csp.aggregates.subscription import TERMINAL, Subscription
from csp.aggregates.tenant import Tenant
from csp.application import CspApplication
from csp.mail import Message
from csp.workers.store import SagaStore

log = logging.getLogger("csp.notices")

SYSTEM_NOTICES = "system:notices"
CUSTOMER_COPIES = ("order_placed", "licences_provisioned")


def _when(at: datetime) -> str:
    return f"{at.astimezone(UTC):%d %B %Y, %H:%M} UTC"


def _subject(sub: Subscription) -> str:
    return f"{sub.offer_name} for {sub.tenant_domain}"


def due_notices(
    sub: Subscription, prefs: NotificationPreferences, now: datetime
) -> list[tuple[str, datetime, str, str]]:
    """The time-driven notices of one subscription due at ``now``: (kind, due_at, title, detail)."""
    if sub.status in TERMINAL:
        return []
    out: list[tuple[str, datetime, str, str]] = []
    if sub.status == "trial":
        for days in prefs.trial_ending_days:
            due = sub.ends_at - timedelta(days=days)
            if due <= now < sub.ends_at:
                out.append(
                    (
                        "trial_ending",
                        due,
                        f"Trial ends in {days} day{'s' if days != 1 else ''}: {_subject(sub)}",
                        f"The trial of {_subject(sub)} ends on {_when(sub.ends_at)}. Convert it to keep the licences.",
                    )
                )
    renews = sub.renews_at
    if renews is not None:
        for days in prefs.renewal_days:
            due = renews - timedelta(days=days)
            if due <= now < renews:
                out.append(
                    (
                        "renewal_due",
                        due,
                        f"Renewal in {days} day{'s' if days != 1 else ''}: {_subject(sub)}",
                        f"{_subject(sub)} ({sub.quantity} licences) renews on {_when(renews)}.",
                    )
                )
    if prefs.window_closing_hours > 0 and sub.status != "trial":  # a trial's seats cost nothing to cancel
        hours = timedelta(hours=prefs.window_closing_hours)
        for t in sub.tranches:
            if t.quantity <= 0 or t.number in sub.closed_window_numbers:
                continue
            due = t.window_ends_at - hours
            if due <= now < t.window_ends_at:
                out.append(
                    (
                        "window_closing",
                        due,
                        f"Cancellation window closes within {prefs.window_closing_hours} h: {_subject(sub)}",
                        f"{t.quantity} licence(s) of {_subject(sub)} can be cancelled for a refund until "
                        f"{_when(t.window_ends_at)}.",
                    )
                )
    return out


class NoticeJob:
    """The time-driven notices of the subscriptions due a look (scheduler job ``notices``).

    Each subscription is looked at only when a notice of it may be due: after each of its
    events (the relay asks for a look), after a change of its reseller's settings, and at
    the next instant a notice of it falls due (stored when it was last looked at), so a
    tick costs nothing for the subscriptions with nothing due."""

    name = "notices"

    def __init__(self, app: CspApplication, store: SagaStore) -> None:
        self.app = app
        self.store = store

    def run(self, now: datetime) -> dict[str, Any]:
        if not self.store.job_done("notice_checks", "backfill"):
            self.store.backfill_notice_checks()
            self.store.record_job("notice_checks", "backfill", now)
        prefs: dict[UUID, NotificationPreferences] = {}
        issued = looked = 0
        while batch := self.store.notice_checks_due(now):
            for sid, seen in batch:
                looked += 1
                sub = self.app.find(Subscription, sid, "subscription", readonly=True)
                if sub is None:
                    self.store.set_notice_check(sid, seen, None)
                    continue
                p = prefs.get(sub.reseller_id)
                if p is None:
                    p = prefs[sub.reseller_id] = self.app.notification_preferences(sub.reseller_id)
                for kind, due, title, detail in due_notices(sub, p, now):
                    if self.app.issue_notice(sub.reseller_id, kind, sub.id, due, title, detail, SYSTEM_SCHEDULER):
                        issued += 1
                self.store.set_notice_check(sid, seen, next_notice_at(sub, p, now))
        return {"issued": issued, "looked_at": looked, "changes": issued}


def next_notice_at(sub: Subscription, prefs: NotificationPreferences, now: datetime) -> datetime | None:
    """The first instant after ``now`` at which a time-driven notice of ``sub`` falls due
    (None: none ahead until its next event)."""
    if sub.status in TERMINAL:
        return None
    dues: list[datetime] = []
    if sub.status == "trial":
        dues += [sub.ends_at - timedelta(days=d) for d in prefs.trial_ending_days]
    if sub.renews_at is not None:
        dues += [sub.renews_at - timedelta(days=d) for d in prefs.renewal_days]
    if prefs.window_closing_hours > 0 and sub.status != "trial":
        hours = timedelta(hours=prefs.window_closing_hours)
        dues += [
            t.window_ends_at - hours
            for t in sub.tranches
            if t.quantity > 0 and t.number not in sub.closed_window_numbers
        ]
    ahead = [d for d in dues if d > now]
    return min(ahead) if ahead else None


def event_notice(event: Any) -> tuple[str, UUID] | None:
    """An event that calls for a notice: (kind, subject id)."""
    if isinstance(event, Order.ProvisionFailed):
        return "provisioning_failed", event.originator_id
    if isinstance(event, Invoice.Issued):
        return "invoice_issued", event.originator_id
    if isinstance(event, WebhookEndpoint.Disabled):
        return "webhook_disabled", event.originator_id
    if isinstance(event, GdapRelationship.ExpiringSoon):
        return "gdap_expiring", event.originator_id
    if isinstance(event, Subscription.BudgetThresholdReached):
        return f"budget_{event.threshold}", event.originator_id
    if isinstance(event, Order.ApprovalRequested):
        return "approval_requested", event.originator_id
    return None


class NoticeSteps:
    """The ``record_notice`` actor's work: the notice an event calls for, once."""

    def __init__(self, app: CspApplication, store: SagaStore) -> None:
        self.app = app
        self.store = store

    def record_notice(self, kind: str, subject_id: str, version: int, at: str) -> None:
        """``at``: when the event happened (the notice's due instant)."""
        self._record(kind, UUID(subject_id), version, at)
        self.store.complete(f"notice:{kind}", UUID(subject_id), version)

    def _record(self, kind: str, sid: UUID, version: int, at: str) -> None:
        app = self.app
        due = datetime.fromisoformat(at)
        if kind == "provisioning_failed":
            order = app.load(Order, sid, "order", version=version)
            reseller = order.reseller_id
            org = app.load(Organization, order.organization_id, "organization")
            title = f"Order {order.number} for {org.name} failed"
            detail = f"Provisioning of order {order.number} failed: {order.failure_reason or 'no reason given'}."
            wanted = app.notification_preferences(reseller).provisioning_failed
        elif kind == "invoice_issued":
            invoice = app.load(Invoice, sid, "invoice")
            reseller = invoice.reseller_id
            title = f"Invoice {invoice.number} issued ({invoice.period})"
            detail = f"Invoice {invoice.number} for {invoice.period}: {invoice.total} {invoice.currency}."
            wanted = app.notification_preferences(reseller).invoice_issued
        elif kind == "gdap_expiring":
            rel = app.load(GdapRelationship, sid, "GDAP relationship", version=version)
            tenant = app.load(Tenant, rel.tenant_id, "tenant")
            reseller = rel.reseller_id
            ends = _when(rel.ends_at) if rel.ends_at is not None else "soon"
            title = f"GDAP relationship with {tenant.domain} expires on {ends}"
            detail = (
                f"The granular delegated admin relationship with {tenant.domain} ({', '.join(rel.roles)}) "
                f"ends on {ends} and does not extend itself: ask the customer for a new one before then."
            )
            wanted = app.notification_preferences(reseller).gdap_expiring_days > 0
        elif kind == "webhook_disabled":
            endpoint = app.load(WebhookEndpoint, sid, "webhook", version=version)
            reseller = endpoint.reseller_id
            title = f"Webhook endpoint disabled: {endpoint.url}"
            detail = (
                f"The platform stopped sending to {endpoint.url}: {endpoint.disabled_reason}. "
                "Fix the receiver, enable the endpoint again and replay the failed deliveries."
            )
            wanted = True
        elif kind in ("budget_80", "budget_100"):
            sub = app.load(Subscription, sid, "subscription", version=version)
            reached = next(
                e
                for e in app.repository.event_store.get(sid, gt=version - 1, lte=version)
                if isinstance(e, Subscription.BudgetThresholdReached)
            )
            ent = sub.entitlement(reached.entitlement_id)
            org = app.load(Organization, sub.organization_id, "organization")
            reseller = sub.reseller_id
            title = f"Azure budget {reached.threshold} %: {ent.name} ({org.name})"
            detail = (
                f"The Azure subscription {ent.name} of {org.name} has used {reached.month_to_date} EUR "
                f"of its {reached.monthly_budget} EUR budget for {reached.month} ({reached.threshold} % reached"
                f"{f' with the usage of {reached.day}' if reached.day else ''})."
            )
            if reached.day:  # dated at the usage's day, not when a clock jump imported it
                due = datetime.combine(date.fromisoformat(reached.day), time(0), UTC)
            wanted = True
        elif kind == "approval_requested":
            order = app.load(Order, sid, "order", version=version)
            asked = next(
                e
                for e in app.repository.event_store.get(sid, gt=version - 1, lte=version)
                if isinstance(e, Order.ApprovalRequested)
            )
            reseller = asked.reseller_id
            title = f"Order {order.number} for {asked.organization_name} awaits your approval"
            detail = (
                f"{asked.organization_name}'s order {order.number} ({asked.order_total} EUR a month) would take its "
                f"monthly spend to {asked.amount} EUR, above its credit limit of {asked.monthly_limit} EUR. "
                "It is not sent to the vendor until you approve it: approve or reject it on the Approvals page."
            )
            wanted = app.notification_preferences(reseller).approval_requested
        else:
            log.warning("no notice for kind %s", kind)
            return
        if wanted:
            app.retrying(lambda: app.issue_notice(reseller, kind, sid, due, title, detail, SYSTEM_NOTICES))


def notice_message(app: CspApplication, notice_id: UUID) -> Message:
    """The email of a notice, to the reseller's contact address."""
    notice = app.load(Notice, notice_id, "notice")
    to = app.load(Organization, notice.reseller_id, "organization").profile.contact_email
    return Message(
        to=to,
        kind=f"notice_{notice.kind}",
        subject=notice.title,
        text=f"Hello,\n\n{notice.detail}\n\nSee every notice under Notifications in the portal.\n",
        created_at=notice.sent_at,
    )


def customer_copy(app: CspApplication, kind: str, order_id: UUID, message: Message) -> Message | None:
    """A copy of an order email for the customer's contact address, when the reseller wants it."""
    if kind not in CUSTOMER_COPIES:
        return None
    try:
        order = app.load(Order, order_id, "order")
    except NotFound:
        return None
    if not app.notification_preferences(order.reseller_id).copy_customer:
        return None
    to = app.load(Organization, order.organization_id, "organization").profile.contact_email
    if not to or to == message.to:
        return None
    return Message(
        to=to, subject=message.subject, text=message.text, kind=f"{message.kind}_customer_copy", headers=message.headers
    )
