"""The portal's GDAP relationships on a tenant's page and the customer agreement form on the
customer's page: plain forms, no JavaScript (issue 16)."""

from __future__ import annotations

import html as html_lib
import re
from uuid import UUID

from fastapi import FastAPI

from csp.aggregates.agreement import latest_agreement_version
from tests.fixtures.api import Account, contoso
from tests.unit.test_portal_pages import log_in, ready_customer


def _text(html: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", html))


def test_the_customer_agreement_is_recorded_from_the_customers_page(api_app: FastAPI, account: Account) -> None:
    boss = log_in(api_app, account.email)
    org = account.boss.ok("POST", "/organizations", 201, json=contoso("Fabrikam SRL"))["id"]
    page = boss.page(f"/o/{org}")
    assert "Not recorded yet" in page
    assert f'action="/o/{org}/agreement"' in page
    form = {
        "first_name": "Ana",
        "last_name": "Popescu",
        "email": "ana@nowhere",
        "phone": "+40 21 555 0101",
        "accepted_on": "2026-01-05",
        "agreement_version": latest_agreement_version(),
    }
    # a bad email is shown next to its field, nothing recorded
    refused = boss.submit(f"/o/{org}/agreement", form, status=422)
    assert 'id="email-error"' in refused.text
    assert account.boss.get(f"/api/v1/organizations/{org}/agreement").status_code == 404
    # a date in the future is refused too
    refused = boss.submit(f"/o/{org}/agreement", {**form, "email": "ana@fabrikam.ro", "accepted_on": "2999-01-01"}, 422)
    assert 'id="accepted_on-error"' in refused.text
    r = boss.submit(f"/o/{org}/agreement", {**form, "email": "ana@fabrikam.ro"})
    assert r.headers["location"] == f"/o/{org}"
    shown = _text(boss.page(f"/o/{org}"))
    assert "Ana Popescu, ana@fabrikam.ro" in shown
    assert latest_agreement_version() in shown


def test_a_tenants_page_asks_for_a_gdap_relationship_shows_its_link_and_terminates_it(
    api_app: FastAPI, account: Account
) -> None:
    boss = log_in(api_app, account.email)
    org, tenant = ready_customer(account)
    assert f'href="/o/{org}/tenants/{tenant}"' in boss.page(f"/o/{org}")
    page = boss.page(f"/o/{org}/tenants/{tenant}")
    assert "No GDAP relationship yet." in page
    # least privilege is checked by default, Global Administrator is not
    assert re.search(r'value="Directory Readers" checked', page)
    assert not re.search(r'value="Global Administrator" checked', page)
    # too long, or Global Administrator auto-extending: refused by field
    too_long = boss.submit(
        f"/o/{org}/tenants/{tenant}/gdap", {"roles": ["User Administrator"], "duration_days": "800"}, 422
    )
    assert 'id="duration_days-error"' in too_long.text
    ga = boss.submit(
        f"/o/{org}/tenants/{tenant}/gdap",
        {"roles": ["Global Administrator"], "duration_days": "30", "auto_extend": "on"},
        422,
    )
    assert "Global Administrator" in _text(ga.text)
    r = boss.submit(
        f"/o/{org}/tenants/{tenant}/gdap",
        {"roles": ["User Administrator", "License Administrator"], "duration_days": "90"},
    )
    assert r.headers["location"] == f"/o/{org}/tenants/{tenant}"
    app = account.system.app
    rows = account.boss.ok("GET", f"/tenants/{tenant}/gdap")["items"]
    assert [(x["status"], x["roles"]) for x in rows] == [("created", ["User Administrator", "License Administrator"])]
    # the saga brings the vendor's approval link back: the page shows it
    gid = UUID(rows[0]["id"])
    app.record_gdap_sent(gid, "vendor-rel", "https://vendor.example/approve/vendor-rel")
    account.system.projector.sync(5)
    page = boss.page(f"/o/{org}/tenants/{tenant}")
    assert 'value="https://vendor.example/approve/vendor-rel"' in page
    boss.submit(f"/o/{org}/gdap/{gid}/terminate", {})
    assert "Terminated" in _text(boss.page(f"/o/{org}/tenants/{tenant}"))
    # terminated is final: the button is gone, and a second terminate is refused
    boss.submit(f"/o/{org}/gdap/{gid}/terminate", {}, status=409)
    # a request the customer left unapproved for 90 days: expired, its link gone, in words
    lapsed = app.request_gdap(UUID(tenant), None, 30, False, "user:test")
    app.record_gdap_sent(lapsed.id, "vendor-rel-2", "https://vendor.example/approve/vendor-rel-2")
    app.record_gdap_approval_expired(lapsed.id)
    account.system.projector.sync(5)
    page = boss.page(f"/o/{org}/tenants/{tenant}")
    assert "Not approved within 90 days: the request expired (ask again)" in _text(page)
    assert "vendor-rel-2" not in page


def test_read_only_users_change_nothing_and_another_customer_sees_nothing(api_app: FastAPI, account: Account) -> None:
    org, tenant = ready_customer(account)
    other = account.customer("Fabrikam SRL")["id"]
    reader = account.invite("reader@example.com", "read_only", account.reseller_id)
    stranger = account.invite("admin@fabrikam.example", "customer_admin", other)
    # a read-only user reads, and may not ask, terminate or record
    assert reader.ok("GET", f"/tenants/{tenant}/gdap")["items"] == []
    assert reader.post(f"/api/v1/tenants/{tenant}/gdap", json={}).status_code == 403
    assert reader.post(f"/api/v1/organizations/{org}/agreement", json={}).status_code == 403
    # another organization's customer user: not found, never forbidden
    assert stranger.get(f"/api/v1/tenants/{tenant}/gdap").status_code == 404
    # (changing needs self-service first, as for its own tenants: refused before any look-up)
    refused = stranger.post(f"/api/v1/tenants/{tenant}/gdap", json={})
    assert (
        refused.status_code == stranger.post(f"/api/v1/organizations/{org}/tenants", json={"domain": "x"}).status_code
    )
    assert refused.status_code in (403, 404)
    assert stranger.get(f"/api/v1/organizations/{org}/agreement").status_code == 404


def test_linking_a_tenant_from_the_portal_leads_to_its_gdap_form(api_app: FastAPI, account: Account) -> None:
    boss = log_in(api_app, account.email)
    org = account.customer()["id"]
    boss.page(f"/o/{org}/tenants/new")
    r = boss.submit(f"/o/{org}/tenants/new", {"mode": "link", "domain": "fabrikam.example.com", "next": ""})
    to = r.headers["location"]
    assert to.startswith(f"/o/{org}/tenants/")
    page = boss.page(to)
    assert "Ask for a GDAP relationship" in page
    assert f'action="{to}/gdap"' in page
