"""The portal's small things, each once wrong: the order summary at one licence, an add-on's
margin in the cart, the partner price on Edit subscription, the 403 and error pages, the
sections' short addresses, the order email, the favicon, money in the charts."""

from __future__ import annotations

import re
from decimal import Decimal
from uuid import UUID

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from csp.aggregates.order import Order
from csp.api.pages.charts import bar_chart, month_chart
from tests.fixtures.api import Account
from tests.support import BUSINESS_PREMIUM, TEAMS_PHONE
from tests.unit.test_portal_pages import Browser, active_subscription, log_in, ready_customer


@pytest.fixture
def boss(api_app: FastAPI, account: Account) -> Browser:
    return log_in(api_app, account.email)


def summary_rows(html: str) -> list[str]:
    start = html.index('<table class="summary')
    table = html[start : html.index("</table>", start)]
    return re.findall(
        r"<tr(?: data-row=\"total\")?( hidden)?><th scope=\"row\"[^>]* data-cell=\"qty-\d\">([^<]*)</th>", table
    )


def test_the_summary_shows_one_labelled_row_at_one_licence_and_a_total_row_above(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    path = f"/o/{org}/buy/{BUSINESS_PREMIUM}"
    line = {"tenant_id": tenant, "billing_cycle": "monthly", "term": "annual", "action": "preview"}
    boss.page(path)
    one = boss.submit(path, {**line, "quantity": "1"}, status=200).text
    assert summary_rows(one) == [("", "1 licence"), (" hidden", "1 licence")]
    three = boss.submit(path, {**line, "quantity": "3"}, status=200).text
    assert summary_rows(three) == [("", "1 licence"), ("", "3 licences")]


def cart_with_an_add_on(account: Account) -> dict[str, str]:
    """A cart of 2 Business Premium licences with 2 Teams Phone Standard add-ons."""
    org, tenant = ready_customer(account)
    order: dict[str, str] = account.boss.ok("POST", f"/organizations/{org}/orders", 201, json={})
    line = {
        "offer_id": str(BUSINESS_PREMIUM),
        "tenant_id": tenant,
        "quantity": 2,
        "billing_cycle": "monthly",
        "addons": [{"offer_id": str(TEAMS_PHONE), "quantity": 2}],
    }
    account.boss.ok("POST", f"/orders/{order['id']}/lines", 201, json=line)
    return order


def test_an_add_on_row_in_the_cart_shows_its_margin(boss: Browser, account: Account):
    order = cart_with_an_add_on(account)
    addon = account.boss.ok("GET", f"/orders/{order['id']}")["lines"][0]["addons"][0]
    margin = Decimal(addon["unit_customer_price"]) - Decimal(addon["unit_partner_price"])
    assert Decimal(addon["margin"]) == margin > 0
    html = boss.page(f"/orders/{order['id']}")
    row = re.search(r'<tr class="addon">(.*?)</tr>', html, re.S)
    assert row
    cells = re.findall(r'<td class="num"[^>]*>([^<]*)</td>', row.group(1))
    assert cells[:3] == [addon["unit_partner_price"], addon["unit_customer_price"], f"{margin:.2f}"]


def test_edit_subscription_shows_the_partner_price_per_licence_not_the_line_total(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    html = boss.page(f"/subscriptions/{sub_id}")
    found = re.search(r"<dt>Partner price</dt><dd>([\d.]+) EUR", html)
    assert found
    assert found.group(1) == "14.16", "Business Premium's partner price per licence, not 3 × 14.16"


def test_the_403_page_names_the_role_in_words_with_the_signed_in_header(api_app: FastAPI, account: Account):
    org = account.customer()
    account.invite("orders@example.com", "order_manager", account.reseller_id)
    browser = log_in(api_app, "orders@example.com")
    html = browser.page("/settings", status=403)
    assert "order manager role may not do this" in html.lower()
    assert "order_manager" not in html
    assert "orders@example.com" in html, "the header says who is signed in"
    # a malformed id is a 404 page with the signed-in header too
    html = browser.page("/subscriptions/not-an-id", status=404)
    assert "orders@example.com" in html
    assert 'aria-label="Portal"' in html
    del org


def test_sections_short_addresses_ask_a_visitor_to_log_in_and_lead_a_user_to_its_organization(
    visitor: TestClient, boss: Browser, account: Account
):
    for section in ("orders", "subscriptions", "quotes"):
        r = visitor.get(f"/{section}", follow_redirects=False)
        assert r.status_code == 303, section
        assert r.headers["location"] == f"/login?next=/{section}"
    r = boss.get("/orders", follow_redirects=False)
    assert r.headers["location"] == "/organizations", "no organization chosen yet: the list to choose from"
    org, _ = ready_customer(account)
    boss.page(f"/o/{org}/subscriptions")
    assert boss.get("/orders", follow_redirects=False).headers["location"] == f"/o/{org}/orders"


def test_the_order_placed_email_names_who_placed_it_and_lists_the_add_ons(account: Account):
    order = cart_with_an_add_on(account)
    account.boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    placed = account.system.app.load(Order, UUID(order["id"]), "order")
    message = account.system.sagas.steps._message("order_placed", placed.id, placed.version)
    assert message is not None
    assert f"by CSP Platform Test ({account.email})" in message.text or f"({account.email})" in message.text
    assert "user:" not in message.text
    assert re.search(r"\+ Microsoft Teams Phone Standard \(add-on\)\s+\+2 Users", message.text)


def test_the_portal_has_a_favicon(visitor: TestClient):
    assert 'rel="icon" href="/static/favicon.svg"' in visitor.get("/catalog").text
    r = visitor.get("/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")


def test_money_charts_print_cents_as_the_tables_do():
    svg = bar_chart("Money", ["Contoso"], [("Customer price", [Decimal("156")])], money=True)
    assert ">156.00<" in svg
    assert ">156<" not in svg
    counts = bar_chart("Licences", ["Contoso"], [("Purchased", [Decimal("156")])])
    assert ">156<" in counts
    months = month_chart("Money", ["2026-11"], [("Customer price", [Decimal("156")])], money=True)
    assert ">156.00<" in months
