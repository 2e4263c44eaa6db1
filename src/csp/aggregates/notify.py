"""Lifecycle notices and outbound webhooks: a reseller's notification settings, the
notices it was sent, and the HTTPS endpoints its integrations registered.

Three aggregates, each with its own lifecycle: ``NotificationSettings`` (one per reseller,
a deterministic id, like the catalog customisation), ``Notice`` (one per kind, subject and
due instant: its id is derived from them, so a notice found due twice is recorded once)
and ``WebhookEndpoint`` (one per registered URL; its own version for ``If-Match``, so two
people editing two endpoints never conflict).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, Value, deterministic_id
from csp.aggregates.errors import InvalidInput, NotFound

NoticeKind = Literal[
    "renewal_due",
    "window_closing",
    "trial_ending",
    "gdap_expiring",
    "invoice_issued",
    "provisioning_failed",
    "webhook_disabled",
    "budget_80",  # an Azure subscription's month-to-date cost reached 80 % of its budget
    "budget_100",
    "approval_requested",  # a customer user's order above its credit limit waits for the reseller
]
NOTICE_KINDS: tuple[NoticeKind, ...] = get_args(NoticeKind)

# The kinds of event an endpoint may ask for. ``customer_invoice.issued`` belongs to
# customer billing (a later feature): listed, emitted by nothing yet.
WEBHOOK_KINDS: tuple[str, ...] = (
    "order.placed",
    "order.provision_finished",
    "order.provision_failed",
    "subscription.created",
    "subscription.changed",
    "subscription.renewed",
    "subscription.suspended",
    "subscription.cancelled",
    "invoice.issued",
    "customer_invoice.issued",
    "tenant.created",
    *(f"notice.{k}" for k in NOTICE_KINDS),
)
ALL_KINDS = "*"

_MAX_DAYS = 365


def _days(field: str, values: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    out = tuple(sorted({int(v) for v in values}, reverse=True))
    if len(out) > 5:
        raise InvalidInput(field, "at most 5 values")
    for v in out:
        if v < 1 or v > _MAX_DAYS:
            raise InvalidInput(field, f"each value must be between 1 and {_MAX_DAYS} days", value=v)
    return out


@dataclass(frozen=True)
class NotificationPreferences(Value):
    """Which notices a reseller wants. An empty list, or 0, turns that kind off."""

    renewal_days: tuple[int, ...] = (30, 7)
    window_closing_hours: int = 24
    trial_ending_days: tuple[int, ...] = (7, 1)
    gdap_expiring_days: int = 30
    invoice_issued: bool = True
    provisioning_failed: bool = True
    copy_customer: bool = False  # customers get a copy of their order emails
    approval_requested: bool = True  # a customer user's order waits for approval (absent from older events: on)

    def checked(self) -> NotificationPreferences:
        if self.window_closing_hours < 0 or self.window_closing_hours > 24 * 14:
            raise InvalidInput("window_closing_hours", "must be between 0 (off) and 336 hours")
        if self.gdap_expiring_days < 0 or self.gdap_expiring_days > _MAX_DAYS:
            raise InvalidInput("gdap_expiring_days", f"must be between 0 (off) and {_MAX_DAYS} days")
        return self.replace(
            renewal_days=_days("renewal_days", self.renewal_days),
            trial_ending_days=_days("trial_ending_days", self.trial_ending_days),
        )

    def wants(self, kind: NoticeKind) -> bool:
        """Whether notices of this kind are on at all."""
        return {
            "renewal_due": bool(self.renewal_days),
            "window_closing": self.window_closing_hours > 0,
            "trial_ending": bool(self.trial_ending_days),
            "gdap_expiring": self.gdap_expiring_days > 0,
            "invoice_issued": self.invoice_issued,
            "provisioning_failed": self.provisioning_failed,
            "webhook_disabled": True,  # the reseller is always told
            "budget_80": True,  # a budget is asked for per entitlement: always told
            "budget_100": True,
            "approval_requested": self.approval_requested,
        }[kind]


class NotificationSettings(CspAggregate):
    """A reseller's notification preferences (one per reseller)."""

    class Started(CspAggregate.Created):
        reseller_id: UUID

    @event(Started)
    def __init__(self, reseller_id: UUID, actor: Actor, at: datetime) -> None:
        self.reseller_id = reseller_id
        self.preferences = NotificationPreferences()

    @staticmethod
    def create_id(reseller_id: UUID) -> UUID:
        return NotificationSettings.id_for(reseller_id)

    @staticmethod
    def id_for(reseller_id: UUID) -> UUID:
        return deterministic_id("notification-settings", reseller_id)

    class Changed(CspAggregate.Event):
        preferences: NotificationPreferences
        changed_fields: tuple[str, ...]

    def change(self, preferences: NotificationPreferences, actor: Actor, at: datetime) -> None:
        preferences = preferences.checked()
        current = self.preferences
        changed = tuple(
            f for f in NotificationPreferences.__dataclass_fields__ if getattr(preferences, f) != getattr(current, f)
        )
        if changed:
            self._change(preferences=preferences, changed_fields=changed, actor=actor, at=at)

    @event(Changed)
    def _change(
        self, preferences: NotificationPreferences, changed_fields: tuple[str, ...], actor: Actor, at: datetime
    ) -> None:
        self.preferences = preferences


def parse_notice_kind(value: str) -> NoticeKind:
    if value not in NOTICE_KINDS:
        raise InvalidInput("kind", f"must be one of {', '.join(NOTICE_KINDS)}", value=value)
    return value  # type: ignore[return-value]


def notice_id_for(reseller_id: UUID, kind: str, subject_id: UUID, due_at: datetime) -> UUID:
    """One notice per (kind, subject, due instant): the same due notice found twice is one."""
    return deterministic_id("notice", reseller_id, kind, subject_id, due_at.astimezone(UTC).isoformat())


class Notice(CspAggregate):
    """A notice sent to a reseller (in the portal, by email and as a ``notice.<kind>`` webhook)."""

    class Issued(CspAggregate.Created):
        reseller_id: UUID
        kind: str
        subject_id: UUID
        due_at: datetime
        title: str
        detail: str

    @event(Issued)
    def __init__(
        self,
        reseller_id: UUID,
        kind: str,
        subject_id: UUID,
        due_at: datetime,
        title: str,
        detail: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.reseller_id = reseller_id
        self.kind = kind
        self.subject_id = subject_id
        self.due_at = due_at
        self.title = title
        self.detail = detail
        self.sent_at = at
        self.read_at: datetime | None = None

    @staticmethod
    def create_id(reseller_id: UUID, kind: str, subject_id: UUID, due_at: datetime) -> UUID:
        return notice_id_for(reseller_id, kind, subject_id, due_at)

    @classmethod
    def issue(
        cls,
        reseller_id: UUID,
        kind: str,
        subject_id: UUID,
        due_at: datetime,
        title: str,
        detail: str,
        actor: Actor,
        at: datetime,
    ) -> Notice:
        parse_notice_kind(kind)
        return cls(
            reseller_id=reseller_id,
            kind=kind,
            subject_id=subject_id,
            due_at=due_at,
            title=title[:200],
            detail=detail[:2000],
            actor=actor,
            at=at,
        )

    class Read(CspAggregate.Event):
        pass

    def mark_read(self, actor: Actor, at: datetime) -> None:
        if self.read_at is None:
            self._read(actor=actor, at=at)

    @event(Read)
    def _read(self, actor: Actor, at: datetime) -> None:
        self.read_at = at


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: str, allow_loopback_http: bool) -> str:
    """An endpoint's URL: https only; plain http only to a loopback address, and only when
    ``allow_loopback_http`` (the test mode)."""
    url = url.strip()
    if len(url) > 2000:
        raise InvalidInput("url", "at most 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError:
        raise InvalidInput("url", "is not a valid URL", value=url) from None
    host = parts.hostname or ""
    if not host or parts.scheme not in ("https", "http"):
        raise InvalidInput("url", "must be an https:// URL with a host", value=url)
    if parts.username or parts.password:
        raise InvalidInput("url", "must not carry credentials (the signature authenticates each delivery)")
    if parts.fragment:
        raise InvalidInput("url", "must not have a #fragment")
    if parts.scheme == "http":
        if not allow_loopback_http:
            raise InvalidInput("url", "must use https", value=url)
        if not _loopback(host):
            raise InvalidInput("url", "plain http is only allowed to a loopback address in test mode", value=url)
    del port
    return url


def check_webhook_kinds(kinds: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if not kinds:
        raise InvalidInput("events", 'name at least one kind (or "*" for all)')
    out = tuple(dict.fromkeys(kinds))
    for k in out:
        if k != ALL_KINDS and k not in WEBHOOK_KINDS:
            raise InvalidInput("events", f"unknown kind {k!r} (GET /webhooks/kinds lists them)", value=k)
    return (ALL_KINDS,) if ALL_KINDS in out else out


class WebhookEndpoint(CspAggregate):
    """An HTTPS endpoint of the reseller's integration, and the kinds of event it wants.

    Its ``whsec_`` secret signs each delivery (Standard Webhooks), so the platform must
    read it back: the application seals it (AES-GCM, ``csp.application.sealing``, bound to
    the endpoint's id) before it reaches this aggregate, which keeps only the sealed value
    (``sealed_secret``); the delivery worker opens it to sign. Events stored before that
    (version 1) carry the secret in plain text: upcast, it reads as a legacy plain value,
    which still signs. The secret is shown to the user once, when registered.
    """

    class Registered(CspAggregate.Created):
        reseller_id: UUID
        url: str
        events: tuple[str, ...]
        sealed_secret: str
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["sealed_secret"] = state.pop("secret")  # plain text then: opened as it is

    @event(Registered)
    def __init__(
        self, reseller_id: UUID, url: str, events: tuple[str, ...], sealed_secret: str, actor: Actor, at: datetime
    ) -> None:
        self.reseller_id = reseller_id
        self.url = url
        self.events = events
        self.sealed_secret = sealed_secret
        self.enabled = True
        self.disabled_reason = ""
        self.deleted = False
        self.created_at = at

    @classmethod
    def register(
        cls,
        id: UUID,
        reseller_id: UUID,
        url: str,
        events: tuple[str, ...] | list[str],
        sealed_secret: str,
        actor: Actor,
        at: datetime,
        allow_loopback_http: bool = False,
    ) -> WebhookEndpoint:
        """``sealed_secret``: the signing secret as the application sealed it for ``id``."""
        return cls._create(
            cls.Registered,
            id=id,
            reseller_id=reseller_id,
            url=check_webhook_url(url, allow_loopback_http),
            events=check_webhook_kinds(events),
            sealed_secret=sealed_secret,
            actor=actor,
            at=at,
        )

    def wants(self, kind: str) -> bool:
        return self.enabled and not self.deleted and (ALL_KINDS in self.events or kind in self.events)

    def _require_live(self) -> None:
        if self.deleted:
            raise NotFound("webhook", self.id)

    class Changed(CspAggregate.Event):
        url: str
        events: tuple[str, ...]
        enabled: bool

    def change(
        self,
        actor: Actor,
        at: datetime,
        url: str | None = None,
        events: tuple[str, ...] | list[str] | None = None,
        enabled: bool | None = None,
        allow_loopback_http: bool = False,
    ) -> None:
        self._require_live()
        new_url = check_webhook_url(url, allow_loopback_http) if url is not None else self.url
        new_events = check_webhook_kinds(events) if events is not None else self.events
        new_enabled = self.enabled if enabled is None else enabled
        if (new_url, new_events, new_enabled) != (self.url, self.events, self.enabled):
            self._change(url=new_url, events=new_events, enabled=new_enabled, actor=actor, at=at)

    @event(Changed)
    def _change(self, url: str, events: tuple[str, ...], enabled: bool, actor: Actor, at: datetime) -> None:
        self.url = url
        self.events = events
        if enabled and not self.enabled:
            self.disabled_reason = ""
        self.enabled = enabled

    class Disabled(CspAggregate.Event):
        reason: str

    def disable(self, reason: str, actor: Actor, at: datetime) -> None:
        """Turned off by the platform (its deliveries kept failing); the reseller is told."""
        self._require_live()
        if self.enabled:
            self._disable(reason=reason[:500], actor=actor, at=at)

    @event(Disabled)
    def _disable(self, reason: str, actor: Actor, at: datetime) -> None:
        self.enabled = False
        self.disabled_reason = reason

    class Deleted(CspAggregate.Event):
        pass

    def delete(self, actor: Actor, at: datetime) -> None:
        self._require_live()
        self._delete(actor=actor, at=at)

    @event(Deleted)
    def _delete(self, actor: Actor, at: datetime) -> None:
        self.deleted = True
        self.enabled = False
