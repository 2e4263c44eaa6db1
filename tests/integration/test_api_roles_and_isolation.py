"""Every endpoint × every role against an expected table written here (independently of
``csp.api.permissions``), and the isolation walk: another account's ids answer 404."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI

from csp.aggregates.agreement import latest_agreement_version
from csp.bootstrap import System
from tests.fixtures.api import API, Account, Client, contoso, set_settings, sign_up
from tests.support import BUSINESS_PREMIUM, TEAMS_PHONE

AM, OM, BI, RO, CA, CU = "account_manager", "order_manager", "billing", "read_only", "customer_admin", "customer_user"
ROLES = (AM, OM, BI, RO, CA, CU)
RESELLER = {AM, OM, BI, RO}
EVERYONE = set(ROLES)
MANAGERS = {AM, OM}
PUBLIC = "public"  # no sign-in needed
SIGNED_IN = "signed_in"  # any role


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # with {placeholders} filled from the world
    allowed: frozenset[str] | str
    body: Any = None
    takes_foreign_id: bool = True  # a path or body id of the account, for the isolation walk


def ep(method: str, path: str, allowed: set[str] | str, body: Any = None, ids: bool = True) -> Endpoint:
    return Endpoint(method, path, allowed if isinstance(allowed, str) else frozenset(allowed), body, ids)


def line_body(w: dict[str, str]) -> dict[str, Any]:
    return {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": w["tenant"], "quantity": 1}


ENDPOINTS: list[Endpoint] = [
    ep("POST", "/resellers", PUBLIC, {"company_name": ""}, ids=False),
    ep("POST", "/resellers/{slug}/customers", PUBLIC, {}, ids=False),
    ep("POST", "/auth/login", PUBLIC, {"email": "nobody@example.com", "password": "x"}, ids=False),
    ep("POST", "/auth/logout", PUBLIC, None, ids=False),
    ep("GET", "/auth/me", SIGNED_IN, ids=False),
    ep("GET", "/auth/methods?email=a@example.com", PUBLIC, ids=False),
    ep("POST", "/auth/tokens", SIGNED_IN, {"name": "t-{n}"}, ids=False),
    ep("GET", "/auth/tokens", SIGNED_IN, ids=False),
    ep("DELETE", "/auth/tokens/{random}", SIGNED_IN, ids=False),
    ep("POST", "/auth/password", SIGNED_IN, {"current_password": "not-the-password", "new_password": "x"}, ids=False),
    ep("POST", "/auth/password-reset", PUBLIC, {"email": "nobody-{n}@example.com"}, ids=False),
    ep("POST", "/auth/password-reset/{token}", PUBLIC, {"password": "x"}, ids=False),
    ep("POST", "/auth/confirm-email/{token}", PUBLIC, None, ids=False),
    ep("GET", "/auth/session", SIGNED_IN, ids=False),
    ep("GET", "/auth/oidc/{method}/start?next=/", PUBLIC, ids=False),
    ep("GET", "/auth/oidc/{method}/callback?code=c&state=s", PUBLIC, ids=False),
    ep("GET", "/users", {AM, RO, CA}, ids=False),
    ep("GET", "/users/{user}/tokens", {AM, CA}),
    ep("DELETE", "/users/{user}/tokens/{random}", {AM, CA}),
    ep(
        "POST",
        "/users/invitations",
        {AM, CA},
        {"email": "new-{n}@example.com", "role": CU, "organization_id": "{customer}"},
    ),
    ep("GET", "/organizations/{customer}/users", {AM, RO, CA}),
    ep("POST", "/invitations/{token}/accept", PUBLIC, {"first_name": "a", "last_name": "b"}, ids=False),
    ep("PATCH", "/users/{user}", {AM, CA}, {"role": CU}),
    ep("GET", "/settings", {AM, RO}, ids=False),
    ep("PUT", "/settings", {AM}, {"customer_self_service": True}, ids=False),
    ep("GET", "/catalog/categories", PUBLIC, ids=False),
    ep("GET", "/catalog/offers", PUBLIC, ids=False),
    ep("GET", "/catalog/offers/{offer}", PUBLIC, ids=False),
    ep("PUT", "/catalog/offers/{offer}/visibility", {AM}, {"visible": True}, ids=False),
    ep("GET", "/segments", RESELLER, ids=False),
    ep("POST", "/segments", {AM}, {"name": "S{n}"}, ids=False),
    ep("GET", "/segments/{segment}", RESELLER),
    ep("PUT", "/segments/{segment}", {AM}, {"name": "Gold"}),
    ep("PUT", "/segments/{segment}/prices/{offer}", {AM}, {"markup_percent": "3"}),
    ep("GET", "/pricing/preview?offer_id={offer}", RESELLER, ids=False),
    ep("GET", "/organizations", EVERYONE, ids=False),
    ep("POST", "/organizations", MANAGERS, contoso("Org {n}"), ids=False),
    ep("GET", "/organizations/{customer}", EVERYONE),
    ep("PATCH", "/organizations/{customer}", MANAGERS, {"contact_phone": "+40 21 555 0199"}),
    ep("GET", "/organizations/{customer}/tenants", EVERYONE),
    ep("POST", "/organizations/{customer}/tenants", {AM, OM, CA}, {"domain": "t{n}x", "mode": "create"}),
    ep("GET", "/vendor/relationship-request", {AM, OM, CA}, ids=False),
    ep("GET", "/tenants/{tenant}", EVERYONE),
    ep("GET", "/tenants/{tenant}/history", RESELLER),
    ep("POST", "/organizations/{customer}/orders", {AM, OM, CA, CU}, {}),
    ep("POST", "/orders/{order}/lines", {AM, OM, CA, CU}, "line"),
    ep("PATCH", "/orders/{order}/lines/1", {AM, OM, CA, CU}, {"quantity": 2}),
    ep("DELETE", "/orders/{order}/lines/9", {AM, OM, CA, CU}),
    ep("POST", "/orders/{order}/place", {AM, OM, CA, CU}, {}),
    ep("POST", "/orders/{order}/discard", {AM, OM, CA, CU}, None),
    ep("POST", "/orders/{order}/retry", {AM, OM, CA, CU}, None),
    ep("POST", "/orders/{order}/discard-failed", {AM, OM, CA, CU}, None),
    ep("GET", "/organizations/{customer}/orders", EVERYONE),
    ep("GET", "/orders/{order}", EVERYONE),
    ep("GET", "/orders/{order}/history", RESELLER),
    ep("GET", "/organizations/{customer}/subscriptions", EVERYONE),
    ep("GET", "/subscriptions/{subscription}", EVERYONE),
    ep("GET", "/subscriptions/{subscription}/history", RESELLER),
    ep("POST", "/subscriptions/{subscription}/quantity", MANAGERS, {"quantity": 2}),
    ep("POST", "/subscriptions/{subscription}/billing-cycle", MANAGERS, {"billing_cycle": "monthly"}),
    ep("POST", "/subscriptions/{subscription}/suspend", MANAGERS),
    ep("POST", "/subscriptions/{subscription}/reactivate", MANAGERS),
    ep("POST", "/subscriptions/{subscription}/cancel", MANAGERS, None),
    ep("POST", "/subscriptions/{subscription}/convert-trial", MANAGERS, {}),
    ep("PUT", "/subscriptions/{subscription}/price", MANAGERS, {"markup_percent": "5"}),
    ep("PUT", "/subscriptions/{subscription}/auto-renew", MANAGERS, {"auto_renew": True}),
    ep("POST", "/subscriptions/{subscription}/addons", MANAGERS, {"offer_id": str(TEAMS_PHONE), "quantity": 1}),
    ep("DELETE", "/subscriptions/{subscription}/addons/{random}", MANAGERS),
    ep("GET", "/invoices", {AM, BI, RO}, ids=False),
    ep("GET", "/invoices/{random}", {AM, BI, RO}, ids=False),
    ep("GET", "/reports/{report}", RESELLER, ids=False),
    # customer invoices and tax (issue 18)
    ep("GET", "/customer-invoices", {AM, BI, RO, CA, CU}, ids=False),
    ep("GET", "/customer-invoices/{random}", {AM, BI, RO, CA, CU}, ids=False),
    ep("POST", "/customer-invoices/{random}/issue", {AM, BI}, None, ids=False),
    ep("POST", "/customer-invoices/{random}/pay", {AM, BI}, {}, ids=False),
    ep("POST", "/customer-invoices/{random}/void", {AM, BI}, {}, ids=False),
    ep(
        "POST",
        "/customer-invoices/{random}/credit-notes",
        {AM, BI},
        {"lines": [{"description": "x", "unit_price": "1"}]},
        ids=False,
    ),
    ep("POST", "/customer-invoices/payments", {AM, BI}, None, ids=False),
    ep("GET", "/settings/tax", {AM, BI, RO}, ids=False),
    ep("PUT", "/settings/tax", {AM, BI}, {"rates": [{"country": "RO", "rate_percent": "19"}]}, ids=False),
    # the distributor's exchange rates (issue 18): no role of an account may; only the
    # operators CSP_OPERATOR_EMAILS names (tests/integration/test_currencies_api.py)
    ep("GET", "/exchange-rates", set(), ids=False),
    ep("PUT", "/exchange-rates/{month}/{currency}", set(), {"rate": "4.975"}, ids=False),
    # credit limits and approvals (issue 18 item 6)
    ep("PUT", "/organizations/{customer}/credit-limit", MANAGERS, {"monthly_limit": None}),
    ep("GET", "/approvals", RESELLER, ids=False),
    ep("GET", "/approvals/{random}", RESELLER, ids=False),
    ep("POST", "/approvals/{random}/approve", MANAGERS, None, ids=False),
    ep("POST", "/approvals/{random}/reject", MANAGERS, {"reason": "over budget"}, ids=False),
    ep(
        "POST",
        "/organizations/{customer}/quotes",
        MANAGERS,
        {"lines": [{"offer_id": str(BUSINESS_PREMIUM), "quantity": 1}]},
    ),
    ep("GET", "/organizations/{customer}/quotes", EVERYONE),
    ep("GET", "/quotes/{quote}", EVERYONE),
    ep("POST", "/quotes/{quote}/accept", {AM, OM, CA}, {"tenant_id": "{tenant}"}),
    # licence assignment and upgrades (issue 16)
    ep("GET", "/tenants/{tenant}/users", EVERYONE),
    ep(
        "POST",
        "/tenants/{tenant}/users",
        {AM, OM, CA},
        {"user_principal_name": "u{n}@nowhere.example", "display_name": "U"},
    ),
    ep("PUT", "/subscriptions/{subscription}/assignments/{random}", MANAGERS),
    ep("DELETE", "/subscriptions/{subscription}/assignments/{random}", MANAGERS),
    ep("GET", "/subscriptions/{subscription}/transitions", EVERYONE),
    ep("POST", "/subscriptions/{subscription}/transitions", MANAGERS, {"offer_id": str(BUSINESS_PREMIUM)}),
    ep("GET", "/subscriptions/{subscription}/next-term", EVERYONE),
    ep("PUT", "/subscriptions/{subscription}/next-term", MANAGERS, {}),
    ep("DELETE", "/subscriptions/{subscription}/next-term", MANAGERS),
    # GDAP relationships and the customer agreement (issue 16)
    ep("GET", "/gdap/roles", EVERYONE, ids=False),
    ep(
        "POST",
        "/tenants/{tenant}/gdap",
        {AM, OM, CA},
        {"roles": ["Directory Readers"], "duration_days": 30, "auto_extend": False},
    ),
    ep("GET", "/tenants/{tenant}/gdap", EVERYONE),
    ep("GET", "/gdap/{random}", EVERYONE, ids=False),
    ep("DELETE", "/gdap/{random}", {AM, OM, CA}, ids=False),
    ep("POST", "/test/gdap/{random}/approve", {AM, OM, CA}, ids=False),
    ep(
        "POST",
        "/organizations/{customer}/agreement",
        MANAGERS,
        {
            "first_name": "Ana",
            "last_name": "Pop",
            "email": "ana@contoso.example",
            "phone": "+40 21 555 0100",
            "accepted_at": "2020-01-01T00:00:00+00:00",
            "agreement_version": latest_agreement_version(),
        },
    ),
    ep("GET", "/organizations/{customer}/agreement", EVERYONE),
    # Azure usage and entitlements (issue 18 item 5)
    ep("GET", "/usage", EVERYONE, ids=False),
    ep("GET", "/usage?organization_id={customer}", EVERYONE),
    ep("GET", "/usage/reconciliation?period=2026-11", {AM, BI, RO}, ids=False),
    ep("GET", "/azure-plans/{subscription}/entitlements", EVERYONE),
    ep("POST", "/azure-plans/{subscription}/entitlements", MANAGERS, {"name": "Dev {n}"}),
    # notifications and webhooks (issue 16): the reseller's own, no customer role
    ep("GET", "/notifications", RESELLER, ids=False),
    ep("POST", "/notifications/{random}/read", MANAGERS, ids=False),
    ep("GET", "/settings/notifications", {AM, RO}, ids=False),
    ep("PUT", "/settings/notifications", {AM}, {"copy_customer": False}, ids=False),
    ep("GET", "/webhooks/kinds", {AM, RO}, ids=False),
    ep("GET", "/webhooks", {AM, RO}, ids=False),
    ep("POST", "/webhooks", {AM}, {"url": "https://psa.example.com/{n}", "events": ["*"]}, ids=False),
    ep("GET", "/webhooks/{random}", {AM, RO}, ids=False),
    ep("PATCH", "/webhooks/{random}", {AM}, {"enabled": True}, ids=False),
    ep("DELETE", "/webhooks/{random}", {AM}, ids=False),
    ep("GET", "/webhooks/{random}/deliveries", {AM, RO}, ids=False),
    ep("POST", "/webhooks/{random}/deliveries/{random}/replay", {AM}, ids=False),
    ep("GET", "/healthz", PUBLIC, ids=False),
    ep("GET", "/readyz", PUBLIC, ids=False),
    ep("GET", "/metrics", PUBLIC, ids=False),
    ep("GET", "/test/clock", PUBLIC, ids=False),
    ep("POST", "/test/clock", PUBLIC, {"now": "2000-01-01T00:00:00+00:00"}, ids=False),
]


def _template(path: str) -> str:
    """``/orders/{order}/lines/1`` → ``/orders/{}/lines/{}`` to compare with the app's routes."""
    out = []
    for part in path.split("?")[0].split("/"):
        out.append("{}" if part.startswith("{") or part.isdigit() else part)
    return "/".join(out)


def test_the_table_names_every_route_of_the_api(api_app: FastAPI):
    routes = {
        (method.upper(), _template(path.removeprefix(API)))
        for path, item in api_app.openapi()["paths"].items()
        for method in item
    }
    table = {(e.method, _template(e.path)) for e in ENDPOINTS}
    assert routes - table == set(), "routes missing from the role table"
    assert table - routes == set(), "the table names routes the API does not have"


class World:
    """Account A with one of each thing, and a signed-in client per role."""

    def __init__(self, account: Account, system: System) -> None:
        self.account = account
        boss = account.boss
        set_settings(system, account.reseller_id, customer_self_service=True)
        customer = account.customer()
        tenant = account.ready_tenant(customer["id"])
        order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
        boss.ok(
            "POST",
            f"/orders/{order['id']}/lines",
            201,
            json={"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 1},
        )
        bought = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
        boss.ok(
            "POST",
            f"/orders/{bought['id']}/lines",
            201,
            json={"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 3},
        )
        boss.ok("POST", f"/orders/{bought['id']}/place", 202, json={"accept_terms": True})
        account.provision(bought["id"])
        sub = boss.ok("GET", f"/orders/{bought['id']}")["subscription_ids"][0]
        quote = boss.ok(
            "POST",
            f"/organizations/{customer['id']}/quotes",
            201,
            json={"lines": [{"offer_id": str(BUSINESS_PREMIUM), "quantity": 1}]},
        )
        segment = boss.ok("POST", "/segments", 201, json={"name": "Gold"})
        for role, org in (
            (OM, account.reseller_id),
            (BI, account.reseller_id),
            (RO, account.reseller_id),
            (CA, customer["id"]),
            (CU, customer["id"]),
        ):
            account.invite(f"{role}-{uuid.uuid4().hex[:6]}@example.com", role, org)
        target = account.invite(f"target-{uuid.uuid4().hex[:6]}@example.com", CU, customer["id"])
        account.users[AM] = boss
        self.clients = dict(account.users)
        self.ids = {
            "slug": account.slug,
            "customer": customer["id"],
            "tenant": tenant["id"],
            "order": order["id"],
            "subscription": sub,
            "quote": quote["id"],
            "segment": segment["id"],
            "user": target.ok("GET", "/auth/me")["id"],
            "offer": str(BUSINESS_PREMIUM),
            "token": "inv_nothing",
            "random": str(uuid.uuid4()),
            "report": "customers",
            "method": "microsoft_work",
            "month": "2026-11",
            "currency": "RON",
        }
        self.n = 0

    def call(self, client: Client, e: Endpoint, ids: dict[str, str] | None = None) -> Any:
        self.n += 1
        values = {**self.ids, **(ids or {}), "n": str(self.n)}
        body = line_body(values) if e.body == "line" else _fill(e.body, values)
        return client.request(e.method, API + e.path.format(**values), json=body)


def _fill(body: Any, values: dict[str, str]) -> Any:
    if isinstance(body, str):
        return body.format(**values)
    if isinstance(body, dict):
        return {k: _fill(v, values) for k, v in body.items()}
    if isinstance(body, list):
        return [_fill(v, values) for v in body]
    return body


@pytest.fixture
def world(account: Account, api_system: System) -> World:
    return World(account, api_system)


def test_every_role_on_every_endpoint(world: World):
    wrong = []
    for e in ENDPOINTS:
        if e.path == "/auth/logout":
            continue  # would end the session the rest of the walk uses
        for role in ROLES:
            r = world.call(world.clients[role], e)
            allowed = e.allowed in (PUBLIC, SIGNED_IN) or role in e.allowed
            if allowed and r.status_code in (401, 403) and r.json()["error"]["code"] in ("forbidden", "not_signed_in"):
                wrong.append(f"{role} {e.method} {e.path}: {r.status_code} {r.text[:120]}")
            if not allowed and (r.status_code != 403 or r.json()["error"]["code"] != "forbidden"):
                wrong.append(f"{role} {e.method} {e.path}: expected 403, got {r.status_code} {r.text[:120]}")
            assert r.status_code < 500 or r.json()["error"]["code"] in ("read_side_unavailable", "audit_unavailable"), (
                r.text
            )
    assert wrong == []


def test_without_sign_in_only_public_endpoints_answer(world: World, visitor: Client):
    for e in ENDPOINTS:
        r = world.call(visitor, e)
        if e.allowed == PUBLIC:
            assert r.status_code != 401 or r.json()["error"]["code"] != "not_signed_in", f"{e.method} {e.path}"
        else:
            assert r.status_code == 401, f"{e.method} {e.path}: {r.status_code}"


def test_customers_order_only_when_the_reseller_allows_self_service(world: World, api_system: System):
    set_settings(api_system, world.account.reseller_id, customer_self_service=False)
    for role in (CA, CU):
        r = world.clients[role].post(f"{API}/organizations/{world.ids['customer']}/orders", json={})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "self_service_disabled"


def test_another_accounts_ids_answer_404_on_every_endpoint(world: World, api_app: FastAPI, api_system: System):
    # given a second reseller with its own customer, tenant and draft order
    other = sign_up(api_app, api_system, "Other Reseller")
    mine = other.customer("Mine SRL")
    my_tenant = other.ready_tenant(mine["id"])
    my_order = other.boss.ok("POST", f"/organizations/{mine['id']}/orders", 201, json={})
    leaks = []
    for e in ENDPOINTS:
        if not e.takes_foreign_id:
            continue
        r = world.call(other.boss, e)
        if r.status_code != 404:
            leaks.append(f"{e.method} {e.path}: {r.status_code} {r.text[:120]}")
        elif "Contoso" in r.text:
            leaks.append(f"{e.method} {e.path}: data in a 404")
    # ids of the first account inside a body of the second
    b = other.boss
    for method, path, body in (
        (
            "POST",
            f"/orders/{my_order['id']}/lines",
            {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": world.ids["tenant"], "quantity": 1},
        ),
        (
            "POST",
            f"/orders/{my_order['id']}/lines",
            {"subscription_id": world.ids["subscription"], "quantity_delta": 1},
        ),
        (
            "POST",
            f"/organizations/{mine['id']}/quotes",
            {"lines": [{"offer_id": str(BUSINESS_PREMIUM), "quantity": 1, "tenant_id": world.ids["tenant"]}]},
        ),
    ):
        r = b.request(method, API + path, json=body)
        if r.status_code != 404:
            leaks.append(f"{method} {path} with a foreign id in the body: {r.status_code}")
    r = b.post(f"{API}/segments", json={"name": "X", "organization_ids": [world.ids["customer"]]})
    assert r.status_code == 422  # the same answer as for an id that does not exist
    assert my_tenant["status"] == "created"
    assert leaks == []


def test_a_customer_user_sees_only_its_own_organization(world: World):
    boss = world.account.boss
    other_customer = world.account.customer("Fabrikam SRL")
    tenant = world.account.ready_tenant(other_customer["id"])
    order = boss.ok("POST", f"/organizations/{other_customer['id']}/orders", 201, json={})
    cu = world.clients[CU]
    for path in (
        f"/organizations/{other_customer['id']}",
        f"/organizations/{other_customer['id']}/tenants",
        f"/tenants/{tenant['id']}",
        f"/orders/{order['id']}",
        f"/organizations/{world.account.reseller_id}",
    ):
        assert cu.get(API + path).status_code == 404, path
    own = cu.ok("GET", f"/orders/{world.ids['order']}")
    assert own["lines"][0]["unit_partner_price"] is None
    assert own["lines"][0]["margin"] is None
    sub = cu.ok("GET", f"/subscriptions/{world.ids['subscription']}")
    assert sub["monthly_reseller_price"] is None
    assert sub["unit_cost"] == "15.58" or sub["unit_cost"] is not None
