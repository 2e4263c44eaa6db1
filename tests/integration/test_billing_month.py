"""Issue 18's acceptance scenario, over HTTP on SQLite and PostgreSQL: one reseller, two
customers (Contoso in Romania like the reseller: standard VAT; Fabrikam, a German business
with a VAT number: reverse charge), and next year's April lived day by day on the test clock — an
upgrade mid-month, seats added and removed inside their cancellation window, a reduction
outside it refused, a suspension, a trial converted to paid, and an Azure plan whose daily
rated usage is imported as the clock moves. The billing run on 1 May then gives the
reseller's invoice and each customer's, checked line by line to the cent against amounts
worked out here from DOMAIN.md's rules (never by the product's pricing code); the usage
reconciliation file sums to the invoice's usage lines; a credit note corrects an issued
invoice without changing it.

The rules, as DOMAIN.md and docs/customer-billing.md state them: a period is charged at its
start (price × seats); every part of a period is price × seats × days / days in the period,
half-up to the cent once per line; customer price = partner price × (1 + (5 + extra
markup) / 100), half-up to the cent, per licence per month; usage rows are rated per row
(quantity × unit price, half-up; the customer's = that × the total markup, half-up); tax
per line (net × rate / 100, half-up), gross = net + tax.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from csp.bootstrap import System, web_app
from csp.vendor.sim_azure import METERS, quantity
from tests.fixtures.api import API, Account, Client, sign_up
from tests.fixtures.sagas import settled
from tests.support import AZURE_PLAN, BUSINESS_BASIC, BUSINESS_PREMIUM, BUSINESS_PREMIUM_TRIAL
from tests.unit.test_transitions import BUSINESS_STANDARD

pytestmark = pytest.mark.postgres

# April of next year: the test clock only moves forward from today (any April has 30 days)
YEAR = datetime.now(UTC).year + 1
PERIOD = f"{YEAR}-04"
DAYS = 30  # April: every subscription here starts on 1 April, so its first period is the month
BASIC, STANDARD, PREMIUM = Decimal("4.70"), Decimal("9.83"), Decimal("14.16")  # annual term, a licence a month
RO_VAT = Decimal("21")


def cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def price(partner: Decimal, extra_markup: int) -> Decimal:
    """The customer's unit price at the default 5 % plus ``extra_markup``."""
    return cents(partner * (100 + 5 + extra_markup) / 100)


def part(unit: Decimal, seats: int, days: int) -> Decimal:
    """Part of April's period: unit × seats × days / 30, rounded once."""
    return cents(unit * seats * days / DAYS)


def on(day: int, hour: int = 9) -> datetime:
    return datetime(YEAR, 4, day, hour, 0, tzinfo=UTC)


def _set_clock(client: Client, at: datetime) -> None:
    client.ok("POST", "/test/clock", json={"now": at.isoformat()})


def _tenant(system: System, boss: Client, organization_id: str, domain: str) -> dict[str, Any]:
    t = boss.ok("POST", f"/organizations/{organization_id}/tenants", 202, json={"domain": domain, "mode": "create"})
    settled(system)
    t = boss.ok("GET", f"/tenants/{t['id']}")
    assert t["status"] == "created"
    return t  # type: ignore[no-any-return]


def _order(system: System, boss: Client, organization_id: str, lines: list[dict[str, Any]]) -> list[str]:
    order = boss.ok("POST", f"/organizations/{organization_id}/orders", 201, json={})
    for line in lines:
        boss.ok("POST", f"/orders/{order['id']}/lines", 201, json=line)
    boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    settled(system)
    order = boss.ok("GET", f"/orders/{order['id']}")
    assert order["status"] == "provision_finished", order
    return order["subscription_ids"]  # type: ignore[no-any-return]


def _refused(client: Client, path: str, body: dict[str, Any], code: str) -> None:
    r = client.post(f"{API}{path}", json=body)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == code


def _usage_rows(entitlement: str, first: date, last: date) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    """The vendor's rated rows of one entitlement from ``first`` to ``last`` (the simulator's
    seeded quantities and unit prices: the vendor's data, not the product's), each rated
    here: (meter, partner cost, customer price at 5 + 3 %, quantity)."""
    out = []
    d = first
    while d <= last:
        for m in METERS:
            q = quantity(entitlement, d.isoformat(), m)
            cost = cents(q * m.unit_price)
            out.append((m.name, cost, cents(cost * (100 + 5 + 3) / 100), q))
        d += timedelta(days=1)
    return out


def test_a_month_of_changes_is_invoiced_to_the_reseller_and_each_customer_cent_by_cent(http_system: System):
    system = http_system
    account: Account = sign_up(web_app(system), system)
    boss = account.boss
    # given, on 31 March: the tax settings, two customers and a tenant each
    _set_clock(boss, datetime(YEAR, 3, 31, 9, 0, tzinfo=UTC))
    boss.ok(
        "PUT",
        "/settings/tax",
        json={
            "rates": [{"country": "RO", "rate_percent": str(RO_VAT)}, {"country": "DE", "rate_percent": "19"}],
            "reverse_charge_eu": True,
        },
    )
    contoso = account.customer("Contoso SRL")
    fabrikam = account.customer(
        "Fabrikam GmbH",
        country="DE",
        vat_number="DE 136 695 976",
        address={"line1": "Friedrichstr. 10", "city": "Berlin", "postal_code": "10117"},
    )
    assert fabrikam["vat_number"] == "DE136695976"
    t_contoso = _tenant(system, boss, contoso["id"], "month18contoso")
    t_fabrikam = _tenant(system, boss, fabrikam["id"], "month18fabrikam")

    # 1 April: Contoso buys Basic ×4 and Premium ×2 (extra markup 5 %), a Premium trial and an
    # Azure plan (extra markup 3 %); Fabrikam Premium ×5 (the default markup alone)
    _set_clock(boss, on(1))

    def line(offer: object, tenant: dict[str, Any], qty: int, **kw: Any) -> dict[str, Any]:
        return {"offer_id": str(offer), "tenant_id": tenant["id"], "quantity": qty, **kw}

    basic, premium, trial, azure = _order(
        system,
        boss,
        contoso["id"],
        [
            line(BUSINESS_BASIC, t_contoso, 4, billing_cycle="monthly", term="annual", markup_percent="5"),
            line(BUSINESS_PREMIUM, t_contoso, 2, billing_cycle="monthly", term="annual", markup_percent="5"),
            line(BUSINESS_PREMIUM_TRIAL, t_contoso, 25, billing_cycle="monthly", term="monthly"),
            line(AZURE_PLAN, t_contoso, 1, markup_percent="3"),
        ],
    )
    (fab_premium,) = _order(
        system,
        boss,
        fabrikam["id"],
        [line(BUSINESS_PREMIUM, t_fabrikam, 5, billing_cycle="monthly", term="annual")],
    )
    plan_path = f"/azure-plans/{azure}/entitlements"
    (default_entitlement,) = boss.ok("GET", plan_path)["items"]
    dev: dict[str, Any] = {}
    upgraded: dict[str, Any] = {}

    # when April is lived one day at a time (the usage import runs on every move)
    for day in range(2, 31):
        _set_clock(boss, on(day))
        if day == 3:  # +3 Premium (a tranche of its own, its window open until 10 April)
            boss.ok("POST", f"/subscriptions/{premium}/quantity", json={"quantity": 5})
        elif day == 9:  # −2: the first 2 seats' window closed on the 8th, the +3's is open: refunded
            boss.ok("POST", f"/subscriptions/{premium}/quantity", json={"quantity": 3})
        elif day == 10:  # a second Azure subscription under the plan
            dev = boss.ok("POST", plan_path, 201, json={"name": "Dev"})
        elif day == 12:  # +1 Premium; the trial becomes 3 paid licences at an extra 2 %
            boss.ok("POST", f"/subscriptions/{premium}/quantity", json={"quantity": 4})
            converted = boss.ok(
                "POST", f"/subscriptions/{trial}/convert-trial", json={"quantity": 3, "markup_percent": "2"}
            )
            assert (converted["status"], converted["purchased"]) == ("active", 3)
        elif day == 15:  # Basic ×4 upgraded, in full, to Standard
            options = boss.ok("GET", f"/subscriptions/{basic}/transitions")["items"]
            assert str(BUSINESS_STANDARD) in {o["offer_id"] for o in options}
            asked = boss.ok(
                "POST", f"/subscriptions/{basic}/transitions", 202, json={"offer_id": str(BUSINESS_STANDARD)}
            )
            assert asked["status"] == "requested"
            settled(system)
            upgraded = boss.ok("GET", f"/subscriptions/{asked['new_subscription_id']}")
            assert (upgraded["offer_id"], upgraded["purchased"]) == (str(BUSINESS_STANDARD), 4)
            assert boss.ok("GET", f"/subscriptions/{basic}")["status"] == "transitioned"
        elif day == 18:  # Fabrikam's is suspended: still billed, its quantity frozen
            boss.ok("POST", f"/subscriptions/{fab_premium}/suspend")
            _refused(boss, f"/subscriptions/{fab_premium}/quantity", {"quantity": 6}, "subscription_suspended")
        elif day == 20:  # every Premium seat is now outside its window: no immediate reduction
            _refused(boss, f"/subscriptions/{premium}/quantity", {"quantity": 3}, "outside_cancellation_window")
            # ... only one at the renewal, which charges nothing now
            scheduled = boss.ok("POST", f"/subscriptions/{premium}/quantity", json={"quantity": 3, "at_renewal": True})
            assert scheduled["purchased"] == 4
        settled(system)
    # and April is billed at 00:00 on 1 May (the last day's usage imported first)
    _set_clock(boss, datetime(YEAR, 5, 1, 0, 5, tzinfo=UTC))
    settled(system)

    # then the reseller's invoice, line by line, at partner prices
    entitlements = {e["id"]: e for e in boss.ok("GET", plan_path)["items"]}
    default_vendor = entitlements[default_entitlement["id"]]["vendor_entitlement_id"]
    dev_vendor = entitlements[dev["id"]]["vendor_entitlement_id"]
    assert default_vendor
    assert dev_vendor
    usage = {
        "Azure subscription 1": _usage_rows(default_vendor, date(YEAR, 4, 1), date(YEAR, 4, 30)),
        "Dev": _usage_rows(dev_vendor, date(YEAR, 4, 10), date(YEAR, 4, 30)),
    }
    # per entitlement × meter: (partner cost, customer price, quantity, days)
    usage_lines: dict[tuple[str, str], tuple[Decimal, Decimal, Decimal, int]] = {}
    for name, rows in usage.items():
        for meter in {m for m, *_ in rows}:
            mine = [r for r in rows if r[0] == meter]
            usage_lines[(name, meter)] = (
                sum(r[1] for r in mine),
                sum(r[2] for r in mine),
                sum(r[3] for r in mine),
                len(mine),
            )
    upgraded_id = upgraded["id"]
    # (subscription, seats, unit partner price, days, customer unit price); every April
    # period is 30 days long, the converted trial's own first one (12 April – 12 May) too,
    # so each amount is unit × seats × days / 30 (a whole period: unit × seats)
    expected = [
        (basic, 4, BASIC, 30, price(BASIC, 5)),  # April, charged on the 1st
        (basic, -4, BASIC, 16, price(BASIC, 5)),  # moved to the upgrade on the 15th: credited to 1 May
        (upgraded_id, 4, STANDARD, 16, price(STANDARD, 5)),  # the new offer's price, 15 April – 1 May
        (premium, 2, PREMIUM, 30, price(PREMIUM, 5)),
        (premium, 3, PREMIUM, 28, price(PREMIUM, 5)),  # +3 on the 3rd
        (premium, -2, PREMIUM, 22, price(PREMIUM, 5)),  # −2 on the 9th, inside the +3's window: refunded
        (premium, 1, PREMIUM, 19, price(PREMIUM, 5)),  # +1 on the 12th
        (trial, 3, PREMIUM, 30, price(PREMIUM, 2)),  # converted on the 12th: a new term, charged whole
        (fab_premium, 5, PREMIUM, 30, price(PREMIUM, 0)),  # suspended on the 18th, billed all the same
    ]
    partner_amounts = [part(p, q, d) for _, q, p, d, _ in expected]
    customer_amounts = [part(c, q, d) for _, q, _, d, c in expected]
    # the same figures by hand, so that a slip in the formula above shows
    assert partner_amounts == [
        Decimal("18.80"),
        Decimal("-10.03"),
        Decimal("20.97"),
        Decimal("28.32"),
        Decimal("39.65"),
        Decimal("-20.77"),
        Decimal("8.97"),
        Decimal("42.48"),
        Decimal("70.80"),
    ]
    assert customer_amounts == [
        Decimal("20.68"),
        Decimal("-11.03"),
        Decimal("23.06"),
        Decimal("31.16"),
        Decimal("43.62"),
        Decimal("-22.85"),
        Decimal("9.87"),
        Decimal("45.45"),
        Decimal("74.35"),
    ]
    (listed,) = [i for i in boss.ok("GET", "/invoices")["items"] if i["period"] == PERIOD]
    invoice = boss.ok("GET", f"/invoices/{listed['id']}")
    seat_lines = [x for x in invoice["lines"] if x["subscription_id"] != azure]
    assert _seat_lines(seat_lines, "amount") == sorted(
        (s, Decimal(q), str(p), d, str(a)) for (s, q, p, d, _), a in zip(expected, partner_amounts, strict=True)
    )
    got_usage = _usage_lines(invoice["lines"], azure, "amount")
    assert set(got_usage) == set(usage_lines)
    for key, (cost, _, q, n) in usage_lines.items():
        assert got_usage[key] == (cost, q, n), key
    usage_total = sum(cost for cost, _, _, _ in usage_lines.values())
    assert Decimal(invoice["total"]) == sum(partner_amounts) + usage_total
    assert Decimal(invoice["total"]) == sum(Decimal(x["amount"]) for x in invoice["lines"])

    # the reconciliation file: a row per day × meter × entitlement, summing to the usage lines
    r = boss.get(f"{API}/usage/reconciliation?period={PERIOD}")
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == (30 + 21) * len(METERS)
    assert sum(Decimal(x["BillingPreTaxTotal"]) for x in rows) == usage_total
    assert sum(Decimal(x["BillingPreTaxTotal"]) for x in rows) == sum(
        Decimal(x["amount"]) for x in invoice["lines"] if x["subscription_id"] == azure
    )
    assert sum(Decimal(x["CustomerPrice"]) for x in rows) == sum(c for _, c, _, _ in usage_lines.values())
    reconciled: dict[tuple[str, str], tuple[Decimal, set[str]]] = {}
    for x in rows:  # each line's quantity and days are the file's, days rated 0.00 included
        q, days = reconciled.get((x["EntitlementDescription"], x["MeterName"]), (Decimal(0), set()))
        reconciled[(x["EntitlementDescription"], x["MeterName"])] = (
            q + Decimal(x["Quantity"]),
            days | {x["UsageDate"]},
        )
    assert {k: (q, len(days)) for k, (q, days) in reconciled.items()} == {
        k: (q, n) for k, (_, q, n) in got_usage.items()
    }
    # ... as do the month's usage totals, and the invoice as CSV sums to its total
    month = boss.ok("GET", f"/usage?organization_id={contoso['id']}&from={PERIOD}-01&to={PERIOD}-30&limit=200")
    assert (month["total"], Decimal(month["partner_cost"])) == (len(rows), usage_total)
    r = boss.get(f"{API}/invoices/{listed['id']}?format=csv")
    assert r.status_code == 200, r.text
    assert sum(Decimal(x["amount"]) for x in csv.DictReader(io.StringIO(r.text))) == Decimal(invoice["total"])

    # and each customer's draft: the same lines at its prices, taxed per line
    c_draft = _draft(boss, contoso["id"])
    assert (c_draft["status"], c_draft["number"], c_draft["currency"], c_draft["tax_kind"]) == (
        "draft",
        None,
        "EUR",
        "standard",
    )
    mine = [(e, a) for e, a in zip(expected, customer_amounts, strict=True) if e[0] != fab_premium]
    assert _seat_lines([x for x in c_draft["lines"] if x["subscription_id"] != azure], "net") == sorted(
        (s, Decimal(q), str(c), d, str(a)) for (s, q, _, d, c), a in mine
    )
    c_usage = _usage_lines(c_draft["lines"], azure, "net")
    assert c_usage == {k: (c, q, n) for k, (_, c, q, n) in usage_lines.items()}
    for x in c_draft["lines"]:  # 21 % of each line, half-up; gross = net + tax
        net = Decimal(x["net"])
        assert (Decimal(x["tax_rate"]), Decimal(x["tax"]), Decimal(x["gross"])) == (
            RO_VAT,
            cents(net * RO_VAT / 100),
            net + cents(net * RO_VAT / 100),
        ), x
    c_net = sum(a for _, a in mine) + sum(c for _, c, _, _ in usage_lines.values())
    assert Decimal(c_draft["net"]) == c_net
    assert Decimal(c_draft["tax"]) == sum(Decimal(x["tax"]) for x in c_draft["lines"])
    assert Decimal(c_draft["gross"]) == Decimal(c_draft["net"]) + Decimal(c_draft["tax"])
    assert Decimal(c_draft["gross"]) == sum(Decimal(x["gross"]) for x in c_draft["lines"])

    # the list shows the same totals as the invoice
    (row,) = boss.ok("GET", f"/customer-invoices?organization_id={contoso['id']}&period={PERIOD}")["items"]
    assert (row["net"], row["tax"], row["gross"]) == (c_draft["net"], c_draft["tax"], c_draft["gross"])

    f_draft = _draft(boss, fabrikam["id"])  # reverse charge: 0 % on every line
    assert f_draft["tax_kind"] == "reverse_charge"
    assert "Reverse charge" in f_draft["tax_mention"]
    assert [
        (x["subscription_id"], Decimal(x["quantity"]), x["unit_price"], x["days"], x["net"], x["tax_rate"], x["tax"])
        for x in f_draft["lines"]
    ] == [(fab_premium, Decimal(5), str(price(PREMIUM, 0)), 30, "74.35", "0", "0.00")]
    assert (f_draft["net"], f_draft["tax"], f_draft["gross"]) == ("74.35", "0.00", "74.35")

    # when Contoso's invoice is issued, then corrected by a credit note
    issued = boss.ok("POST", f"/customer-invoices/{c_draft['id']}/issue")
    assert issued["number"] == f"INV-{YEAR}-000001"
    before = boss.ok("GET", f"/customer-invoices/{c_draft['id']}")
    before_csv = boss.get(f"{API}/customer-invoices/{c_draft['id']}?format=csv").text
    note = boss.ok(
        "POST",
        f"/customer-invoices/{c_draft['id']}/credit-notes",
        201,
        json={"lines": [{"description": "Goodwill: April outage", "quantity": "2", "unit_price": "5.17"}]},
    )
    # then the note references the invoice, at its rate: 2 × 5.17 = 10.34, 21 % = 2.17
    assert (note["invoice_id"], note["invoice_number"], note["number"]) == (
        c_draft["id"],
        f"INV-{YEAR}-000001",
        f"CN-{YEAR}-000001",
    )
    assert (note["net"], note["tax"], note["gross"]) == ("-10.34", "-2.17", "-12.51")
    # and the invoice is as it was: every field the same, the note only listed beside it
    settled(system)
    after = boss.ok("GET", f"/customer-invoices/{c_draft['id']}")
    assert [n["number"] for n in after.pop("credit_notes")] == [f"CN-{YEAR}-000001"]
    assert before.pop("credit_notes") == []
    assert after == before
    assert boss.get(f"{API}/customer-invoices/{c_draft['id']}?format=csv").text == before_csv


def _seat_lines(lines: list[dict[str, Any]], amount: str) -> list[tuple[str, Decimal, str | None, int, str]]:
    return sorted((x["subscription_id"], Decimal(x["quantity"]), x["unit_price"], x["days"], x[amount]) for x in lines)


def _usage_lines(
    lines: list[dict[str, Any]], plan: str, amount: str
) -> dict[tuple[str, str], tuple[Decimal, Decimal, int]]:
    """The Azure plan's lines by (entitlement, meter): (amount, quantity, days)."""
    out = {}
    for x in lines:
        if x["subscription_id"] != plan:
            continue
        *_, name, rest = x["description"].split(" · ")
        meter, _, _ = rest.partition(", usage on ")
        out[(name, meter)] = (Decimal(x[amount]), Decimal(x["quantity"]), x["days"])
    return out


def _draft(boss: Client, organization_id: str) -> dict[str, Any]:
    (found,) = boss.ok("GET", f"/customer-invoices?organization_id={organization_id}&period={PERIOD}")["items"]
    return boss.ok("GET", f"/customer-invoices/{found['id']}")  # type: ignore[no-any-return]
