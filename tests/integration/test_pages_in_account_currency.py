"""A non-EUR reseller's portal pages (issue 18): its order, subscriptions and subscription
pages show the platform's EUR amounts in the account's currency at the month's rate, each
amount converted on its own as the catalog's prices; the JSON says which currency its
amounts are in (EUR, the catalog's)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from csp.aggregates.invoice import period_of
from csp.api.pages import format as fmt
from tests.fixtures.api import Account
from tests.support import ACTOR, BUSINESS_PREMIUM


def _ron(eur: str | Decimal) -> str:
    """How the page writes an EUR amount for a RON account: × 4.975, half-up to the ban, ro_RO."""
    value = (Decimal(eur) * Decimal("4.975")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return fmt.amount(value, "RON")


def test_a_ron_resellers_order_and_subscription_pages_show_ron_amounts(account: Account):
    # given a RON reseller, the month's rate, and an order of 2 seats provisioned
    boss, system = account.boss, account.system
    boss.ok("PUT", "/settings", json={"currency": "RON"})
    month = period_of(datetime.fromisoformat(boss.ok("GET", "/test/clock")["now"]))
    system.app.set_exchange_rate(month, "RON", "4.9750", ACTOR)
    customer = account.customer("Contoso SRL")
    tenant = account.ready_tenant(customer["id"])
    order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 2, "billing_cycle": "monthly"}
    boss.ok("POST", f"/orders/{order['id']}/lines", 201, json=line)
    placed = boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    account.provision(order["id"])
    assert system.projector is not None
    assert system.projector.sync(10)

    # the JSON stays in EUR and says so
    assert placed["currency"] == "EUR"
    (eur_line,) = placed["lines"]
    unit_customer, unit_partner, total = (
        eur_line["unit_customer_price"],
        eur_line["unit_partner_price"],
        placed["total"],
    )

    # when the reseller opens the order page: every amount in RON
    page = boss.get(f"/orders/{order['id']}").text
    for eur in (unit_customer, unit_partner, total):
        assert _ron(eur) in page, eur
    assert f"{Decimal(total):.2f}</strong>" not in page  # not the EUR figure any more
    assert "1 EUR = 4.975 RON" in page

    # the subscriptions list and the subscription's page
    (sub,) = boss.ok("GET", f"/organizations/{customer['id']}/subscriptions")["items"]
    assert sub["currency"] == "EUR"
    listing = boss.get(f"/o/{customer['id']}/subscriptions").text
    assert _ron(sub["monthly_cost"]) in listing
    assert _ron(sub["unit_cost"]) in listing
    assert "in RON" in listing
    detail = boss.get(f"/subscriptions/{sub['id']}").text
    assert "Amount (RON)" in detail
    assert _ron(sub["monthly_cost"]) in detail
    assert re.search(r"Partner price</dt><dd>" + re.escape(_ron(unit_partner)), detail)
    assert boss.ok("GET", f"/subscriptions/{sub['id']}")["currency"] == "EUR"

    # the home page's month so far
    home = boss.get("/").text
    spend = re.search(r'data-home="spend">([^<]*)<', home)
    assert spend is not None
    assert spend.group(1).endswith("\xa0RON")

    # an account in EUR (the reseller switches back): plain EUR figures, as before
    boss.ok("PUT", "/settings", json={"currency": "EUR"})
    page = boss.get(f"/orders/{order['id']}").text
    assert f"<strong>{Decimal(total):.2f}</strong>" in page
    assert "RON" not in page
    spend = re.search(r'data-home="spend">([^<]*)<', boss.get("/").text)
    assert spend is not None
    assert spend.group(1).endswith(" EUR")
