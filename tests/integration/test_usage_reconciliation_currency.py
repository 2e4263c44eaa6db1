"""The daily rated usage reconciliation of a non-EUR reseller (issue 18), the sagas and the
vendor simulator in process, on SQLite and PostgreSQL: the file carries the invoice's
currency and rate, and each row's share of its converted invoice line, so the converted
column sums to the RON invoice's usage lines to the ban (and each line's rows to the line)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from csp.aggregates.currency import convert
from csp.bootstrap import System, web_app
from tests.fixtures.api import API, sign_up
from tests.fixtures.sagas import settled
from tests.support import ACTOR, AZURE_PLAN

pytestmark = pytest.mark.postgres
RATE = Decimal("4.9750")


def test_a_ron_resellers_reconciliation_sums_to_its_ron_invoices_usage_lines(http_system: System):
    # given a RON reseller with an Azure plan, the month's rate set
    system = http_system
    account = sign_up(web_app(system), system)
    boss = account.boss
    boss.ok("PUT", "/settings", json={"currency": "RON"})
    customer = account.customer("Contoso SRL")
    t = boss.ok("POST", f"/organizations/{customer['id']}/tenants", 202, json={"domain": "azronrec", "mode": "create"})
    settled(system)
    order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    boss.ok(
        "POST",
        f"/orders/{order['id']}/lines",
        201,
        json={"offer_id": str(AZURE_PLAN), "tenant_id": t["id"], "quantity": 1},
    )
    boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    settled(system)
    now = datetime.fromisoformat(boss.ok("GET", "/test/clock")["now"])
    period = f"{now:%Y-%m}"
    system.app.set_exchange_rate(period, "RON", str(RATE), ACTOR)

    # when the month is over, imported and invoiced
    first = (now.replace(day=28) + timedelta(days=5)).replace(day=1, hour=0, minute=5, second=0, microsecond=0)
    boss.ok("POST", "/test/clock", json={"now": first.isoformat()})
    settled(system)
    (invoice,) = [i for i in boss.ok("GET", "/invoices")["items"] if i["period"] == period]
    full = boss.ok("GET", f"/invoices/{invoice['id']}")
    assert full["currency"] == "RON"
    usage_lines = [x for x in full["lines"] if "usage on" in x["description"]]
    assert usage_lines
    invoiced = sum(Decimal(x["amount"]) for x in usage_lines)

    # then the reconciliation file's converted column sums to the RON invoice's usage lines
    r = boss.get(f"{API}/usage/reconciliation?period={period}")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows
    assert {(x["InvoiceCurrency"], Decimal(x["ExchangeRate"]), x["ExchangeRateMonth"]) for x in rows} == {
        ("RON", RATE, period)
    }
    assert sum(Decimal(x["InvoicePreTaxTotal"]) for x in rows) == invoiced
    # line by line (plan × entitlement × meter): the rows' shares sum to the converted line
    by_line: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for x in rows:
        by_line[(x["EntitlementDescription"], x["MeterName"])].append(x)
    assert len(by_line) == len(usage_lines)
    line_amounts = sorted(Decimal(x["amount"]) for x in usage_lines)
    assert sorted(sum(Decimal(x["InvoicePreTaxTotal"]) for x in xs) for xs in by_line.values()) == line_amounts
    for xs in by_line.values():
        eur = sum(Decimal(x["BillingPreTaxTotal"]) for x in xs)
        assert sum(Decimal(x["InvoicePreTaxTotal"]) for x in xs) == convert(eur, RATE, "RON")
    # each row is its own conversion, give or take one ban
    for x in rows:
        own = convert(Decimal(x["BillingPreTaxTotal"]), RATE, "RON")
        assert abs(Decimal(x["InvoicePreTaxTotal"]) - own) <= Decimal("0.01")
    # the EUR columns are as before: the partner cost in EUR
    assert {x["BillingCurrency"] for x in rows} == {"EUR"}
