"""Licence assignment on the Subscription aggregate: seats given to a tenant's users are
decided here at once (never beyond the purchased seats), then pushed to the vendor; the
unassigned seats still inside their 7-day window are the ones cheap to cut."""

from datetime import timedelta

import pytest

from csp.aggregates.errors import LicencesAssigned, NoFreeLicence, SubscriptionNotActive
from csp.aggregates.subscription import Subscription
from csp.clock import SettableClock
from tests.support import ACTOR, World, make_world, memory_app

WINDOW = timedelta(hours=168)
SYNC = "system:vendor-sync"


@pytest.fixture
def world(clock: SettableClock) -> World:
    return make_world(memory_app(clock), clock)


def _answer(world: World, sub: Subscription, refuse: bool = False) -> Subscription:
    """The saga's part: the vendor's figure synced, then the change acknowledged (or refused)."""
    version = sub.licence_requests[0].version
    if refuse:
        return world.app.record_vendor_refusal(sub.id, version, "no licences left [NoAvailableLicenses]")
    world.app.sync_assigned_licences(sub.id, sub.assigned + 1, actor=SYNC)
    return world.app.acknowledge_vendor_change(sub.id, version)


def test_an_assignment_is_recorded_as_a_request_for_the_vendor(world: World):
    sub = world.buy(quantity=2)
    sub = world.app.assign_licence(sub.id, "user-1", actor=ACTOR)
    event = world.app.subscription_event(sub.id, sub.version)
    assert isinstance(event, Subscription.LicenceAssignmentRequested)
    assert (event.tenant_user_id, event.actor) == ("user-1", ACTOR)
    assert [(r.tenant_user_id, r.action, r.version) for r in sub.licence_requests] == [
        ("user-1", "assign", sub.version)
    ]
    assert sub.pending_assignments == 1


def test_assigning_beyond_the_purchased_seats_is_refused_counting_the_pending_ones(world: World):
    sub = world.buy(quantity=2)
    world.app.assign_licence(sub.id, "user-1", actor=ACTOR)
    sub = world.app.assign_licence(sub.id, "user-2", actor=ACTOR)
    with pytest.raises(NoFreeLicence) as refused:
        world.app.assign_licence(sub.id, "user-3", actor=ACTOR)
    assert refused.value.code == "no_free_licence"
    assert refused.value.details["purchased"] == 2
    assert world.sub(sub.id).version == sub.version  # nothing recorded


def test_the_same_assignment_twice_records_nothing_more(world: World):
    sub = world.buy(quantity=1)
    first = world.app.assign_licence(sub.id, "user-1", actor=ACTOR)
    again = world.app.assign_licence(sub.id, "user-1", actor=ACTOR)
    assert again.version == first.version


def test_an_acknowledged_assignment_counts_as_assigned_and_no_longer_pending(world: World):
    sub = world.buy(quantity=1)
    sub = _answer(world, world.app.assign_licence(sub.id, "user-1", actor=ACTOR))
    assert (sub.assigned, sub.pending_assignments, sub.unassigned) == (1, 0, 0)
    with pytest.raises(NoFreeLicence):
        world.app.assign_licence(sub.id, "user-2", actor=ACTOR)


def test_unassigning_frees_a_seat(world: World):
    sub = world.buy(quantity=1)
    sub = _answer(world, world.app.assign_licence(sub.id, "user-1", actor=ACTOR))
    sub = world.app.unassign_licence(sub.id, "user-1", actor=ACTOR)
    assert sub.licence_requests[0].action == "unassign"
    world.app.sync_assigned_licences(sub.id, 0, actor=SYNC)
    sub = world.app.acknowledge_vendor_change(sub.id, sub.licence_requests[0].version)
    assert (sub.assigned, sub.unassigned, sub.licence_requests) == (0, 1, ())
    sub = world.app.assign_licence(sub.id, "user-2", actor=ACTOR)
    assert sub.pending_assignments == 1


def test_the_vendors_refusal_is_recorded_and_frees_the_pending_seat(world: World):
    sub = world.buy(quantity=1)
    sub = _answer(world, world.app.assign_licence(sub.id, "user-1", actor=ACTOR), refuse=True)
    assert sub.licence_requests == ()
    assert sub.assigned == 0
    assert "NoAvailableLicenses" in (sub.last_vendor_refusal or "")
    refusal = world.app.subscription_event(sub.id, sub.version)
    assert isinstance(refusal, Subscription.VendorChangeRefused)
    assert refusal.change_type == "LicenceAssignmentRequested"
    assert world.app.assign_licence(sub.id, "user-2", actor=ACTOR).pending_assignments == 1


def test_a_suspended_subscription_cannot_give_licences(world: World):
    sub = world.buy(quantity=2)
    world.app.suspend_subscription(sub.id, actor=ACTOR)
    with pytest.raises(SubscriptionNotActive):
        world.app.assign_licence(sub.id, "user-1", actor=ACTOR)


def test_an_immediate_reduction_below_the_assigned_licences_is_refused(world: World):
    sub = world.buy(quantity=3)
    world.app.sync_assigned_licences(sub.id, 2, actor=SYNC)
    with pytest.raises(LicencesAssigned) as refused:
        world.app.change_subscription_quantity(sub.id, 1, actor=ACTOR)
    assert refused.value.code == "licences_assigned"
    assert world.app.change_subscription_quantity(sub.id, 2, actor=ACTOR).quantity == 2


def test_unused_seats_in_window_are_the_unassigned_ones_to_the_minute(world: World):
    # given 5 seats bought now, 2 of them assigned
    sub = world.buy(quantity=5)
    bought = world.clock.now()
    sub = world.app.sync_assigned_licences(sub.id, 2, actor=SYNC)
    # then 3 are unused, cancellable until the window closes, 168 hours on
    unused = sub.unused_in_window(bought + WINDOW - timedelta(minutes=1))
    assert (unused.count, unused.until) == (3, bought + WINDOW)
    # and from the minute the window closes, none is cheap to cut any more
    assert sub.unused_in_window(bought + WINDOW).count == 0


def test_unused_seats_are_cut_newest_first_so_the_close_is_the_earliest_needed(world: World):
    sub = world.buy(quantity=2)
    first = world.clock.now()
    world.clock.advance(timedelta(days=2))
    sub = world.app.change_subscription_quantity(sub.id, 5, actor=ACTOR)  # +3, its own window
    second = world.clock.now()
    sub = world.app.sync_assigned_licences(sub.id, 1, actor=SYNC)
    # 4 unused: the 3 newest seats (window to second + 168 h) and 1 of the first purchase
    unused = sub.unused_in_window(second)
    assert (unused.count, unused.until) == (4, first + WINDOW)
    # once the first window has closed, the 3 newer ones are still cheap to cut
    later = sub.unused_in_window(first + WINDOW)
    assert (later.count, later.until) == (3, second + WINDOW)
