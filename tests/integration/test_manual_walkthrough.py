"""The manual's walkthrough at the application level, on SQLite and on PostgreSQL."""

from datetime import timedelta
from decimal import Decimal

import pytest

from csp.aggregates.errors import ConcurrentModification, OutsideCancellationWindow, TermsNotAccepted
from csp.aggregates.order import Order
from csp.aggregates.subscription import Subscription
from csp.application import CspApplication, NewLineRequest
from csp.clock import SettableClock
from tests.support import ACTOR, BUSINESS_PREMIUM, make_world, profile


def test_the_manuals_walkthrough(store_app: CspApplication, clock: SettableClock):
    app = store_app
    # a customer organization with a created tenant (cspplatformtest.onmicrosoft.com)
    w = make_world(app, clock, domain="cspplatformtest")
    assert w.tenant.domain == "cspplatformtest.onmicrosoft.com"
    assert w.tenant.status == "created"

    # an order with one Business Premium licence at +5 % markup
    order = app.create_order(w.customer.id, actor=ACTOR)
    assert order.number.startswith("#05-01-2026 ")
    order = app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 1, "monthly", "annual", Decimal(5)), actor=ACTOR
    )
    line = order.lines[0]
    assert (line.unit_partner_price, line.erp_price, line.unit_customer_price, line.margin) == (
        Decimal("14.16"),
        Decimal("16.87"),
        Decimal("15.58"),
        Decimal("1.42"),
    )

    # terms refused, then accepted; placed
    with pytest.raises(TermsNotAccepted):
        app.place_order(order.id, accept_terms=False, actor=ACTOR)
    order = app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert order.status == "placed"
    order = w.provision(order)
    assert order.status == "provision_finished"
    sub_id = order.subscription_ids[0]

    # a change order "+1 Users"
    change = app.create_order(w.customer.id, actor=ACTOR)
    change = app.add_change_line(change.id, sub_id, 1, actor=ACTOR)
    assert change.lines[0].requested_change == "+1 Users"
    app.place_order(change.id, accept_terms=True, actor=ACTOR)
    w.provision(change)
    assert w.sub(sub_id).quantity == 2

    # quantity changes inside the window (the +1 of a moment ago) ...
    clock.advance(timedelta(days=3))
    assert app.change_subscription_quantity(sub_id, 1, actor=ACTOR).quantity == 1
    # ... and outside it
    clock.advance(timedelta(days=5))
    app.change_subscription_quantity(sub_id, 3, actor=ACTOR)
    clock.advance(timedelta(days=8))
    with pytest.raises(OutsideCancellationWindow):
        app.change_subscription_quantity(sub_id, 2, actor=ACTOR)
    assert w.sub(sub_id).quantity == 3

    # suspend / reactivate
    assert app.suspend_subscription(sub_id, actor=ACTOR).status == "suspended"
    assert app.reactivate_subscription(sub_id, actor=ACTOR).status == "active"

    # the whole history replays: the order as of before it was placed was a draft
    events = list(app.events.get(order.id))
    placed = next(e for e in events if isinstance(e, Order.Placed))
    as_of = app.load(Order, order.id, "order", version=placed.originator_version - 2)
    assert as_of.status == "draft"
    sub_events = [type(e).__name__ for e in app.events.get(sub_id)]
    assert sub_events == [
        "Provisioned",
        "SeatsAdded",
        "SeatsRemoved",
        "SeatsAdded",
        "Suspended",
        "Reactivated",
    ]


def test_a_second_process_sees_the_same_store_and_conflicts_are_detected(store_env, clock: SettableClock):
    first = CspApplication(env=store_env, clock=clock)
    second = CspApplication(env=store_env, clock=clock)
    try:
        w = make_world(first, clock)
        sub = w.buy(quantity=3)
        # the other process reads what the first wrote
        assert second.load(Subscription, sub.id, "subscription").quantity == 3
        # two writers decide from the same version: the second save conflicts
        a = first.load(Subscription, sub.id, "subscription")
        b = second.load(Subscription, sub.id, "subscription")
        a.change_quantity(4, actor=ACTOR, at=clock.now())
        b.change_quantity(5, actor=ACTOR, at=clock.now())
        first.save(a)
        with pytest.raises(ConcurrentModification):
            second.save(b)
        assert second.load(Subscription, sub.id, "subscription").quantity == 4
    finally:
        first.close()
        second.close()


def test_unique_keys_hold_across_processes(store_env, clock: SettableClock):
    first = CspApplication(env=store_env, clock=clock)
    second = CspApplication(env=store_env, clock=clock)
    try:
        first.ensure_catalog()
        a = first.register_reseller(profile("Same Name"), actor=ACTOR)
        b = second.register_reseller(profile("Same Name"), actor=ACTOR)
        assert a.slug != b.slug
        o1 = first.create_order(a.id, actor=ACTOR)
        o2 = second.create_order(a.id, actor=ACTOR)
        assert o1.number.split()[-1] != o2.number.split()[-1]
    finally:
        first.close()
        second.close()
