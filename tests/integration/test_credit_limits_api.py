"""Credit limits over HTTP, the sagas and the vendor simulator running in process, on
SQLite and PostgreSQL (issue 18 item 6): a customer user's order above the limit waits
(202 ``awaiting_approval``, nothing at the vendor); approved, it is provisioned; another
one rejected with a reason, which the customer sees on its order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from csp.bootstrap import System, web_app
from tests.fixtures.api import API, Account, Client, set_settings, sign_up
from tests.fixtures.sagas import settled
from tests.support import BUSINESS_PREMIUM

pytestmark = pytest.mark.postgres


def _cart(client: Client, organization_id: str, tenant_id: str, quantity: int) -> dict[str, Any]:
    order = client.ok("POST", f"/organizations/{organization_id}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant_id, "quantity": quantity}
    client.ok("POST", f"/orders/{order['id']}/lines", 201, json=line)
    return client.ok("GET", f"/orders/{order['id']}")  # type: ignore[no-any-return]


def _vendor_orders(system: System, tenant: dict[str, Any]) -> int:
    assert system.sagas is not None
    return len(system.sagas.gateway().list_orders(tenant["vendor_customer_id"]))


def test_an_order_over_the_limit_waits_for_the_resellers_decision(http_system: System) -> None:
    system = http_system
    app = web_app(system)
    account: Account = sign_up(app, system)
    boss = account.boss
    set_settings(system, account.reseller_id, customer_self_service=True)
    customer = account.customer()
    t = boss.ok("POST", f"/organizations/{customer['id']}/tenants", 202, json={"domain": "contosocl", "mode": "create"})
    settled(system)
    tenant = boss.ok("GET", f"/tenants/{t['id']}")
    buyer = account.invite("buyer@contoso.example", "customer_user", customer["id"])

    # validation: a negative limit names the field; another account's organization is 404
    r = boss.put(f"{API}/organizations/{customer['id']}/credit-limit", json={"monthly_limit": "-1"})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (422, "monthly_limit")
    other = sign_up(app, system, "Other Reseller")
    r = other.boss.put(f"{API}/organizations/{customer['id']}/credit-limit", json={"monthly_limit": "10"})
    assert r.status_code == 404
    r = buyer.put(f"{API}/organizations/{customer['id']}/credit-limit", json={"monthly_limit": None})
    assert r.status_code == 403

    # a limit of exactly two seats' monthly price: 2 seats fit, a 3rd seat's order does not
    first = _cart(buyer, customer["id"], tenant["id"], 2)
    limit = Decimal(first["total"])
    set_limit = boss.ok("PUT", f"/organizations/{customer['id']}/credit-limit", json={"monthly_limit": str(limit)})
    assert Decimal(set_limit["monthly_limit"]) == limit
    assert Decimal(boss.ok("GET", f"/organizations/{customer['id']}")["credit_limit"]) == limit
    placed = buyer.ok("POST", f"/orders/{first['id']}/place", 202, json={"accept_terms": True})
    assert placed["status"] == "placed"  # exactly at the limit
    settled(system)
    assert buyer.ok("GET", f"/orders/{first['id']}")["status"] == "provision_finished"
    at_vendor = _vendor_orders(system, tenant)

    over = _cart(buyer, customer["id"], tenant["id"], 1)
    waiting = buyer.ok("POST", f"/orders/{over['id']}/place", 202, json={"accept_terms": True})
    assert waiting["status"] == "awaiting_approval"
    assert Decimal(waiting["approval"]["amount"]) == limit + Decimal(over["total"])
    settled(system)
    assert _vendor_orders(system, tenant) == at_vendor  # nothing sent to the vendor
    listed = buyer.ok("GET", f"/organizations/{customer['id']}/orders")["items"]
    assert {o["id"]: o["status"] for o in listed}[over["id"]] == "awaiting_approval"

    (approval,) = boss.ok("GET", "/approvals?status=pending")["items"]
    assert (approval["order_id"], approval["organization_name"], approval["status"]) == (
        over["id"],
        "Contoso SRL",
        "pending",
    )
    assert Decimal(approval["limit"]) == limit
    assert approval["requested_by"] == f"user:{buyer.ok('GET', '/auth/me')['id']}"
    assert buyer.post(f"{API}/approvals/{approval['id']}/approve").status_code == 403
    assert other.boss.post(f"{API}/approvals/{approval['id']}/approve").status_code == 404
    decided = boss.ok("POST", f"/approvals/{approval['id']}/approve")
    assert decided["status"] == "approved"
    assert decided["decided_by"]
    assert decided["decided_at"]
    assert boss.post(f"{API}/approvals/{approval['id']}/approve").status_code == 409  # deciding twice
    settled(system)
    assert buyer.ok("GET", f"/orders/{over['id']}")["status"] == "provision_finished"
    assert _vendor_orders(system, tenant) == at_vendor + 1

    # another order over it: rejected with a reason, which the customer sees
    again = _cart(buyer, customer["id"], tenant["id"], 1)
    buyer.ok("POST", f"/orders/{again['id']}/place", 202, json={"accept_terms": True})
    pending = boss.ok("GET", "/approvals?status=pending")["items"][0]
    r = boss.post(f"{API}/approvals/{pending['id']}/reject", json={"reason": " "})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (422, "reason")
    rejected = boss.ok("POST", f"/approvals/{pending['id']}/reject", json={"reason": "Budget frozen until March"})
    assert (rejected["status"], rejected["reason"]) == ("rejected", "Budget frozen until March")
    assert boss.post(f"{API}/approvals/{pending['id']}/approve").status_code == 409
    seen = buyer.ok("GET", f"/orders/{again['id']}")
    assert (seen["status"], seen["failure_reason"]) == ("rejected", "Budget frozen until March")
    assert seen["approval"]["reason"] == "Budget frozen until March"
    row = {o["id"]: o for o in buyer.ok("GET", f"/organizations/{customer['id']}/orders")["items"]}[again["id"]]
    assert (row["status"], row["reason"]) == ("rejected", "Budget frozen until March")
    settled(system)
    assert _vendor_orders(system, tenant) == at_vendor + 1
    # cleared with null: no limit any more
    cleared = boss.ok("PUT", f"/organizations/{customer['id']}/credit-limit", json={"monthly_limit": None})
    assert cleared["monthly_limit"] is None
    boss.ok("PUT", f"/organizations/{customer['id']}/credit-limit", json={"monthly_limit": 1.5})  # a JSON number
    assert boss.ok("GET", f"/organizations/{customer['id']}")["credit_limit"] == "1.50"
    # reseller staff are never limited
    staff = _cart(boss, customer["id"], tenant["id"], 5)
    assert boss.ok("POST", f"/orders/{staff['id']}/place", 202, json={"accept_terms": True})["status"] == "placed"
