"""Small commerce defects of issue 12, each with its own test: the cancel refusal names the
base's own blocking seats, the ended subscriptions' money on the portal, the demo's
pending invitation, and the primary contact's sign-in method refused by its field."""

from __future__ import annotations

import email
import email.policy
import io
import re
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from fastapi import FastAPI
from rich.console import Console

from csp.aggregates.errors import OutsideCancellationWindow
from csp.api.demo import Demo
from csp.bootstrap import bootstrap
from csp.clock import SettableClock
from tests.fixtures.api import Account, Client, set_settings
from tests.fixtures.sagas import fast_settings
from tests.support import ACTOR, BUSINESS_PREMIUM, TEAMS_PHONE, World, make_world, memory_app
from tests.unit.test_portal_pages import log_in

WINDOW = timedelta(hours=168)


@pytest.fixture
def world(clock: SettableClock) -> World:
    return make_world(memory_app(clock), clock)


# --- the cancel refusal names the base's own seats ---------------------------------------


def test_a_cancel_refused_by_the_bases_own_seats_names_the_base(world: World):
    base = world.buy(quantity=4)
    addon = world.app.add_subscription_addon(base.id, TEAMS_PHONE, 2, actor=ACTOR)
    world.clock.advance(WINDOW + timedelta(minutes=1))  # every seat, the add-on's too, is outside its window
    with pytest.raises(OutsideCancellationWindow) as e:
        world.app.cancel_subscription(base.id, actor=ACTOR)
    assert e.value.details["subscription_id"] == str(base.id)
    assert (e.value.details["quantity"], e.value.details["refundable"]) == (4, 0)
    assert "add-on" not in e.value.message
    assert world.sub(addon.id).status == "active"


# --- ended subscriptions show no money on the portal ------------------------------------


def test_the_subscriptions_page_shows_an_ended_subscription_at_no_cost_and_says_so(api_app: FastAPI, account: Account):
    org = account.customer()["id"]
    tenant = account.ready_tenant(org)
    b = account.boss
    order = b.ok("POST", f"/organizations/{org}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 2, "markup_percent": "5"}
    b.ok("POST", f"/orders/{order['id']}/lines", 201, json={**line, "billing_cycle": "monthly", "term": "annual"})
    b.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    account.provision(order["id"])
    sid = b.ok("GET", f"/orders/{order['id']}")["subscription_ids"][0]
    b.ok("POST", f"/subscriptions/{sid}/cancel")
    row = b.ok("GET", f"/organizations/{org}/subscriptions")["items"][0]
    assert (row["status"], row["unit_cost"], row["monthly_cost"], row["monthly_reseller_price"]) == (
        "cancelled",
        "15.58",
        "0.00",
        "0.00",
    )
    browser = log_in(api_app, account.email)
    page = browser.page(f"/o/{org}/subscriptions")
    cells = re.findall(r'<td class="num"[^>]*>([^<]*)</td>', page[page.index(f'data-subscription="{sid}"') :])
    assert cells[2:7] == ["15.58", "0.00", "0.00", "0.00", "0.00"]
    assert "Expired, disabled and cancelled subscriptions are no longer billed" in page
    report = browser.page("/reports?name=subscriptions")
    assert "Expired, disabled and cancelled subscriptions are no longer billed" in report
    assert b.ok("GET", "/reports/subscriptions")["items"][0]["monthly_customer_price"] == "0.00"


# --- the demo's pending invitation can be accepted ----------------------------------------


def test_the_demos_pending_invitation_is_emailed_and_can_be_accepted(tmp_path: Path):
    settings = fast_settings(tmp_path, test_mode=True, public_url="http://testserver")
    system = bootstrap(settings)
    try:
        Demo(system.app, system.sagas, system.mailer, settings.public_url, Console(file=io.StringIO())).run()
        mails = [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in settings.outbox_dir().glob("*.eml")
        ]
        invitations = [m for m in mails if m["To"].startswith("newcomer+")]
        assert len(invitations) == 1
        body = invitations[0].get_body(("plain",)).get_content()  # type: ignore[attr-defined]
        token = re.search(r"/invitations/(\S+)", body).group(1)  # type: ignore[union-attr]
        user = system.app.accept_invitation(token, "New", "Comer", "correct-horse-battery-staple", accept_terms=True)
        assert (user.status, user.email) == ("active", invitations[0]["To"])
    finally:
        system.close()


# --- the primary contact's sign-in method ------------------------------------------------


def test_changing_the_primary_contacts_sign_in_method_names_that_field(account: Account):
    set_settings(account.system, account.reseller_id, sign_in_methods=("local", "microsoft_work"))
    manager: Client = account.invite("manager@contoso.example", "account_manager", account.reseller_id)
    primary_id = UUID(account.boss.ok("GET", "/auth/me")["id"])
    for body, field in (
        ({"sign_in_method": "microsoft_work"}, "sign_in_method"),
        ({"role": "billing"}, "role"),
        ({"disabled": True}, "disabled"),
    ):
        r = manager.patch(f"/api/v1/users/{primary_id}", json=body)
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["details"]["field"] == field, error
    r = manager.patch(f"/api/v1/users/{primary_id}", json={"sign_in_method": "microsoft_work"})
    assert "local account" in r.json()["error"]["message"]


def test_the_primary_contact_changing_its_own_sign_in_method_is_refused_by_that_field(account: Account):
    set_settings(account.system, account.reseller_id, sign_in_methods=("local", "microsoft_work"))
    me = account.boss.ok("GET", "/auth/me")
    r = account.boss.patch(f"/api/v1/users/{me['id']}", json={"sign_in_method": "microsoft_work"})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["details"]["field"] == "sign_in_method"
    assert "local account" in r.json()["error"]["message"]
    r = account.boss.patch(f"/api/v1/users/{me['id']}", json={"role": "billing"})
    assert (r.json()["error"]["details"]["field"], r.json()["error"]["message"]) == (
        "role",
        "you cannot change your own role",
    )
