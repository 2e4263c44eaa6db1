"""The home page after sign-in, with the test clock: what needs attention (seats whose 7-day
window closes in the next 48 hours, renewals in the next 30 days, failed orders, tenants
being verified), this month's spend and margin, and a customer user's own page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from uuid import UUID

import pytest
from fastapi import FastAPI

from tests.fixtures.api import PASSWORD, Account
from tests.support import BUSINESS_PREMIUM
from tests.unit.test_portal_pages import Browser, active_subscription, log_in, ready_customer


@pytest.fixture
def boss(api_app: FastAPI, account: Account) -> Browser:
    return log_in(api_app, account.email)


def section(html: str, name: str) -> str:
    found = re.search(
        rf'<section class="card[^"]*" aria-labelledby="[^"]+" data-home="{name}">(.*?)</section>', html, re.S
    )
    return found.group(1) if found else ""


def move_clock(account: Account, to: datetime) -> None:
    """The test clock moved (the stored offset every process reads); the due work it would
    run through ``POST /test/clock`` is not what these pages are about."""
    account.system.clock.set(to)  # type: ignore[attr-defined]
    assert account.system.app.now() >= to
    assert account.system.projector is not None
    account.system.projector.sync(5)


def test_signing_in_lands_on_home(api_app: FastAPI, account: Account):
    b = Browser(api_app)
    b.page("/login")
    r = b.submit("/login", {"email": account.email, "password": PASSWORD, "next": ""})
    assert r.headers["location"] == "/home"
    assert "Nothing needs your attention now." in b.page("/home")


def test_home_shows_seats_whose_window_closes_in_48_hours_then_not(boss: Browser, account: Account):
    # given 3 licences bought now (their 7-day window closes in 168 hours)
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    bought = datetime.fromisoformat(account.boss.ok("GET", "/test/clock")["now"])
    assert section(boss.page("/home"), "windows") == "", "7 days left: not yet"
    # when the clock is 6 days later, 24 hours are left: the home page says so
    move_clock(account, bought + timedelta(days=6))
    windows = section(boss.page("/home"), "windows")
    assert f'href="/subscriptions/{sub_id}"' in windows
    assert "<strong>3</strong> licences until" in windows
    # and after the window closed, it is gone
    move_clock(account, bought + timedelta(days=7, minutes=1))
    assert section(boss.page("/home"), "windows") == ""


def test_home_lists_renewals_in_the_next_30_days(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    ends = datetime.fromisoformat(account.boss.ok("GET", f"/subscriptions/{sub_id}")["ends_at"])
    assert section(boss.page("/home"), "renewals") == ""
    move_clock(account, ends - timedelta(days=10))
    renewals = section(boss.page("/home"), "renewals")
    assert f'href="/subscriptions/{sub_id}"' in renewals
    assert f"renews {ends:%d.%m.%Y}" in renewals
    # with auto-renew off it is not a renewal
    account.boss.ok("PUT", f"/subscriptions/{sub_id}/auto-renew", json={"auto_renew": False})
    assert account.system.projector is not None
    account.system.projector.sync(5)
    assert section(boss.page("/home"), "renewals") == ""


def test_home_lists_failed_orders_and_tenants_being_verified(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    order = account.boss.ok("POST", f"/organizations/{org}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant, "quantity": 2, "billing_cycle": "monthly"}
    account.boss.ok("POST", f"/orders/{order['id']}/lines", 201, json=line)
    account.boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    app = account.system.app
    app.start_provisioning(UUID(order["id"]))
    app.fail_provisioning(UUID(order["id"]), "the vendor is down", 1)
    pending = account.boss.ok(
        "POST", f"/organizations/{org}/tenants", 202, json={"domain": "fabrikamhome", "mode": "create"}
    )
    assert account.system.projector is not None
    account.system.projector.sync(5)
    html = boss.page("/home")
    orders = section(html, "orders")
    assert f'href="/orders/{order["id"]}"' in orders
    assert "Provision failed" in orders
    assert "Contoso SRL" in orders
    tenants = section(html, "tenants")
    assert "fabrikamhome" in tenants
    assert pending["status"] in ("requested", "verifying")
    # 31 days later the failure is old news
    now = datetime.fromisoformat(account.boss.ok("GET", "/test/clock")["now"])
    move_clock(account, now + timedelta(days=31))
    assert f'href="/orders/{order["id"]}"' not in section(boss.page("/home"), "orders")


def test_home_shows_this_months_spend_and_margin(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    active_subscription(account, org, tenant, 3)
    html = boss.page("/home")
    money = section(html, "money") or html[html.index('data-home="money"') :]
    spend = re.search(r'data-home="spend">([\d.]+) EUR', money)
    margin = re.search(r'data-home="margin">([\d.]+) EUR', money)
    assert spend
    assert margin
    # 3 licences billed monthly: the first month charged at purchase, 3 × 14.16 partner price,
    # 3 × 14.87 customer price (the default 5 % markup)
    assert (spend.group(1), margin.group(1)) == ("42.48", f"{3 * 14.87 - 42.48:.2f}")
    assert 'id="chart-home-money-t"' in money


def test_a_customer_user_sees_its_own_subscriptions_and_orders(api_app: FastAPI, account: Account):
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    account.invite("buyer@contoso.example", "customer_admin", org)
    customer = log_in(api_app, "buyer@contoso.example")
    html = customer.page("/home")
    assert "Your subscriptions" in html
    assert f'href="/subscriptions/{sub_id}"' in html
    assert "Your latest orders" in html
    assert 'data-home="money"' not in html, "no partner prices or margins for a customer"
