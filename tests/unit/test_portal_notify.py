"""The portal's Notifications, notification settings and Webhooks pages, without
JavaScript (plain forms), over a real system on SQLite."""

from __future__ import annotations

import re

from fastapi import FastAPI

from tests.fixtures.api import Account
from tests.support import ACTOR
from tests.unit.test_portal_pages import Browser, boss, log_in

__all__ = ["boss"]  # the fixture, imported


def test_notices_are_listed_counted_in_the_nav_and_marked_read(boss: Browser, account: Account):
    core = account.system.app
    n = core.issue_notice(
        account.reseller_id,
        "invoice_issued",
        account.reseller_id,
        core.now(),
        "Invoice CSP-1 issued",
        "Total 10",
        ACTOR,
    )
    assert n is not None
    account.system.projector.sync(5)  # type: ignore[union-attr]
    html = boss.page("/notifications")
    assert "NOTIFICATIONS (1)" in html
    assert "Invoice CSP-1 issued" in html
    boss.submit(f"/notifications/{n.id}/read", {})
    html = boss.page("/notifications")
    assert "NOTIFICATIONS (1)" not in html
    assert "Mark read" not in html


def test_the_notification_settings_form_saves_and_says_what_is_wrong(boss: Browser, account: Account):
    html = boss.page("/settings/notifications")
    assert 'value="30, 7"' in html
    r = boss.submit(
        "/settings/notifications",
        {"renewal_days": "60, x", "window_closing_hours": "24", "trial_ending_days": "7", "gdap_expiring_days": "30"},
        status=422,
    )
    assert "whole numbers of days" in r.text
    boss.submit(
        "/settings/notifications",
        {
            "renewal_days": "60",
            "window_closing_hours": "0",
            "trial_ending_days": "",
            "gdap_expiring_days": "30",
            "copy_customer": "on",
        },
    )
    prefs = account.system.app.notification_preferences(account.reseller_id)
    assert (prefs.renewal_days, prefs.window_closing_hours, prefs.trial_ending_days) == ((60,), 0, ())
    assert (prefs.copy_customer, prefs.invoice_issued) == (True, False)


def test_a_webhook_is_registered_its_secret_shown_once_disabled_and_deleted(
    boss: Browser, account: Account, api_app: FastAPI
):
    boss.page("/webhooks")
    r = boss.submit("/webhooks", {"url": "http://psa.example.com/in", "events": ["order.placed"]}, status=422)
    assert "https" in r.text
    r = boss.submit(
        "/webhooks", {"url": "https://psa.example.com/in", "events": ["order.placed", "invoice.issued"]}, 201
    )
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", r.text)
    assert secret
    account.system.projector.sync(5)  # type: ignore[union-attr]
    html = boss.page("/webhooks")
    assert "https://psa.example.com/in" in html
    assert secret.group(0) not in html  # shown once only
    wid = re.search(r'href="/webhooks/([0-9a-f-]{36})"', html).group(1)  # type: ignore[union-attr]
    html = boss.page(f"/webhooks/{wid}")
    assert "No delivery yet." in html
    boss.submit(f"/webhooks/{wid}/enabled", {"enabled": "0"})
    assert "Disabled" in boss.page(f"/webhooks/{wid}")
    boss.submit(f"/webhooks/{wid}/delete", {})
    boss.page(f"/webhooks/{wid}", status=404)
    # a read-only user sees the list, without the form
    account.invite("ro@example.com", "read_only", account.reseller_id)
    ro = log_in(api_app, "ro@example.com")
    html = ro.page("/webhooks")
    assert "Register an endpoint" not in html
