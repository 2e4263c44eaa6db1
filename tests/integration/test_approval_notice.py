"""The ``approval_requested`` notice (issue 18's credit limits), the sagas in process, on
SQLite and PostgreSQL: a customer user's order above its credit limit waits, and the
reseller is told in the portal and by email; the setting turns it off; integrations may ask
for the ``notice.approval_requested`` webhook."""

from __future__ import annotations

from typing import Any

import pytest

from csp.bootstrap import System, web_app
from tests.fixtures.api import Client, outbox, set_settings, sign_up, wait_for_mail
from tests.fixtures.sagas import settled
from tests.support import BUSINESS_PREMIUM

pytestmark = pytest.mark.postgres


def _place(buyer: Client, organization_id: str, tenant_id: str) -> dict[str, Any]:
    order = buyer.ok("POST", f"/organizations/{organization_id}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant_id, "quantity": 1}
    buyer.ok("POST", f"/orders/{order['id']}/lines", 201, json=line)
    placed = buyer.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    assert placed["status"] == "awaiting_approval"
    return placed  # type: ignore[no-any-return]


def _approval_notices(boss: Client) -> list[dict[str, Any]]:
    return [n for n in boss.ok("GET", "/notifications")["items"] if n["kind"] == "approval_requested"]


def test_an_order_waiting_for_approval_tells_the_reseller(http_system: System) -> None:
    # given a customer with a limit of 0 (every paid order of its users needs approval)
    system = http_system
    app = web_app(system)
    account = sign_up(app, system)
    boss = account.boss
    set_settings(system, account.reseller_id, customer_self_service=True)
    customer = account.customer()
    t = boss.ok("POST", f"/organizations/{customer['id']}/tenants", 202, json={"domain": "contosoan", "mode": "create"})
    settled(system)
    buyer = account.invite("buyer@contoso.example", "customer_user", customer["id"])
    boss.ok("PUT", f"/organizations/{customer['id']}/credit-limit", json={"monthly_limit": "0"})
    assert "notice.approval_requested" in boss.ok("GET", "/webhooks/kinds")["items"]
    # an integration may ask for it (disabled here: this test has no receiver to deliver to)
    hook = {"url": "https://hooks.example.com/csp", "events": ["notice.approval_requested"], "enabled": False}
    assert boss.ok("POST", "/webhooks", 201, json=hook)["events"] == ["notice.approval_requested"]

    # when the customer's user places an order
    order = _place(buyer, customer["id"], t["id"])
    settled(system)

    # then the reseller has one notice about that order, and an email
    (notice,) = _approval_notices(boss)
    assert notice["subject_id"] == order["id"]
    assert order["number"] in notice["title"]
    assert "Contoso SRL" in notice["title"]
    assert f"{order['approval']['amount']} EUR" in notice["detail"]
    mail = wait_for_mail(system, account.email, "notice_approval_requested")
    assert order["number"] in mail["Subject"]
    assert "Approvals page" in mail.get_content()
    # the customer's user is not told the reseller's business
    assert not [m for m in outbox(system, "notice_approval_requested") if m["To"] != account.email]

    # and with the setting off, the next waiting order tells no one
    settings = boss.ok("PUT", "/settings/notifications", json={"approval_requested": False})
    assert settings["approval_requested"] is False
    _place(buyer, customer["id"], t["id"])
    settled(system)
    assert len(_approval_notices(boss)) == 1
    assert len(outbox(system, "notice_approval_requested")) == 1
    assert len(boss.ok("GET", "/approvals?status=pending")["items"]) == 2  # both still wait
