"""Customer invoices over HTTP (issue 18): organizations' billing fields (VAT numbers
checked → 422 `invalid_vat_number`), tax settings, the month's drafts, issue and pay by the
billing role, what customers see (their own issued invoices only), another account's
ids (404), and the invoice as CSV and as a PDF whose text is checked with pypdf."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from csp.aggregates.invoice import period_of
from tests.fixtures.api import Account, Client, sign_up
from tests.support import BUSINESS_PREMIUM


def _buy(account: Account, organization_id: str, quantity: int = 2) -> None:
    tenant = account.ready_tenant(organization_id)
    order = account.boss.ok("POST", f"/organizations/{organization_id}/orders", 201, json={})
    account.boss.ok(
        "POST",
        f"/orders/{order['id']}/lines",
        201,
        json={"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": quantity},
    )
    account.boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    account.provision(order["id"])


def _bill_this_month(account: Account) -> str:
    """Move the test clock to the next month and bill this one; returns its period."""
    now = datetime.fromisoformat(account.boss.ok("GET", "/test/clock")["now"])
    period = period_of(now)
    first = (now.replace(day=28) + timedelta(days=5)).replace(day=1, hour=0, minute=5, second=0, microsecond=0)
    account.system.app.clock.set(first)  # type: ignore[attr-defined]  # the test clock (no saga workers here to wait for)
    account.system.app.run_billing(period)
    return period


@pytest.fixture
def billed(account: Account) -> dict[str, Any]:
    boss = account.boss
    boss.ok("PUT", "/settings/tax", json={"rates": [{"country": "RO", "rate_percent": "19"}]})
    contoso = account.customer("Contoso SRL", billing_email="billing@contoso.example")
    fabrikam = account.customer("Fabrikam SRL")
    _buy(account, contoso["id"], 2)
    _buy(account, fabrikam["id"], 1)
    period = _bill_this_month(account)
    return {"contoso": contoso, "fabrikam": fabrikam, "period": period}


def _only(items: list[dict[str, Any]], organization_id: str) -> dict[str, Any]:
    (found,) = [i for i in items if i["organization_id"] == organization_id]
    return found


def test_an_invalid_vat_number_is_refused_with_the_field_and_reason(account: Account):
    r = account.boss.post("/api/v1/organizations", json={**_contoso_body(), "vat_number": "RO123"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert (error["code"], error["details"]["field"]) == ("invalid_vat_number", "vat_number")
    org = account.customer("Fabrikam SRL", vat_number="ro 18547290", currency="EUR")
    assert org["vat_number"] == "RO18547290"
    r = account.boss.patch(f"/api/v1/organizations/{org['id']}", json={"currency": "ZZZ"})
    assert r.status_code == 422
    assert (r.json()["error"]["code"], r.json()["error"]["details"]["field"]) == ("unknown_currency", "currency")


def _contoso_body() -> dict[str, Any]:
    from tests.fixtures.api import contoso

    return contoso("Contoso SRL")


def test_the_month_drafts_invoices_the_billing_role_issues_and_customers_see_their_own(
    account: Account, billed: dict[str, Any]
):
    boss = account.boss
    contoso, fabrikam = billed["contoso"]["id"], billed["fabrikam"]["id"]
    # given the month's drafts, one per customer
    page = boss.ok("GET", f"/customer-invoices?period={billed['period']}")
    assert page["total"] == 2
    draft = _only(page["items"], contoso)
    assert (draft["status"], draft["number"]) == ("draft", None)
    # 2 × 15.58 = 31.16 net, 5.92 VAT, 37.08 gross (or pro rata when bought mid-period: at least taxed per line)
    shown = boss.ok("GET", f"/customer-invoices/{draft['id']}")
    assert shown["gross"] == str(sum(_dec(x["gross"]) for x in shown["lines"]))
    # customers never see a draft
    customer = account.invite("cu@contoso.example", "customer_user", contoso)
    assert customer.ok("GET", "/customer-invoices")["items"] == []
    assert customer.get(f"/api/v1/customer-invoices/{draft['id']}").status_code == 404
    # when the billing role issues it
    billing = account.invite("billing@reseller.example", "billing", account.reseller_id)
    issued = billing.ok("POST", f"/customer-invoices/{draft['id']}/issue")
    assert issued["status"] == "issued"
    assert issued["number"].startswith("INV-")
    assert issued["number"].endswith("-000001")
    assert issued["lines"][0]["tax_rate"] == "19"
    # then the customer sees it, and not Fabrikam's
    listed = customer.ok("GET", "/customer-invoices")
    assert [i["number"] for i in listed["items"]] == [issued["number"]]
    other = _only(boss.ok("GET", "/customer-invoices")["items"], fabrikam)
    assert customer.get(f"/api/v1/customer-invoices/{other['id']}").status_code == 404
    assert customer.get(f"/api/v1/customer-invoices?organization_id={fabrikam}").status_code == 404
    # a read-only user reads, but cannot issue; a customer cannot pay
    read_only = account.invite("ro@reseller.example", "read_only", account.reseller_id)
    assert read_only.post(f"/api/v1/customer-invoices/{other['id']}/issue").status_code == 403
    assert customer.post(f"/api/v1/customer-invoices/{draft['id']}/pay", json={}).status_code == 403
    # another reseller's invoice is not found
    stranger = sign_up(account.app, account.system, "Other Reseller")
    assert stranger.boss.get(f"/api/v1/customer-invoices/{draft['id']}").status_code == 404
    assert stranger.boss.post(f"/api/v1/customer-invoices/{draft['id']}/issue").status_code == 404
    # paid by hand
    paid = billing.ok("POST", f"/customer-invoices/{draft['id']}/pay", json={"reference": "bank 1"})
    assert paid["status"] == "paid"
    r = billing.post(f"/api/v1/customer-invoices/{draft['id']}/void", json={})
    assert r.status_code == 409


def _dec(value: str) -> Any:
    from decimal import Decimal

    return Decimal(value)


def test_the_invoice_as_csv_and_as_a_pdf_with_the_legal_details(account: Account, billed: dict[str, Any]):
    boss = account.boss
    contoso = billed["contoso"]["id"]
    draft = _only(boss.ok("GET", "/customer-invoices")["items"], contoso)
    issued = boss.ok("POST", f"/customer-invoices/{draft['id']}/issue")
    # CSV: a row per line, the invoice's number on each
    r = boss.get(f"/api/v1/customer-invoices/{draft['id']}?format=csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = r.text.strip().splitlines()
    assert rows[0].startswith("number,period,status,currency,line_no,description,quantity")
    assert len(rows) == 1 + len(issued["lines"])
    assert all(row.startswith(f'"{issued["number"]}"') for row in rows[1:]), rows
    # PDF: its text names the invoice, the parties, the period and the totals
    r = boss.get(f"/api/v1/customer-invoices/{draft['id']}?format=pdf")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    for expected in (
        "Invoice number",
        issued["number"],
        "CSP Platform Test",
        "Contoso SRL",
        "billing@contoso.example",
        billed["period"],
        "Total due",
        f"{_dec(issued['gross']):,.2f} EUR",
        "19 %",
    ):
        assert expected in text, expected
    # a customer user downloads its own
    customer = account.invite("ca@contoso.example", "customer_admin", contoso)
    assert customer.get(f"/api/v1/customer-invoices/{draft['id']}?format=pdf").status_code == 200


def test_tax_settings_round_trip_and_refuse_bad_input(account: Account):
    boss: Client = account.boss
    assert boss.ok("GET", "/settings/tax")["rates"] == []
    saved = boss.ok(
        "PUT", "/settings/tax", json={"rates": [{"country": "ro", "rate_percent": "19"}], "reverse_charge_eu": False}
    )
    assert (saved["rates"], saved["reverse_charge_eu"]) == ([{"country": "RO", "rate_percent": "19"}], False)
    r = boss.put("/api/v1/settings/tax", json={"rates": [{"country": "RO", "rate_percent": "119"}]})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "rates[0].rate_percent"
    r = boss.put("/api/v1/settings/tax", json={"exempt_organization_ids": ["00000000-0000-0000-0000-000000000001"]})
    assert r.status_code == 422


def test_payments_imported_from_a_csv_mark_invoices_paid_and_report_the_rows_refused(
    account: Account, billed: dict[str, Any]
):
    boss = account.boss
    items = boss.ok("GET", "/customer-invoices")["items"]
    contoso = boss.ok("POST", f"/customer-invoices/{_only(items, billed['contoso']['id'])['id']}/issue")
    fabrikam = boss.ok("POST", f"/customer-invoices/{_only(items, billed['fabrikam']['id'])['id']}/issue")
    paid_on = contoso["issued_at"][:10]
    body = (
        "number,paid_at,amount\n"
        f"{contoso['number']},{paid_on},{contoso['gross']}\n"
        f"{fabrikam['number']},{paid_on},1.00\n"  # another amount
        f"INV-1999-000001,{paid_on},1.00\n"  # no such invoice
    )
    report = boss.ok("POST", "/customer-invoices/payments", files={"file": ("bank.csv", body, "text/csv")})
    assert report["paid"] == 1, report
    assert [(r["row"], r["status"], r["status_code"]) for r in report["rows"]] == [
        (2, "paid", 200),
        (3, "refused", 422),
        (4, "refused", 404),
    ]
    assert report["rows"][1]["error"]["details"]["field"] == "amount"
    assert boss.ok("GET", f"/customer-invoices/{contoso['id']}")["status"] == "paid"
    assert boss.ok("GET", f"/customer-invoices/{fabrikam['id']}")["status"] == "issued"  # nothing half-written
    r = boss.post("/api/v1/customer-invoices/payments", files={"file": ("x.csv", "a,b\n1,2\n", "text/csv")})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "file"
