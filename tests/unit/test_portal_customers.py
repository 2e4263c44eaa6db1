"""The customer's profile page in the portal: editing it (industry and eligibility decide
what the customer may buy), and the sections' links while acting for a customer."""

from __future__ import annotations

import html as html_lib
import re
from urllib.parse import unquote

from fastapi import FastAPI

from tests.fixtures.api import Account
from tests.support import A3_FACULTY, BUSINESS_PREMIUM
from tests.unit.test_portal_pages import Browser, log_in

FORM = {
    "name": "Contoso Academy",
    "country": "RO",
    "address.line1": "Str. Fabricii 46",
    "address.city": "Bucharest",
    "address.postal_code": "060822",
    "contact_email": "office@contoso.example",
    "contact_phone": "+40 21 555 0100",
    "industry": "education",
    "eligibility.academic": "on",
}


def _edit_page(boss: Browser, org: str) -> str:
    html = boss.page(f"/o/{org}/edit")
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found, "the form carries the version it was read at"
    return found.group(1)


def test_a_customer_becomes_academic_from_its_profile_page_and_sees_academic_offers(api_app: FastAPI, account: Account):
    boss = log_in(api_app, account.email)
    org = account.customer()["id"]
    # a commercial customer may not buy an academic offer
    assert boss.get(f"/o/{org}/buy/{A3_FACULTY}").status_code in (403, 404, 409)
    assert 'href="/o/' + org + '/edit"' in boss.page(f"/o/{org}")
    version = _edit_page(boss, org)
    # when the reseller makes it an education customer, academic
    r = boss.submit(f"/o/{org}/edit", {**FORM, "version": version})
    assert r.headers["location"] == f"/o/{org}"
    # then the profile says so, and academic offers are now offered to it
    saved = account.boss.ok("GET", f"/organizations/{org}")
    assert (saved["name"], saved["industry"], saved["eligibility"]["academic"]) == (
        "Contoso Academy",
        "education",
        True,
    )
    assert "Academic" in boss.page(f"/o/{org}")
    assert boss.get(f"/o/{org}/buy/{A3_FACULTY}").status_code == 200


def test_a_bad_profile_is_refused_by_its_field_and_a_stale_one_is_not_saved(api_app: FastAPI, account: Account):
    boss = log_in(api_app, account.email)
    org = account.customer()["id"]
    version = _edit_page(boss, org)
    # academic eligibility needs the education industry: said by its field, nothing saved
    bad = boss.submit(f"/o/{org}/edit", {**FORM, "industry": "retail", "version": version}, status=422).text
    assert 'id="eligibility.academic-error"' in bad
    missing = boss.submit(f"/o/{org}/edit", {**FORM, "contact_phone": "", "version": version}, status=422).text
    assert 'id="contact_phone-error"' in missing
    assert account.boss.ok("GET", f"/organizations/{org}")["name"] == "Contoso SRL"
    # someone else saves first: this form, read before, is refused instead of overwriting
    account.boss.ok("PATCH", f"/organizations/{org}", json={"contact_phone": "+40 21 555 0199"})
    stale = boss.submit(f"/o/{org}/edit", {**FORM, "version": version}, status=409).text
    assert "changed" in stale.lower() or "version" in stale.lower()
    assert account.boss.ok("GET", f"/organizations/{org}")["contact_phone"] == "+40 21 555 0199"


def test_acting_for_a_customer_the_reports_and_users_links_are_its_own(api_app: FastAPI, account: Account):
    boss = log_in(api_app, account.email)
    org = account.customer()["id"]
    html = boss.page(f"/o/{org}")
    assert f'href="/reports?organization_id={org}"' in html
    assert f'href="/o/{org}#users-h"' in html
    # the reseller's own account: every customer's reports, the account's users
    own = boss.page(f"/o/{account.reseller_id}")
    assert 'href="/reports"' in own
    assert 'href="/users"' in own


def test_the_new_tenant_page_gives_the_vendors_delegated_admin_link(api_app: FastAPI, account: Account):
    boss = log_in(api_app, account.email)
    org = account.customer()["id"]
    url = account.boss.ok("GET", "/vendor/relationship-request")["url"]
    assert url.endswith("/sim/relationships/accept")
    html = boss.page(f"/o/{org}/tenants/new")
    assert f'value="{url}"' in html
    assert "global admin" in html


def test_create_new_tenant_from_the_order_page_comes_back_with_what_was_typed(api_app: FastAPI, account: Account):
    boss = log_in(api_app, account.email)
    org = account.customer()["id"]
    buy = f"/o/{org}/buy/{BUSINESS_PREMIUM}"
    boss.page(buy)
    typed = {"quantity": "3", "billing_cycle": "monthly", "term": "annual", "markup_percent": "7"}
    r = boss.submit(buy, {**typed, "action": "new_tenant"})
    to_tenant = r.headers["location"]
    assert to_tenant.startswith(f"/o/{org}/tenants/new?next=")
    html = boss.page(to_tenant)
    nxt = re.search(r'name="next" value="([^"]+)"', html)
    assert nxt
    form = {
        "mode": "create",
        "domain": "fabrikamtyped",
        "next": html_lib.unescape(nxt.group(1)),
    }  # as a browser sends it
    back = boss.submit(f"/o/{org}/tenants/new", form)
    location = back.headers["location"]
    assert location.startswith(f"{buy}?")
    tenant_id = account.boss.ok("GET", f"/organizations/{org}/tenants")["items"][0]["id"]
    assert f"tenant_id={tenant_id}" in location
    page = boss.page(location)
    assert re.search(r'id="quantity"[^>]*value="3"|value="3"[^>]*id="quantity"', page)
    assert re.search(r'id="markup_percent"[^>]*value="7"|value="7"[^>]*id="markup_percent"', page)
    assert re.search(rf'<option value="{tenant_id}"[^>]*selected', page)


def test_hiding_an_offer_from_the_customize_page(api_app: FastAPI, account: Account):
    boss = log_in(api_app, account.email)
    boss.page("/catalog/customize")
    r = boss.submit(f"/catalog/customize/{BUSINESS_PREMIUM}", {"visible": "false"})
    assert r.headers["location"] == "/catalog/customize"
    assert "hidden from" in unquote(r.cookies.get("csp_notice") or "")
    offers = {o["id"] for o in account.boss.ok("GET", f"/catalog/offers?reseller={account.slug}&limit=200")["items"]}
    assert str(BUSINESS_PREMIUM) not in offers
