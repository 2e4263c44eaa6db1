"""Currencies over HTTP (issue 18 item 4), on SQLite and PostgreSQL: an operator sets the
month's RON rate (bad input: 422 with the field; a reseller: 403), a RON reseller sees its
prices in RON, orders, the test clock moves into the next month, and the month's invoice is
in RON with the rate recorded, cent by cent (JSON, CSV, the portal's page)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from csp.aggregates.invoice import period_of
from csp.bootstrap import System, web_app
from tests.fixtures.api import API, Client, sign_up
from tests.support import BUSINESS_PREMIUM


def _ron(eur: Decimal) -> Decimal:
    return (eur * Decimal("4.975")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_an_operator_sets_the_rate_and_a_ron_resellers_prices_and_invoice_are_in_ron(store_api_system: System):
    system = store_api_system
    ops_email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    system.settings.operator_emails = f"someone@example.com, {ops_email.upper()}"
    app = web_app(system)
    ops = sign_up(app, system, "Distributor Operations", email=ops_email).boss
    account = sign_up(app, system, "Lei Reseller")
    boss = account.boss
    boss.ok("PUT", "/settings", json={"currency": "RON"})
    r = boss.put(f"{API}/settings", json={"currency": "XYZ"})
    assert (r.status_code, r.json()["error"]["code"]) == (422, "unknown_currency")
    month = period_of(datetime.fromisoformat(boss.ok("GET", "/test/clock")["now"]))
    eur = boss.ok("GET", f"/catalog/offers/{BUSINESS_PREMIUM}")
    assert (eur["currency"], eur["exchange_rate"]) == ("EUR", None)  # no rate yet: EUR, never a guess

    # the operator's API: resellers may not; bad input is refused with its field
    r = boss.put(f"{API}/exchange-rates/{month}/RON", json={"rate": "4.9750"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
    assert boss.get(f"{API}/exchange-rates").status_code == 403
    for path, body, field, code in (
        (f"{month}/RON", {"rate": "0"}, "rate", "invalid_input"),
        (f"{month}/RON", {"rate": "4.1234567"}, "rate", "invalid_input"),
        (f"{month}/RON", {"rate": 4.975}, "rate", "invalid_input"),  # a float: a decimal string is asked
        (f"{month}/ZZZ", {"rate": "4.9750"}, "currency", "unknown_currency"),
        (f"{month[:4]}-13/RON", {"rate": "4.9750"}, "month", "invalid_input"),
    ):
        r = ops.put(f"{API}/exchange-rates/{path}", json=body)
        assert r.status_code == 422, r.text
        assert (r.json()["error"]["details"]["field"], r.json()["error"]["code"]) == (field, code)
    assert ops.ok("GET", f"/exchange-rates?month={month}")["items"] == []  # nothing half-written
    put = ops.ok("PUT", f"/exchange-rates/{month}/ron", json={"rate": "4.9750"})
    assert (put["currency"], Decimal(put["rate"]), put["exchange_rate_month"]) == ("RON", Decimal("4.975"), month)
    (listed,) = ops.ok("GET", f"/exchange-rates?month={month}")["items"]
    assert (listed["currency"], listed["fallback"]) == ("RON", False)

    # the RON reseller's price list: each unit price converted and rounded to the ban
    ron = boss.ok("GET", f"/catalog/offers/{BUSINESS_PREMIUM}")
    partner_eur = Decimal(eur["partner_price"])
    assert (ron["currency"], Decimal(ron["exchange_rate"]), ron["exchange_rate_month"]) == (
        "RON",
        Decimal("4.975"),
        month,
    )
    assert Decimal(ron["partner_price"]) == _ron(partner_eur)
    if partner_eur == Decimal("14.16"):
        assert Decimal(ron["partner_price"]) == Decimal("70.45")  # 70.446
    assert Client(app).ok("GET", f"/catalog/offers/{BUSINESS_PREMIUM}")["currency"] == "EUR"  # a visitor: EUR

    # a customer (in the reseller's currency) orders 2 seats; the month ends and is billed
    customer = account.customer("Contoso SRL")
    assert customer["currency"] == "RON"
    tenant = account.ready_tenant(customer["id"])
    order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 2, "billing_cycle": "monthly"}
    boss.ok("POST", f"/orders/{order['id']}/lines", 201, json=line)
    boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    account.provision(order["id"])
    now = datetime.fromisoformat(boss.ok("GET", "/test/clock")["now"])
    first = (now.replace(day=28) + timedelta(days=5)).replace(day=1, hour=0, minute=5, second=0, microsecond=0)
    # the test clock moved into the next month, and the scheduler's billing step (no saga
    # workers run here for POST /test/clock to wait for: the step is called as it calls it)
    system.app.clock.set(first)  # type: ignore[attr-defined]
    assert len(system.app.run_due_billing(since=now)) == 1
    assert system.projector is not None
    assert system.projector.sync(10), "the read side did not catch up"

    (row,) = boss.ok("GET", "/invoices")["items"]
    assert (row["currency"], Decimal(row["exchange_rate"]), row["exchange_rate_month"]) == (
        "RON",
        Decimal("4.975"),
        month,
    )
    invoice = boss.ok("GET", f"/invoices/{row['id']}")
    (only,) = invoice["lines"]
    # 2 seats × the partner price for the month, in EUR, converted once for the line
    assert Decimal(only["unit_price"]) == _ron(partner_eur)
    assert Decimal(only["amount"]) == _ron(2 * partner_eur) == Decimal(invoice["total"])
    if partner_eur == Decimal("14.16"):
        assert Decimal(invoice["total"]) == Decimal("140.89")  # 28.32 × 4.975 = 140.892
    csv = boss.get(f"{API}/invoices/{row['id']}?format=csv").text.splitlines()
    assert csv[0].endswith(",exchange_rate,exchange_rate_month")
    assert csv[1].endswith(f',4.975000,"{month}"')
    page = boss.get(f"/invoices/{row['id']}").text
    total = f"{Decimal(invoice['total']):.2f}".replace(".", ",")
    assert f"{total}\xa0RON" in page  # Babel, ro_RO
    assert "1 EUR = 4.975 RON" in page
    # the customer's draft is in RON too, with the rate recorded
    (draft,) = boss.ok("GET", "/customer-invoices")["items"]
    full = boss.ok("GET", f"/customer-invoices/{draft['id']}")
    assert (full["currency"], Decimal(full["exchange_rate"]), full["exchange_rate_month"]) == (
        "RON",
        Decimal("4.975"),
        month,
    )
