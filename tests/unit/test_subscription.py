"""The Subscription aggregate: the vendor's commerce rules, each decided at once here."""

from datetime import timedelta
from decimal import Decimal

import pytest

from csp.aggregates.errors import (
    AlreadyExists,
    InvalidInput,
    InvalidSubscriptionTransition,
    NotATrial,
    NotDue,
    OutsideCancellationWindow,
    SubscriptionSuspended,
    TermCannotShrink,
    TrialQuantityFixed,
)
from csp.aggregates.subscription import Subscription
from csp.aggregates.terms import term_end
from csp.clock import SettableClock
from tests.support import (
    ACTOR,
    AZURE_PLAN,
    BUSINESS_BASIC,
    BUSINESS_PREMIUM,
    BUSINESS_PREMIUM_TRIAL,
    EXCHANGE_ARCHIVING,
    O365_E3,
    TEAMS_PHONE,
    World,
    make_world,
    memory_app,
)

D = Decimal
WINDOW = timedelta(hours=168)


@pytest.fixture
def world(clock: SettableClock) -> World:
    return make_world(memory_app(clock), clock)


# --- seats, tranches and the 7-day window -------------------------------------------


def test_quantity_can_rise_any_time_each_increase_opening_its_own_window(world: World):
    sub = world.buy(quantity=10)
    world.clock.advance(timedelta(days=40))
    sub = world.app.change_subscription_quantity(sub.id, 12, actor=ACTOR)
    assert sub.quantity == 12
    first, increase = sub.tranches
    assert (first.quantity, increase.quantity) == (10, 2)
    assert increase.purchased_at == world.clock.now()
    assert increase.window_ends_at == world.clock.now() + WINDOW
    assert increase.unit_partner_price == D("14.16")  # the term's locked price


def test_seats_inside_their_window_can_be_removed(world: World):
    sub = world.buy(quantity=10)
    world.clock.advance(timedelta(days=6, hours=23, minutes=59))
    sub = world.app.change_subscription_quantity(sub.id, 4, actor=ACTOR)
    assert sub.quantity == 4


def test_the_window_is_168_hours_to_the_minute(world: World):
    sub = world.buy(quantity=10)
    world.clock.advance(WINDOW - timedelta(minutes=1))
    assert sub.refundable_quantity(world.clock.now()) == 10
    world.clock.advance(timedelta(minutes=1))
    with pytest.raises(OutsideCancellationWindow) as e:
        world.app.change_subscription_quantity(sub.id, 9, actor=ACTOR)
    assert e.value.code == "outside_cancellation_window"
    assert world.sub(sub.id).quantity == 10


def test_a_reduction_takes_only_seats_still_inside_their_window_newest_first(world: World):
    sub = world.buy(quantity=10)
    world.clock.advance(timedelta(days=10))
    world.app.change_subscription_quantity(sub.id, 15, actor=ACTOR)  # +5, window open
    world.clock.advance(timedelta(days=1))
    with pytest.raises(OutsideCancellationWindow):
        world.app.change_subscription_quantity(sub.id, 9, actor=ACTOR)  # needs a seat of the first tranche
    sub = world.app.change_subscription_quantity(sub.id, 10, actor=ACTOR)
    assert [t.quantity for t in sub.tranches] == [10, 0]
    removed = list(world.app.events.get(sub.id))[-1]
    assert isinstance(removed, Subscription.SeatsRemoved)
    assert [(r.tranche_number, r.quantity) for r in removed.removals] == [(2, 5)]


def test_a_reduction_outside_the_window_can_be_scheduled_for_the_renewal(world: World):
    sub = world.buy(quantity=10)
    world.clock.advance(timedelta(days=30))
    sub = world.app.change_subscription_quantity(sub.id, 6, actor=ACTOR, at_renewal=True)
    assert (sub.quantity, sub.renewal_quantity) == (10, 6)
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    renewed = world.sub(sub.id)
    assert (renewed.quantity, renewed.renewal_quantity, renewed.renewal_count) == (6, None, 1)


def test_quantity_never_falls_below_one_cancel_instead(world: World):
    sub = world.buy(quantity=2)
    with pytest.raises(InvalidInput) as e:
        world.app.change_subscription_quantity(sub.id, 0, actor=ACTOR)
    assert "cancel" in e.value.reason


def test_a_suspended_subscription_cannot_change_quantity_and_keeps_billing(world: World):
    sub = world.buy(quantity=3)
    sub = world.app.suspend_subscription(sub.id, actor=ACTOR)
    assert sub.status == "suspended"
    with pytest.raises(SubscriptionSuspended):
        world.app.change_subscription_quantity(sub.id, 4, actor=ACTOR)
    # nothing about the seats or their price changed: billing continues on them
    assert (sub.quantity, sub.unit_partner_price) == (3, D("14.16"))
    sub = world.app.reactivate_subscription(sub.id, actor=ACTOR)
    assert sub.status == "active"
    assert world.app.change_subscription_quantity(sub.id, 4, actor=ACTOR).quantity == 4


def test_suspend_and_reactivate_only_from_the_right_states(world: World):
    sub = world.buy()
    with pytest.raises(InvalidSubscriptionTransition):
        world.app.reactivate_subscription(sub.id, actor=ACTOR)
    world.app.suspend_subscription(sub.id, actor=ACTOR)
    with pytest.raises(InvalidSubscriptionTransition):
        world.app.suspend_subscription(sub.id, actor=ACTOR)


def test_cancel_inside_the_window_removes_every_seat(world: World):
    sub = world.buy(quantity=5)
    world.clock.advance(timedelta(days=2))
    sub = world.app.cancel_subscription(sub.id, actor=ACTOR)
    assert sub.status == "cancelled"
    cancelled = list(world.app.events.get(sub.id))[-1]
    assert sum(r.quantity for r in cancelled.removals) == 5


def test_cancel_needs_every_seat_inside_its_window(world: World):
    sub = world.buy(quantity=5)
    world.clock.advance(timedelta(days=8))
    world.app.change_subscription_quantity(sub.id, 6, actor=ACTOR)
    with pytest.raises(OutsideCancellationWindow):
        world.app.cancel_subscription(sub.id, actor=ACTOR)
    assert world.sub(sub.id).status == "active"


# --- billing cycle and term --------------------------------------------------------


def test_a_billing_cycle_change_takes_effect_at_the_next_billing_period(world: World):
    sub = world.buy(billing_cycle="monthly")
    start = sub.starts_at
    world.clock.advance(timedelta(days=10))
    sub = world.app.change_subscription_billing_cycle(sub.id, "yearly", actor=ACTOR)
    assert sub.billing_cycle == "monthly"
    assert sub.pending_billing_cycle_at == start.replace(month=start.month + 1)
    world.app.run_due_work(sub.id)  # not yet due
    assert world.sub(sub.id).billing_cycle == "monthly"
    world.clock.set(sub.pending_billing_cycle_at)
    world.app.run_due_work(sub.id)
    assert world.sub(sub.id).billing_cycle == "yearly"


def test_from_yearly_billing_the_next_period_is_the_renewal(world: World):
    sub = world.buy(billing_cycle="yearly")
    world.clock.advance(timedelta(days=100))
    sub = world.app.change_subscription_billing_cycle(sub.id, "monthly", actor=ACTOR)
    assert sub.pending_billing_cycle_at == sub.ends_at
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    renewed = world.sub(sub.id)
    assert (renewed.billing_cycle, renewed.renewal_count) == ("monthly", 1)


def test_choosing_the_current_cycle_again_withdraws_a_scheduled_change(world: World):
    sub = world.buy(billing_cycle="monthly")
    world.app.change_subscription_billing_cycle(sub.id, "yearly", actor=ACTOR)
    sub = world.app.change_subscription_billing_cycle(sub.id, "monthly", actor=ACTOR)
    assert sub.pending_billing_cycle is None


def test_a_monthly_term_is_billed_monthly_only(world: World):
    sub = world.buy(offer_id=BUSINESS_BASIC, term="monthly")
    with pytest.raises(InvalidInput):
        world.app.change_subscription_billing_cycle(sub.id, "yearly", actor=ACTOR)


def test_the_term_can_only_grow(world: World):
    monthly = world.buy(offer_id=BUSINESS_BASIC, term="monthly")
    assert monthly.ends_at == term_end(monthly.starts_at, "monthly")
    sub = world.app.schedule_subscription_term(monthly.id, "annual", actor=ACTOR)
    assert sub.renewal_term == "annual"
    annual = world.buy(offer_id=BUSINESS_BASIC, term="annual")
    with pytest.raises(TermCannotShrink):
        world.app.schedule_subscription_term(annual.id, "monthly", actor=ACTOR)
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    renewed = world.sub(sub.id)
    assert renewed.term == "annual"
    assert renewed.ends_at == term_end(renewed.starts_at, "annual")


# --- prices -------------------------------------------------------------------------


def test_the_customer_price_can_change_any_time_from_that_moment(world: World):
    sub = world.buy()
    sub = world.app.change_subscription_price(sub.id, actor=ACTOR, unit_customer_price=D("16.00"))
    assert (sub.unit_customer_price, sub.unit_partner_price) == (D("16.00"), D("14.16"))
    event = list(world.app.events.get(sub.id))[-1]
    assert isinstance(event, Subscription.CustomerPriceChanged)
    assert event.at == world.clock.now()
    sub = world.app.change_subscription_price(sub.id, actor=ACTOR, markup_percent=D(5))
    assert sub.unit_customer_price == D("15.58")


def test_the_partner_price_is_locked_for_the_term_and_the_new_price_applies_at_renewal(world: World):
    # Office 365 E3's price rises on 2027-04-01 (bundled catalog)
    world.clock.set(world.clock.now().replace(year=2026, month=6, day=1))
    sub = world.buy(offer_id=O365_E3, quantity=10)
    assert sub.unit_partner_price == D("18.23")
    world.clock.set(sub.ends_at - timedelta(days=30))  # after the price change
    sub = world.app.change_subscription_quantity(sub.id, 11, actor=ACTOR)
    assert sub.tranches[-1].unit_partner_price == D("18.23")  # still locked
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    renewed = world.sub(sub.id)
    assert (renewed.unit_partner_price, renewed.erp_price) == (D("19.15"), D("22.80"))
    # the reseller's markup carries over: 19.15 × 1.10
    assert renewed.unit_customer_price == D("21.07")


# --- term end: renewal, expiry, disabling --------------------------------------------


def test_auto_renew_is_on_by_default_and_renewal_opens_a_new_window(world: World):
    sub = world.buy(quantity=4)
    assert sub.auto_renew
    ends = sub.ends_at
    world.clock.set(ends - timedelta(seconds=1))
    with pytest.raises(NotDue):
        sub.end_term(actor=ACTOR, at=world.clock.now())
    world.clock.set(ends)
    report = world.app.run_due_work(sub.id)
    assert report.term_ended == "active"
    renewed = world.sub(sub.id)
    assert (renewed.starts_at, renewed.ends_at) == (ends, term_end(ends, "annual"))
    assert renewed.tranches[-1].kind == "renewal"
    assert renewed.refundable_quantity(ends + timedelta(days=1)) == 4
    # running it again changes nothing
    assert not world.app.run_due_work(sub.id).changed


def test_with_auto_renew_off_the_subscription_expires_at_term_end(world: World):
    sub = world.buy()
    world.app.set_subscription_auto_renew(sub.id, False, actor=ACTOR)
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    assert world.sub(sub.id).status == "expired"


def test_a_suspended_subscription_is_disabled_at_term_end_not_renewed(world: World):
    sub = world.buy()
    world.app.suspend_subscription(sub.id, actor=ACTOR)
    world.clock.set(sub.ends_at)
    world.app.run_due_work(sub.id)
    assert world.sub(sub.id).status == "disabled"


# --- trials -------------------------------------------------------------------------


def test_a_trial_has_a_fixed_quantity_and_expires_after_30_days(world: World):
    trial = world.buy(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly", markup_percent=None)
    with pytest.raises(TrialQuantityFixed):
        world.app.change_subscription_quantity(trial.id, 26, actor=ACTOR)
    world.clock.advance(timedelta(days=30))
    world.app.run_due_work(trial.id)
    assert world.sub(trial.id).status == "expired"


def test_converting_a_trial_makes_it_paid_from_that_moment(world: World):
    trial = world.buy(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly", markup_percent=None)
    world.clock.advance(timedelta(days=12))
    sub = world.app.convert_trial(trial.id, actor=ACTOR, quantity=20, billing_cycle="monthly")
    now = world.clock.now()
    assert (sub.status, sub.offer_id, sub.quantity, sub.is_trial) == ("active", BUSINESS_PREMIUM, 20, False)
    assert (sub.starts_at, sub.ends_at) == (now, term_end(now, "annual"))
    assert (sub.unit_partner_price, sub.unit_customer_price) == (D("14.16"), D("14.87"))
    assert sub.auto_renew
    with pytest.raises(NotATrial):
        world.app.convert_trial(trial.id, actor=ACTOR)


def test_an_expired_trial_cannot_be_converted(world: World):
    trial = world.buy(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly", markup_percent=None)
    world.clock.advance(timedelta(days=31))
    with pytest.raises(NotATrial):
        world.app.convert_trial(trial.id, actor=ACTOR)


# --- add-ons ------------------------------------------------------------------------


def test_an_add_on_is_coterminous_with_its_base_and_follows_it(world: World):
    base = world.buy(quantity=10)
    world.clock.advance(timedelta(days=45))
    addon = world.app.add_subscription_addon(base.id, TEAMS_PHONE, 3, actor=ACTOR)
    assert (addon.parent_id, addon.ends_at, addon.starts_at) == (base.id, base.ends_at, world.clock.now())
    with pytest.raises(AlreadyExists):
        world.app.add_subscription_addon(base.id, TEAMS_PHONE, 1, actor=ACTOR)
    world.app.suspend_subscription(base.id, actor=ACTOR)
    assert world.sub(addon.id).status == "suspended"
    world.app.reactivate_subscription(base.id, actor=ACTOR)
    assert world.sub(addon.id).status == "active"
    world.clock.set(base.ends_at)
    world.app.run_due_work(base.id)
    b, a = world.sub(base.id), world.sub(addon.id)
    assert (b.renewal_count, a.renewal_count) == (1, 1)
    assert a.ends_at == b.ends_at


def test_add_ons_end_with_a_base_that_does_not_renew(world: World):
    base = world.buy(quantity=10)
    addon = world.app.add_subscription_addon(base.id, TEAMS_PHONE, 3, actor=ACTOR)
    world.app.set_subscription_auto_renew(base.id, False, actor=ACTOR)
    world.clock.set(base.ends_at)
    world.app.run_due_work(addon.id)  # add-ons are handled with their base
    assert (world.sub(base.id).status, world.sub(addon.id).status) == ("expired", "expired")


def test_an_add_on_is_removed_only_inside_its_window(world: World):
    base = world.buy(quantity=10)
    addon = world.app.add_subscription_addon(base.id, TEAMS_PHONE, 3, actor=ACTOR)
    world.clock.advance(timedelta(days=9))
    with pytest.raises(OutsideCancellationWindow):
        world.app.remove_subscription_addon(base.id, addon.id, actor=ACTOR)
    addon2 = world.app.add_subscription_addon(base.id, offer_id=EXCHANGE_ARCHIVING, quantity=2, actor=ACTOR)
    base_after = world.app.remove_subscription_addon(base.id, addon2.id, actor=ACTOR)
    assert addon2.id not in base_after.addon_ids
    assert world.sub(addon2.id).status == "cancelled"


def test_cancelling_a_base_cancels_its_add_ons_all_or_nothing(world: World):
    base = world.buy(quantity=10)
    addon = world.app.add_subscription_addon(base.id, TEAMS_PHONE, 3, actor=ACTOR)
    world.app.cancel_subscription(base.id, actor=ACTOR)
    assert (world.sub(base.id).status, world.sub(addon.id).status) == ("cancelled", "cancelled")


def test_a_base_cannot_shrink_below_its_add_on_count(world: World):
    base = world.buy(quantity=10)
    world.app.add_subscription_addon(base.id, TEAMS_PHONE, 8, actor=ACTOR)
    with pytest.raises(InvalidInput):
        world.app.change_subscription_quantity(base.id, 5, actor=ACTOR)
    assert world.sub(base.id).quantity == 10


# --- facts from the vendor ----------------------------------------------------------


def test_assigned_licences_are_the_vendors_figure(world: World):
    sub = world.buy(quantity=10)
    sub = world.app.sync_assigned_licences(sub.id, 7, actor="system:vendor-sync")
    assert sub.assigned == 7


def test_a_usage_based_subscription_reports_consumption(world: World):
    azure = world.buy(offer_id=AZURE_PLAN, term="monthly", markup_percent=None)
    assert azure.type == "usage"
    world.app.report_usage(
        azure.id, "2026-01-05", "Virtual Machines", D("24"), D("12.3456"), actor="system:vendor-sync"
    )
    usage = list(world.app.events.get(azure.id))[-1]
    assert usage.amount == D("12.35")
    with pytest.raises(InvalidInput):
        world.app.report_usage(world.buy().id, "2026-01-05", "x", D(1), D(1), actor="system:vendor-sync")


def test_a_refused_increase_is_compensated(world: World):
    sub = world.buy(quantity=10)
    sub = world.app.change_subscription_quantity(sub.id, 15, actor=ACTOR)
    added = list(world.app.events.get(sub.id))[-1]
    sub.record_vendor_refusal(
        added, "quantity exceeds the tenant's limit", actor="system:vendor-sync", at=world.clock.now()
    )
    world.app.save(sub)
    sub = world.sub(sub.id)
    assert (sub.quantity, sub.last_vendor_refusal) == (10, "quantity exceeds the tenant's limit")


def test_a_refused_suspension_is_compensated(world: World):
    sub = world.buy()
    sub = world.app.suspend_subscription(sub.id, actor=ACTOR)
    suspended = list(world.app.events.get(sub.id))[-1]
    sub.record_vendor_refusal(suspended, "refused", actor="system:vendor-sync", at=world.clock.now())
    assert sub.status == "active"
