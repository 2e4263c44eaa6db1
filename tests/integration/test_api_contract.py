"""The HTTP contract over the application (in-process client): accounts, sign-in,
catalog prices by who asks, the order flow, subscriptions, quotes, errors."""

from __future__ import annotations

from uuid import uuid4

from fastapi import FastAPI

from csp.application.catalog import offer_id_for
from csp.bootstrap import System
from tests.fixtures.api import API, PASSWORD, Account, Client, set_settings, sign_in, sign_up
from tests.support import BUSINESS_BASIC, BUSINESS_PREMIUM, BUSINESS_PREMIUM_TRIAL, TEAMS_PHONE

A3_FACULTY = offer_id_for("CFQ7TTC0LH0Z:0001")


def test_sign_up_then_sign_in_with_a_session_cookie_and_a_csrf_token(api_app: FastAPI, account: Account):
    me = account.boss.ok("GET", "/auth/me")
    assert me["email"] == account.email
    assert me["role"] == "account_manager"
    cookie = account.boss.cookies.get("csp_session")
    assert cookie
    # the cookie alone does not allow a change: the CSRF header is needed
    bare = Client(api_app)
    bare.cookies.set("csp_session", cookie)
    r = bare.post(f"{API}/organizations", json={})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf_token_invalid"
    # logout ends the session on the server
    account.boss.ok("POST", "/auth/logout", 204)
    again = Client(api_app)
    again.cookies.set("csp_session", cookie)
    assert again.get(f"{API}/auth/me").status_code == 401


def test_login_is_throttled_per_account_after_repeated_failures(api_app: FastAPI, account: Account):
    c = Client(api_app)
    for _ in range(5):
        r = c.post(f"{API}/auth/login", json={"email": account.email, "password": "wrong-password-123"})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_credentials"
    r = c.post(f"{API}/auth/login", json={"email": account.email, "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0


def test_weak_passwords_are_refused_and_a_taken_email_is_not_told(visitor: Client, account: Account):
    body = {
        "company_name": "X",
        "country": "RO",
        "primary_contact": {"email": "x@example.com", "password": "password1234", "first_name": "A", "last_name": "B"},
    }
    r = visitor.post(f"{API}/resellers", json=body)
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "password"
    body["primary_contact"] |= {"email": account.email, "password": PASSWORD}
    assert visitor.post(f"{API}/resellers", json=body).status_code == 201  # as for any address


def test_api_tokens_are_shown_once_and_work_without_csrf(api_app: FastAPI, account: Account):
    token = account.boss.ok("POST", "/auth/tokens", 201, json={"name": "ci"})["token"]
    c = Client(api_app)
    c.headers["Authorization"] = f"Bearer {token}"
    assert c.ok("POST", "/organizations", 201, json=_org("Via Token"))["name"] == "Via Token"
    c.headers["Authorization"] = "Bearer nope"
    assert c.get(f"{API}/auth/me").status_code == 401


def test_disabling_a_user_ends_its_sessions(account: Account):
    om = account.invite("om@example.com", "order_manager", account.reseller_id)
    assert om.ok("GET", "/auth/me")["role"] == "order_manager"
    uid = om.ok("GET", "/auth/me")["id"]
    account.boss.ok("PATCH", f"/users/{uid}", json={"disabled": True})
    assert om.get(f"{API}/auth/me").status_code == 401


def test_the_catalog_shows_each_caller_the_prices_it_may_see(
    api_app: FastAPI, api_system: System, account: Account, visitor: Client
):
    path = f"/catalog/offers/{BUSINESS_PREMIUM}"
    as_visitor = visitor.ok("GET", path)
    assert (as_visitor["erp_price"], as_visitor["partner_price"], as_visitor["customer_price"]) == ("16.87", None, None)
    as_reseller = account.boss.ok("GET", path)
    assert (as_reseller["erp_price"], as_reseller["partner_price"]) == ("16.87", "14.16")
    customer = account.customer()
    set_settings(api_system, account.reseller_id, customer_self_service=True)
    cu = account.invite("cu@example.com", "customer_user", customer["id"])
    as_customer = cu.ok("GET", path)
    assert (as_customer["customer_price"], as_customer["partner_price"]) == ("14.87", None)
    # hidden offers disappear from the reseller's public portal and from its customers
    hidden = account.boss.ok("PUT", f"/catalog/offers/{BUSINESS_BASIC}/visibility", json={"visible": False})
    assert hidden["visible"] is False
    stale = account.boss.put(
        f"{API}/catalog/offers/{BUSINESS_BASIC}/visibility",
        json={"visible": True},
        headers={"If-Match": str(hidden["version"] - 1)},
    )
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "version_conflict")
    ids = {o["id"] for o in visitor.ok("GET", f"/catalog/offers?reseller={account.slug}&limit=200")["items"]}
    assert str(BUSINESS_BASIC) not in ids
    assert str(BUSINESS_PREMIUM) in ids
    assert cu.get(f"{API}/catalog/offers/{BUSINESS_BASIC}").status_code == 404
    # eligibility: an academic offer is not for a retail customer
    assert cu.get(f"{API}/catalog/offers/{A3_FACULTY}").status_code == 404
    assert visitor.ok("GET", "/catalog/categories")["total"] >= 3


def test_the_price_preview_adds_the_extra_markup_to_the_default(account: Account):
    p = account.boss.ok("GET", f"/pricing/preview?offer_id={BUSINESS_PREMIUM}&quantity=2&markup_percent=5")
    assert (p["partner_price"], p["erp_price"], p["customer_price"], p["margin"], p["total"]) == (
        "14.16",
        "16.87",
        "15.58",
        "1.42",
        "31.16",
    )
    t = account.boss.ok("GET", f"/pricing/preview?offer_id={BUSINESS_PREMIUM}&target_price=15.58")
    assert t["markup_percent"] == "5.0282"


def test_an_order_from_cart_to_provisioned_then_a_change_order(account: Account):
    boss = account.boss
    customer = account.customer()
    tenant = account.ready_tenant(customer["id"], "cspplatformtest")
    assert tenant["domain"] == "cspplatformtest.onmicrosoft.com"
    order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    assert (order["status"], order["lines"], order["total"]) == ("draft", [], "0.00")
    line = boss.ok(
        "POST",
        f"/orders/{order['id']}/lines",
        201,
        json={
            "offer_id": str(BUSINESS_PREMIUM),
            "tenant_id": tenant["id"],
            "quantity": 1,
            "billing_cycle": "monthly",
            "term": "annual",
            "markup_percent": "5",
        },
    )
    assert (line["unit_partner_price"], line["unit_customer_price"], line["margin"], line["requested_change"]) == (
        "14.16",
        "15.58",
        "1.42",
        "+1 Users",
    )
    # stale If-Match
    r = boss.post(f"{API}/orders/{order['id']}/place", json={"accept_terms": True}, headers={"If-Match": "1"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "version_conflict"
    r = boss.post(f"{API}/orders/{order['id']}/place", json={})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "terms_not_accepted"
    placed = boss.ok(
        "POST",
        f"/orders/{order['id']}/place",
        202,
        json={"accept_terms": True},
        headers={"If-Match": str(line["version"])},
    )
    assert placed["status"] == "placed"
    account.provision(order["id"])
    done = boss.ok("GET", f"/orders/{order['id']}")
    assert done["status"] == "provision_finished"
    sub_id = done["subscription_ids"][0]
    sub = boss.ok("GET", f"/subscriptions/{sub_id}")
    assert (sub["status"], sub["purchased"], sub["unit_cost"], sub["monthly_cost"], sub["monthly_reseller_price"]) == (
        "active",
        1,
        "15.58",
        "15.58",
        "14.16",
    )
    change = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    line = boss.ok("POST", f"/orders/{change['id']}/lines", 201, json={"subscription_id": sub_id, "quantity_delta": 1})
    assert line["requested_change"] == "+1 Users"
    boss.ok("POST", f"/orders/{change['id']}/place", 202, json={"accept_terms": True})
    account.provision(change["id"])
    assert boss.ok("GET", f"/subscriptions/{sub_id}")["purchased"] == 2
    # suspend / reactivate; a suspended subscription cannot change quantity
    boss.ok("POST", f"/subscriptions/{sub_id}/suspend")
    r = boss.post(f"{API}/subscriptions/{sub_id}/quantity", json={"quantity": 3})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "subscription_suspended"
    assert boss.ok("POST", f"/subscriptions/{sub_id}/reactivate")["status"] == "active"
    # an add-on on the base, then the price
    addon = boss.ok("POST", f"/subscriptions/{sub_id}/addons", 201, json={"offer_id": str(TEAMS_PHONE), "quantity": 1})
    assert addon["parent_id"] == sub_id
    assert len(boss.ok("GET", f"/subscriptions/{sub_id}")["addons"]) == 1
    assert (
        boss.ok("PUT", f"/subscriptions/{sub_id}/price", json={"unit_customer_price": "16.00"})["unit_cost"] == "16.00"
    )


def test_a_draft_is_edited_saved_for_later_and_discarded(account: Account):
    boss = account.boss
    customer = account.customer()
    tenant = account.ready_tenant(customer["id"])
    order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    boss.ok(
        "POST",
        f"/orders/{order['id']}/lines",
        201,
        json={"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 2},
    )
    line = boss.ok("PATCH", f"/orders/{order['id']}/lines/1", json={"quantity": 5})
    assert (line["quantity"], line["term"], line["total"]) == (5, "annual", "74.35")
    assert boss.ok("DELETE", f"/orders/{order['id']}/lines/1")["lines"] == []
    assert boss.ok("POST", f"/orders/{order['id']}/discard")["status"] == "discarded"
    r = boss.post(
        f"{API}/orders/{order['id']}/lines",
        json={"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 1},
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "order_not_draft"


def test_a_trial_and_an_addon_that_needs_a_base(account: Account):
    boss = account.boss
    customer = account.customer()
    tenant = account.ready_tenant(customer["id"])
    order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    r = boss.post(
        f"{API}/orders/{order['id']}/lines",
        json={"offer_id": str(TEAMS_PHONE), "tenant_id": tenant["id"], "quantity": 1},
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "addon_requires_base"
    trial = boss.ok(
        "POST",
        f"/orders/{order['id']}/lines",
        201,
        json={"offer_id": str(BUSINESS_PREMIUM_TRIAL), "tenant_id": tenant["id"]},
    )
    assert (trial["quantity"], trial["is_trial"]) == (25, True)


def test_quotes_convert_into_draft_orders(account: Account):
    boss = account.boss
    customer = account.customer()
    tenant = account.ready_tenant(customer["id"])
    quote = boss.ok(
        "POST",
        f"/organizations/{customer['id']}/quotes",
        201,
        json={"lines": [{"offer_id": str(BUSINESS_PREMIUM), "quantity": 10, "markup_percent": "5"}]},
    )
    assert (quote["status"], quote["total"]) == ("open", "155.80")
    order = boss.ok("POST", f"/quotes/{quote['id']}/accept", 201, json={"tenant_id": tenant["id"]})
    assert (order["status"], order["total"]) == ("draft", "155.80")
    assert boss.ok("GET", f"/quotes/{quote['id']}")["status"] == "accepted"


def test_settings_segments_and_self_registration(api_system: System, account: Account, visitor: Client):
    boss = account.boss
    body = {
        "name": "Fabrikam",
        "country": "RO",
        "address": {"line1": "x", "city": "y", "postal_code": "1"},
        "contact_email": "a@fabrikam.example",
        "contact_phone": "+40 21 555 0123",
        "industry": "retail",
        "admin": {"email": "admin@fabrikam.example", "password": PASSWORD, "first_name": "F", "last_name": "A"},
    }
    r = visitor.post(f"{API}/resellers/{account.slug}/customers", json=body)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "self_registration_disabled"
    s = boss.ok("PUT", "/settings", json={"customer_self_registration": True, "default_markup_percent": "7"})
    assert (s["customer_self_registration"], s["default_markup_percent"], s["sign_in_methods"]) == (
        True,
        "7",
        ["local"],
    )
    reg = visitor.ok("POST", f"/resellers/{account.slug}/customers", 201, json=body)
    assert (reg["user"]["role"], reg["user"]["status"]) == ("customer_admin", "invited")
    visitor.ok("POST", f"/auth/confirm-email/{reg['confirm_token']}")
    seg = boss.ok(
        "POST",
        "/segments",
        201,
        json={"name": "Gold", "offer_ids": [str(BUSINESS_PREMIUM)], "organization_ids": [reg["organization"]["id"]]},
    )
    seg = boss.ok("PUT", f"/segments/{seg['id']}/prices/{BUSINESS_PREMIUM}", json={"customer_price": "15.00"})
    assert seg["prices"] == [{"offer_id": str(BUSINESS_PREMIUM), "markup_percent": None, "customer_price": "15.00"}]
    admin = sign_in(account.app, "admin@fabrikam.example")
    offers = admin.ok("GET", "/catalog/offers?limit=200")["items"]
    assert [(o["id"], o["customer_price"]) for o in offers] == [(str(BUSINESS_PREMIUM), "15.00")]
    assert boss.ok("GET", "/segments")["total"] == 1
    # the reseller's preview for that customer shows the segment's price, as its order line will
    preview = f"/pricing/preview?offer_id={BUSINESS_PREMIUM}&quantity=2&organization_id={reg['organization']['id']}"
    p = boss.ok("GET", preview)
    assert (p["customer_price"], p["total"], p["margin"]) == ("15.00", "30.00", "0.84")
    assert boss.ok("GET", f"{preview}&markup_percent=0")["customer_price"] == "15.15"  # 14.16 × 1.07, asked for
    assert boss.ok("GET", f"/pricing/preview?offer_id={BUSINESS_PREMIUM}")["customer_price"] == "15.15"
    r = boss.get(f"{API}/pricing/preview?offer_id={BUSINESS_PREMIUM}&organization_id={uuid4()}")
    assert r.status_code == 404, r.text


def test_errors_use_the_envelope(account: Account, visitor: Client):
    for r, status, code in (
        (visitor.get(f"{API}/no/such/route"), 404, "not_found"),
        (visitor.put(f"{API}/healthz"), 405, "method_not_allowed"),
        (visitor.get(f"{API}/auth/me"), 401, "not_signed_in"),
        (account.boss.get(f"{API}/orders/{uuid4()}"), 404, "not_found"),
        (account.boss.get(f"{API}/orders/not-a-uuid"), 422, "invalid_input"),
        (
            account.boss.post(f"{API}/organizations", content=b"{", headers={"Content-Type": "application/json"}),
            400,
            "malformed_request",
        ),
        (account.boss.post(f"{API}/organizations", json={"name": ""}), 422, "invalid_input"),
        (
            account.boss.get(f"{API}/pricing/preview?offer_id={BUSINESS_PREMIUM}&markup_percent=NaN"),
            422,
            "invalid_input",
        ),
    ):
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code
        assert set(r.json()["error"]) == {"code", "message", "details"}


def test_every_answer_carries_a_request_id_and_requests_are_counted(account: Account, visitor: Client):
    r = visitor.get(f"{API}/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    assert len(visitor.get(f"{API}/healthz").headers["X-Request-ID"]) == 32
    metrics = visitor.get(f"{API}/metrics").text
    assert 'csp_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    assert visitor.get(f"{API}/readyz").json()["checks"]["database"]["ok"] is True


def _org(name: str) -> dict:
    from tests.fixtures.api import contoso

    return contoso(name)


def test_a_second_reseller_signs_up_beside_the_first(api_app: FastAPI, api_system: System, account: Account):
    other = sign_up(api_app, api_system, "CSP Platform Test")
    assert other.slug == "csp-platform-test-2"


def test_an_invitation_goes_out_by_email_with_its_one_time_link(account: Account, api_system: System):
    inv = account.boss.ok(
        "POST",
        "/users/invitations",
        201,
        json={"email": "new@example.com", "role": "billing", "organization_id": str(account.reseller_id)},
    )
    assert inv["email_sent"] is True
    mails = [p.read_text() for p in api_system.settings.outbox_dir().glob("*.eml")]
    mails = [m for m in mails if "X-CSP-Kind: invitation\n" in m]  # (the sign-up's confirmation is there too)
    assert len(mails) == 1
    assert f"/invitations/{inv['accept_token']}" in mails[0].replace("=\n", "")
    assert "new@example.com" in mails[0]


def test_the_users_list_is_a_read_model_of_the_account(account: Account):
    customer = account.customer()
    account.invite("om@example.com", "order_manager", account.reseller_id)
    account.boss.ok(
        "POST",
        "/users/invitations",
        201,
        json={"email": "ca@example.com", "role": "customer_admin", "organization_id": customer["id"]},
    )
    users = account.boss.ok("GET", "/users")
    assert [(u["email"], u["role"], u["status"]) for u in users["items"]] == [
        (account.email, "account_manager", "active"),  # boss-…@example.com sorts first
        ("ca@example.com", "customer_admin", "invited"),
        ("om@example.com", "order_manager", "active"),
    ]
    of_customer = account.boss.ok("GET", f"/organizations/{customer['id']}/users")
    assert [u["email"] for u in of_customer["items"]] == ["ca@example.com"]
    metrics = account.boss.get(f"{API}/metrics").text
    assert 'csp_projection_lag_events{projection="read"}' in metrics
    assert "csp_saga_outcomes" in metrics


def test_a_report_pages_its_rows_when_asked_and_csv_has_them_all(account: Account):
    for n in range(3):
        account.customer(f"Report Customer {n}")
    assert account.system.projector is not None
    account.system.projector.sync(5)
    every = account.boss.ok("GET", "/reports/customers")
    assert every["total"] == len(every["items"]) >= 3
    first = account.boss.ok("GET", "/reports/customers?limit=2")
    rest = account.boss.ok("GET", "/reports/customers?limit=2&offset=2")
    assert (len(first["items"]), first["total"]) == (2, every["total"])
    assert first["items"] + rest["items"] == every["items"][:4]
    r = account.boss.get(f"{API}/reports/customers?limit=0")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_input"
    csv = account.boss.get(f"{API}/reports/customers?format=csv&limit=1")
    assert len(csv.text.strip().splitlines()) == every["total"] + 1  # the header, then every row
