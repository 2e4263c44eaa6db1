"""The Order aggregate and the ordering commands (in-memory store)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from csp.aggregates.errors import (
    AddonRequiresBase,
    EmptyOrder,
    InvalidInput,
    InvalidOrderTransition,
    OfferNotAvailable,
    OrderNotDraft,
    OutsideCancellationWindow,
    SubscriptionSuspended,
    TenantNotReady,
    TermsNotAccepted,
    TrialAlreadyUsed,
    TrialQuantityFixed,
)
from csp.aggregates.order import format_order_number
from csp.application import AddonRequest, NewLineRequest
from csp.clock import SettableClock
from tests.support import (
    A3_FACULTY,
    ACTOR,
    BUSINESS_BASIC,
    BUSINESS_PREMIUM,
    BUSINESS_PREMIUM_TRIAL,
    E5_SECURITY,
    TEAMS_PHONE,
    World,
    make_world,
    memory_app,
)


@pytest.fixture
def world(clock: SettableClock) -> World:
    return make_world(memory_app(clock), clock)


def test_an_order_number_reads_like_the_manuals():
    assert format_order_number(datetime(2020, 5, 5, 10, tzinfo=UTC), 27131) == "#05-05-2020 27131"


def test_order_numbers_follow_a_global_sequence(world: World):
    a = world.app.create_order(world.customer.id, actor=ACTOR)
    b = world.app.create_order(world.customer.id, actor=ACTOR)
    assert a.number.endswith(" 27001")
    assert b.number.endswith(" 27002")
    assert a.number.startswith("#05-01-2026")


def test_a_line_at_plus_five_percent_is_priced_as_in_the_manual(world: World):
    order = world.order_with_line(quantity=1, markup_percent=Decimal(5))
    line = order.lines[0]
    assert (line.unit_partner_price, line.erp_price, line.unit_customer_price, line.margin) == (
        Decimal("14.16"),
        Decimal("16.87"),
        Decimal("15.58"),
        Decimal("1.42"),
    )
    assert line.requested_change == "+1 Users"
    assert order.total == Decimal("15.58")
    assert order.status == "draft"


def test_placing_requires_accepting_the_product_terms(world: World):
    order = world.order_with_line()
    with pytest.raises(TermsNotAccepted):
        world.app.place_order(order.id, accept_terms=False, actor=ACTOR)
    placed = world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert placed.status == "placed"
    assert placed.terms_accepted_by == ACTOR
    assert placed.terms_accepted_at == world.clock.now()


def test_an_empty_cart_cannot_be_placed(world: World):
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    with pytest.raises(EmptyOrder):
        world.app.place_order(order.id, accept_terms=True, actor=ACTOR)


def test_only_a_draft_is_edited_or_discarded(world: World):
    order = world.order_with_line()
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    with pytest.raises(OrderNotDraft):
        world.app.remove_order_line(order.id, 1, actor=ACTOR)
    with pytest.raises(OrderNotDraft):
        world.app.discard_order(order.id, actor=ACTOR)


def test_a_draft_saved_for_later_can_be_resumed_edited_and_discarded(world: World):
    order = world.order_with_line(quantity=3)
    order = world.app.replace_new_subscription_line(
        order.id, 1, NewLineRequest(BUSINESS_PREMIUM, world.tenant.id, 5, "yearly", "annual"), actor=ACTOR
    )
    assert order.lines[0].quantity == 5
    assert order.lines[0].billing_cycle == "yearly"
    assert order.lines[0].unit_customer_price == Decimal("14.87")  # the default 5 % only
    order = world.app.discard_order(order.id, actor=ACTOR)
    assert order.status == "discarded"


def test_provisioning_follows_placing_and_finishes_when_every_line_is_provisioned(world: World):
    order = world.order_with_line()
    with pytest.raises(InvalidOrderTransition):
        world.app.start_provisioning(order.id)
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    world.app.start_provisioning(order.id)
    with pytest.raises(InvalidOrderTransition):
        world.app.finish_provisioning(order.id)
    world.app.provision_line(order.id, 1, "vendor-order-1")
    done = world.app.finish_provisioning(order.id)
    assert done.status == "provision_finished"
    sub = world.sub(done.subscription_ids[0])
    assert (sub.quantity, sub.status, sub.unit_customer_price) == (1, "active", Decimal("15.58"))


def test_a_failed_provisioning_records_the_vendors_reason(world: World):
    order = world.order_with_line()
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    world.app.start_provisioning(order.id)
    failed = world.app.fail_provisioning(order.id, "vendor said: offer not available in RO", line_no=1)
    assert failed.status == "provision_failed"
    assert failed.failure_reason == "vendor said: offer not available in RO"


def test_replaying_a_provisioning_step_duplicates_nothing(world: World):
    order = world.order_with_line()
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    world.app.start_provisioning(order.id)
    world.app.start_provisioning(order.id)
    a = world.app.provision_line(order.id, 1, "vendor-order-1")
    v = a.version
    b = world.app.provision_line(order.id, 1, "vendor-order-1")
    assert b.version == v
    assert a.subscription_ids == b.subscription_ids


def test_a_change_line_adds_users_to_an_existing_subscription(world: World):
    sub = world.buy(quantity=25)
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    order = world.app.add_change_line(order.id, sub.id, 1, actor=ACTOR)
    assert order.lines[0].requested_change == "+1 Users"
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    world.provision(order)
    assert world.sub(sub.id).quantity == 26


def test_a_change_line_for_a_suspended_subscription_is_refused(world: World):
    sub = world.buy()
    world.app.suspend_subscription(sub.id, actor=ACTOR)
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    with pytest.raises(SubscriptionSuspended):
        world.app.add_change_line(order.id, sub.id, 1, actor=ACTOR)


def test_a_reduction_line_outside_the_window_is_refused(world: World):
    sub = world.buy(quantity=3)
    world.clock.advance(timedelta(days=8))
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    with pytest.raises(OutsideCancellationWindow):
        world.app.add_change_line(order.id, sub.id, -1, actor=ACTOR)


def test_a_tenant_is_usable_only_once_created(world: World):
    pending = world.app.request_tenant(world.customer.id, "fabrikamro", "create", actor=ACTOR)
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    with pytest.raises(TenantNotReady):
        world.app.add_new_subscription_line(
            order.id, NewLineRequest(BUSINESS_PREMIUM, pending.id, 1, "monthly", "annual"), actor=ACTOR
        )


def test_offers_outside_the_customers_eligibility_cannot_be_bought(world: World):
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    with pytest.raises(OfferNotAvailable):
        world.app.add_new_subscription_line(
            order.id, NewLineRequest(A3_FACULTY, world.tenant.id, 10, "monthly", "annual"), actor=ACTOR
        )


def test_an_academic_customer_can_buy_academic_offers(clock: SettableClock):
    w = make_world(memory_app(clock), clock, academic=True)
    order = w.order_with_line(offer_id=A3_FACULTY, quantity=10, markup_percent=None)
    assert order.lines[0].unit_partner_price == Decimal("2.73")


def test_the_term_and_billing_cycle_must_be_allowed_by_the_offer(world: World):
    with pytest.raises(InvalidInput) as e:
        world.order_with_line(term="monthly")  # Business Premium is sold on annual terms only
    assert e.value.field == "term"
    with pytest.raises(InvalidInput) as e:
        world.order_with_line(offer_id=BUSINESS_BASIC, term="monthly", billing_cycle="yearly")
    assert e.value.field == "billing_cycle"


def test_quantity_limits_of_the_offer(world: World):
    with pytest.raises(InvalidInput) as e:
        world.order_with_line(quantity=301)  # business plans stop at 300
    assert e.value.field == "quantity"
    with pytest.raises(InvalidInput):
        world.order_with_line(quantity=0)


def test_add_ons_chosen_with_the_base_are_priced_and_provisioned_coterminous(world: World):
    order = world.order_with_line(quantity=10, addons=(AddonRequest(TEAMS_PHONE, 4),))
    addon = order.lines[0].addons[0]
    assert (addon.unit_partner_price, addon.unit_customer_price, addon.quantity) == (
        Decimal("6.30"),
        Decimal("6.93"),
        4,
    )
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    done = world.provision(order)
    base, teams = (world.sub(i) for i in done.subscription_ids)
    assert teams.parent_id == base.id
    assert base.addon_ids == (teams.id,)
    assert teams.ends_at == base.ends_at


def test_an_add_on_needs_a_compatible_base(world: World):
    with pytest.raises(AddonRequiresBase):
        world.order_with_line(offer_id=TEAMS_PHONE, quantity=1)
    with pytest.raises(AddonRequiresBase):
        world.order_with_line(offer_id=BUSINESS_BASIC, addons=(AddonRequest(E5_SECURITY, 1),))


def test_an_add_on_line_finds_its_base_in_the_cart_on_the_same_tenant(world: World):
    order = world.order_with_line(quantity=5)
    order = world.app.add_new_subscription_line(
        order.id, NewLineRequest(E5_SECURITY, world.tenant.id, 5, "monthly", "annual"), actor=ACTOR
    )
    assert order.lines[1].parent_line_no == 1
    with pytest.raises(InvalidInput):
        world.app.add_new_subscription_line(
            order.id, NewLineRequest(TEAMS_PHONE, world.tenant.id, 6, "monthly", "annual"), actor=ACTOR
        )
    with pytest.raises(AddonRequiresBase):
        world.app.remove_order_line(order.id, 1, actor=ACTOR)
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    done = world.provision(order)
    base, sec = (world.sub(i) for i in done.subscription_ids)
    assert sec.parent_id == base.id
    assert sec.ends_at == base.ends_at


def test_an_add_on_line_for_an_active_subscription(world: World):
    base = world.buy(quantity=5)
    order = world.order_with_line(offer_id=TEAMS_PHONE, quantity=2, parent_subscription_id=base.id)
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    done = world.provision(order)
    addon = world.sub(done.subscription_ids[0])
    assert addon.parent_id == base.id
    assert world.sub(base.id).addon_ids == (addon.id,)


def test_a_trial_has_25_licences_and_one_per_offer_per_customer(world: World):
    with pytest.raises(TrialQuantityFixed):
        world.order_with_line(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=5, term="monthly", markup_percent=None)
    sub = world.buy(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly", markup_percent=None)
    assert (sub.status, sub.quantity, sub.unit_customer_price) == ("trial", 25, Decimal("0.00"))
    assert sub.ends_at - sub.starts_at == timedelta(days=30)
    with pytest.raises(TrialAlreadyUsed):
        world.order_with_line(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly", markup_percent=None)


def test_a_stale_version_is_a_conflict(world: World):
    from csp.aggregates.errors import ConcurrentModification

    order = world.order_with_line()
    with pytest.raises(ConcurrentModification):
        world.app.place_order(order.id, accept_terms=True, actor=ACTOR, expected_version=order.version - 1)
    assert (
        world.app.place_order(order.id, accept_terms=True, actor=ACTOR, expected_version=order.version).status
        == "placed"
    )


def test_every_event_records_who_and_when(world: World):
    order = world.order_with_line()
    world.clock.advance(timedelta(minutes=3))
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    events = list(world.app.events.get(order.id))
    assert [type(e).__name__ for e in events] == ["Drafted", "LineAdded", "TermsAccepted", "Placed"]
    assert all(e.actor == ACTOR for e in events)
    assert events[-1].at == world.clock.now()
    assert events[0].at == world.clock.now() - timedelta(minutes=3)


# --- a new line is decided once, in the domain (issue 13, item 4) ----------------------


def test_a_new_line_records_its_addons_term_cycle_and_price_and_the_saga_reads_them(world: World) -> None:
    order = world.order_with_line(
        quantity=10, billing_cycle="yearly", term="annual", addons=(AddonRequest(TEAMS_PHONE, 4),)
    )
    line = order.lines[0]
    (choice,) = line.addons  # type: ignore[union-attr]
    assert (choice.term, choice.billing_cycle) == ("annual", "yearly")
    teams = world.app.catalog().offer(TEAMS_PHONE)
    assert choice.term_and_cycle(line, teams) == ("annual", "yearly")  # type: ignore[arg-type]
    assert choice.price_quote(line).quantity == 4  # type: ignore[arg-type]


def test_an_addon_offering_neither_the_bases_term_nor_its_cycle_takes_its_own_first(world: World) -> None:
    from dataclasses import replace

    teams = world.app.catalog().offer(TEAMS_PHONE)
    assert teams.addon_term_and_cycle("annual", "yearly") == ("annual", "yearly")
    narrow = replace(teams, terms=("monthly",), billing_cycles=("monthly",))
    assert narrow.addon_term_and_cycle("annual", "yearly") == ("monthly", "monthly")


def test_term_and_cycle_left_out_are_the_offers_first_term_and_monthly(world: World) -> None:
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    order = world.app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, world.tenant.id, 2, None, None), actor=ACTOR
    )
    line = order.lines[0]
    assert line.term == world.app.catalog().offer(BUSINESS_PREMIUM).terms[0]  # type: ignore[union-attr]
    assert line.billing_cycle == "monthly"  # type: ignore[union-attr]


def test_amending_a_line_keeps_what_is_not_named_and_its_markup_unless_a_price_is_given(world: World) -> None:
    line = world.order_with_line(quantity=3, billing_cycle="yearly", markup_percent=Decimal(7)).lines[0]
    kept = NewLineRequest.amend(line, quantity=5)  # type: ignore[arg-type]
    assert (kept.quantity, kept.billing_cycle, kept.term, kept.markup_percent) == (5, "yearly", "annual", Decimal(7))
    priced = NewLineRequest.amend(line, target_price=Decimal("20.00"))  # type: ignore[arg-type]
    assert (priced.markup_percent, priced.target_price, priced.quantity) == (None, Decimal("20.00"), 3)
