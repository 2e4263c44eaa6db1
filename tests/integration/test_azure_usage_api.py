"""Azure usage over HTTP (issue 18 item 5), the sagas and the vendor simulator in process,
on SQLite and PostgreSQL: an Azure plan with two entitlements (one with a budget), the
test clock moved into the next month, then the daily rated rows, the invoice's usage
lines, the reconciliation file (sums to the invoice to the cent) and the budget notices."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from csp.bootstrap import System, web_app
from tests.fixtures.api import API, sign_up
from tests.fixtures.sagas import settled
from tests.support import AZURE_PLAN

pytestmark = pytest.mark.postgres


def test_an_azure_plans_daily_usage_is_shown_invoiced_reconciled_and_watched_by_budgets(http_system: System):
    system = http_system
    account = sign_up(web_app(system), system)
    boss = account.boss
    customer = account.customer("Contoso SRL")
    t = boss.ok("POST", f"/organizations/{customer['id']}/tenants", 202, json={"domain": "azcontoso", "mode": "create"})
    settled(system)
    # given an Azure plan ordered today
    order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    line = {"offer_id": str(AZURE_PLAN), "tenant_id": t["id"], "quantity": 1}
    boss.ok("POST", f"/orders/{order['id']}/lines", 201, json=line)
    boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    settled(system)
    (sub,) = boss.ok("GET", f"/organizations/{customer['id']}/subscriptions")["items"]
    path = f"/azure-plans/{sub['id']}/entitlements"
    # it came with one Azure subscription; another is added with a budget
    (default,) = boss.ok("GET", path)["items"]
    assert default["vendor_entitlement_id"]
    for body, field in (
        ({"name": "Dev", "monthly_budget": "-1"}, "monthly_budget"),
        ({"name": default["name"]}, "name"),
    ):
        r = boss.post(f"{API}{path}", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["field"] == field
    dev = boss.ok("POST", path, 201, json={"name": "Dev", "monthly_budget": "20"})
    assert dev["monthly_budget"] == "20.00"
    settled(system)
    listed = {e["id"]: e for e in boss.ok("GET", path)["items"]}
    assert listed[dev["id"]]["vendor_entitlement_id"]  # created at the vendor
    # when the clock moves to the first of next month (its first day not over yet)
    now = datetime.fromisoformat(boss.ok("GET", "/test/clock")["now"])
    period = f"{now:%Y-%m}"
    first = (now.replace(day=28) + timedelta(days=5)).replace(day=1, hour=0, minute=5, second=0, microsecond=0)
    boss.ok("POST", "/test/clock", json={"now": first.isoformat()})
    settled(system)
    # then every day of the month since the order has a row per entitlement × meter
    days = (first.date() - now.date()).days
    usage = boss.ok("GET", f"/usage?organization_id={customer['id']}")
    assert usage["total"] == days * 2 * 3
    assert {r["date"] for r in usage["items"]} == {(now.date() + timedelta(days=n)).isoformat() for n in range(days)}
    for r in usage["items"]:
        assert Decimal(r["partner_cost"]) == (Decimal(r["quantity"]) * Decimal(r["unit_price"])).quantize(
            Decimal("0.01")
        )
        assert Decimal(r["customer_price"]) >= Decimal(r["partner_cost"])
    bandwidth = boss.ok("GET", "/usage?meter=Bandwidth GB")["items"]
    assert len(bandwidth) == days * 2
    assert {r["unit"] for r in bandwidth} == {"1 GB"}
    # importing again changes nothing
    assert system.sagas is not None
    system.sagas.run_due(first + timedelta(minutes=1))
    settled(system)
    assert boss.ok("GET", "/usage")["total"] == days * 2 * 3
    # the month's invoice charges it per entitlement × meter, and the reconciliation file sums to it
    (invoice,) = [i for i in boss.ok("GET", "/invoices")["items"] if i["period"] == period]
    lines = boss.ok("GET", f"/invoices/{invoice['id']}")["lines"]
    usage_lines = [x for x in lines if "usage on" in x["description"]]
    assert len(usage_lines) == 2 * 3
    invoiced = sum(Decimal(x["amount"]) for x in usage_lines)
    assert invoiced == Decimal(usage["partner_cost"])
    r = boss.get(f"{API}/usage/reconciliation?period={period}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == days * 2 * 3
    assert sum(Decimal(x["BillingPreTaxTotal"]) for x in rows) == invoiced
    assert {x["EntitlementId"] for x in rows} == {
        default["vendor_entitlement_id"],
        listed[dev["id"]]["vendor_entitlement_id"],
    }
    # the customer's invoice charges it at the customer price
    (found,) = boss.ok("GET", f"/customer-invoices?organization_id={customer['id']}&period={period}")["items"]
    cinv = boss.ok("GET", f"/customer-invoices/{found['id']}")
    cusage = [x for x in cinv["lines"] if "usage on" in x["description"]]
    assert sum(Decimal(x["net"]) for x in cusage) == Decimal(usage["customer_price"])
    # the budget of 20 EUR was crossed at 80 % and 100 %: one notice each
    notices = [n for n in boss.ok("GET", "/notifications")["items"] if n["kind"].startswith("budget_")]
    assert sorted(n["kind"] for n in notices) == ["budget_100", "budget_80"]
    assert {n["subject_id"] for n in notices} == {sub["id"]}
    # and the reconciliation needs a month
    assert boss.get(f"{API}/usage/reconciliation?period=11-2026").status_code == 422
