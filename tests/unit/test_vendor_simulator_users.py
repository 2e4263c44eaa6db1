"""The vendor simulator's tenant users and their licences, through the real HTTP client:
a tenant starts with its administrator, a subscription's assigned figure is its number of
licensed users, and the vendor refuses what Partner Center refuses."""

from __future__ import annotations

import httpx
import pytest

from csp.vendor import LineItem, VendorNotFound, VendorRefused
from tests.unit.test_vendor_simulator import PREMIUM, _ready_customer, sim  # noqa: F401 - the fixture


def _subscription(g, clock, cid: str, quantity: int) -> str:
    order = g.place_order(cid, [LineItem(1, PREMIUM, quantity, "monthly", "P1Y")], f"o:{cid}:{quantity}")
    clock.now += 61
    sid = g.get_order(cid, order.id).line_items[0].subscription_id
    assert sid
    return sid


def test_a_new_tenant_starts_with_its_administrator_and_users_are_created_in_its_domain(sim):  # noqa: F811
    g, clock, _ = sim
    cid = _ready_customer(g, clock)
    assert [u.user_principal_name for u in g.list_users(cid)] == ["admin@contoso.onmicrosoft.com"]
    ana = g.create_user(cid, "ana@contoso.onmicrosoft.com", "Ana Pop", "u:ana")
    assert g.create_user(cid, "ana@contoso.onmicrosoft.com", "Ana Pop", "u:ana") == ana  # replayed by its key
    assert [u.display_name for u in g.list_users(cid)] == ["Administrator", "Ana Pop"]
    with pytest.raises(VendorRefused) as other_domain:
        g.create_user(cid, "ana@fabrikam.com", "Ana", "u:ana-2")
    assert (other_domain.value.status, other_domain.value.code) == (400, "InvalidUserPrincipalName")
    with pytest.raises(VendorRefused) as taken:
        g.create_user(cid, "ana@contoso.onmicrosoft.com", "Ana again", "u:ana-3")
    assert (taken.value.status, taken.value.code) == (409, "UserAlreadyExists")


def test_assigned_licences_are_the_licensed_users_and_never_beyond_the_seats(sim):  # noqa: F811
    g, clock, _ = sim
    cid = _ready_customer(g, clock)
    sid = _subscription(g, clock, cid, 1)
    admin = g.list_users(cid)[0]
    ana = g.create_user(cid, "ana@contoso.onmicrosoft.com", "Ana Pop", "u:ana")
    assert g.assign_licence(cid, admin.id, sid, "a:1").licences == (sid,)
    assert g.get_subscription(cid, sid).assigned_licences == 1
    # the one seat is taken: the vendor refuses a second user
    with pytest.raises(VendorRefused) as full:
        g.assign_licence(cid, ana.id, sid, "a:2")
    assert (full.value.status, full.value.code) == (409, "NoAvailableLicenses")
    # unassigning frees the seat for another user
    assert g.unassign_licence(cid, admin.id, sid, "u:1").licences == ()
    assert g.assign_licence(cid, ana.id, sid, "a:3").licences == (sid,)
    assert [(u.user_principal_name, u.licences) for u in g.list_users(cid)] == [
        ("admin@contoso.onmicrosoft.com", ()),
        ("ana@contoso.onmicrosoft.com", (sid,)),
    ]
    with pytest.raises(VendorRefused) as not_held:
        g.unassign_licence(cid, admin.id, sid, "u:2")
    assert not_held.value.code == "LicenseNotAssigned"
    with pytest.raises(VendorNotFound):
        g.assign_licence(cid, "no-such-user", sid, "a:4")


def test_a_reduction_below_the_assigned_licences_is_refused(sim):  # noqa: F811
    g, clock, _ = sim
    cid = _ready_customer(g, clock)
    sid = _subscription(g, clock, cid, 3)
    for n in (1, 2):
        user = g.create_user(cid, f"u{n}@contoso.onmicrosoft.com", f"U {n}", f"u:{n}")
        g.assign_licence(cid, user.id, sid, f"a:{n}")
    with pytest.raises(VendorRefused) as e:
        g.update_subscription(cid, sid, {"quantity": 1}, "q:1")
    assert (e.value.status, e.value.code) == (409, "AssignedLicensesExceedQuantity")
    assert g.update_subscription(cid, sid, {"quantity": 2}, "q:2").quantity == 2


def test_the_control_api_gives_licences_to_generated_users(sim):  # noqa: F811
    g, clock, url = sim
    cid = _ready_customer(g, clock)
    sid = _subscription(g, clock, cid, 3)
    assert httpx.put(f"{url}/sim/subscriptions/{sid}/assigned", json={"assignedLicenses": 2}).status_code == 204
    assert g.get_subscription(cid, sid).assigned_licences == 2
    licensed = [u.user_principal_name for u in g.list_users(cid) if sid in u.licences]
    assert licensed == ["user1@contoso.onmicrosoft.com", "user2@contoso.onmicrosoft.com"]
    httpx.put(f"{url}/sim/subscriptions/{sid}/assigned", json={"assignedLicenses": 1})
    assert g.get_subscription(cid, sid).assigned_licences == 1
