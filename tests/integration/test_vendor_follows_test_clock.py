"""End to end in test mode, on SQLite and PostgreSQL: the vendor simulator follows the
platform's test clock, so moving the clock fills the consumption report, and the
vendor's dates are the platform's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

import httpx

from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.bootstrap import System, web_app
from tests.fixtures.api import sign_up
from tests.support import AZURE_PLAN, BUSINESS_PREMIUM


def _sim_url(system: System) -> str:
    server = system.sagas._sim_server  # type: ignore[union-attr]
    assert server is not None
    return server.url


def test_moving_the_test_clock_fills_the_consumption_report(saga_system_factory: Callable[..., System], store_url: str):
    system = saga_system_factory(test_mode=True, database_url=store_url, public_url="http://testserver")
    assert system.projector is not None
    system.projector.start()
    acc = sign_up(web_app(system), system)
    b = acc.boss
    customer = acc.customer()
    tenant = b.ok(
        "POST", f"/organizations/{customer['id']}/tenants", 202, json={"domain": "fabrikam", "mode": "create"}
    )
    assert system.sagas is not None
    assert system.sagas.drain(30)
    assert b.ok("GET", f"/tenants/{tenant['id']}")["status"] == "created"
    # the platform's time is ten days ahead of the wall clock
    start = datetime.fromisoformat(b.ok("GET", "/test/clock")["now"]) + timedelta(days=10)
    b.ok("POST", "/test/clock", json={"now": start.isoformat()})
    ids = []
    for offer, term, quantity in ((AZURE_PLAN, "monthly", 1), (BUSINESS_PREMIUM, "annual", 10)):
        order = b.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
        line = {"offer_id": str(offer), "tenant_id": tenant["id"], "quantity": quantity}
        b.ok("POST", f"/orders/{order['id']}/lines", 201, json={**line, "billing_cycle": "monthly", "term": term})
        b.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
        assert system.sagas.drain(30)
        done = b.ok("GET", f"/orders/{order['id']}")
        assert done["status"] == "provision_finished", done
        ids.append(done["subscription_ids"][0])
    azure, premium = ids
    assert b.ok("GET", "/reports/consumption")["items"] == []

    # the vendor's dates are the platform's
    vendor_customer = system.app.load(Tenant, UUID(tenant["id"]), "tenant").vendor_customer_id
    vendor_sub = system.app.load(Subscription, UUID(premium), "subscription").vendor_subscription_id
    at_vendor = httpx.get(f"{_sim_url(system)}/v1/customers/{vendor_customer}/subscriptions/{vendor_sub}").json()
    assert abs(datetime.fromisoformat(at_vendor["creationDate"]) - start) < timedelta(minutes=5)
    ends = datetime.fromisoformat(b.ok("GET", f"/subscriptions/{premium}")["ends_at"])
    assert abs(datetime.fromisoformat(at_vendor["commitmentEndDate"]) - ends) < timedelta(days=2)

    # when the test clock moves three days on
    b.ok("POST", "/test/clock", json={"now": (start + timedelta(days=3, hours=1)).isoformat()})

    # then the vendor has rated the whole days since the purchase, and they are reported
    rows = b.ok("GET", "/reports/consumption")["items"]
    assert rows, "the consumption report is still empty"
    assert {r["subscription_id"] for r in rows} == {azure}
    # (the purchase day counts too, its usage rated 0.00 or not: 4 when bought after 23:00)
    assert sum(r["days"] for r in rows if r["meter"] == rows[0]["meter"]) in (2, 3, 4)
    # licences are assigned to the tenant's users, never by time passing (the vendor's
    # assigned figure is its licensed users: see test_licence_assignment_api.py)
    assert b.ok("GET", f"/subscriptions/{premium}")["assigned"] == 0

    # when the month ends, its usage is invoiced: the invoice is served with its usage
    # lines (a fractional quantity, no unit price) by the API, as CSV and in the portal
    first = start.replace(day=1, hour=1, minute=0, second=0, microsecond=0)
    next_month = (first + timedelta(days=32)).replace(day=1)
    b.ok("POST", "/test/clock", json={"now": next_month.isoformat()})
    period = f"{start.year:04d}-{start.month:02d}"
    found = [i for i in b.ok("GET", "/invoices")["items"] if i["period"] == period]
    assert found, f"no invoice for {period}"
    invoice = b.ok("GET", f"/invoices/{found[0]['id']}")
    usage = [line for line in invoice["lines"] if line["subscription_id"] == azure]
    assert usage
    assert all(line["unit_price"] is None for line in usage)
    assert all(Decimal(str(line["quantity"])) > 0 for line in usage)
    seats = [line for line in invoice["lines"] if line["subscription_id"] == premium]
    assert seats
    assert all(line["quantity"] == 10 for line in seats)
    assert b.get(f"/api/v1/invoices/{found[0]['id']}", params={"format": "csv"}).status_code == 200
    page = b.get(f"/invoices/{found[0]['id']}")
    assert page.status_code == 200
    assert "usage on" in page.text
