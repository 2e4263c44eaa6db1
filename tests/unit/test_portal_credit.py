"""The portal's credit limit form and Approvals page, without JavaScript (issue 18 item 6):
the reseller sets a customer's limit, a customer user's order above it shows "Awaiting
approval", the reseller rejects it with a reason (required) and the customer reads it."""

from __future__ import annotations

import re
import uuid

from fastapi import FastAPI

from tests.fixtures.api import PASSWORD, Account, set_settings
from tests.support import BUSINESS_PREMIUM
from tests.unit.test_portal_pages import log_in


def test_a_limit_an_order_over_it_and_its_rejection_on_the_portal(api_app: FastAPI, account: Account):
    set_settings(account.system, account.reseller_id, customer_self_service=True)
    org = account.customer("Contoso SRL")
    tenant = account.ready_tenant(org["id"])
    boss = log_in(api_app, account.email)
    html = boss.page(f"/o/{org['id']}")
    assert "Credit limit" in html
    assert 'name="monthly_limit"' in html
    version = re.search(r'name="version" value="(\d+)"', html.split('action="/o/' + org["id"] + '/credit-limit"')[1])
    assert version is not None
    r = boss.submit(f"/o/{org['id']}/credit-limit", {"monthly_limit": "-5", "version": version.group(1)}, status=422)
    assert "must not be negative" in r.text.lower()
    boss.page(f"/o/{org['id']}")
    boss.submit(f"/o/{org['id']}/credit-limit", {"monthly_limit": "10", "version": version.group(1)})
    assert "10.00 a month" in boss.page(f"/o/{org['id']}")

    email = f"cu-{uuid.uuid4().hex[:6]}@example.com"
    customer_api = account.invite(email, "customer_user", org["id"])
    order = customer_api.ok("POST", f"/organizations/{org['id']}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 3}
    customer_api.ok("POST", f"/orders/{order['id']}/lines", 201, json=line)
    customer = log_in(api_app, email, PASSWORD)
    customer.page(f"/orders/{order['id']}/place")
    r = customer.submit(f"/orders/{order['id']}/place", {"accept_terms": "on"})
    assert "/orders/" in r.headers["location"]
    assert "Awaiting approval" in customer.page(f"/orders/{order['id']}")
    assert "Awaiting approval" in customer.page(f"/o/{org['id']}/orders")
    customer.page("/approvals", status=403)

    html = boss.page("/approvals")
    (approval_id,) = set(re.findall(r'action="/approvals/([0-9a-f-]{36})/reject"', html))
    assert "Contoso SRL" in html
    assert "10.00" in html
    r = boss.submit(f"/approvals/{approval_id}/reject", {"reason": ""}, status=422)
    assert "say why" in r.text.lower()
    boss.page("/approvals")
    boss.submit(f"/approvals/{approval_id}/reject", {"reason": "Budget frozen"})
    assert "Budget frozen" in boss.page("/approvals?status=rejected")
    assert "Rejected by the reseller: Budget frozen" in customer.page(f"/orders/{order['id']}")
