"""Upgrades and the next term over HTTP, on SQLite and PostgreSQL, through the saga to the
vendor simulator: the eligible upgrades listed, a refusal with its reason, the transition
done by the vendor (``transitioned_from``/``_to`` on both and in the list rows), the
invoice crediting the old seats and charging the new price pro rata by day; then the next
term set, shown, cleared by an immediate change and cancelled."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from csp.aggregates.pricing import days_between, prorate
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.bootstrap import System, web_app
from csp.vendor.client import HttpVendorGateway
from tests.fixtures.api import Client, agreement_body, contoso, sign_up
from tests.fixtures.sagas import settled
from tests.support import BUSINESS_BASIC, BUSINESS_PREMIUM
from tests.unit.test_transitions import BUSINESS_STANDARD, M365_E5

pytestmark = pytest.mark.postgres


def _clock(client: Client, at: datetime) -> None:
    client.ok("POST", "/test/clock", json={"now": at.isoformat()})


def _invoice_lines(client: Client, period: str) -> list[dict[str, Any]]:
    [found] = [i for i in client.ok("GET", "/invoices")["items"] if i["period"] == period]
    return client.ok("GET", f"/invoices/{found['id']}")["lines"]  # type: ignore[no-any-return]


def test_an_upgrade_through_the_vendor_and_the_next_term_over_http(http_system: System):
    system = http_system
    web = web_app(system)
    boss = sign_up(web, system).boss
    start = datetime(2029, 1, 10, 10, 0, tzinfo=UTC)
    _clock(boss, start)
    customer = boss.ok("POST", "/organizations", 201, json=contoso())
    boss.ok("POST", f"/organizations/{customer['id']}/agreement", 201, json=agreement_body(system))
    tenant = boss.ok(
        "POST", f"/organizations/{customer['id']}/tenants", 202, json={"domain": "upgr2029", "mode": "create"}
    )
    settled(system)
    order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_BASIC), "tenant_id": tenant["id"], "quantity": 5}
    boss.ok("POST", f"/orders/{order['id']}/lines", 201, json={**line, "billing_cycle": "yearly", "term": "annual"})
    boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    settled(system)
    [old_id] = boss.ok("GET", f"/orders/{order['id']}")["subscription_ids"]

    # the catalog names the upgrades; the subscription lists the ones it may move to now
    basic = boss.ok("GET", f"/catalog/offers/{BUSINESS_BASIC}")
    assert basic["upgrade_offer_ids"] == [str(BUSINESS_STANDARD), str(BUSINESS_PREMIUM)]
    options = boss.ok("GET", f"/subscriptions/{old_id}/transitions")
    assert [(o["offer_id"], o["kind"], o["partial_allowed"]) for o in options["items"]] == [
        (str(BUSINESS_STANDARD), "upgrade", True),
        (str(BUSINESS_PREMIUM), "upgrade", True),
    ]
    assert options["items"][0]["unit_partner_price"] == "9.83"
    # another reseller's caller finds nothing; an offer of another family is refused with why
    stranger = sign_up(web, system, email="stranger@example.com").boss
    assert stranger.get(f"/api/v1/subscriptions/{old_id}/transitions").status_code == 404
    r = boss.post(f"/api/v1/subscriptions/{old_id}/transitions", json={"offer_id": str(M365_E5)})
    assert r.status_code == 409
    assert (r.json()["error"]["code"], r.json()["error"]["details"]["reason"]) == (
        "transition_not_allowed",
        "not_an_upgrade",
    )

    # when, 40 days in, every seat moves to Business Standard
    moved_at = datetime(2029, 2, 19, 10, 0, tzinfo=UTC)
    _clock(boss, moved_at)
    accepted = boss.ok("POST", f"/subscriptions/{old_id}/transitions", 202, json={"offer_id": str(BUSINESS_STANDARD)})
    assert accepted["status"] == "requested"
    settled(system)

    # then the vendor did it and both subscriptions say so
    old = boss.ok("GET", f"/subscriptions/{old_id}")
    new_id = old["transitioned_to"]
    assert new_id == accepted["new_subscription_id"]
    new = boss.ok("GET", f"/subscriptions/{new_id}")
    assert (old["status"], old["purchased"], old["last_vendor_refusal"]) == ("transitioned", 0, None)
    assert (new["status"], new["offer_id"], new["purchased"], new["transitioned_from"]) == (
        "active",
        str(BUSINESS_STANDARD),
        5,
        old_id,
    )
    assert (new["ends_at"], new["term"], new["billing_cycle"]) == (old["ends_at"], "annual", "yearly")
    rows = {r["id"]: r for r in boss.ok("GET", f"/organizations/{customer['id']}/subscriptions")["items"]}
    assert (rows[old_id]["status"], rows[old_id]["transitioned_to"]) == ("transitioned", new_id)
    assert rows[new_id]["transitioned_from"] == old_id
    gateway = system.sagas.gateway()  # type: ignore[union-attr]
    assert isinstance(gateway, HttpVendorGateway)
    held = system.app.load(Subscription, UUID(new_id), "subscription")
    customer_at_vendor = system.app.load(Tenant, UUID(tenant["id"]), "tenant").vendor_customer_id
    assert held.vendor_subscription_id is not None
    assert customer_at_vendor is not None
    at_vendor = gateway.get_subscription(customer_at_vendor, held.vendor_subscription_id)
    assert (at_vendor.offer_id, at_vendor.quantity) == ("CFQ7TTC0LDPB:0001", 5)

    # the February invoice credits the old seats and charges the new price, pro rata by day
    _clock(boss, datetime(2029, 3, 1, 1, 0, tzinfo=UTC))
    settled(system)
    lines = {line["subscription_id"]: line for line in _invoice_lines(boss, "2029-02")}
    days = days_between(moved_at, datetime(2030, 1, 10, 10, 0, tzinfo=UTC))
    assert (lines[new_id]["days"], Decimal(lines[new_id]["amount"])) == (days, prorate(Decimal("589.80"), days, 365))
    assert Decimal(lines[old_id]["amount"]) == -prorate(Decimal("282.00"), days, 365)
    assert "moved to an upgrade" in lines[old_id]["description"]

    # the next term: set, shown, cleared by an immediate change (with the reason), cancelled
    put = boss.ok("PUT", f"/subscriptions/{new_id}/next-term", json={"offer_id": str(BUSINESS_PREMIUM), "quantity": 4})
    assert (put["offer_id"], put["quantity"], put["scheduled"], put["applies_at"]) == (
        str(BUSINESS_PREMIUM),
        4,
        True,
        new["renews_at"],
    )
    assert boss.ok("GET", f"/subscriptions/{new_id}")["renewal_offer_id"] == str(BUSINESS_PREMIUM)
    boss.ok("POST", f"/subscriptions/{new_id}/quantity", json={"quantity": 6})
    got = boss.ok("GET", f"/subscriptions/{new_id}/next-term")
    assert (got["scheduled"], got["offer_id"], got["quantity"]) == (False, None, None)
    history = boss.ok("GET", f"/subscriptions/{new_id}/history")["events"]
    [cleared] = [e for e in history if e["type"] == "NextTermCleared"]
    assert (cleared["data"]["reason"], cleared["data"]["renewal_offer_id"]) == (
        "quantity_changed",
        str(BUSINESS_PREMIUM),
    )
    boss.ok("POST", f"/subscriptions/{new_id}/quantity", json={"quantity": 3, "at_renewal": True})
    assert boss.ok("GET", f"/subscriptions/{new_id}/next-term")["quantity"] == 3
    assert boss.ok("DELETE", f"/subscriptions/{new_id}/next-term")["scheduled"] is False
    assert boss.ok("GET", f"/subscriptions/{new_id}")["renewal_quantity"] is None
    settled(system)
    assert boss.ok("GET", f"/subscriptions/{new_id}")["last_vendor_refusal"] is None
