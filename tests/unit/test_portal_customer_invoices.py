"""The portal's customer invoice screens and tax settings form, without JavaScript (issue 18):
filters, the detail with its lines and totals, issue / credit note as plain forms, what a
customer user sees, and the organization form's billing fields kept on edit."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from fastapi import FastAPI

from csp.aggregates.invoice import period_of
from tests.fixtures.api import Account
from tests.support import BUSINESS_PREMIUM
from tests.unit.test_portal_pages import Browser, log_in


def _billed_customer(account: Account) -> tuple[str, str]:
    """A customer with a subscription bought now, and this month billed: (its id, the period)."""
    boss = account.boss
    org = account.customer("Contoso SRL", vat_number="RO18547290", billing_email="ap@contoso.example")
    tenant = account.ready_tenant(org["id"])
    order = boss.ok("POST", f"/organizations/{org['id']}/orders", 201, json={})
    boss.ok(
        "POST",
        f"/orders/{order['id']}/lines",
        201,
        json={"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 2},
    )
    boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    account.provision(order["id"])
    app = account.system.app
    now = app.now()
    first = (now.replace(day=28) + timedelta(days=5)).replace(day=1, hour=0, minute=5, second=0, microsecond=0)
    app.clock.set(first)  # type: ignore[attr-defined]
    app.forget_last_notification_id()
    app.run_billing(period_of(now))
    if account.system.read is not None:  # the lists are read models: wait for them (run here, not over HTTP)
        assert account.system.read.wait(app.last_notification_id(), timeout=10)
    return org["id"], period_of(now)


def test_the_reseller_sets_tax_issues_and_credits_an_invoice_with_plain_forms(api_app: FastAPI, account: Account):
    boss = log_in(api_app, account.email)
    boss.page("/settings/tax")
    r = boss.submit("/settings/tax", {"rates": "XX nineteen"}, status=422)
    assert "write a country and a rate" in r.text
    boss.page("/settings/tax")
    boss.submit("/settings/tax", {"rates": "RO 19\nDE 19", "reverse_charge_eu": "on"})
    assert "RO 19" in boss.page("/settings/tax")
    org_id, period = _billed_customer(account)
    # the list, filtered by customer and month
    html = boss.page(f"/customer-invoices?organization_id={org_id}&period={period}&status=draft")
    (invoice_id,) = set(re.findall(r'href="/customer-invoices/([0-9a-f-]{36})"', html))
    assert "Contoso SRL" in html
    # the draft, then issued from its page
    html = boss.page(f"/customer-invoices/{invoice_id}")
    assert "Draft invoice" in html
    assert "19 %" in html
    version = re.search(r'name="version" value="(\d+)"', html)
    assert version is not None
    boss.submit(f"/customer-invoices/{invoice_id}/issue", {"version": version.group(1)})
    html = boss.page(f"/customer-invoices/{invoice_id}")
    number = re.search(r"Invoice (INV-\d{4}-\d{6})", html)
    assert number is not None
    assert f"/api/v1/customer-invoices/{invoice_id}?format=pdf" in html
    # a credit note without a price is refused next to its field; with one, it is listed
    r = boss.submit(f"/customer-invoices/{invoice_id}/credit-notes", {"description": "Goodwill"}, status=422)
    assert "is required" in r.text
    boss.page(f"/customer-invoices/{invoice_id}")
    boss.submit(
        f"/customer-invoices/{invoice_id}/credit-notes",
        {"description": "Goodwill", "quantity": "1", "unit_price": "1.00", "reason": "late"},
    )
    html = boss.page(f"/customer-invoices/{invoice_id}")
    assert re.search(r"CN-\d{4}-000001", html)
    assert number.group(1) in html  # the invoice itself is unchanged


def test_a_customer_user_sees_only_its_issued_invoices(api_app: FastAPI, account: Account):
    account.boss.ok("PUT", "/settings/tax", json={"rates": [{"country": "RO", "rate_percent": "19"}]})
    org_id, _ = _billed_customer(account)
    email = f"cu-{uuid.uuid4().hex[:6]}@contoso.example"
    account.invite(email, "customer_user", org_id)
    customer: Browser = log_in(api_app, email)
    assert "No invoice yet" in customer.page("/customer-invoices")  # the draft is not shown
    (item,) = account.boss.ok("GET", "/customer-invoices")["items"]
    customer.page(f"/customer-invoices/{item['id']}", status=404)
    account.boss.ok("POST", f"/customer-invoices/{item['id']}/issue")
    html = customer.page("/customer-invoices")
    assert item["id"] in html
    assert "Issue</button>" not in customer.page(f"/customer-invoices/{item['id']}")


def test_the_organization_form_keeps_and_edits_the_billing_fields(api_app: FastAPI, account: Account):
    org = account.customer("Contoso SRL", vat_number="RO18547290", billing_email="ap@contoso.example")
    boss = log_in(api_app, account.email)
    html = boss.page(f"/o/{org['id']}/edit")
    assert 'value="RO18547290"' in html
    assert 'value="ap@contoso.example"' in html
    form = {
        "name": "Contoso SRL",
        "country": "RO",
        "contact_phone": "+40 21 555 0100",
        "contact_email": "office@contoso.example",
        "address.line1": "Str. Fabricii 46",
        "address.city": "Bucharest",
        "address.postal_code": "060822",
        "industry": "retail",
        "vat_number": "RO18547290",
        "billing_email": "billing@contoso.example",
        "currency": "EUR",
        "version": str(org["version"]),
    }
    boss.submit(f"/o/{org['id']}/edit", form)
    saved = account.boss.ok("GET", f"/organizations/{org['id']}")
    assert (saved["vat_number"], saved["billing_email"]) == ("RO18547290", "billing@contoso.example")
    boss.page(f"/o/{org['id']}/edit")
    r = boss.submit(f"/o/{org['id']}/edit", {**form, "vat_number": "RO123", "version": str(saved["version"])}, 422)
    assert "not a valid VAT number for RO" in r.text, re.findall(r"-error\"[^>]*>([^<]*)<", r.text)
