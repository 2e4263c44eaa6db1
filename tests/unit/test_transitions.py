"""Upgrades mid-term (Partner Center's transitions) and the next term's scheduled changes.

A transition moves seats to an offer the catalog marks as an upgrade of this one, keeping
the term and its end date; never a downgrade mid-term, never a trial or a suspended
subscription. The next term holds every change scheduled for the renewal (offer, quantity,
term, billing cycle), is cancellable until then, applied by the renewal, and deleted by
any immediate change.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from csp.aggregates.billing import charges_until
from csp.aggregates.errors import InvalidInput, TransitionNotAllowed
from csp.aggregates.pricing import days_between, prorate
from csp.aggregates.subscription import Subscription
from csp.application.catalog import offer_id_for
from csp.application.transitions import transition_subscription_id
from csp.clock import SettableClock
from tests.support import (
    ACTOR,
    BUSINESS_BASIC,
    BUSINESS_PREMIUM,
    BUSINESS_PREMIUM_TRIAL,
    TEAMS_PHONE,
    World,
    make_world,
    memory_app,
)

D = Decimal
BUSINESS_STANDARD = offer_id_for("CFQ7TTC0LDPB:0001")
M365_E3 = offer_id_for("CFQ7TTC0LFLZ:0002")
M365_E5 = offer_id_for("CFQ7TTC0LFLX:0002")
WINDOW = timedelta(hours=168)


@pytest.fixture
def world(clock: SettableClock) -> World:
    return make_world(memory_app(clock), clock)


def move(world: World, sub: Subscription, offer_id, quantity: int | None = None, vendor_id: str = "vendor-new"):
    """Request a transition and record the vendor's having done it (what the saga does)."""
    sub, request = world.app.request_transition(sub.id, offer_id, ACTOR, quantity=quantity)
    new = world.app.complete_transition(sub.id, request.transition_id, vendor_id)
    return world.sub(sub.id), new


def refusal(excinfo: pytest.ExceptionInfo[TransitionNotAllowed]) -> str:
    return str(excinfo.value.details["reason"])


# --- the catalog ---------------------------------------------------------------------


def test_the_catalog_names_the_upgrades_of_each_family(world: World):
    offers = world.app.catalog().offers
    assert offers[BUSINESS_BASIC].upgrade_offer_ids == (BUSINESS_STANDARD, BUSINESS_PREMIUM)
    assert offers[BUSINESS_STANDARD].upgrade_offer_ids == (BUSINESS_PREMIUM,)
    assert offers[M365_E3].upgrade_offer_ids == (M365_E5,)
    assert offers[BUSINESS_PREMIUM].upgrade_offer_ids == ()


# --- transitions -----------------------------------------------------------------------


def test_a_full_transition_moves_every_seat_keeping_term_and_end_date_and_ends_the_old_one(world: World):
    old = world.buy(quantity=5, offer_id=BUSINESS_BASIC)
    world.clock.advance(WINDOW + timedelta(days=30))
    options = {o.offer.id: o for o in world.app.transition_options(old.id)}
    assert set(options) == {BUSINESS_STANDARD, BUSINESS_PREMIUM}
    assert options[BUSINESS_STANDARD].price.partner_price == D("9.83")
    # when
    old, new = move(world, old, BUSINESS_STANDARD)
    # then
    assert (old.status, old.quantity, old.transitioned_to, old.pending_transition) == ("transitioned", 0, new.id, None)
    assert old.ended_at == world.clock.now()
    assert new.id == transition_subscription_id(_last_request_id(world, old))
    assert (new.offer_id, new.quantity, new.status) == (BUSINESS_STANDARD, 5, "active")
    assert (new.term, new.billing_cycle, new.ends_at) == (old.term, old.billing_cycle, old.ends_at)
    assert new.transitioned_from == old.id
    assert new.unit_partner_price == D("9.83")
    assert new.vendor_subscription_id == "vendor-new"
    assert world.app.transition_options(old.id) == []  # an ended one goes nowhere


def _last_request_id(world: World, sub: Subscription):
    [requested] = [e for e in world.app.events.get(sub.id) if isinstance(e, Subscription.TransitionRequested)]
    return requested.request.transition_id


def test_a_partial_transition_keeps_the_other_seats_on_the_old_subscription(world: World):
    old = world.buy(quantity=5, offer_id=BUSINESS_BASIC)
    world.clock.advance(timedelta(days=20))
    old, new = move(world, old, BUSINESS_PREMIUM, quantity=2)
    assert (old.status, old.quantity, old.transitioned_to) == ("active", 3, new.id)
    assert (new.quantity, new.offer_id, new.ends_at) == (2, BUSINESS_PREMIUM, old.ends_at)


def test_completing_a_transition_twice_changes_nothing_the_second_time(world: World):
    old = world.buy(quantity=3, offer_id=BUSINESS_BASIC)
    old, request = world.app.request_transition(old.id, BUSINESS_STANDARD, ACTOR)
    first = world.app.complete_transition(old.id, request.transition_id, "vendor-new")
    again = world.app.complete_transition(old.id, request.transition_id, "vendor-new")
    assert again.id == first.id
    assert again.version == first.version
    assert world.sub(old.id).version == old.version + 1  # one TransitionCompleted, not two


def test_a_downgrade_is_refused_mid_term(world: World):
    sub = world.buy(quantity=2, offer_id=BUSINESS_PREMIUM)
    with pytest.raises(TransitionNotAllowed) as e:
        world.app.request_transition(sub.id, BUSINESS_BASIC, ACTOR)
    assert refusal(e) == "downgrade"
    assert e.value.code == "transition_not_allowed"


def test_an_offer_outside_the_family_is_refused(world: World):
    sub = world.buy(quantity=2, offer_id=BUSINESS_BASIC)
    with pytest.raises(TransitionNotAllowed) as e:
        world.app.request_transition(sub.id, M365_E5, ACTOR)
    assert refusal(e) == "not_an_upgrade"


def test_a_trial_cannot_transition(world: World):
    trial = world.buy(quantity=25, offer_id=BUSINESS_PREMIUM_TRIAL, billing_cycle="monthly", term="monthly")
    with pytest.raises(TransitionNotAllowed) as e:
        world.app.request_transition(trial.id, BUSINESS_PREMIUM, ACTOR)
    assert refusal(e) == "trial"
    assert world.app.transition_options(trial.id) == []


def test_a_term_that_has_ended_waits_for_its_renewal_before_an_upgrade(world: World, clock: SettableClock):
    # found by the lifecycle machine: the clock past the term end, the renewal not run yet
    sub = world.buy(quantity=2, offer_id=BUSINESS_BASIC, billing_cycle="monthly", term="monthly")
    clock.set(sub.ends_at)
    with pytest.raises(TransitionNotAllowed) as e:
        world.app.request_transition(sub.id, BUSINESS_STANDARD, ACTOR)
    assert refusal(e) == "term_ended"
    assert world.app.transition_options(sub.id) == []
    world.app.run_due_work(sub.id)  # renewed: a new term
    assert BUSINESS_STANDARD in {o.offer.id for o in world.app.transition_options(sub.id)}


def test_a_suspended_subscription_cannot_transition(world: World):
    sub = world.buy(quantity=2, offer_id=BUSINESS_BASIC)
    world.app.suspend_subscription(sub.id, ACTOR)
    with pytest.raises(TransitionNotAllowed) as e:
        world.app.request_transition(sub.id, BUSINESS_STANDARD, ACTOR)
    assert refusal(e) == "suspended"
    assert world.app.transition_options(sub.id) == []


def test_the_new_offer_must_sell_the_term_it_keeps(world: World):
    # Business Premium is annual only: a monthly-term Basic can go to Standard, not to Premium
    sub = world.buy(quantity=2, offer_id=BUSINESS_BASIC, term="monthly")
    assert [o.offer.id for o in world.app.transition_options(sub.id)] == [BUSINESS_STANDARD]
    with pytest.raises(TransitionNotAllowed) as e:
        world.app.request_transition(sub.id, BUSINESS_PREMIUM, ACTOR)
    assert refusal(e) == "term_not_sold"


def test_one_transition_at_a_time_and_no_more_seats_than_purchased(world: World):
    sub = world.buy(quantity=3, offer_id=BUSINESS_BASIC)
    with pytest.raises(InvalidInput) as bad:
        world.app.request_transition(sub.id, BUSINESS_STANDARD, ACTOR, quantity=4)
    assert bad.value.field == "quantity"
    world.app.request_transition(sub.id, BUSINESS_STANDARD, ACTOR, quantity=1)
    with pytest.raises(TransitionNotAllowed) as e:
        world.app.request_transition(sub.id, BUSINESS_PREMIUM, ACTOR)
    assert refusal(e) == "transition_pending"


def test_the_vendors_refusal_is_recorded_with_its_reason_and_lets_another_be_asked(world: World):
    sub = world.buy(quantity=3, offer_id=BUSINESS_BASIC)
    sub, _ = world.app.request_transition(sub.id, BUSINESS_STANDARD, ACTOR)
    world.app.record_vendor_refusal(sub.id, sub.version, "not eligible [NotAnUpgrade]")
    after = world.sub(sub.id)
    assert (after.pending_transition, after.status, after.quantity) == (None, "active", 3)
    assert after.last_vendor_refusal == "not eligible [NotAnUpgrade]"
    assert world.app.transition_options(sub.id) != []


def test_a_full_transition_carries_the_add_ons_the_new_offer_takes(world: World):
    base = world.buy(quantity=3, offer_id=BUSINESS_BASIC)
    addon = world.app.add_subscription_addon(base.id, TEAMS_PHONE, 2, ACTOR)
    old, new = move(world, world.sub(base.id), BUSINESS_STANDARD)
    assert world.sub(addon.id).parent_id == new.id
    assert (new.addon_ids, old.addon_ids) == ((addon.id,), ())


def test_a_full_transition_is_refused_when_the_new_offer_does_not_take_an_add_on(world: World):
    base = world.buy(quantity=3, offer_id=M365_E3)
    world.app.add_subscription_addon(base.id, TEAMS_PHONE, 1, ACTOR)  # E5 has Teams Phone built in
    with pytest.raises(TransitionNotAllowed) as e:
        world.app.request_transition(base.id, M365_E5, ACTOR)
    assert refusal(e) == "addon_not_allowed"
    assert world.sub(base.id).pending_transition is None  # nothing half-written
    assert world.app.transition_options(base.id) == []


def test_the_invoice_credits_the_moved_seats_and_charges_the_new_price_pro_rata_by_day(world: World):
    old = world.buy(quantity=5, offer_id=BUSINESS_BASIC, billing_cycle="yearly")
    world.clock.advance(timedelta(days=100))
    old, new = move(world, old, BUSINESS_STANDARD)
    days = days_between(world.clock.now(), old.ends_at)
    year = days_between(old.starts_at, old.ends_at)
    until = old.ends_at
    old_charges = charges_until(old.id, list(world.app.events.get(old.id)), until)
    new_charges = charges_until(new.id, list(world.app.events.get(new.id)), until)
    [credit] = [c for c in old_charges if c.kind == "refund"]
    assert credit.amount == -prorate(5 * D("4.70") * 12, days, year)
    assert "moved to an upgrade" in credit.description
    assert [c.kind for c in old_charges if c.charged_at > world.clock.now()] == []  # billing stopped
    [charge] = new_charges
    assert (charge.kind, charge.days, charge.unit_price) == ("period", days, D("9.83"))
    assert charge.amount == prorate(5 * D("9.83") * 12, days, year)


def test_a_monthly_billed_upgrade_is_billed_on_the_old_calendar(world: World):
    old = world.buy(quantity=2, offer_id=BUSINESS_BASIC, billing_cycle="monthly")
    world.clock.advance(timedelta(days=45))
    old, new = move(world, old, BUSINESS_PREMIUM)
    charges = charges_until(new.id, list(world.app.events.get(new.id)), old.ends_at)
    first, second = charges[0], charges[1]
    assert first.charged_at == world.clock.now()
    assert first.days < 31
    assert second.period_start == first.period_end  # then whole months, on the old subscription's dates
    assert second.amount == D("28.32")  # 2 × 14.16


# --- the next term -------------------------------------------------------------------


def test_the_next_term_holds_every_scheduled_change_and_the_renewal_applies_them(world: World):
    sub = world.buy(quantity=5, offer_id=BUSINESS_BASIC, billing_cycle="monthly")
    world.clock.advance(WINDOW + timedelta(days=1))
    n = world.app.set_next_term(sub.id, ACTOR, offer_id=BUSINESS_PREMIUM, quantity=3, billing_cycle="yearly")
    assert (n.offer_id, n.offer_name, n.quantity, n.term, n.billing_cycle) == (
        BUSINESS_PREMIUM,
        "Microsoft 365 Business Premium",
        3,
        None,
        "yearly",
    )
    assert n.scheduled
    assert n.applies_at == sub.ends_at
    # when the term ends
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    # then
    renewed = world.sub(sub.id)
    assert (renewed.offer_id, renewed.offer_name, renewed.quantity, renewed.billing_cycle) == (
        BUSINESS_PREMIUM,
        "Microsoft 365 Business Premium",
        3,
        "yearly",
    )
    assert renewed.unit_partner_price == D("14.16")
    assert not world.app.next_term(sub.id).scheduled


def test_a_downgrade_may_be_scheduled_for_the_next_term(world: World):
    sub = world.buy(quantity=2, offer_id=BUSINESS_PREMIUM)
    n = world.app.set_next_term(sub.id, ACTOR, offer_id=BUSINESS_BASIC)
    assert n.offer_id == BUSINESS_BASIC
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    assert (world.sub(sub.id).offer_id, world.sub(sub.id).unit_partner_price) == (BUSINESS_BASIC, D("4.70"))


def test_an_offer_of_another_family_cannot_be_scheduled(world: World):
    sub = world.buy(quantity=2, offer_id=BUSINESS_BASIC)
    with pytest.raises(TransitionNotAllowed) as e:
        world.app.set_next_term(sub.id, ACTOR, offer_id=M365_E3)
    assert refusal(e) == "not_an_upgrade"
    assert not world.app.next_term(sub.id).scheduled


def test_the_quantity_scheduled_for_the_renewal_is_in_the_next_term_and_delete_cancels_it(world: World):
    sub = world.buy(quantity=4, offer_id=BUSINESS_BASIC)
    world.clock.advance(WINDOW + timedelta(days=1))
    world.app.change_subscription_quantity(sub.id, 3, actor=ACTOR, at_renewal=True)
    world.app.schedule_subscription_term(world.sub(sub.id).id, "annual", ACTOR)
    assert world.app.next_term(sub.id).quantity == 3
    # when
    n = world.app.cancel_next_term(sub.id, ACTOR)
    # then
    assert (n.offer_id, n.quantity, n.term, n.billing_cycle, n.scheduled) == (None, None, None, None, False)
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    assert (world.sub(sub.id).renewal_count, world.sub(sub.id).quantity) == (1, 4)


def test_an_immediate_change_deletes_the_next_terms_offer_with_the_reason(world: World):
    sub = world.buy(quantity=2, offer_id=BUSINESS_BASIC)
    world.app.set_next_term(sub.id, ACTOR, offer_id=BUSINESS_STANDARD, quantity=4)
    world.app.change_subscription_quantity(sub.id, 3, actor=ACTOR)
    assert not world.app.next_term(sub.id).scheduled
    [cleared] = [e for e in world.app.events.get(sub.id) if isinstance(e, Subscription.NextTermCleared)]
    assert (cleared.reason, cleared.renewal_offer_id, cleared.renewal_quantity) == (
        "quantity_changed",
        BUSINESS_STANDARD,
        4,
    )


def test_a_partial_transition_deletes_the_next_term_of_the_old_subscription(world: World):
    sub = world.buy(quantity=4, offer_id=BUSINESS_BASIC)
    world.app.set_next_term(sub.id, ACTOR, quantity=3)
    old, _ = move(world, world.sub(sub.id), BUSINESS_STANDARD, quantity=1)
    assert not world.app.next_term(old.id).scheduled
    [cleared] = [e for e in world.app.events.get(sub.id) if isinstance(e, Subscription.NextTermCleared)]
    assert cleared.reason == "transitioned"


def test_the_next_terms_billing_cycle_waits_for_the_renewal(world: World):
    sub = world.buy(quantity=2, offer_id=BUSINESS_BASIC, billing_cycle="monthly")
    world.app.set_next_term(sub.id, ACTOR, billing_cycle="yearly")
    world.clock.advance(timedelta(days=40))
    world.app.run_due_work(sub.id)
    assert world.sub(sub.id).billing_cycle == "monthly"  # not at the next month
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    assert world.sub(sub.id).billing_cycle == "yearly"


def test_cancelling_an_empty_next_term_of_a_suspended_subscription_changes_nothing(world: World):
    sub = world.buy(quantity=2, offer_id=BUSINESS_BASIC)
    world.app.suspend_subscription(sub.id, ACTOR)
    before = world.sub(sub.id).version
    assert not world.app.cancel_next_term(sub.id, ACTOR).scheduled
    assert world.sub(sub.id).version == before
