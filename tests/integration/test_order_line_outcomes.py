"""Each order line has its own outcome: a line the vendor refuses does not stop the others,
a partly provisioned order says so (its status, the Orders list, the email), and the
reseller retries the failed lines (a new attempt, with new idempotency keys) or discards
them. On SQLite and PostgreSQL, through the API, with the sagas and the simulator running."""

from __future__ import annotations

import html
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from csp.bootstrap import web_app
from csp.vendor import LineItem, VendorOrder, VendorRefused
from tests.fixtures.api import Account, outbox, sign_up
from tests.support import BUSINESS_BASIC, BUSINESS_PREMIUM, postgres_schema

BASIC_VENDOR_OFFER = "CFQ7TTC0LH18:0001"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'csp.db'}"
    else:
        url = request.getfixturevalue("postgres_dsn")
        with postgres_schema(url) as schema:
            yield f"{url}?schema={schema}"


class RefusingVendor:
    """The real gateway (the simulator), refusing orders of one offer while ``refuse`` is
    set, and keeping the idempotency keys of the order calls it sees."""

    def __init__(self, real: Any, vendor_offer_id: str) -> None:
        self.real = real
        self.vendor_offer_id = vendor_offer_id
        self.refuse = True
        self.keys: list[str] = []
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def place_order(self, customer_id: str, line_items: list[LineItem], idempotency_key: str) -> VendorOrder:
        with self.lock:
            self.keys.append(idempotency_key)
        if self.refuse and any(li.offer_id == self.vendor_offer_id for li in line_items):
            raise VendorRefused("OfferNotAvailable", "the offer is not available in this market")
        return self.real.place_order(customer_id, line_items, idempotency_key)  # type: ignore[no-any-return]


def _three_line_order(acct: Account, org_id: str, tenant_id: str) -> str:
    boss = acct.boss
    order = boss.ok("POST", f"/organizations/{org_id}/orders", 201, json={})
    for offer, qty in ((BUSINESS_PREMIUM, 3), (BUSINESS_BASIC, 2), (BUSINESS_PREMIUM, 1)):
        boss.ok(
            "POST",
            f"/orders/{order['id']}/lines",
            201,
            json={
                "offer_id": str(offer),
                "tenant_id": tenant_id,
                "quantity": qty,
                "billing_cycle": "monthly",
                "term": "annual",
            },
        )
    boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    return str(order["id"])


def _world(saga_system_factory: Any, database_url: str) -> tuple[Any, Account, RefusingVendor, str, str]:
    system = saga_system_factory(database_url=database_url, test_mode=True, public_url="http://testserver")
    assert system.projector is not None
    system.projector.start()
    acct = sign_up(web_app(system), system)
    vendor = RefusingVendor(system.sagas.gateway(), BASIC_VENDOR_OFFER)
    system.sagas._gateway = vendor
    org = acct.customer()
    tenant = acct.boss.ok(
        "POST",
        f"/organizations/{org['id']}/tenants",
        202,
        json={"domain": f"t{uuid.uuid4().hex[:12]}", "mode": "create"},
    )
    assert system.sagas.drain(30)
    assert acct.boss.ok("GET", f"/tenants/{tenant['id']}")["status"] == "created"
    return system, acct, vendor, str(org["id"]), str(tenant["id"])


def _row(acct: Account, org_id: str, order_id: str) -> dict[str, Any]:
    rows = acct.boss.ok("GET", f"/organizations/{org_id}/orders")["items"]
    return next(r for r in rows if r["id"] == order_id)


def test_a_refused_line_leaves_the_order_partially_provisioned_and_a_retry_completes_it(
    saga_system_factory, database_url
):
    system, acct, vendor, org_id, tenant_id = _world(saga_system_factory, database_url)
    boss = acct.boss
    # given a 3-line order whose second line the vendor refuses
    order_id = _three_line_order(acct, org_id, tenant_id)
    assert system.sagas.drain(30)
    # then lines 1 and 3 are provisioned, line 2 failed with the vendor's reason
    order = boss.ok("GET", f"/orders/{order_id}")
    assert order["status"] == "partially_provisioned"
    assert [x["outcome"] for x in order["lines"]] == ["provisioned", "failed", "provisioned"]
    reason = order["lines"][1]["failure_reason"]
    assert "not available in this market [OfferNotAvailable]" in reason
    assert order["outcome"] == f"2 of 3 lines provisioned · 1 failed: {reason}"
    assert len(order["subscription_ids"]) == 2
    # and the Orders list says the same
    assert system.read.wait(system.app.recorder.max_notification_id(), timeout=10)
    row = _row(acct, org_id, order_id)
    assert row["status"] == "partially_provisioned"
    assert (row["provisioned_count"], row["failed_count"]) == (2, 1)
    assert row["outcome"] == order["outcome"]
    assert [x["outcome"] for x in row["lines"]] == ["provisioned", "failed", "provisioned"]
    assert boss.ok("GET", f"/organizations/{org_id}/orders?status=partially_provisioned")["total"] == 1
    # and the email
    mails = outbox(system, "partially_provisioned")
    assert len(mails) == 1
    assert "2 of 3 lines provisioned · 1 failed:" in mails[0].get_content()
    # and the portal: the Orders list, the order's page with its buttons
    listing = boss.get(f"/o/{org_id}/orders")
    assert listing.status_code == 200
    assert "Partially provisioned" in listing.text
    assert html.escape(order["outcome"]) in listing.text
    page = boss.get(f"/orders/{order_id}")
    assert "Retry the failed lines" in page.text
    assert "Discard the failed lines" in page.text
    # retrying (the portal's button) is a new attempt, with a new key for the failed line
    first_keys = list(vendor.keys)
    assert f"{order_id}:2" in first_keys
    vendor.refuse = False
    token = boss.headers["X-CSRF-Token"]
    r = boss.post(f"/orders/{order_id}/retry", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code in (302, 303), r.text
    again = boss.ok("GET", f"/orders/{order_id}")
    assert again["status"] in ("provision_started", "provision_finished")
    assert again["attempt"] == 2
    assert system.sagas.drain(30)
    order = boss.ok("GET", f"/orders/{order_id}")
    assert order["status"] == "provision_finished", order
    assert [x["outcome"] for x in order["lines"]] == ["provisioned"] * 3
    assert order["outcome"] == "3 of 3 lines provisioned"
    assert len(order["subscription_ids"]) == 3
    retried = vendor.keys[len(first_keys) :]
    assert retried
    assert set(retried) == {f"{order_id}:2:2"}
    # a finished order has nothing to retry or discard: 409 naming the state
    r = boss.post(f"/api/v1/orders/{order_id}/retry")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "invalid_order_transition"
    # exactly one vendor subscription per provisioned line
    base = system.sagas.gateway().base_url
    tenant = boss.ok("GET", f"/tenants/{tenant_id}")
    subs = httpx.get(f"{base}/v1/customers/{tenant['vendor_customer_id']}/subscriptions").json()["items"]
    assert sorted(s["quantity"] for s in subs if s["status"] == "active") == [1, 2, 3]
    assert system.read.wait(system.app.recorder.max_notification_id(), timeout=10)
    assert _row(acct, org_id, order_id)["outcome"] == "3 of 3 lines provisioned"


def test_the_failed_lines_of_a_partly_provisioned_order_can_be_discarded(saga_system_factory, database_url):
    system, acct, vendor, org_id, tenant_id = _world(saga_system_factory, database_url)
    boss = acct.boss
    order_id = _three_line_order(acct, org_id, tenant_id)
    assert system.sagas.drain(30)
    assert boss.ok("GET", f"/orders/{order_id}")["status"] == "partially_provisioned"
    vendor.refuse = False
    done = boss.ok("POST", f"/orders/{order_id}/discard-failed")
    assert done["status"] == "provision_finished"
    assert [x["outcome"] for x in done["lines"]] == ["provisioned", "discarded", "provisioned"]
    assert done["outcome"] == "2 of 3 lines provisioned · 1 discarded"
    assert system.sagas.drain(30)
    assert system.read.wait(system.app.recorder.max_notification_id(), timeout=10)
    row = _row(acct, org_id, order_id)
    assert (row["status"], row["outcome"]) == ("provision_finished", "2 of 3 lines provisioned · 1 discarded")
    # twice is refused, naming the reason
    r = boss.post(f"/api/v1/orders/{order_id}/discard-failed")
    assert r.status_code == 409, r.text
    assert "partially provisioned" in r.json()["error"]["message"]
