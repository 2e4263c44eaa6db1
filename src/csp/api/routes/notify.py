"""Notifications and webhooks: the reseller's notices and their settings, its webhook
endpoints, their deliveries with attempts, and replaying one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from csp.aggregates.errors import NotFound
from csp.aggregates.notify import NOTICE_KINDS, WEBHOOK_KINDS, NotificationPreferences, WebhookEndpoint
from csp.api.deps import (
    AppDep,
    CommandsDep,
    IfMatch,
    Limit,
    NotificationsReader,
    NotificationsWriter,
    Offset,
    ReadModelsDep,
    SettingsDep,
    SettingsReader,
    SettingsWriter,
    WebhooksDep,
    WebhooksReader,
    WebhooksWriter,
)
from csp.api.lists import NOT_MODIFIED, list_response
from csp.api.routes.organizations import etag
from csp.api.schemas import In, Page

router = APIRouter(tags=["notifications"])

Days = Annotated[list[Annotated[int, Field(ge=1, le=365)]], Field(max_length=5)]


# --- schemas ---------------------------------------------------------------------------


class NoticePublic(BaseModel):
    id: UUID
    kind: str
    subject_id: UUID
    due_at: datetime
    sent_at: datetime
    read_at: datetime | None
    title: str
    detail: str


class NoticesPublic(Page[NoticePublic]):
    unread: int = 0


class NotificationSettingsPublic(BaseModel):
    renewal_days: list[int]
    window_closing_hours: int
    trial_ending_days: list[int]
    gdap_expiring_days: int
    invoice_issued: bool
    provisioning_failed: bool
    copy_customer: bool
    approval_requested: bool = True  # a customer user's order over its credit limit waits


class NotificationSettingsUpdate(In):
    """Fields left out keep their value; an empty list (or 0) turns that kind off."""

    renewal_days: Days | None = None
    window_closing_hours: Annotated[int, Field(ge=0, le=336)] | None = None
    trial_ending_days: Days | None = None
    gdap_expiring_days: Annotated[int, Field(ge=0, le=365)] | None = None
    invoice_issued: bool | None = None
    provisioning_failed: bool | None = None
    copy_customer: bool | None = None
    approval_requested: bool | None = None


class WebhookCreate(In):
    url: Annotated[str, Field(min_length=1, max_length=2000)]
    events: Annotated[list[Annotated[str, Field(max_length=100)]], Field(min_length=1, max_length=50)]
    enabled: bool = True


class WebhookUpdate(In):
    url: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    events: Annotated[list[Annotated[str, Field(max_length=100)]], Field(min_length=1, max_length=50)] | None = None
    enabled: bool | None = None


class WebhookPublic(BaseModel):
    id: UUID
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str
    created_at: datetime
    version: int


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="shown once: whsec_ + base64, the key of every delivery's signature")


class WebhooksPublic(Page[WebhookPublic]):
    pass


class WebhookKindsPublic(BaseModel):
    items: list[str]
    total: int
    notice_kinds: list[str]


class AttemptPublic(BaseModel):
    at: datetime
    status_code: int | None
    error: str


class DeliveryPublic(BaseModel):
    id: UUID
    event_id: UUID
    kind: str
    status: Literal["pending", "delivered", "failed"]
    created_at: datetime
    finished_at: datetime | None
    attempts: list[AttemptPublic]


class DeliveriesPublic(Page[DeliveryPublic]):
    pass


class ReplayPublic(BaseModel):
    delivery: DeliveryPublic
    replay: Literal["enqueued", "requested"]


# --- presenters ------------------------------------------------------------------------


def _prefs_public(p: NotificationPreferences) -> NotificationSettingsPublic:
    return NotificationSettingsPublic(
        renewal_days=list(p.renewal_days),
        window_closing_hours=p.window_closing_hours,
        trial_ending_days=list(p.trial_ending_days),
        gdap_expiring_days=p.gdap_expiring_days,
        invoice_issued=p.invoice_issued,
        provisioning_failed=p.provisioning_failed,
        copy_customer=p.copy_customer,
        approval_requested=p.approval_requested,
    )


def _webhook_public(e: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": e.id,
        "url": e.url,
        "events": list(e.events),
        "enabled": e.enabled,
        "disabled_reason": e.disabled_reason,
        "created_at": e.created_at,
        "version": e.version,
    }


def _delivery_public(d: Any) -> DeliveryPublic:
    return DeliveryPublic(
        id=d.id,
        event_id=d.event_id,
        kind=d.kind,
        status=d.status,
        created_at=d.created_at,
        finished_at=d.finished_at,
        attempts=[AttemptPublic(at=a.at, status_code=a.status_code, error=a.error) for a in d.attempts],
    )


# --- notices ---------------------------------------------------------------------------


@router.get("/notifications", response_model=NoticesPublic, responses=NOT_MODIFIED)
def notifications(
    caller: NotificationsReader,
    read: ReadModelsDep,
    request: Request,
    unread: Annotated[bool, Query(description="only the notices not read yet")] = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """The reseller's notices, newest first; ``unread``: how many are not read yet."""
    page = read.notices(caller.reseller_id, unread, limit, offset)
    return list_response(
        request, {"items": page.items, "total": page.total, "unread": read.unread_notices(caller.reseller_id)}
    )


@router.post("/notifications/{notice_id}/read", response_model=NoticePublic)
def mark_read(notice_id: UUID, caller: NotificationsWriter, app: AppDep, commands: CommandsDep) -> NoticePublic:
    n = commands.run(lambda: app.mark_notice_read(notice_id, caller.reseller_id, caller.actor))
    return NoticePublic(
        id=n.id,
        kind=n.kind,
        subject_id=n.subject_id,
        due_at=n.due_at,
        sent_at=n.sent_at,
        read_at=n.read_at,
        title=n.title,
        detail=n.detail,
    )


@router.get("/settings/notifications", response_model=NotificationSettingsPublic)
def get_notification_settings(caller: SettingsReader, app: AppDep) -> NotificationSettingsPublic:
    return _prefs_public(app.notification_preferences(caller.reseller_id))


@router.put("/settings/notifications", response_model=NotificationSettingsPublic)
def put_notification_settings(
    body: NotificationSettingsUpdate, caller: SettingsWriter, app: AppDep, commands: CommandsDep
) -> NotificationSettingsPublic:
    current = app.notification_preferences(caller.reseller_id)
    changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in body.model_dump(exclude_none=True).items()}
    settings = commands.run(
        lambda: app.change_notification_preferences(caller.reseller_id, current.replace(**changes), caller.actor)
    )
    return _prefs_public(settings.preferences)


# --- webhook endpoints -------------------------------------------------------------------


@router.get("/webhooks/kinds", response_model=WebhookKindsPublic)
def webhook_kinds(caller: WebhooksReader) -> WebhookKindsPublic:
    """Every kind an endpoint may ask for (``["*"]`` asks for all)."""
    return WebhookKindsPublic(items=list(WEBHOOK_KINDS), total=len(WEBHOOK_KINDS), notice_kinds=list(NOTICE_KINDS))


@router.get("/webhooks", response_model=WebhooksPublic, responses=NOT_MODIFIED)
def webhooks(
    caller: WebhooksReader, read: ReadModelsDep, request: Request, limit: Limit = 50, offset: Offset = 0
) -> Response:
    return list_response(request, read.webhooks(caller.reseller_id, limit, offset))


@router.post("/webhooks", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated)
def create_webhook(
    body: WebhookCreate,
    caller: WebhooksWriter,
    app: AppDep,
    commands: CommandsDep,
    settings: SettingsDep,
    response: Response,
) -> WebhookCreated:
    """Register an endpoint: the answer carries its signing ``secret``, shown this once."""
    created = commands.run(
        lambda: app.register_webhook(
            caller.reseller_id,
            body.url,
            body.events,
            caller.actor,
            enabled=body.enabled,
            allow_loopback_http=settings.test_mode,
        )
    )
    etag(response, created.endpoint.version)
    return WebhookCreated(**_webhook_public(created.endpoint), secret=created.secret)


@router.get("/webhooks/{webhook_id}", response_model=WebhookPublic)
def get_webhook(webhook_id: UUID, caller: WebhooksReader, app: AppDep, response: Response) -> WebhookPublic:
    e = app.webhook(webhook_id, caller.reseller_id)
    etag(response, e.version)
    return WebhookPublic(**_webhook_public(e))


@router.patch("/webhooks/{webhook_id}", response_model=WebhookPublic)
def patch_webhook(
    webhook_id: UUID,
    body: WebhookUpdate,
    caller: WebhooksWriter,
    app: AppDep,
    commands: CommandsDep,
    settings: SettingsDep,
    version: IfMatch,
    response: Response,
) -> WebhookPublic:
    """Change the URL or kinds, or enable (again) / disable it."""
    e = commands.run(
        lambda: app.change_webhook(
            webhook_id,
            caller.reseller_id,
            caller.actor,
            url=body.url,
            events=body.events,
            enabled=body.enabled,
            expected_version=version,
            allow_loopback_http=settings.test_mode,
        )
    )
    etag(response, e.version)
    return WebhookPublic(**_webhook_public(e))


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(
    webhook_id: UUID, caller: WebhooksWriter, app: AppDep, commands: CommandsDep, version: IfMatch
) -> Response:
    commands.run(lambda: app.delete_webhook(webhook_id, caller.reseller_id, caller.actor, version))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveriesPublic)
def deliveries(
    webhook_id: UUID,
    caller: WebhooksReader,
    app: AppDep,
    hooks: WebhooksDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DeliveriesPublic:
    """The endpoint's deliveries, newest first, each with its attempts."""
    app.webhook(webhook_id, caller.reseller_id)
    found, total = hooks.deliveries(webhook_id, limit, offset)
    return DeliveriesPublic(items=[_delivery_public(d) for d in found], total=total)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplayPublic,
)
def replay(
    webhook_id: UUID, delivery_id: UUID, caller: WebhooksWriter, app: AppDep, hooks: WebhooksDep
) -> ReplayPublic:
    """Send a delivery again: the same webhook-id and body (receivers de-duplicate by the id)."""
    endpoint = app.webhook(webhook_id, caller.reseller_id)
    d = hooks.delivery(delivery_id)
    if d is None or d.endpoint_id != endpoint.id:
        raise NotFound("delivery", delivery_id)
    how = hooks.replay(delivery_id)
    return ReplayPublic(delivery=_delivery_public(hooks.delivery(delivery_id)), replay=how)  # type: ignore[arg-type]
