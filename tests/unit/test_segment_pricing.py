"""One pricing decision: every path that prices a customer's seats takes the segment's price.

The customer is in a segment with ``markup_percent 3`` for Business Premium and Teams
Phone: on top of the default 5 %, 14.16 → 15.29 (the default alone: 14.87) and
6.30 → 6.80 (the default alone: 6.62).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from csp.aggregates.order import ChangeLine, NewSubscriptionLine
from csp.application import AddonRequest, NewLineRequest, QuoteLineRequest
from csp.clock import SettableClock
from tests.support import (
    ACTOR,
    BUSINESS_PREMIUM,
    BUSINESS_PREMIUM_TRIAL,
    TEAMS_PHONE,
    World,
    make_world,
    memory_app,
)

D = Decimal
SEGMENT_BP = D("15.29")
DEFAULT_BP = D("14.87")
SEGMENT_TEAMS = D("6.80")
DEFAULT_TEAMS = D("6.62")


def join_segment(w: World) -> None:
    seg = w.app.create_segment(w.reseller.id, "Gold", (), (w.customer.id,), actor=ACTOR)
    for offer in (BUSINESS_PREMIUM, TEAMS_PHONE):
        w.app.set_segment_price(seg.id, offer, actor=ACTOR, markup_percent=D(3))


@pytest.fixture
def world(clock: SettableClock) -> World:
    w = make_world(memory_app(clock), clock)
    join_segment(w)
    return w


def test_an_order_line_without_a_markup_takes_the_segment_price(world: World):
    order = world.order_with_line(markup_percent=None)
    line = order.lines[0]
    assert isinstance(line, NewSubscriptionLine)
    assert (line.unit_customer_price, line.markup_percent, line.price_basis) == (SEGMENT_BP, D(3), "segment")


def test_a_converted_trial_takes_the_segment_price(world: World):
    trial = world.buy(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly", markup_percent=None)
    world.clock.advance(timedelta(days=3))
    sub = world.app.convert_trial(trial.id, actor=ACTOR, quantity=5, billing_cycle="monthly")
    assert (sub.unit_partner_price, sub.unit_customer_price, sub.markup_percent) == (D("14.16"), SEGMENT_BP, D(3))


def test_a_converted_trial_with_a_markup_given_takes_that_markup(world: World):
    trial = world.buy(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly", markup_percent=None)
    sub = world.app.convert_trial(trial.id, actor=ACTOR, quantity=5, markup_percent=D(0))
    assert sub.unit_customer_price == DEFAULT_BP


def test_a_change_line_on_a_converted_trial_is_at_the_segment_price(world: World):
    trial = world.buy(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly", markup_percent=None)
    world.app.convert_trial(trial.id, actor=ACTOR, quantity=5)
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    order = world.app.add_change_line(order.id, trial.id, 2, actor=ACTOR)
    line = order.lines[0]
    assert isinstance(line, ChangeLine)
    assert line.unit_customer_price == SEGMENT_BP


def test_an_add_on_added_to_a_subscription_takes_its_segment_price(world: World):
    base = world.buy(quantity=10, markup_percent=D(0))  # the base at the default alone, explicitly
    addon = world.app.add_subscription_addon(base.id, TEAMS_PHONE, 3, actor=ACTOR)
    assert (addon.unit_customer_price, addon.markup_percent) == (SEGMENT_TEAMS, D(3))
    # the same price an add-on order line for that base takes
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    req = NewLineRequest(TEAMS_PHONE, world.tenant.id, 2, "monthly", "annual", parent_subscription_id=base.id)
    line = world.app.add_new_subscription_line(order.id, req, actor=ACTOR).lines[0]
    assert isinstance(line, NewSubscriptionLine)
    assert line.unit_customer_price == addon.unit_customer_price


def test_add_ons_chosen_with_a_line_take_their_own_segment_price(world: World):
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    req = NewLineRequest(
        BUSINESS_PREMIUM, world.tenant.id, 4, "monthly", "annual", addons=(AddonRequest(TEAMS_PHONE, 2),)
    )
    order = world.app.add_new_subscription_line(order.id, req, actor=ACTOR)
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    order = world.provision(order)
    line = order.lines[0]
    assert isinstance(line, NewSubscriptionLine)
    assert line.addons[0].unit_customer_price == SEGMENT_TEAMS
    addon = world.sub(order.subscription_ids[1])
    assert (addon.offer_id, addon.unit_customer_price, addon.markup_percent) == (TEAMS_PHONE, SEGMENT_TEAMS, D(3))


def test_add_ons_chosen_with_an_explicitly_priced_line_take_the_lines_markup(world: World):
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    req = NewLineRequest(
        BUSINESS_PREMIUM, world.tenant.id, 4, "monthly", "annual", D(0), addons=(AddonRequest(TEAMS_PHONE, 2),)
    )
    line = world.app.add_new_subscription_line(order.id, req, actor=ACTOR).lines[0]
    assert isinstance(line, NewSubscriptionLine)
    assert (line.unit_customer_price, line.addons[0].unit_customer_price) == (DEFAULT_BP, DEFAULT_TEAMS)


def test_a_quote_takes_the_segment_price(world: World):
    quote = world.app.create_quote(
        world.customer.id, [QuoteLineRequest(BUSINESS_PREMIUM, 3, "monthly", "annual")], actor=ACTOR
    )
    assert quote.lines[0].unit_customer_price == SEGMENT_BP


def test_the_price_preview_and_the_customer_catalog_take_the_segment_price(world: World):
    q = world.app.price_preview(BUSINESS_PREMIUM, 2, term="annual", organization_id=world.customer.id)
    assert (q.customer_price, q.total) == (SEGMENT_BP, D("30.58"))
    offer = world.app.catalog().offer(BUSINESS_PREMIUM)
    assert world.app.customer_unit_price(world.customer, offer) == SEGMENT_BP


def test_a_renewal_takes_the_segment_price_of_the_day(clock: SettableClock):
    # given a subscription bought at the default alone, before the customer joined a segment
    w = make_world(memory_app(clock), clock)
    sub = w.buy(quantity=2, markup_percent=None)
    assert (sub.unit_customer_price, sub.price_basis) == (DEFAULT_BP, "default")
    join_segment(w)
    # when it renews
    clock.set(sub.ends_at)
    w.app.run_due_work(sub.id)
    # then the new term is priced as a new order line would be
    renewed = w.sub(sub.id)
    assert renewed.renewal_count == 1
    assert (renewed.unit_customer_price, renewed.markup_percent, renewed.price_basis) == (SEGMENT_BP, D(3), "segment")


def test_a_renewal_keeps_a_price_set_explicitly(world: World):
    sub = world.buy(quantity=2, markup_percent=D(0))
    assert sub.price_basis == "explicit"
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    renewed = world.sub(sub.id)
    assert (renewed.renewal_count, renewed.unit_customer_price, renewed.markup_percent) == (1, DEFAULT_BP, D(0))


def test_an_edited_price_survives_the_renewal(world: World):
    sub = world.buy(quantity=2, markup_percent=None)
    world.app.change_subscription_price(sub.id, actor=ACTOR, markup_percent=D(10))
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    assert world.sub(sub.id).unit_customer_price == D("16.28")  # 14.16 × 1.15
