"""The portal's Notifications (list, mark read; the unread count is in the top bar), the
notification settings form, and Webhooks (register, the secret shown once, enable or
disable, delete, deliveries with their attempts, replay). Plain forms: no JavaScript."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.errors import CspError, NotFound
from csp.aggregates.notify import WEBHOOK_KINDS, NotificationPreferences
from csp.api.deps import WebhooksDep
from csp.api.pages.web import Page, page_for

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]


# --- notices ---------------------------------------------------------------------------


@router.get("/notifications")
def notifications(page: PageDep) -> Response:
    caller = page.allow("notifications.read")
    read = page.read_models()
    unread_only = page.request.query_params.get("unread") == "1"
    paging = page.paging()
    found = read.notices(caller.reseller_id, unread_only, paging.limit, paging.offset)
    return page.render(
        "notifications.html",
        title="Notifications",
        notices=found.items,
        paging=paging.of(found.total),
        unread_only=unread_only,
        unread=read.unread_notices(caller.reseller_id),
        can_write=page.may("notifications.write"),
    )


@router.post("/notifications/{notice_id}/read")
def mark_read(notice_id: UUID, page: PageDep) -> Response:
    caller = page.allow("notifications.write")
    page.commands.run(lambda: page.app.mark_notice_read(notice_id, caller.reseller_id, caller.actor))
    return page.redirect("/notifications", "Marked as read.")


def _days(page: Page, name: str) -> tuple[int, ...]:
    raw = page.value(name).replace(";", ",")
    out = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if not part.isdigit():
            page.errors[name] = "give whole numbers of days separated by commas, e.g. 30, 7"
            return ()
        out.append(int(part))
    return tuple(out)


def _settings(page: Page, status_code: int = 200) -> Response:
    caller = page.allow("settings.read")
    return page.render(
        "notification_settings.html",
        status_code=status_code,
        title="Notification settings",
        prefs=page.app.notification_preferences(caller.reseller_id),
        can_write=page.may("settings.write"),
    )


@router.get("/settings/notifications")
def notification_settings(page: PageDep) -> Response:
    return _settings(page)


@router.post("/settings/notifications")
def save_notification_settings(page: PageDep) -> Response:
    caller = page.allow("settings.write")
    renewal_days = _days(page, "renewal_days")
    trial_days = _days(page, "trial_ending_days")
    hours = page.integer("window_closing_hours", 0, 0, 336)
    gdap = page.integer("gdap_expiring_days", 0, 0, 365)
    if page.errors:
        return _settings(page, 422)
    prefs = NotificationPreferences(
        renewal_days=renewal_days,
        window_closing_hours=hours or 0,
        trial_ending_days=trial_days,
        gdap_expiring_days=gdap or 0,
        invoice_issued=page.checked("invoice_issued"),
        provisioning_failed=page.checked("provisioning_failed"),
        copy_customer=page.checked("copy_customer"),
        approval_requested=page.checked("approval_requested"),
    )
    try:
        page.commands.run(lambda: page.app.change_notification_preferences(caller.reseller_id, prefs, caller.actor))
    except CspError as e:
        page.fail(e)
        return _settings(page, 422)
    return page.redirect("/settings/notifications", "Notification settings saved.")


# --- webhooks --------------------------------------------------------------------------


def _webhooks(page: Page, status_code: int = 200, secret: str | None = None) -> Response:
    caller = page.allow("webhooks.read")
    found = page.read_models().webhooks(caller.reseller_id, 200, 0)
    return page.render(
        "webhooks.html",
        status_code=status_code,
        title="Webhooks",
        webhooks=found.items,
        kinds=WEBHOOK_KINDS,
        secret=secret,
        can_write=page.may("webhooks.write"),
    )


@router.get("/webhooks")
def webhooks(page: PageDep) -> Response:
    return _webhooks(page)


@router.post("/webhooks")
def register_webhook(page: PageDep) -> Response:
    caller = page.allow("webhooks.write")
    url = page.required("url", "enter the https:// address of your endpoint")
    events = page.values("events") or []
    if not events:
        page.errors["events"] = "choose at least one kind (or all)"
    if page.errors:
        return _webhooks(page, 422)
    try:
        created = page.commands.run(
            lambda: page.app.register_webhook(
                caller.reseller_id, url, events, caller.actor, allow_loopback_http=page.settings.test_mode
            )
        )
    except CspError as e:
        page.fail(e)
        return _webhooks(page, 422)
    page.form = None
    # the secret, this once: the page that answers the form shows it, nothing stores it for display
    return _webhooks(page, 201, secret=created.secret)


@router.get("/webhooks/{webhook_id}")
def webhook(webhook_id: UUID, page: PageDep, hooks: WebhooksDep) -> Response:
    caller = page.allow("webhooks.read")
    endpoint = page.app.webhook(webhook_id, caller.reseller_id)
    paging = page.paging()
    found, total = hooks.deliveries(webhook_id, paging.limit, paging.offset)
    return page.render(
        "webhook.html",
        title="Webhook",
        endpoint=endpoint,
        deliveries=found,
        paging=paging.of(total),
        can_write=page.may("webhooks.write"),
    )


@router.post("/webhooks/{webhook_id}/enabled")
def set_enabled(webhook_id: UUID, page: PageDep) -> Response:
    caller = page.allow("webhooks.write")
    enabled = page.value("enabled") == "1"
    page.commands.run(lambda: page.app.change_webhook(webhook_id, caller.reseller_id, caller.actor, enabled=enabled))
    return page.redirect(f"/webhooks/{webhook_id}", "Enabled." if enabled else "Disabled.")


@router.post("/webhooks/{webhook_id}/delete")
def delete(webhook_id: UUID, page: PageDep) -> Response:
    caller = page.allow("webhooks.write")
    page.commands.run(lambda: page.app.delete_webhook(webhook_id, caller.reseller_id, caller.actor))
    return page.redirect("/webhooks", "Webhook deleted.")


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/replay")
def replay(webhook_id: UUID, delivery_id: UUID, page: PageDep, hooks: WebhooksDep) -> Response:
    caller = page.allow("webhooks.write")
    endpoint = page.app.webhook(webhook_id, caller.reseller_id)
    d = hooks.delivery(delivery_id)
    if d is None or d.endpoint_id != endpoint.id:
        raise NotFound("delivery", delivery_id)
    hooks.replay(delivery_id)
    return page.redirect(f"/webhooks/{webhook_id}", "Delivery queued again (same webhook-id).")
