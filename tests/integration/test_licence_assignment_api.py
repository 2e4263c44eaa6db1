"""Licence assignment end to end, on SQLite and PostgreSQL: over HTTP, through the push
saga, to the vendor simulator (which keeps the tenant's users and their licences), and
back as the subscription's assigned figure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from fastapi import FastAPI

from csp.aggregates.subscription import Subscription
from csp.bootstrap import System, web_app
from tests.fixtures.api import Account, sign_up
from tests.support import BUSINESS_PREMIUM


def _sim_url(system: System) -> str:
    server = system.sagas._sim_server  # type: ignore[union-attr]
    assert server is not None
    return server.url


def _buy(acc: Account, system: System, customer_id: str, tenant_id: str, quantity: int) -> str:
    b = acc.boss
    order = b.ok("POST", f"/organizations/{customer_id}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant_id, "quantity": quantity}
    b.ok("POST", f"/orders/{order['id']}/lines", 201, json={**line, "billing_cycle": "monthly", "term": "annual"})
    b.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    assert system.sagas is not None
    assert system.sagas.drain(30)
    done = b.ok("GET", f"/orders/{order['id']}")
    assert done["status"] == "provision_finished", done
    return str(done["subscription_ids"][0])


@dataclass
class Shop:
    """A reseller signed up over HTTP, a customer with a tenant made at the vendor, and
    (when seats were asked) a provisioned Business Premium subscription of that many seats."""

    system: System
    app: FastAPI
    acc: Account
    customer_id: str
    tenant_id: str
    subscription_id: str = ""


def licensed_shop(factory: Callable[..., System], domain: str, seats: int = 0, **overrides: Any) -> Shop:
    system = factory(test_mode=True, public_url="http://testserver", **overrides)
    assert system.projector is not None
    assert system.sagas is not None
    system.projector.start()
    app = web_app(system)
    acc = sign_up(app, system)
    customer = acc.customer()
    tenant = acc.boss.ok(
        "POST", f"/organizations/{customer['id']}/tenants", 202, json={"domain": domain, "mode": "create"}
    )
    assert system.sagas.drain(30)
    shop = Shop(system, app, acc, customer["id"], tenant["id"])
    if seats:
        shop.subscription_id = _buy(acc, system, shop.customer_id, shop.tenant_id, seats)
    return shop


def test_users_get_and_give_back_licences_through_the_saga(saga_system_factory: Callable[..., System], store_url: str):
    shop = licensed_shop(saga_system_factory, "ikearo", database_url=store_url)
    system, acc, b, tid = shop.system, shop.acc, shop.acc.boss, shop.tenant_id
    assert system.sagas is not None
    customer = {"id": shop.customer_id}
    domain = b.ok("GET", f"/tenants/{tid}")["domain"]

    # a tenant created here starts with its administrator, without licences
    users = b.ok("GET", f"/tenants/{tid}/users")
    assert [(u["user_principal_name"], u["licences"]) for u in users["items"]] == [(f"admin@{domain}", [])]
    admin = users["items"][0]
    # a user is created at the vendor
    ana = b.ok(
        "POST", f"/tenants/{tid}/users", 201, json={"user_principal_name": f"ana@{domain}", "display_name": "Ana Pop"}
    )
    assert (ana["display_name"], ana["licences"]) == ("Ana Pop", [])
    bad = b.request(
        "POST", f"/api/v1/tenants/{tid}/users", json={"user_principal_name": "ana@other.example", "display_name": "A"}
    )
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["details"]["field"] == "user_principal_name"

    sid = _buy(acc, system, customer["id"], tid, 1)

    # when Ana is given the one licence
    asked = b.ok("PUT", f"/subscriptions/{sid}/assignments/{ana['id']}", 202)
    assert asked["licence_requests"] == [{"tenant_user_id": ana["id"], "action": "assign"}]
    # then, pending, it already counts: the administrator cannot have a second one
    full = b.request("PUT", f"/api/v1/subscriptions/{sid}/assignments/{admin['id']}")
    assert (full.status_code, full.json()["error"]["code"]) == (409, "no_free_licence"), full.text
    # and once the saga has told the vendor, the vendor's figure is the subscription's
    assert system.sagas.drain(30)
    sub = b.ok("GET", f"/subscriptions/{sid}")
    assert (sub["assigned"], sub["purchased"], sub["unassigned"], sub["licence_requests"]) == (1, 1, 0, [])
    licensed = {u["user_principal_name"]: u["licences"] for u in b.ok("GET", f"/tenants/{tid}/users")["items"]}
    assert licensed == {f"admin@{domain}": [], f"ana@{domain}": [sid]}
    row = b.ok("GET", f"/organizations/{customer['id']}/subscriptions")["items"][0]
    assert (row["assigned"], row["unassigned"], row["unused_in_window"]) == (1, 0, 0)

    # when Ana's licence is taken back, the seat is free (and cheap to cut, in its window)
    b.ok("DELETE", f"/subscriptions/{sid}/assignments/{ana['id']}", 202)
    assert system.sagas.drain(30)
    sub = b.ok("GET", f"/subscriptions/{sid}")
    assert (sub["assigned"], sub["unassigned"], sub["unused_in_window"]) == (0, 1, 1)
    assert sub["unused_in_window_until"] is not None
    row = b.ok("GET", f"/organizations/{customer['id']}/subscriptions")["items"][0]
    assert (row["unassigned"], row["unused_in_window"]) == (1, 1)
    assert all(u["licences"] == [] for u in b.ok("GET", f"/tenants/{tid}/users")["items"])

    # the vendor's refusal is recorded: the seat was taken at the vendor (outside the platform)
    vendor_sub = system.app.load(Subscription, UUID(sid), "subscription").vendor_subscription_id
    httpx.put(f"{_sim_url(system)}/sim/subscriptions/{vendor_sub}/assigned", json={"assignedLicenses": 1})
    b.ok("PUT", f"/subscriptions/{sid}/assignments/{admin['id']}", 202)
    assert system.sagas.drain(30)
    sub = b.ok("GET", f"/subscriptions/{sid}")
    assert "NoAvailableLicenses" in (sub["last_vendor_refusal"] or ""), sub
    assert sub["licence_requests"] == []
    events = b.ok("GET", f"/subscriptions/{sid}/history")["events"]
    assert events[-1]["type"] == "VendorChangeRefused"


def test_who_may_see_and_assign_licences(saga_system_factory: Callable[..., System], store_url: str):
    shop = licensed_shop(saga_system_factory, "wwiro", 2, database_url=store_url)
    system, app, acc, tid, sid = shop.system, shop.app, shop.acc, shop.tenant_id, shop.subscription_id
    admin = acc.boss.ok("GET", f"/tenants/{tid}/users")["items"][0]

    # read-only sees the users, and cannot assign or create
    viewer = acc.invite("viewer@example.com", "read_only", acc.reseller_id)
    assert viewer.ok("GET", f"/tenants/{tid}/users")["total"] == 1
    assert viewer.request("PUT", f"/api/v1/subscriptions/{sid}/assignments/{admin['id']}").status_code == 403
    assert viewer.request("DELETE", f"/api/v1/subscriptions/{sid}/assignments/{admin['id']}").status_code == 403
    created = viewer.request(
        "POST",
        f"/api/v1/tenants/{tid}/users",
        json={"user_principal_name": "x@wwiro.onmicrosoft.com", "display_name": "X"},
    )
    assert created.status_code == 403

    # another reseller: not found, whatever it tries
    other = sign_up(app, system, company="Another Reseller").boss
    assert other.request("GET", f"/api/v1/tenants/{tid}/users").status_code == 404
    assert other.request("PUT", f"/api/v1/subscriptions/{sid}/assignments/{admin['id']}").status_code == 404
    # a user the vendor does not have in this tenant: not found
    assert acc.boss.request("PUT", f"/api/v1/subscriptions/{sid}/assignments/no-such-user").status_code == 404
    assert acc.boss.ok("GET", f"/subscriptions/{sid}")["licence_requests"] == []


def test_a_user_created_in_a_tenant_is_on_its_history_with_who_and_when(
    saga_system_factory: Callable[..., System], store_url: str
):
    shop = licensed_shop(saga_system_factory, "userlog", database_url=store_url)
    b, tid = shop.acc.boss, shop.tenant_id
    domain = b.ok("GET", f"/tenants/{tid}")["domain"]
    me = b.ok("GET", "/auth/me")
    # when a user is created at the vendor (and the same request repeated: one user there)
    body = {"user_principal_name": f"ion@{domain}", "display_name": "Ion Popescu"}
    ion = b.ok("POST", f"/tenants/{tid}/users", 201, json=body)
    assert b.ok("POST", f"/tenants/{tid}/users", 201, json=body)["id"] == ion["id"]
    # then the tenant's history says who created which user, when: once
    created = [e for e in b.ok("GET", f"/tenants/{tid}/history")["events"] if e["type"] == "UserCreated"]
    assert len(created) == 1, created
    assert created[0]["actor"] == f"user:{me['id']}"
    assert created[0]["at"] is not None
    assert created[0]["data"] == {
        "vendor_user_id": ion["id"],
        "user_principal_name": f"ion@{domain}",
        "display_name": "Ion Popescu",
    }
    # when the vendor refuses one (a name outside the tenant's domain), nothing is recorded
    bad = b.request(
        "POST", f"/api/v1/tenants/{tid}/users", json={"user_principal_name": "x@other.example", "display_name": "X"}
    )
    assert bad.status_code == 422, bad.text
    after = [e for e in b.ok("GET", f"/tenants/{tid}/history")["events"] if e["type"] == "UserCreated"]
    assert after == created
