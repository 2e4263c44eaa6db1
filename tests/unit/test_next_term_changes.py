"""Scheduled next-term changes do not survive an immediate change (as at Partner Center).

``quantity 3 at_renewal`` then ``quantity 6`` must renew 6, not 3: every immediate change
(quantity, billing cycle inside the term, offer) deletes what was scheduled for the next
term, with a ``NextTermCleared`` event in the history that says why and what.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from csp.aggregates.subscription import Subscription
from csp.application.subscriptions import SubscriptionEdit
from csp.clock import SettableClock
from tests.support import ACTOR, World, make_world, memory_app

WINDOW = timedelta(hours=168)


@pytest.fixture
def world(clock: SettableClock) -> World:
    return make_world(memory_app(clock), clock)


def cleared_events(w: World, sub: Subscription) -> list[Subscription.NextTermCleared]:
    return [e for e in w.app.events.get(sub.id) if isinstance(e, Subscription.NextTermCleared)]


def test_an_immediate_quantity_change_clears_the_quantity_scheduled_for_the_renewal(world: World):
    sub = world.buy(quantity=4)
    world.clock.advance(WINDOW + timedelta(days=1))
    world.app.change_subscription_quantity(sub.id, 3, actor=ACTOR, at_renewal=True)
    assert world.sub(sub.id).renewal_quantity == 3
    # when the quantity rises now
    world.app.change_subscription_quantity(sub.id, 6, actor=ACTOR)
    # then nothing is scheduled any more, and the history says so
    assert world.sub(sub.id).renewal_quantity is None
    [cleared] = cleared_events(world, sub)
    assert (cleared.reason, cleared.renewal_quantity, cleared.actor) == ("quantity_changed", 3, ACTOR)
    # and the renewal is of 6, as at the vendor
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    assert (world.sub(sub.id).renewal_count, world.sub(sub.id).quantity) == (1, 6)


def test_a_change_line_clears_the_scheduled_quantity_too(world: World):
    sub = world.buy(quantity=4)
    world.clock.advance(WINDOW + timedelta(days=1))
    world.app.change_subscription_quantity(sub.id, 3, actor=ACTOR, at_renewal=True)
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    order = world.app.add_change_line(order.id, sub.id, 2, actor=ACTOR)
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    world.provision(order)
    assert (world.sub(sub.id).quantity, world.sub(sub.id).renewal_quantity) == (6, None)


def test_a_billing_cycle_change_inside_the_term_clears_the_next_term_changes(world: World):
    sub = world.buy(quantity=4, billing_cycle="monthly")
    world.clock.advance(WINDOW + timedelta(days=1))
    world.app.change_subscription_quantity(sub.id, 3, actor=ACTOR, at_renewal=True)
    world.app.change_subscription_billing_cycle(sub.id, "yearly", actor=ACTOR)
    after = world.sub(sub.id)
    assert (after.renewal_quantity, after.pending_billing_cycle) == (None, "yearly")
    [cleared] = cleared_events(world, sub)
    assert (cleared.reason, cleared.renewal_quantity) == ("billing_cycle_changed", 3)


def test_a_billing_cycle_change_due_at_the_renewal_is_itself_a_next_term_change(world: World):
    # from yearly billing the next period is the renewal: it clears nothing
    sub = world.buy(quantity=4, billing_cycle="yearly")
    world.clock.advance(WINDOW + timedelta(days=1))
    world.app.change_subscription_quantity(sub.id, 3, actor=ACTOR, at_renewal=True)
    world.app.change_subscription_billing_cycle(sub.id, "monthly", actor=ACTOR)
    assert (world.sub(sub.id).renewal_quantity, world.sub(sub.id).pending_billing_cycle) == (3, "monthly")
    assert cleared_events(world, sub) == []
    # but an immediate quantity change clears both
    world.app.change_subscription_quantity(sub.id, 5, actor=ACTOR)
    after = world.sub(sub.id)
    assert (after.renewal_quantity, after.pending_billing_cycle) == (None, None)
    [cleared] = cleared_events(world, sub)
    assert (cleared.renewal_quantity, cleared.billing_cycle) == (3, "monthly")


def test_nothing_is_recorded_when_nothing_was_scheduled(world: World):
    sub = world.buy(quantity=4)
    world.app.change_subscription_quantity(sub.id, 6, actor=ACTOR)
    assert cleared_events(world, sub) == []


def test_one_save_of_the_edit_screen_keeps_the_reduction_it_schedules(world: World):
    sub = world.buy(quantity=4, billing_cycle="monthly")
    world.clock.advance(WINDOW + timedelta(days=1))
    edit = SubscriptionEdit(quantity=3, at_renewal=True, billing_cycle="yearly")
    world.app.edit_subscription(sub.id, edit, actor=ACTOR)
    after = world.sub(sub.id)
    assert (after.renewal_quantity, after.pending_billing_cycle) == (3, "yearly")
