"""The portal's pages without JavaScript (plain forms, redirect after post), over a real
system on SQLite: CSRF, errors next to fields, who sees which prices, roles, isolation."""

from __future__ import annotations

import re
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from csp.bootstrap import System
from tests.fixtures.api import PASSWORD, Account, set_settings, sign_up
from tests.support import BUSINESS_PREMIUM


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


class Browser(TestClient):
    """A client that keeps cookies, like a browser without JavaScript."""

    token = ""

    def page(self, path: str, status: int = 200) -> str:
        r = self.get(path, follow_redirects=True)
        assert r.status_code == status, f"GET {path}: {r.status_code} {r.text[:500]}"
        if 'name="csrf_token"' in r.text:
            self.token = csrf(r.text)
        return r.text

    def submit(self, path: str, data: dict[str, Any], status: int = 303) -> Any:
        r = self.post(path, data={"csrf_token": self.token, **data}, follow_redirects=False)
        assert r.status_code == status, f"POST {path}: {r.status_code} {r.text[:800]}"
        return r


def log_in(app: FastAPI, email: str, password: str = PASSWORD) -> Browser:
    b = Browser(app)
    b.page("/login")
    r = b.submit("/login", {"email": email, "password": password, "next": ""})
    assert b.cookies.get("csp_session")
    del r
    b.page("/catalog")
    return b


@pytest.fixture
def boss(api_app: FastAPI, account: Account) -> Browser:
    return log_in(api_app, account.email)


def ready_customer(account: Account) -> tuple[str, str]:
    org = account.customer()
    tenant = account.ready_tenant(org["id"])
    assert account.system.projector is not None
    account.system.projector.sync(5)
    return org["id"], tenant["id"]


def test_the_public_catalog_shows_erp_only_and_log_in(visitor: TestClient):
    html = visitor.get("/catalog?category=client&group=microsoft-365").text
    assert "Log in" in html
    assert "16.87" in html
    assert "Partner price" not in html
    assert "14.16" not in html


def test_a_form_without_its_csrf_token_is_refused(api_app: FastAPI, boss: Browser):
    r = boss.post("/organizations/new", data={"name": "X"}, follow_redirects=False)
    assert r.status_code == 403
    assert "text/html" in r.headers["content-type"]
    assert "expired" in r.text or "CSRF" in r.text or "X-CSRF-Token" in r.text


def test_a_page_needing_sign_in_sends_to_log_in_and_back(visitor: TestClient):
    r = visitor.get("/organizations", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/organizations"


def test_wrong_password_is_said_in_plain_words(api_app: FastAPI, account: Account):
    b = Browser(api_app)
    b.page("/login")
    r = b.submit("/login", {"email": account.email, "password": "not-the-password"}, status=401)
    assert "Wrong email or password." in r.text


def test_the_order_page_without_javascript_prices_15_58_and_1_42_and_adds_to_the_cart(boss: Browser, account: Account):
    # given a customer with a created tenant
    org, tenant = ready_customer(account)
    boss.page(f"/o/{org}/buy/{BUSINESS_PREMIUM}")
    line = {"tenant_id": tenant, "quantity": "1", "billing_cycle": "monthly", "term": "annual", "markup_percent": "5"}
    # when the summary is recomputed by the server
    html = boss.submit(f"/o/{org}/buy/{BUSINESS_PREMIUM}", {**line, "action": "preview"}, status=200).text
    # then the manual's figures show
    assert re.search(r'data-cell="customer-1">15.58<', html)
    assert re.search(r'data-cell="margin-1">1.42<', html)
    assert "Markup: 5.00% on top of the default 5.00%." in html
    # a target price says the markup it makes
    target = {**line, "markup_percent": "", "target_price": "16.00", "action": "preview"}
    html = boss.submit(f"/o/{org}/buy/{BUSINESS_PREMIUM}", target, status=200).text
    assert re.search(r'data-cell="margin-1">1.84<', html)
    assert re.search(r"Markup: \d+\.\d\d% on top of the default 5.00%, from the target price.", html)
    # a bad markup is said next to its field, not as an error page
    bad = boss.submit(
        f"/o/{org}/buy/{BUSINESS_PREMIUM}", {**line, "markup_percent": "five", "action": "preview"}, status=422
    ).text
    assert 'id="markup_percent-error"' in bad
    # Next step shows the add-ons; Skip puts the line in a new cart
    assert "Confirm" in boss.submit(f"/o/{org}/buy/{BUSINESS_PREMIUM}", {**line, "action": "next"}, status=200).text
    r = boss.submit(f"/o/{org}/buy/{BUSINESS_PREMIUM}", {**line, "action": "skip"})
    order_id = UUID(r.headers["location"].rsplit("/", 1)[1])
    order = account.system.app.load(__import__("csp.aggregates.order", fromlist=["Order"]).Order, order_id, "order")
    assert [(x.unit_customer_price, x.margin) for x in order.lines] == [
        (__import__("decimal").Decimal("15.58"), __import__("decimal").Decimal("1.42"))
    ]
    # placing needs the Product Terms
    boss.page(f"/orders/{order_id}/place")
    refused = boss.submit(f"/orders/{order_id}/place", {}, status=409).text
    assert 'id="accept_terms-error"' in refused
    boss.submit(f"/orders/{order_id}/place", {"accept_terms": "on"})
    assert account.system.app.load(type(order), order_id, "order").status == "placed"


def test_the_order_summary_shows_the_customers_segment_price_as_the_line_will_be(boss: Browser, account: Account):
    # given a customer in a segment that sells Business Premium at 15.00
    org, tenant = ready_customer(account)
    seg = account.boss.ok(
        "POST", "/segments", 201, json={"name": "Gold", "offer_ids": [str(BUSINESS_PREMIUM)], "organization_ids": [org]}
    )
    account.boss.ok("PUT", f"/segments/{seg['id']}/prices/{BUSINESS_PREMIUM}", json={"customer_price": "15.00"})
    line = {"tenant_id": tenant, "quantity": "2", "billing_cycle": "monthly", "term": "annual", "markup_percent": ""}
    # when the reseller previews a line without a markup of its own
    html = boss.submit(f"/o/{org}/buy/{BUSINESS_PREMIUM}", {**line, "action": "preview"}, status=200).text
    # then the summary shows the segment's price, and the cart line takes the same
    assert re.search(r'data-cell="customer-1">15.00<', html)
    assert re.search(r'data-cell="margin-1">0.84<', html)
    r = boss.submit(f"/o/{org}/buy/{BUSINESS_PREMIUM}", {**line, "action": "skip"})
    order = account.boss.ok("GET", f"/orders/{r.headers['location'].rsplit('/', 1)[1]}")
    assert [x["unit_customer_price"] for x in order["lines"]] == ["15.00"]


def test_save_changes_applies_every_field_at_once_or_none(boss: Browser, account: Account):
    # given an active subscription of 3 licences
    org, tenant = ready_customer(account)
    order = account.boss.ok("POST", f"/organizations/{org}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant, "quantity": 3}
    account.boss.ok("POST", f"/orders/{order['id']}/lines", 201, json={**line, "billing_cycle": "monthly"})
    account.boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    account.provision(order["id"])
    assert account.system.projector is not None
    account.system.projector.sync(5)
    sub_id = account.boss.ok("GET", f"/organizations/{org}/subscriptions")["items"][0]["id"]
    page = f"/subscriptions/{sub_id}"
    form = {
        "status": "enabled",
        "quantity": "3",
        "billing_cycle": "monthly",
        "auto_renew": "on",
        "auto_renew_shown": "1",
    }
    # when one save adds a licence and suspends, both are saved
    boss.page(page)
    boss.submit(page, {**form, "quantity": "4", "status": "suspended"})
    sub = account.boss.ok("GET", page)
    assert (sub["status"], sub["purchased"]) == ("suspended", 4)
    # and when one save reactivates, changes the billing cycle and asks for more licences
    # than the offer allows, the refusal shows by the quantity and nothing is saved
    boss.page(page)
    html = boss.submit(page, {**form, "quantity": "100000", "billing_cycle": "yearly"}, status=409).text
    assert 'id="quantity-error"' in html
    after = account.boss.ok("GET", page)
    assert (after["status"], after["purchased"], after["billing_cycle"]) == ("suspended", 4, "monthly")
    assert after["pending_billing_cycle"] is None
    events = account.boss.ok("GET", f"{page}/history")["events"]
    since = [e["type"] for e in events if e["version"] > sub["version"]]
    assert since == [], since


def test_long_lists_are_paged_and_keep_their_filters(boss: Browser, account: Account):
    # given 53 customers (and the reseller's own account): 54 organizations
    for n in range(53):
        account.customer(f"Customer {n:02d}")
    assert account.system.projector is not None
    account.system.projector.sync(5)
    # then the list shows 50 per page, with a link to the next
    first = boss.page("/organizations")
    assert first.count('href="/o/') >= 50
    assert "1–50 of 54 · page 1 of 2" in first
    assert 'rel="next" href="/organizations?page=2"' in first
    second = boss.page("/organizations?page=2")
    assert "51–54 of 54 · page 2 of 2" in second
    assert 'rel="prev" href="/organizations?page=1"' in second
    assert 'rel="next"' not in second
    # a search keeps its words across pages, and a bad page number is the first page
    found = boss.page("/organizations?q=Customer&page=2")
    assert "51–53 of 53" in found
    assert 'rel="prev" href="/organizations?q=Customer&amp;page=1"' in found
    assert "1–50 of 54" in boss.page("/organizations?page=zero")


def test_save_for_later_leaves_a_draft_that_resumes_as_the_cart(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    boss.page(f"/o/{org}/buy/{BUSINESS_PREMIUM}")
    r = boss.submit(
        f"/o/{org}/buy/{BUSINESS_PREMIUM}",
        {"tenant_id": tenant, "quantity": "3", "billing_cycle": "monthly", "action": "skip"},
    )
    order_path = r.headers["location"]
    boss.page(order_path)
    boss.submit(f"{order_path}/save", {})
    assert "csp_cart" not in boss.cookies
    html = boss.page(f"/o/{org}/orders")
    assert f'href="{order_path}/resume"' in html
    assert "Draft" in html
    boss.page(f"{order_path}/resume")
    assert boss.cookies.get("csp_cart") == order_path.rsplit("/", 1)[1]


def test_a_customer_user_sees_its_own_prices_never_partner_prices_or_margins(
    api_app: FastAPI, account: Account, api_system: System
):
    org, tenant = ready_customer(account)
    set_settings(api_system, account.reseller_id, customer_self_service=True)
    account.invite("admin@contoso.example", "customer_admin", org)
    customer = log_in(api_app, "admin@contoso.example")
    catalog = customer.page(f"/o/{org}/catalog?category=client&group=microsoft-365")
    assert "Your price" in catalog
    assert "Partner price" not in catalog
    assert "14.16" not in catalog
    assert "14.87" in catalog  # 14.16 + the default 5 %
    buy = customer.page(f"/o/{org}/buy/{BUSINESS_PREMIUM}")
    assert "Price Options" not in buy
    assert "Your margin" not in buy
    r = customer.submit(
        f"/o/{org}/buy/{BUSINESS_PREMIUM}",
        {"tenant_id": tenant, "quantity": "1", "billing_cycle": "monthly", "action": "skip"},
    )
    cart = customer.page(r.headers["location"])
    assert "14.87" in cart
    assert "14.16" not in cart
    assert "margin" not in cart.lower()
    # another organization of the reseller is not found for it
    other = account.customer("Fabrikam SRL")
    assert customer.get(f"/o/{other['id']}/orders").status_code == 404


def test_a_billing_user_reads_invoices_but_may_not_order(api_app: FastAPI, account: Account):
    org, _ = ready_customer(account)
    account.invite("billing@example.com", "billing", account.reseller_id)
    billing = log_in(api_app, "billing@example.com")
    assert billing.get("/invoices").status_code == 200
    nav = billing.page(f"/o/{org}/orders")
    assert "USERS" not in nav
    assert billing.get(f"/o/{org}/buy/{BUSINESS_PREMIUM}").status_code == 403


def test_another_accounts_pages_are_not_found(api_app: FastAPI, api_system: System, account: Account):
    org, _ = ready_customer(account)
    stranger = sign_up(api_app, api_system, "Other Reseller")
    b = log_in(api_app, stranger.email)
    for path in (f"/o/{org}", f"/o/{org}/orders", f"/o/{org}/subscriptions", f"/o/{org}/buy/{BUSINESS_PREMIUM}"):
        r = b.get(path)
        assert r.status_code == 404, path
        assert "does not exist, or is not yours" in r.text


def test_log_in_offers_the_microsoft_buttons_the_account_enables(
    visitor: TestClient, api_app: FastAPI, api_system: System, account: Account
):
    plain = visitor.get(f"/login?portal={account.slug}").text
    assert "/api/v1/auth/oidc/" not in plain
    set_settings(api_system, account.reseller_id, sign_in_methods=("local", "microsoft_work"))
    # not while the platform has no Microsoft application configured
    assert "/api/v1/auth/oidc/" not in visitor.get(f"/login?portal={account.slug}").text
    # configured: install_oidc registers the method (tests/test_oidc_* run the real provider)
    api_app.state.auth.register_method(SimpleNamespace(name="microsoft_work"))
    html = visitor.get(f"/login?portal={account.slug}&next=/catalog").text
    assert 'href="/api/v1/auth/oidc/microsoft_work/start?next=/catalog"' in html
    assert "Work email (AAD Account)" in html
    assert "microsoft_personal" not in html
    # the platform's own log-in page (the catalog's Log in, after log out, a session that
    # ended) offers every method the platform is set up for: the user picks its own
    html = visitor.get("/login?next=/orders").text
    assert 'href="/api/v1/auth/oidc/microsoft_work/start?next=/orders"' in html
    assert "microsoft_personal" not in html


def test_self_registration_only_when_the_reseller_allows_it(api_app: FastAPI, api_system: System, account: Account):
    b = Browser(api_app)
    assert b.get(f"/portal/{account.slug}/register").status_code == 403
    set_settings(api_system, account.reseller_id, customer_self_registration=True)
    b.page(f"/portal/{account.slug}/register")
    form = {
        "name": "Northwind SRL",
        "country": "RO",
        "address.line1": "Str. 1",
        "address.city": "Cluj",
        "address.postal_code": "400000",
        "contact_email": "office@northwind.example",
        "industry": "retail",
        "admin.first_name": "Nora",
        "admin.last_name": "Wind",
        "admin.email": "nora@northwind.example",
        "admin.password": PASSWORD,
    }
    # the contact phone is required data: its absence is said by its field
    refused = b.submit(f"/portal/{account.slug}/register", form, status=422).text
    assert 'id="contact_phone-error"' in refused
    html = b.submit(f"/portal/{account.slug}/register", {**form, "contact_phone": "+40 264 555 010"}, status=200).text
    assert "Check your email" in html
    link = re.search(r'href="(/confirm-email/[^"]+)" data-confirm-link', html)
    assert link, "test mode shows the confirmation link"
    b.page(link.group(1))
    assert b.submit(link.group(1), {}).headers["location"].startswith(f"/login?portal={account.slug}&")
    assert log_in(api_app, "nora@northwind.example").cookies.get("csp_session")


def test_inviting_from_the_users_page_and_accepting_the_invitation(boss: Browser, api_app: FastAPI, account: Account):
    boss.page("/users")
    html = boss.submit(
        "/users/invite",
        {"email": "orders@example.com", "role": "order_manager", "organization_id": str(account.reseller_id)},
        status=200,
    ).text
    link = re.search(r'href="(/invitations/[^"]+)" data-accept-link', html)
    assert link, "test mode shows the invitation link"
    b = Browser(api_app)
    b.page(link.group(1))
    short = b.submit(link.group(1), {"first_name": "Olga", "last_name": "Manager", "password": "short"}, status=422)
    assert 'id="password-error"' in short.text
    b.submit(link.group(1), {"first_name": "Olga", "last_name": "Manager", "password": PASSWORD})
    assert log_in(api_app, "orders@example.com").get("/settings").status_code == 403


def test_history_shows_the_state_as_of_a_chosen_time(boss: Browser, account: Account):
    _, tenant = ready_customer(account)
    html = boss.page(f"/history/tenant/{tenant}?raw=1")  # the raw events, for auditors
    assert "CreatedAtVendor" in html
    # "State then" of the first event: only that event, the tenant as it was requested
    first = re.search(r'href="(/history/tenant/[^"]+\?raw=1&amp;as_of=[^"]+)">State then', html)
    assert first
    then = boss.page(first.group(1).replace("&amp;", "&"))
    assert "CreatedAtVendor" not in then
    assert "&#34;status&#34;: &#34;requested&#34;" in then


def test_the_login_page_says_why_a_microsoft_sign_in_failed_in_plain_words(api_app: FastAPI):
    b = Browser(api_app)
    html = b.page("/login?error=consent_denied")
    assert "The sign-in was cancelled at Microsoft." in html
    html = b.page("/login?error=something_new")
    assert "The sign-in did not go through" in html


# --- change orders ("+N Users") and editable cart lines ------------------------------------------------


def active_subscription(account: Account, org: str, tenant: str, quantity: int = 3) -> str:
    """A provisioned, active Business Premium subscription of ``quantity`` licences."""
    order = account.boss.ok("POST", f"/organizations/{org}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant, "quantity": quantity, "billing_cycle": "monthly"}
    account.boss.ok("POST", f"/orders/{order['id']}/lines", 201, json=line)
    account.boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    account.provision(order["id"])
    assert account.system.projector is not None
    account.system.projector.sync(5)
    return str(account.boss.ok("GET", f"/organizations/{org}/subscriptions")["items"][0]["id"])


def drafts(account: Account, org: str) -> int:
    assert account.system.projector is not None
    account.system.projector.sync(5)
    return int(account.boss.ok("GET", f"/organizations/{org}/orders?status=draft")["total"])


def test_ordering_two_more_licences_from_the_subscription_page_places_a_plus_2_users_order(
    boss: Browser, account: Account
):
    # given an active subscription of 3 licences
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    page = f"/subscriptions/{sub_id}"
    html = boss.page(page)
    assert "Order more licences" in html
    assert f'action="{page}/order"' in html
    # a bad number is said by its field, and no cart is made
    refused = boss.submit(f"{page}/order", {"add_quantity": "0"}, status=422).text
    assert 'id="add_quantity-error"' in refused
    assert drafts(account, org) == 0
    # when the reseller asks for 2 more, the cart shows the change line with its price
    r = boss.submit(f"{page}/order", {"add_quantity": "2"})
    cart_path = r.headers["location"]
    order_id = cart_path.rsplit("/", 1)[1]
    cart = boss.page(cart_path)
    assert "+2 Users" in cart
    assert "as the subscription" in cart
    assert "Microsoft 365 Business Premium" in cart
    assert f'href="{cart_path}/lines/1/edit"' in cart
    assert re.search(r"<strong>29.74</strong>", cart), "2 × 14.87 (the default 5 % markup)"
    # a second change of the same subscription is refused by the field; the page points to the cart's line
    again = boss.page(page)
    assert f'href="{cart_path}/lines/1/edit"' in again
    twice = boss.submit(f"{page}/order", {"add_quantity": "1"}, status=409).text
    assert 'id="add_quantity-error"' in twice
    assert "already has a change line" in twice
    assert len(account.boss.ok("GET", f"/orders/{order_id}")["lines"]) == 1
    # Place order needs the Product Terms, as for a new line
    boss.page(f"{cart_path}/place")
    assert 'id="accept_terms-error"' in boss.submit(f"{cart_path}/place", {}, status=409).text
    boss.submit(f"{cart_path}/place", {"accept_terms": "on"})
    account.provision(order_id)
    # then the subscription has 5 licences and the Orders list shows "+2 Users"
    sub = account.boss.ok("GET", page)
    assert sub["purchased"] == 5
    assert account.boss.ok("GET", f"/orders/{order_id}")["status"] == "provision_finished"
    assert account.system.projector is not None
    account.system.projector.sync(5)
    orders = boss.page(f"/o/{org}/orders")
    assert re.search(r"Microsoft 365 Business Premium</td><td[^>]*>\+2 Users</td>", orders)


def test_order_more_licences_of_a_suspended_subscription_is_refused_by_the_field_without_a_cart(
    boss: Browser, account: Account
):
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    account.boss.ok("POST", f"/subscriptions/{sub_id}/suspend", json={})
    page = f"/subscriptions/{sub_id}"
    assert "Order more licences" not in boss.page(page)
    refused = boss.submit(f"{page}/order", {"add_quantity": "2"}, status=409).text
    assert 'id="add_quantity-error"' in refused
    assert "suspended" in refused
    assert drafts(account, org) == 0
    assert "csp_cart" not in boss.cookies


def test_who_may_not_order_does_not_see_order_more_licences(api_app: FastAPI, account: Account):
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    account.invite("readonly@example.com", "read_only", account.reseller_id)
    reader = log_in(api_app, "readonly@example.com")
    html = reader.page(f"/subscriptions/{sub_id}")
    assert "Edit subscription" in html
    assert "Order more licences" not in html
    assert reader.submit(f"/subscriptions/{sub_id}/order", {"add_quantity": "2"}, status=403)
    assert drafts(account, org) == 0


def test_a_cart_line_is_edited_quantity_cycle_and_markup_priced_again_or_refused_by_its_field(
    boss: Browser, account: Account
):
    # given a cart with 1 × Business Premium at the default price (14.87)
    org, tenant = ready_customer(account)
    boss.page(f"/o/{org}/buy/{BUSINESS_PREMIUM}")
    r = boss.submit(
        f"/o/{org}/buy/{BUSINESS_PREMIUM}",
        {"tenant_id": tenant, "quantity": "1", "billing_cycle": "monthly", "action": "skip"},
    )
    cart_path = r.headers["location"]
    order_id = cart_path.rsplit("/", 1)[1]
    assert account.boss.ok("GET", f"/orders/{order_id}")["lines"][0]["total"] == "14.87"
    edit = f"{cart_path}/lines/1/edit"
    assert f'href="{edit}"' in boss.page(cart_path)
    form = boss.page(edit)
    assert 'name="quantity" value="1"' in form
    assert 'name="markup_percent" value="0"' in form
    # when the quantity is 3 and the markup +5 %, the line is priced again: 15.58 × 3 = 46.74
    r = boss.submit(
        f"{cart_path}/lines/1",
        {"quantity": "3", "billing_cycle": "yearly", "markup_percent": "5", "target_price": ""},
    )
    assert r.headers["location"] == cart_path
    line = account.boss.ok("GET", f"/orders/{order_id}")["lines"][0]
    assert (line["quantity"], line["billing_cycle"], line["unit_customer_price"], line["margin"], line["total"]) == (
        3,
        "yearly",
        "15.58",
        "1.42",
        "46.74",
    )
    cart = boss.page(cart_path)
    assert "Line 1 (Microsoft 365 Business Premium) is changed." in cart
    assert "<strong>46.74</strong>" in cart
    before = account.boss.ok("GET", f"/orders/{order_id}")
    good = {"quantity": "3", "billing_cycle": "yearly", "markup_percent": "5", "target_price": ""}
    # a bad value is said by its field (422 before the domain, 409 by it) and nothing changes
    boss.page(edit)
    for data, field, status in (
        ({"markup_percent": "five"}, "markup_percent", 422),
        ({"quantity": "zero"}, "quantity", 422),
        ({"target_price": "16"}, "target_price", 422),  # a markup and a target price
        ({"quantity": "100000"}, "quantity", 422),  # more than the offer allows: said by the form, with its limits
        ({"billing_cycle": "weekly"}, "billing_cycle", 422),
    ):
        html = boss.submit(f"{cart_path}/lines/1", {**good, **data}, status=status).text
        assert f'id="{field}-error"' in html, (data, html[:2000])
        assert 'data-cell="total"><strong>46.74</strong>' in html
    after = account.boss.ok("GET", f"/orders/{order_id}")
    assert (after["version"], after["lines"]) == (before["version"], before["lines"])
    # a form shown before the cart changed elsewhere is refused as a whole
    account.boss.ok("PATCH", f"/orders/{order_id}/lines/1", json={"quantity": 4})
    stale = boss.submit(f"{cart_path}/lines/1", {**good, "version": str(before["version"])}, status=409).text
    assert "changed by someone else" in stale
    assert account.boss.ok("GET", f"/orders/{order_id}")["lines"][0]["quantity"] == 4


def test_a_change_line_in_the_cart_is_edited_as_licences_to_add(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    boss.page(f"/subscriptions/{sub_id}")
    cart_path = boss.submit(f"/subscriptions/{sub_id}/order", {"add_quantity": "2"}).headers["location"]
    order_id = cart_path.rsplit("/", 1)[1]
    form = boss.page(f"{cart_path}/lines/1/edit")
    assert 'name="quantity_delta" value="2"' in form
    assert 'name="markup_percent"' not in form
    # zero is refused by the domain, by the field, and the line stays +2
    html = boss.submit(f"{cart_path}/lines/1", {"quantity_delta": "0"}, status=409).text
    assert 'id="quantity_delta-error"' in html
    assert account.boss.ok("GET", f"/orders/{order_id}")["lines"][0]["requested_change"] == "+2 Users"
    boss.submit(f"{cart_path}/lines/1", {"quantity_delta": "4"})
    line = account.boss.ok("GET", f"/orders/{order_id}")["lines"][0]
    assert (line["requested_change"], line["total"]) == ("+4 Users", "59.48")
    assert "+4 Users" in boss.page(cart_path)


def test_a_customer_edits_its_cart_line_at_its_own_price_without_price_options(
    api_app: FastAPI, account: Account, api_system: System
):
    org, tenant = ready_customer(account)
    set_settings(api_system, account.reseller_id, customer_self_service=True)
    account.invite("admin@contoso.example", "customer_admin", org)
    customer = log_in(api_app, "admin@contoso.example")
    customer.page(f"/o/{org}/buy/{BUSINESS_PREMIUM}")
    cart_path = customer.submit(
        f"/o/{org}/buy/{BUSINESS_PREMIUM}",
        {"tenant_id": tenant, "quantity": "1", "billing_cycle": "monthly", "action": "skip"},
    ).headers["location"]
    form = customer.page(f"{cart_path}/lines/1/edit")
    assert 'name="quantity"' in form
    assert 'name="markup_percent"' not in form
    assert "14.16" not in form
    assert "margin" not in form.lower()
    # a markup slipped into the form is not read: the line stays at the customer's price
    customer.submit(f"{cart_path}/lines/1", {"quantity": "2", "billing_cycle": "monthly", "markup_percent": "50"})
    line = account.boss.ok("GET", f"/orders/{cart_path.rsplit('/', 1)[1]}")["lines"][0]
    assert (line["quantity"], line["unit_customer_price"], line["total"]) == (2, "14.87", "29.74")
    # the subscription page's Order more licences is the reseller's
    assert customer.submit(
        "/subscriptions/00000000-0000-0000-0000-000000000000/order", {"add_quantity": "1"}, status=403
    )


# --- two tabs: a form rendered from an older state is refused, never applied over the new one ---


def form_version(html: str, action: str) -> str:
    found = re.search(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>\s*<input[^>]*>\s*<input type="hidden" name="version" value="(\d+)">',
        html,
    )
    assert found, f"the form to {action} carries the version it was rendered from"
    return found.group(1)


def test_a_stale_edit_subscription_form_is_refused_with_the_current_values_shown(boss: Browser, account: Account):
    # given an active subscription, its edit page open in one tab
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    page = f"/subscriptions/{sub_id}"
    tab1 = boss.page(page)
    version = form_version(tab1, page)
    # when another tab suspends it
    suspended = account.boss.ok("POST", f"{page}/suspend", json={})
    assert suspended["status"] == "suspended"
    # and the first tab saves only a billing cycle change (its Status still says Enabled)
    form = {"status": "enabled", "quantity": "3", "billing_cycle": "yearly", "auto_renew": "on"}
    html = boss.submit(page, {**form, "auto_renew_shown": "1", "version": version}, status=409).text
    # then nothing is saved: the subscription stays suspended, monthly, with no new event
    after = account.boss.ok("GET", page)
    assert (after["status"], after["billing_cycle"], after["pending_billing_cycle"]) == ("suspended", "monthly", None)
    events = account.boss.ok("GET", f"{page}/history")["events"]
    assert [e["type"] for e in events if e["version"] > suspended["version"]] == []
    # and the page says why and shows the current values (Suspended checked, monthly chosen)
    assert "changed by someone else (or in another tab) after you opened this form" in html
    assert re.search(r'value="suspended" checked', html)
    assert re.search(r'<option value="monthly" selected>', html)
    assert form_version(html, page) == str(after["version"])
    # a save from the refreshed form goes through (here: reactivate and change the cycle)
    boss.submit(page, {**form, "auto_renew_shown": "1", "version": str(after["version"])})
    saved = account.boss.ok("GET", page)
    assert (saved["status"], saved["pending_billing_cycle"]) == ("active", "yearly")


def test_every_form_of_the_edit_screen_refuses_a_stale_version(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    page = f"/subscriptions/{sub_id}"
    html = boss.page(page)
    stale = form_version(html, f"{page}/price")
    assert stale == form_version(html, page)
    account.boss.ok("PUT", f"{page}/price", json={"unit_customer_price": "20.00"})
    before = account.boss.ok("GET", page)
    for path, data in [
        (f"{page}/price", {"unit_price": "25.00"}),
        (f"{page}/cancel", {}),
    ]:
        refused = boss.submit(path, {**data, "version": stale}, status=409).text
        assert "after you opened this form" in refused, path
    after = account.boss.ok("GET", page)
    assert (after["version"], after["status"], after["unit_cost"]) == (before["version"], "active", before["unit_cost"])


def test_stale_settings_and_segment_forms_are_refused(boss: Browser, account: Account):
    html = boss.page("/settings")
    version = form_version(html, "/settings")
    set_settings(account.system, account.reseller_id, default_markup_percent=Decimal("7"))
    form = {"method_local": "on", "default_markup_percent": "9", "terms_text": "", "version": version}
    refused = boss.submit("/settings", form, status=409).text
    assert "after you opened this form" in refused
    assert re.search(r'id="default_markup_percent" name="default_markup_percent" value="7(\.00)?"', refused)
    assert Decimal(account.boss.ok("GET", "/settings")["default_markup_percent"]) == 7


def test_a_quantity_above_the_offers_limit_is_refused_at_step_1_with_its_limits_and_no_draft(
    boss: Browser, account: Account
):
    # given a customer with a tenant, and Business Premium sold by 1 to 300 licences
    org, tenant = ready_customer(account)
    offer = account.system.app.catalog().offer(BUSINESS_PREMIUM)
    assert (offer.min_quantity, offer.max_quantity) == (1, 300)
    path = f"/o/{org}/buy/{BUSINESS_PREMIUM}"
    boss.page(path)
    line = {"tenant_id": tenant, "quantity": "301", "billing_cycle": "monthly", "term": "annual"}
    # when 301 licences go to the next step, or straight into the cart
    for action in ("next", "skip", "cart"):
        html = boss.submit(path, {**line, "action": action}, status=422).text
        # then the form stays at step 1 and says the offer's own limits
        assert re.search(r'id="quantity-error">Must be between 1 and 300\b', html, re.I), action
        assert "Confirm" not in html
    # and nothing was recorded: no draft order, no cart
    assert drafts(account, org) == 0
    assert "csp_cart" not in boss.cookies


def test_a_line_the_domain_refuses_leaves_no_empty_draft(boss: Browser, account: Account):
    # a tenant still being created passes the form's checks, but the domain refuses the line
    org, tenant = ready_customer(account)
    pending = account.boss.ok(
        "POST", f"/organizations/{org}/tenants", 202, json={"domain": f"p{uuid4().hex[:12]}", "mode": "create"}
    )
    path = f"/o/{org}/buy/{BUSINESS_PREMIUM}"
    boss.page(path)
    line = {"tenant_id": pending["id"], "quantity": "2", "billing_cycle": "monthly", "term": "annual", "action": "skip"}
    html = boss.submit(path, line, status=409).text
    assert 'id="tenant_id-error"' in html or "error-summary" in html
    # then nothing was recorded: no draft, no cart
    assert drafts(account, org) == 0
    assert "csp_cart" not in boss.cookies
    # the same line on the created tenant makes the cart with its one line
    r = boss.submit(path, {**line, "tenant_id": tenant})
    assert drafts(account, org) == 1
    assert len(account.boss.ok("GET", r.headers["location"])["lines"]) == 1


def test_enter_in_a_field_of_the_order_page_updates_the_price_not_create_new_tenant(boss: Browser, account: Account):
    # HTML's implicit submission (Enter in a text field) uses the form's first submit button
    org, _ = ready_customer(account)
    html = boss.page(f"/o/{org}/buy/{BUSINESS_PREMIUM}")
    form = html[html.index('id="order-form"') :]
    first = re.search(r"<button[^>]*type=\"submit\"[^>]*>", form)
    assert first, "the order form has a submit button"
    assert 'value="preview"' in first.group(0), first.group(0)
    assert "Create new" in form, "Create new is still there, as a later button"


def test_a_form_is_not_stale_when_only_the_vendors_figures_moved_on(boss: Browser, account: Account):
    # given the edit page open, then an assigned-licence sync from the vendor (a new event)
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    page = f"/subscriptions/{sub_id}"
    version = form_version(boss.page(page), page)
    account.system.app.sync_assigned_licences(UUID(sub_id), 2, "system:vendor-sync")
    assert account.boss.ok("GET", page)["version"] > int(version)
    # when the form is saved, the change goes through: nothing it shows had changed
    form = {"status": "suspended", "quantity": "3", "billing_cycle": "monthly", "auto_renew": "on"}
    boss.submit(page, {**form, "auto_renew_shown": "1", "version": version})
    assert account.boss.ok("GET", page)["status"] == "suspended"


def test_the_settings_form_sets_the_accounts_currency(boss: Browser, account: Account):
    html = boss.page("/settings")
    form = {
        "method_local": "on",
        "default_markup_percent": "5",
        "terms_text": "",
        "version": form_version(html, "/settings"),
    }
    refused = boss.submit("/settings", {**form, "currency": "XYZ"}, status=409).text
    assert "not an ISO 4217 currency code" in refused
    boss.submit("/settings", {**form, "currency": "ron"})
    assert account.boss.ok("GET", "/settings")["currency"] == "RON"
