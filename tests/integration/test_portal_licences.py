"""The portal's licence pages without JavaScript: a tenant's users (from the vendor) with a
form to add one, a subscription's Assign / Unassign buttons through the saga, and the
unused-seats badge on the Subscriptions list."""

from __future__ import annotations

from collections.abc import Callable

from csp.bootstrap import System
from tests.integration.test_licence_assignment_api import licensed_shop
from tests.unit.test_portal_pages import log_in


def test_a_reseller_adds_a_user_and_gives_it_a_licence_from_the_portal(saga_system_factory: Callable[..., System]):
    shop = licensed_shop(saga_system_factory, "tailspin", 2)
    system, app, acc, tid, sid = shop.system, shop.app, shop.acc, shop.tenant_id, shop.subscription_id
    assert system.sagas is not None
    customer = {"id": shop.customer_id}
    browser = log_in(app, acc.email)

    # the customer's page links the tenant, whose page lists its administrator
    assert f'href="/o/{customer["id"]}/tenants/{tid}"' in browser.page(f"/o/{customer['id']}")
    html = browser.page(f"/tenants/{tid}")
    assert "admin@tailspin.onmicrosoft.com" in html
    # a user name outside the tenant's domain is refused next to its field
    bad = browser.submit(f"/tenants/{tid}/users", {"user_name": "ana@other.example", "display_name": "Ana"}, 422)
    assert "tailspin.onmicrosoft.com" in bad.text
    # a user is added (its name completed with the tenant's domain)
    done = browser.submit(f"/tenants/{tid}/users", {"user_name": "ana", "display_name": "Ana Pop"})
    assert done.headers["location"] == f"/o/{customer['id']}/tenants/{tid}"
    assert "ana@tailspin.onmicrosoft.com" in browser.page(f"/tenants/{tid}")

    # the subscription's licences: a button per user
    html = browser.page(f"/subscriptions/{sid}/licences")
    ana = next(u for u in acc.boss.ok("GET", f"/tenants/{tid}/users")["items"] if u["display_name"] == "Ana Pop")
    assert f"/subscriptions/{sid}/licences/{ana['id']}/assign" in html
    browser.submit(f"/subscriptions/{sid}/licences/{ana['id']}/assign", {})
    assert system.sagas.drain(30)
    html = browser.page(f"/subscriptions/{sid}/licences")
    assert f"/subscriptions/{sid}/licences/{ana['id']}/unassign" in html
    assert "Licences of" in html
    # the tenant's page names Ana's licence
    assert f'href="/subscriptions/{sid}/licences"' in browser.page(f"/tenants/{tid}")
    # the list flags the one unassigned seat, still inside its window
    listed = browser.page(f"/o/{customer['id']}/subscriptions")
    assert '>1 unused</span><br><span class="muted">until ' in listed


def test_read_only_sees_the_licences_without_buttons(saga_system_factory: Callable[..., System]):
    shop = licensed_shop(saga_system_factory, "adatum", 1)
    app, acc, sid = shop.app, shop.acc, shop.subscription_id
    acc.invite("viewer@example.com", "read_only", acc.reseller_id)
    viewer = log_in(app, "viewer@example.com")
    html = viewer.page(f"/subscriptions/{sid}/licences")
    assert "admin@adatum.onmicrosoft.com" in html
    assert "/assign" not in html
    assert "Add a user" not in viewer.page(f"/tenants/{shop.tenant_id}")
    admin = acc.boss.ok("GET", f"/tenants/{shop.tenant_id}/users")["items"][0]
    viewer.submit(f"/subscriptions/{sid}/licences/{admin['id']}/assign", {}, 403)


def test_a_licence_beyond_the_purchased_seats_is_refused_in_words_on_the_page(
    saga_system_factory: Callable[..., System],
):
    shop = licensed_shop(saga_system_factory, "fourthcoffee", 1)
    acc, tid, sid = shop.acc, shop.tenant_id, shop.subscription_id
    assert shop.system.sagas is not None
    browser = log_in(shop.app, acc.email)
    browser.submit(f"/tenants/{tid}/users", {"user_name": "ana", "display_name": "Ana Pop"})
    users = {u["display_name"]: u for u in acc.boss.ok("GET", f"/tenants/{tid}/users")["items"]}
    ana = users["Ana Pop"]
    admin = next(u for name, u in users.items() if name != "Ana Pop")
    # the user added from the portal is on the tenant's history, with who added it
    created = [e for e in acc.boss.ok("GET", f"/tenants/{tid}/history")["events"] if e["type"] == "UserCreated"]
    assert [(e["data"]["vendor_user_id"], e["actor"]) for e in created] == [
        (ana["id"], f"user:{acc.boss.ok('GET', '/auth/me')['id']}")
    ]
    # the one seat goes to the administrator; then Ana's is refused on the licences page itself
    browser.submit(f"/subscriptions/{sid}/licences/{admin['id']}/assign", {})
    refused = browser.submit(f"/subscriptions/{sid}/licences/{ana['id']}/assign", {}, 409)
    assert "text/html" in refused.headers["content-type"]
    reason = "All 1 purchased licence(s) are assigned; buy more or unassign one first"
    assert refused.text.count(reason) == 1  # said once, at the top, as an alert
    assert f'role="alert">{reason}<' in refused.text
    assert "Licences of" in refused.text  # the page, with its buttons, not an error page
