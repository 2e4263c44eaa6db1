"""The subscription page's Upgrade form and Next term section, without JavaScript (plain
forms, redirect after post): refusals by their field, nothing saved on a refusal."""

from __future__ import annotations

from uuid import UUID

import pytest
from fastapi import FastAPI

from csp.aggregates.subscription import Subscription
from tests.fixtures.api import Account
from tests.support import BUSINESS_BASIC
from tests.unit.test_portal_pages import Browser, log_in, ready_customer
from tests.unit.test_transitions import BUSINESS_STANDARD, M365_E3


@pytest.fixture
def boss(api_app: FastAPI, account: Account) -> Browser:
    return log_in(api_app, account.email)


def basic_subscription(account: Account, org: str, tenant: str, quantity: int = 3) -> str:
    order = account.boss.ok("POST", f"/organizations/{org}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_BASIC), "tenant_id": tenant, "quantity": quantity, "billing_cycle": "monthly"}
    account.boss.ok("POST", f"/orders/{order['id']}/lines", 201, json=line)
    account.boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    account.provision(order["id"])
    return str(account.boss.ok("GET", f"/orders/{order['id']}")["subscription_ids"][0])


def test_upgrading_from_the_subscription_page_and_the_vendor_doing_it(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    sub_id = basic_subscription(account, org, tenant)
    page = f"/subscriptions/{sub_id}"
    html = boss.page(page)
    assert f'action="{page}/upgrade"' in html
    assert "Microsoft 365 Business Standard · 9.83 EUR partner" in html
    # too many licences: said by the field, nothing asked
    refused = boss.submit(f"{page}/upgrade", {"upgrade_offer_id": str(BUSINESS_STANDARD), "upgrade_quantity": "9"}, 409)
    assert 'id="upgrade_quantity-error"' in refused.text
    assert account.system.app.load(Subscription, UUID(sub_id), "subscription").pending_transition is None
    # when the reseller upgrades every licence
    boss.submit(f"{page}/upgrade", {"upgrade_offer_id": str(BUSINESS_STANDARD), "version": ""})
    assert "are moving to Microsoft 365 Business Standard" in boss.page(page)
    # and the vendor has done it (the saga's last step, run here)
    app = account.system.app
    pending = app.load(Subscription, UUID(sub_id), "subscription").pending_transition
    assert pending is not None
    new = app.complete_transition(UUID(sub_id), pending.transition_id, "vendor-upgraded")
    # then each page links to the other
    assert f'href="/subscriptions/{new.id}"' in boss.page(page)
    assert f'href="/subscriptions/{sub_id}"' in boss.page(f"/subscriptions/{new.id}")


def test_the_next_term_is_scheduled_shown_refused_by_its_field_and_cancelled(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    sub_id = basic_subscription(account, org, tenant)
    page = f"/subscriptions/{sub_id}"
    assert "Nothing is scheduled" in boss.page(page)
    boss.submit(f"{page}/next-term", {"next_offer_id": str(BUSINESS_STANDARD), "next_quantity": "2"})
    html = boss.page(page)
    assert "<dt>Offer</dt><dd>Microsoft 365 Business Standard</dd>" in html
    assert "<dt>Licences</dt><dd>2</dd>" in html
    # an offer of another family is refused by its field, and what was scheduled stays
    refused = boss.submit(f"{page}/next-term", {"next_offer_id": str(M365_E3)}, 409).text
    assert 'id="next_offer_id-error"' in refused
    assert account.boss.ok("GET", f"/subscriptions/{sub_id}/next-term")["offer_id"] == str(BUSINESS_STANDARD)
    # cancelled: nothing scheduled any more
    boss.page(page)
    boss.submit(f"{page}/next-term/cancel", {})
    assert "Nothing is scheduled" in boss.page(page)
    assert account.boss.ok("GET", f"/subscriptions/{sub_id}/next-term")["scheduled"] is False


def test_a_read_only_user_sees_no_upgrade_form_and_may_not_post_it(api_app: FastAPI, account: Account):
    org, tenant = ready_customer(account)
    sub_id = basic_subscription(account, org, tenant)
    account.invite("readonly@example.com", "read_only", account.reseller_id)
    reader = log_in(api_app, "readonly@example.com")
    html = reader.page(f"/subscriptions/{sub_id}")
    assert "/upgrade" not in html
    reader.submit(f"/subscriptions/{sub_id}/upgrade", {"upgrade_offer_id": str(BUSINESS_STANDARD)}, status=403)
    reader.submit(f"/subscriptions/{sub_id}/next-term/cancel", {}, status=403)
