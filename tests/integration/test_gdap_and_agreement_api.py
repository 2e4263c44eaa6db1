"""GDAP relationships and the customer agreement over HTTP, the sagas and the vendor
simulator running in process, on SQLite and PostgreSQL (issue 16, items 3 and 5)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from csp.bootstrap import System, web_app
from csp.vendor.client import HttpVendorGateway
from tests.fixtures.api import AGREEMENT_JSON, API, Client, contoso, sign_up
from tests.fixtures.sagas import settled
from tests.support import BUSINESS_PREMIUM

pytestmark = pytest.mark.postgres


def _created_tenant(boss: Client, system: System, organization_id: str, prefix: str) -> dict[str, Any]:
    t = boss.ok("POST", f"/organizations/{organization_id}/tenants", 202, json={"domain": prefix, "mode": "create"})
    settled(system)
    tenant = boss.ok("GET", f"/tenants/{t['id']}")
    assert tenant["status"] == "created", tenant
    return tenant  # type: ignore[no-any-return]


def _clock(boss: Client, at: datetime) -> None:
    boss.ok("POST", "/test/clock", json={"now": at.isoformat()})


def _listed(boss: Client, tenant_id: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in boss.ok("GET", f"/tenants/{tenant_id}/gdap")["items"]}


def test_a_gdap_relationship_is_approved_then_expires_or_extends_with_the_clock(http_system: System) -> None:
    system = http_system
    boss = sign_up(web_app(system), system).boss
    customer = boss.ok("POST", "/organizations", 201, json=contoso())
    tenant = _created_tenant(boss, system, customer["id"], "gdapcontoso")
    path = f"/tenants/{tenant['id']}/gdap"
    # refusals name the field and the reason
    for body, field, word in (
        ({"roles": ["Coffee Administrator"]}, "roles", "Coffee Administrator"),
        ({"duration_days": 731}, "duration_days", "730"),
        ({"roles": ["Global Administrator"], "auto_extend": True}, "auto_extend", "Global Administrator"),
    ):
        r = boss.post(f"{API}{path}", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["field"] == field
        assert word in r.json()["error"]["message"]
    # when the reseller asks for User Administrator for 60 days, and for the default for 60 days, auto-extending
    once = boss.ok("POST", path, 202, json={"roles": ["User Administrator"], "duration_days": 60})
    assert once["status"] == "approval_pending"
    assert once["approval_url"].startswith("http")
    extends = boss.ok("POST", path, 202, json={"duration_days": 60, "auto_extend": True})
    assert extends["roles"] == ["Directory Readers"]  # least privilege by default
    assert {r["status"] for r in _listed(boss, tenant["id"]).values()} == {"approval_pending"}
    # the customer's global admin approves at the vendor's link
    page = httpx.get(once["approval_url"])
    assert "User Administrator" in page.text
    for rel in (once, extends):
        approved = boss.ok("POST", f"/test/gdap/{rel['id']}/approve")
        assert approved["status"] == "active"
    settled(system)
    rows = _listed(boss, tenant["id"])
    assert rows[once["id"]]["status"] == "active"
    starts = datetime.fromisoformat(rows[once["id"]]["starts_at"])
    ends = datetime.fromisoformat(rows[once["id"]]["ends_at"])
    assert ends - starts == timedelta(days=60)
    # 31 days on: within 30 days of its end, the one that does not extend is expiring
    _clock(boss, starts + timedelta(days=31))
    rows = _listed(boss, tenant["id"])
    assert (rows[once["id"]]["status"], rows[extends["id"]]["status"]) == ("expiring", "active")
    # past the end: one expired at the vendor, the other extended there by 180 days
    _clock(boss, ends + timedelta(hours=1))
    rows = _listed(boss, tenant["id"])
    assert rows[once["id"]]["status"] == "expired"
    assert rows[extends["id"]]["status"] == "active"
    assert datetime.fromisoformat(rows[extends["id"]]["ends_at"]) >= ends + timedelta(days=180)
    # terminated: once; then it is final
    assert boss.ok("DELETE", f"/gdap/{extends['id']}", 202)["status"] == "terminated"
    assert boss.delete(f"{API}/gdap/{extends['id']}").status_code == 409
    settled(system)
    gateway = system.sagas.gateway()  # type: ignore[union-attr]
    assert isinstance(gateway, HttpVendorGateway)
    vendor = httpx.get(f"{gateway.base_url}/v1/tenantRelationships/delegatedAdminRelationships").json()["value"]
    assert sorted(v["status"] for v in vendor) == ["expired", "terminated"]


def test_a_tenant_is_linked_through_an_approved_gdap_relationship(http_system: System) -> None:
    system = http_system
    boss = sign_up(web_app(system), system).boss
    gateway = system.sagas.gateway()  # type: ignore[union-attr]
    assert isinstance(gateway, HttpVendorGateway)
    # an existing tenant at the vendor that never granted the old delegated access
    seeded = {"domain": "fabrikam.example.com", "delegatedAccess": False}
    httpx.post(f"{gateway.base_url}/sim/customers", json=seeded).raise_for_status()
    customer = boss.ok("POST", "/organizations", 201, json=contoso("Fabrikam SRL"))
    t = boss.ok(
        "POST", f"/organizations/{customer['id']}/tenants", 202, json={"domain": "fabrikam.example.com", "mode": "link"}
    )
    settled(system)
    assert boss.ok("GET", f"/tenants/{t['id']}")["status"] == "verifying"  # waits for admin rights
    body = {"roles": ["License Administrator"], "security_group_ids": ["helpdesk-agents"]}
    rel = boss.ok("POST", f"/tenants/{t['id']}/gdap", 202, json=body)
    assert rel["status"] == "approval_pending"
    boss.ok("POST", f"/test/gdap/{rel['id']}/approve")
    settled(system)
    assert boss.ok("GET", f"/tenants/{t['id']}")["status"] == "linked"
    # its roles were given to the reseller's security group at the vendor
    assert boss.ok("GET", f"/gdap/{rel['id']}")["access_groups"] == ["helpdesk-agents"]


def test_orders_need_the_customer_agreement_which_reaches_the_vendor(http_system: System) -> None:
    system = http_system
    boss = sign_up(web_app(system), system).boss
    customer = boss.ok("POST", "/organizations", 201, json=contoso())
    tenant = _created_tenant(boss, system, customer["id"], "agreementcontoso")
    order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 2, "billing_cycle": "monthly"}
    boss.ok("POST", f"/orders/{order['id']}/lines", 201, json={**line, "term": "annual"})
    # when the customer's agreement is missing, placing is refused, saying why
    r = boss.post(f"{API}/orders/{order['id']}/place", json={"accept_terms": True})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "agreement_missing"
    assert "Microsoft Customer Agreement" in r.json()["error"]["message"]
    assert boss.ok("GET", f"/orders/{order['id']}")["status"] == "draft"
    # a bad attestation is refused by field
    r = boss.post(f"{API}/organizations/{customer['id']}/agreement", json={**AGREEMENT_JSON, "email": "nobody"})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (422, "email")
    r = boss.post(f"{API}/organizations/{customer['id']}/agreement", json={**AGREEMENT_JSON, "agreement_version": "x"})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (422, "agreement_version")
    assert boss.get(f"{API}/organizations/{customer['id']}/agreement").status_code == 404
    # then recorded, the order is accepted and provisioned: the vendor got the agreement first
    recorded = boss.ok("POST", f"/organizations/{customer['id']}/agreement", 201, json=AGREEMENT_JSON)
    assert (recorded["first_name"], recorded["template_id"]) == ("Ana", "117a77b0-9360-443b-8795-c6dedc750cf9")
    assert recorded["recorded_by"].startswith("user:")
    assert boss.ok("GET", f"/organizations/{customer['id']}/agreement")["email"] == "ana.popescu@example.ro"
    boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    settled(system)
    assert boss.ok("GET", f"/orders/{order['id']}")["status"] == "provision_finished"


def test_a_gdap_request_not_approved_within_90_days_expires_and_cannot_be_approved(http_system: System) -> None:
    system = http_system
    boss = sign_up(web_app(system), system).boss
    customer = boss.ok("POST", "/organizations", 201, json=contoso())
    tenant = _created_tenant(boss, system, customer["id"], "gdaplapse")
    rel = boss.ok("POST", f"/tenants/{tenant['id']}/gdap", 202, json={"duration_days": 60})
    asked = datetime.fromisoformat(boss.ok("GET", "/test/clock")["now"])
    # given 89 days without the customer's approval: still pending
    _clock(boss, asked + timedelta(days=89))
    assert _listed(boss, tenant["id"])[rel["id"]]["status"] == "approval_pending"
    # when 91 days passed: it expired at the vendor, and the platform recorded it
    _clock(boss, asked + timedelta(days=91))
    settled(system)
    assert _listed(boss, tenant["id"])[rel["id"]]["status"] == "expired"
    assert boss.ok("GET", f"/gdap/{rel['id']}")["status"] == "expired"
    # then approving it is refused, at the vendor's page and through the test route
    page = httpx.post(rel["approval_url"])
    assert page.status_code == 409
    assert "expired" in page.text
    r = boss.post(f"{API}/test/gdap/{rel['id']}/approve")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "gdap_approval_expired"
    assert "90 days" in r.json()["error"]["message"]
    # and it stays expired (the vendor agrees)
    gateway = system.sagas.gateway()  # type: ignore[union-attr]
    assert isinstance(gateway, HttpVendorGateway)
    vendor = httpx.get(f"{gateway.base_url}/v1/tenantRelationships/delegatedAdminRelationships").json()["value"]
    assert [v["status"] for v in vendor] == ["expired"]
    assert boss.ok("GET", f"/gdap/{rel['id']}")["status"] == "expired"


def test_approving_a_lapsed_request_the_platform_has_not_yet_seen_expire_is_refused(http_system: System) -> None:
    system = http_system
    boss = sign_up(web_app(system), system).boss
    customer = boss.ok("POST", "/organizations", 201, json=contoso())
    tenant = _created_tenant(boss, system, customer["id"], "gdaplate")
    rel = boss.ok("POST", f"/tenants/{tenant['id']}/gdap", 202, json={"duration_days": 60})
    settled(system)
    # the clock moves without running the scheduler: the platform still thinks it pending
    system.clock.set(system.clock.now() + timedelta(days=91))  # type: ignore[attr-defined]
    assert boss.ok("GET", f"/gdap/{rel['id']}")["status"] == "approval_pending"
    r = boss.post(f"{API}/test/gdap/{rel['id']}/approve")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "gdap_approval_expired"
    assert boss.ok("GET", f"/gdap/{rel['id']}")["status"] == "expired"
