"""Notification and webhook commands: a reseller's notice preferences, notices (recorded
once each), marking one read, and registering, changing, disabling and deleting webhook
endpoints."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from csp.aggregates.base import Actor
from csp.aggregates.errors import NotFound
from csp.aggregates.notify import (
    Notice,
    NotificationPreferences,
    NotificationSettings,
    WebhookEndpoint,
    notice_id_for,
)
from csp.application.base import CspApplicationBase
from csp.application.sealing import SecretBox, SecretsUnavailable


def new_webhook_secret() -> str:
    """``whsec_`` + base64 of 24 random bytes, as Standard Webhooks' secrets look."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True)
class NewWebhook:
    """A registered endpoint and its signing secret in plain text, shown this once."""

    endpoint: WebhookEndpoint
    secret: str


class NotifyCommands(CspApplicationBase):
    # --- preferences ---------------------------------------------------------------

    def notification_preferences(self, reseller_id: UUID) -> NotificationPreferences:
        found = self.find(NotificationSettings, NotificationSettings.id_for(reseller_id), "notification_settings")
        return found.preferences if found is not None else NotificationPreferences()

    def change_notification_preferences(
        self, reseller_id: UUID, preferences: NotificationPreferences, actor: Actor
    ) -> NotificationSettings:
        sid = NotificationSettings.id_for(reseller_id)
        settings = self.find(NotificationSettings, sid, "notification_settings") or NotificationSettings(
            reseller_id=reseller_id, actor=actor, at=self.now()
        )
        settings.change(preferences, actor=actor, at=self.now())
        self.save(settings)
        return settings

    # --- notices -------------------------------------------------------------------

    def issue_notice(
        self,
        reseller_id: UUID,
        kind: str,
        subject_id: UUID,
        due_at: datetime,
        title: str,
        detail: str,
        actor: Actor,
    ) -> Notice | None:
        """Record a notice once: None when this (kind, subject, due instant) has one already."""
        if self.exists(notice_id_for(reseller_id, kind, subject_id, due_at)):
            return None
        notice = Notice.issue(reseller_id, kind, subject_id, due_at, title, detail, actor=actor, at=self.now())
        try:
            self.save(notice)
        except Exception:
            if self.exists(notice.id):  # a concurrent run recorded it first
                return None
            raise
        return notice

    def notice(self, notice_id: UUID, reseller_id: UUID) -> Notice:
        notice = self.load(Notice, notice_id, "notice")
        if notice.reseller_id != reseller_id:
            raise NotFound("notice", notice_id)
        return notice

    def mark_notice_read(self, notice_id: UUID, reseller_id: UUID, actor: Actor) -> Notice:
        notice = self.notice(notice_id, reseller_id)
        notice.mark_read(actor=actor, at=self.now())
        self.save(notice)
        return notice

    # --- webhook endpoints ----------------------------------------------------------

    def webhook(self, webhook_id: UUID, reseller_id: UUID | None = None) -> WebhookEndpoint:
        """An endpoint (404 when deleted, or another reseller's)."""
        endpoint = self.load(WebhookEndpoint, webhook_id, "webhook")
        if endpoint.deleted or (reseller_id is not None and endpoint.reseller_id != reseller_id):
            raise NotFound("webhook", webhook_id)
        return endpoint

    def _secrets(self) -> SecretBox:
        if self.secrets is None:
            raise SecretsUnavailable(
                "this process has no secret key (CSP_SECRET_KEY): webhook secrets cannot be sealed", field="secret"
            )
        return self.secrets

    def register_webhook(
        self,
        reseller_id: UUID,
        url: str,
        events: list[str],
        actor: Actor,
        *,
        enabled: bool = True,
        allow_loopback_http: bool = False,
    ) -> NewWebhook:
        """Register an endpoint: its new secret is sealed before it reaches the event."""
        endpoint_id, secret = uuid4(), new_webhook_secret()
        endpoint = WebhookEndpoint.register(
            endpoint_id,
            reseller_id,
            url,
            events,
            self._secrets().seal(secret, endpoint_id.bytes),
            actor=actor,
            at=self.now(),
            allow_loopback_http=allow_loopback_http,
        )
        if not enabled:
            endpoint.change(actor=actor, at=self.now(), enabled=False)
        self.save(endpoint)
        return NewWebhook(endpoint, secret)

    def webhook_signing_secret(self, endpoint: WebhookEndpoint) -> str:
        """The endpoint's secret, opened to sign a delivery (a plain one stored before
        sealing existed is returned as it is)."""
        return self._secrets().open(endpoint.sealed_secret, endpoint.id.bytes)

    def change_webhook(
        self,
        webhook_id: UUID,
        reseller_id: UUID,
        actor: Actor,
        *,
        url: str | None = None,
        events: list[str] | None = None,
        enabled: bool | None = None,
        expected_version: int | None = None,
        allow_loopback_http: bool = False,
    ) -> WebhookEndpoint:
        self.webhook(webhook_id, reseller_id)
        endpoint = self.load_for_update(WebhookEndpoint, webhook_id, "webhook", expected_version)
        endpoint.change(
            actor=actor, at=self.now(), url=url, events=events, enabled=enabled, allow_loopback_http=allow_loopback_http
        )
        self.save(endpoint)
        return endpoint

    def disable_webhook(self, webhook_id: UUID, reason: str, actor: Actor) -> WebhookEndpoint:
        endpoint = self.load(WebhookEndpoint, webhook_id, "webhook")
        endpoint.disable(reason, actor=actor, at=self.now())
        self.save(endpoint)
        return endpoint

    def delete_webhook(
        self, webhook_id: UUID, reseller_id: UUID, actor: Actor, expected_version: int | None = None
    ) -> WebhookEndpoint:
        self.webhook(webhook_id, reseller_id)
        endpoint = self.load_for_update(WebhookEndpoint, webhook_id, "webhook", expected_version)
        endpoint.delete(actor=actor, at=self.now())
        self.save(endpoint)
        return endpoint
