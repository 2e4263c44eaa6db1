"""The charges ledger and the monthly invoices: worked examples with exact cents.

The manual's offer: Microsoft 365 Business Premium, partner price 14.16 per licence per
month, annual term, billed monthly or yearly. Bought on 5 January 2026 at 09:00 UTC.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from csp.aggregates.billing import SubscriptionLedger, calendar_period, charges_until
from csp.aggregates.errors import InvalidInput
from csp.aggregates.invoice import Invoice, parse_period, periods_ended_between
from csp.application.billing import PeriodNotEnded
from csp.clock import SettableClock
from tests.support import (
    ACTOR,
    AZURE_PLAN,
    BUSINESS_BASIC,
    BUSINESS_PREMIUM,
    BUSINESS_PREMIUM_TRIAL,
    TEAMS_PHONE,
    World,
    make_world,
    memory_app,
)

JAN_5 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(month: int, day: int, hour: int = 9, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def world() -> World:
    clock = SettableClock(JAN_5)
    return make_world(memory_app(clock), clock)


def charges(w: World, subscription_id, until: datetime) -> list[tuple[str, str, Decimal, Decimal, int, Decimal]]:
    events = list(w.app.events.get(subscription_id))
    return [
        (c.kind, f"{c.charged_at:%m-%d}", c.quantity, c.unit_price, c.days, c.amount)
        for c in charges_until(subscription_id, events, until)
    ]


def test_monthly_billing_charges_each_period_at_its_start(world: World):
    sub = world.buy(1)
    assert charges(world, sub.id, at(4, 1)) == [
        ("period", "01-05", 1, Decimal("14.16"), 31, Decimal("14.16")),
        ("period", "02-05", 1, Decimal("14.16"), 28, Decimal("14.16")),
        ("period", "03-05", 1, Decimal("14.16"), 31, Decimal("14.16")),
    ]


def test_a_mid_period_increase_is_charged_pro_rata_and_a_removal_in_the_window_refunded(world: World):
    # given one seat bought on 5 January, billed monthly
    sub = world.buy(1)
    # when two seats are added on 20 January (16 of the period's 31 days left) ...
    world.clock.set(at(1, 20))
    world.app.change_subscription_quantity(sub.id, 3, actor=ACTOR)
    # ... and one of them removed on 22 January, inside its window (14 days left)
    world.clock.set(at(1, 22, 10))
    world.app.change_subscription_quantity(sub.id, 2, actor=ACTOR)
    # then: 2 × 14.16 × 16/31 = 14.6167 → 14.62 ; 14.16 × 14/31 = 6.3948 → 6.39 back
    assert charges(world, sub.id, at(2, 1, 0)) == [
        ("period", "01-05", 1, Decimal("14.16"), 31, Decimal("14.16")),
        ("increase", "01-20", 2, Decimal("14.16"), 16, Decimal("14.62")),
        ("refund", "01-22", -1, Decimal("14.16"), 14, Decimal("-6.39")),
    ]
    # and the next period charges both remaining seats (two tranches: one invoice line)
    world.clock.set(at(3, 1, 0))
    (jan,) = world.app.run_billing("2026-01")
    (feb,) = world.app.run_billing("2026-02")
    assert [line.amount for line in jan.lines] == [Decimal("14.16"), Decimal("14.62"), Decimal("-6.39")]
    assert jan.total == Decimal("22.39") == sum(line.amount for line in jan.lines)
    assert [(line.quantity, line.amount) for line in feb.lines] == [(2, Decimal("28.32"))]


def test_yearly_billing_charges_the_year_at_the_start_and_an_increase_pro_rata_to_the_term_end(world: World):
    sub = world.buy(1, billing_cycle="yearly")
    world.clock.set(at(3, 1))
    world.app.change_subscription_quantity(sub.id, 2, actor=ACTOR)
    # 14.16 × 12 = 169.92 ; then 169.92 × 310/365 (1 March to 5 January 2027) = 144.3155 → 144.32
    assert charges(world, sub.id, at(12, 31)) == [
        ("period", "01-05", 1, Decimal("14.16"), 365, Decimal("169.92")),
        ("increase", "03-01", 1, Decimal("14.16"), 310, Decimal("144.32")),
    ]


def test_cancelling_inside_the_window_refunds_the_unused_days(world: World):
    sub = world.buy(5)
    world.clock.set(at(1, 8))
    world.app.cancel_subscription(sub.id, actor=ACTOR)
    # 5 × 14.16 = 70.80 charged; 70.80 × 28/31 = 63.9484 → 63.95 back; no later period
    assert charges(world, sub.id, at(6, 1)) == [
        ("period", "01-05", 5, Decimal("14.16"), 31, Decimal("70.80")),
        ("refund", "01-08", -5, Decimal("14.16"), 28, Decimal("-63.95")),
    ]


def test_a_suspended_subscription_is_still_charged(world: World):
    sub = world.buy(2)
    world.clock.set(at(1, 10))
    world.app.suspend_subscription(sub.id, actor=ACTOR)
    assert [c[1:] for c in charges(world, sub.id, at(3, 1))] == [
        ("01-05", 2, Decimal("14.16"), 31, Decimal("28.32")),
        ("02-05", 2, Decimal("14.16"), 28, Decimal("28.32")),
    ]


def test_a_trial_is_free_and_its_conversion_starts_a_paid_term(world: World):
    trial = world.buy(25, offer_id=BUSINESS_PREMIUM_TRIAL, term="monthly", markup_percent=None)
    assert charges(world, trial.id, at(1, 20)) == []
    world.clock.set(at(1, 20))
    world.app.convert_trial(trial.id, actor=ACTOR, quantity=3)
    assert charges(world, trial.id, at(2, 1)) == [("period", "01-20", 3, Decimal("14.16"), 31, Decimal("42.48"))]


def test_a_billing_cycle_change_bills_the_rest_of_the_term_yearly_from_the_next_period(world: World):
    sub = world.buy(1)
    world.clock.set(at(1, 10))
    world.app.change_subscription_billing_cycle(sub.id, "yearly", actor=ACTOR)
    # effective 5 February: 11 months to 5 January 2027 at once, 14.16 × 11 = 155.76
    assert charges(world, sub.id, at(12, 31)) == [
        ("period", "01-05", 1, Decimal("14.16"), 31, Decimal("14.16")),
        ("period", "02-05", 1, Decimal("14.16"), 334, Decimal("155.76")),
    ]


def test_a_refused_increase_is_reversed(world: World):
    sub = world.buy(1)
    world.clock.set(at(1, 20))
    world.app.change_subscription_quantity(sub.id, 3, actor=ACTOR)
    world.clock.set(at(1, 20, 10))
    s = world.sub(sub.id)
    change = next(e for e in world.app.events.get(sub.id) if type(e).__name__ == "SeatsAdded")
    s.record_vendor_refusal(change, "no capacity", actor=ACTOR, at=world.app.now())
    world.app.save(s)
    assert [c[0::5] for c in charges(world, sub.id, at(3, 1))] == [
        ("period", Decimal("14.16")),
        ("increase", Decimal("14.62")),
        ("reversal", Decimal("-14.62")),
        ("period", Decimal("14.16")),
    ]


def test_usage_is_billed_as_rated_and_summed_per_meter_on_the_invoice(world: World):
    azure = world.buy(1, offer_id=AZURE_PLAN, billing_cycle="monthly", term="monthly")
    for day, amount in (("2026-01-06", "12.30"), ("2026-01-07", "0.45"), ("2026-02-01", "3.00")):
        world.app.report_usage(azure.id, day, "compute", Decimal("1.5"), Decimal(amount), actor=ACTOR)
    world.clock.set(at(2, 1, 0))
    (jan,) = world.app.run_billing("2026-01")
    assert [(line.quantity, line.days, line.amount) for line in jan.lines] == [(Decimal("3.0"), 2, Decimal("12.75"))]
    assert "compute" in jan.lines[0].description


def test_a_month_is_invoiced_once_it_has_ended_and_never_twice(world: World):
    world.buy(1)
    with pytest.raises(PeriodNotEnded):
        world.app.run_billing("2026-01")
    world.clock.set(at(2, 1, 0))
    (invoice,) = world.app.run_billing("2026-01")
    assert invoice.number == "INV-202601-0001"
    assert world.app.run_billing("2026-01") == []
    loaded = world.app.load(Invoice, invoice.id, "invoice")
    assert loaded.total == Decimal("14.16")
    assert loaded.version == 1


def test_a_month_billed_late_takes_the_earlier_charges_along(world: World):
    # February is billed before January was: January's charge is on February's invoice ...
    world.buy(1)
    world.clock.set(at(3, 1, 0))
    (feb,) = world.app.run_billing("2026-02")
    assert [line.amount for line in feb.lines] == [Decimal("14.16"), Decimal("14.16")]
    # ... and January, billed afterwards, has nothing left to bill
    assert world.app.run_billing("2026-01") == []


def test_a_correction_after_a_month_was_invoiced_is_a_new_line_on_the_next_invoice(world: World):
    # given February invoiced with an increase of 10 February (14.16 × 23/28 = 11.63)
    sub = world.buy(1)
    world.clock.set(at(2, 10))
    world.app.change_subscription_quantity(sub.id, 2, actor=ACTOR)
    world.clock.set(at(3, 1, 0))
    world.app.run_billing("2026-01")
    (feb,) = world.app.run_billing("2026-02")
    assert [line.amount for line in feb.lines] == [Decimal("14.16"), Decimal("11.63")]
    # when the vendor refuses that increase on 2 March
    world.clock.set(at(3, 2))
    s = world.sub(sub.id)
    change = next(e for e in world.app.events.get(sub.id) if type(e).__name__ == "SeatsAdded")
    s.record_vendor_refusal(change, "refused", actor=ACTOR, at=world.app.now())
    world.app.save(s)
    # then February's invoice is unchanged, and March's credits the increase back
    world.clock.set(at(4, 1, 0))
    (mar,) = world.app.run_billing("2026-03")
    assert world.app.load(Invoice, feb.id, "invoice").total == Decimal("25.79")
    assert [line.amount for line in mar.lines] == [Decimal("-11.63"), Decimal("14.16")]
    assert mar.total == Decimal("2.53")


def test_the_scheduler_bills_every_month_ended_since_its_last_run(world: World):
    world.buy(1)
    world.clock.set(at(4, 1, 0))
    issued = world.app.run_due_billing(since=at(1, 5))
    assert [i.period for i in issued] == ["2026-01", "2026-02", "2026-03"]
    assert world.app.run_due_billing(since=at(1, 5)) == []
    assert periods_ended_between(at(1, 31), datetime(2026, 2, 1, tzinfo=UTC)) == ["2026-01"]
    assert periods_ended_between(datetime(2026, 2, 1, tzinfo=UTC), at(2, 27)) == []


def test_a_period_is_whole_months_on_its_calendar():
    # the 31st's calendar: 31 January, 28 February, 31 March — each a whole month
    assert calendar_period(at(1, 31), at(1, 31), at(2, 28)) == (1, at(2, 28))
    assert calendar_period(at(1, 31), at(2, 28), at(3, 31)) == (1, at(3, 31))
    assert calendar_period(at(3, 10), at(4, 10), at(3, 10, year=2027)) == (11, at(3, 10, year=2027))
    # a period ending off the calendar is part of the calendar period it falls in
    assert calendar_period(at(3, 10), at(3, 10), at(1, 5, year=2027)) == (10, at(1, 10, year=2027))


def test_periods_are_months():
    assert parse_period("2026-11") == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    with pytest.raises(InvalidInput):
        parse_period("2026-13")


def test_the_ledger_state_survives_a_round_trip(world: World):
    sub = world.buy(2)
    world.clock.set(at(1, 20))
    world.app.change_subscription_quantity(sub.id, 4, actor=ACTOR)
    ledger, _ = SubscriptionLedger.fold(sub.id, list(world.app.events.get(sub.id)))
    assert SubscriptionLedger.from_state(ledger.to_state()) == ledger


# --- add-ons: billed on their base's dates and cycle (issue 20) ----------------------------
# Business Basic 4.70 and Business Premium 14.16 (annual term), Microsoft Teams Phone
# Standard 6.30 a licence a month; the bases bought on 6 March 2028 at 10:00 UTC.

MAR_6_2028 = datetime(2028, 3, 6, 10, 0, tzinfo=UTC)


def at28(month: int, day: int, hour: int = 10, year: int = 2028) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def world28() -> World:
    clock = SettableClock(MAR_6_2028)
    return make_world(memory_app(clock), clock)


def test_an_addon_added_mid_period_is_charged_to_its_bases_next_billing_date_then_on_the_bases_dates(
    world28: World,
):
    w = world28
    base = w.buy(2, offer_id=BUSINESS_BASIC)  # annual term, billed monthly: 2 × 4.70 = 9.40
    w.clock.set(at28(3, 21))
    addon = w.app.add_subscription_addon(base.id, TEAMS_PHONE, 2, actor=ACTOR)
    # 2 × 6.30 × 16/31 = 6.5032 → 6.50: the 16 days from 21 March to the base's billing date
    # 6 April, of the base's period 6 March – 6 April (31 days); then the base's months
    assert charges(w, addon.id, at28(5, 31)) == [
        ("period", "03-21", 2, Decimal("6.30"), 16, Decimal("6.50")),
        ("period", "04-06", 2, Decimal("6.30"), 30, Decimal("12.60")),
        ("period", "05-06", 2, Decimal("6.30"), 31, Decimal("12.60")),
    ]
    # one billing date for the base and its add-on, and the term's last period is whole
    whole_term = charges(w, addon.id, base.ends_at)
    assert len(whole_term) == 12
    assert whole_term[-1] == ("period", "02-06", 2, Decimal("6.30"), 28, Decimal("12.60"))
    assert {c[1] for c in charges(w, base.id, base.ends_at)} == {c[1] for c in whole_term[1:]} | {"03-06"}
    # March's invoice: the base's month and the add-on's 16 days
    w.clock.set(at28(4, 1, 0))
    (march,) = w.app.run_billing("2028-03")
    lines = {line.subscription_id: line for line in march.lines}
    assert [(lines[s].days, lines[s].amount) for s in (base.id, addon.id)] == [
        (31, Decimal("9.40")),
        (16, Decimal("6.50")),
    ]
    assert "21.03.2028–06.04.2028, 16/31 days" in lines[addon.id].description


def test_an_addon_on_a_yearly_base_is_charged_pro_rata_by_day_of_the_bases_year(world28: World):
    w = world28
    base = w.buy(1, offer_id=BUSINESS_PREMIUM, billing_cycle="yearly")  # 14.16 × 12 = 169.92
    w.clock.set(at28(3, 21))
    addon = w.app.add_subscription_addon(base.id, TEAMS_PHONE, 1, actor=ACTOR)
    # 6.30 × 12 = 75.60 for the base's year 6 March 2028 – 6 March 2029 (365 days);
    # 75.60 × 350/365 = 72.4931 → 72.49 (not 11 months + 13/28 of one = 72.225)
    assert charges(w, addon.id, base.ends_at) == [("period", "03-21", 1, Decimal("6.30"), 350, Decimal("72.49"))]
    assert charges(w, base.id, base.ends_at) == [("period", "03-06", 1, Decimal("14.16"), 365, Decimal("169.92"))]
    # an increase of the add-on: the same rule, 75.60 × 335/365 = 69.3863 → 69.39
    w.clock.set(at28(4, 5))
    w.app.change_subscription_quantity(base.id, 2, actor=ACTOR)
    w.app.change_subscription_quantity(addon.id, 2, actor=ACTOR)
    assert charges(w, addon.id, base.ends_at)[-1] == ("increase", "04-05", 1, Decimal("6.30"), 335, Decimal("69.39"))


def test_an_addon_follows_its_bases_billing_cycle_change_from_the_same_date(world28: World):
    w = world28
    base = w.buy(2, offer_id=BUSINESS_BASIC)
    w.clock.set(at28(3, 21))
    addon = w.app.add_subscription_addon(base.id, TEAMS_PHONE, 2, actor=ACTOR)
    # an add-on has no billing cycle of its own to change
    with pytest.raises(InvalidInput) as refused:
        w.app.change_subscription_billing_cycle(addon.id, "yearly", actor=ACTOR)
    assert refused.value.field == "billing_cycle"
    # when the base goes yearly (from its next billing date, 6 April)
    w.clock.set(at28(3, 25))
    w.app.change_subscription_billing_cycle(base.id, "yearly", actor=ACTOR)
    assert (w.sub(addon.id).pending_billing_cycle, w.sub(addon.id).pending_billing_cycle_at) == (
        "yearly",
        w.sub(base.id).pending_billing_cycle_at,
    )
    w.clock.set(at28(4, 6, 11))
    w.app.run_due_work(base.id)
    assert (w.sub(base.id).billing_cycle, w.sub(addon.id).billing_cycle) == ("yearly", "yearly")
    # then both bill the rest of the term at once from 6 April: 11 months (334 days)
    assert charges(w, base.id, base.ends_at)[-1] == ("period", "04-06", 2, Decimal("4.70"), 334, Decimal("103.40"))
    assert charges(w, addon.id, base.ends_at) == [
        ("period", "03-21", 2, Decimal("6.30"), 16, Decimal("6.50")),
        ("period", "04-06", 2, Decimal("6.30"), 334, Decimal("138.60")),
    ]


def test_an_addon_bought_while_its_base_waits_for_a_cycle_change_takes_that_change_too(world28: World):
    w = world28
    base = w.buy(2, offer_id=BUSINESS_BASIC)
    w.clock.set(at28(3, 10))
    w.app.change_subscription_billing_cycle(base.id, "yearly", actor=ACTOR)
    w.clock.set(at28(3, 21))
    addon = w.app.add_subscription_addon(base.id, TEAMS_PHONE, 2, actor=ACTOR)
    assert (w.sub(addon.id).billing_cycle, w.sub(addon.id).pending_billing_cycle) == ("monthly", "yearly")
    # and withdrawing the base's change withdraws the add-on's
    w.app.change_subscription_billing_cycle(base.id, "monthly", actor=ACTOR)
    assert w.sub(addon.id).pending_billing_cycle is None


def test_an_addon_renews_with_its_base_on_the_bases_dates(world28: World):
    w = world28
    base = w.buy(2, offer_id=BUSINESS_BASIC)
    w.clock.set(at28(9, 20))
    addon = w.app.add_subscription_addon(base.id, TEAMS_PHONE, 1, actor=ACTOR)
    w.clock.set(at28(3, 6, 11, year=2029))
    w.app.run_due_work(base.id)
    renewed = w.sub(addon.id)
    assert (renewed.renewal_count, renewed.starts_at, renewed.ends_at) == (1, base.ends_at, w.sub(base.id).ends_at)
    # 6.30 × 16/30 (20 September to 6 October, of 6 September – 6 October) = 3.36; then
    # the base's months, into the new term
    got = charges(w, addon.id, at28(5, 1, year=2029))
    assert got[0] == ("period", "09-20", 1, Decimal("6.30"), 16, Decimal("3.36"))
    assert [c[1] for c in got[1:]] == ["10-06", "11-06", "12-06", "01-06", "02-06", "03-06", "04-06"]
    assert {c[5] for c in got[1:]} == {Decimal("6.30")}


def test_an_addon_is_refunded_with_its_base_cancelled_inside_its_window(world28: World):
    w = world28
    base = w.buy(2, offer_id=BUSINESS_BASIC)
    w.clock.set(at28(3, 8))
    addon = w.app.add_subscription_addon(base.id, TEAMS_PHONE, 2, actor=ACTOR)
    w.clock.set(at28(3, 10))
    w.app.cancel_subscription(base.id, actor=ACTOR)
    # 2 × 6.30 × 29/31 = 11.79 charged; 2 × 6.30 × 27/31 = 10.97 back; nothing after
    assert charges(w, addon.id, base.ends_at) == [
        ("period", "03-08", 2, Decimal("6.30"), 29, Decimal("11.79")),
        ("refund", "03-10", -2, Decimal("6.30"), 27, Decimal("-10.97")),
    ]
    assert charges(w, base.id, base.ends_at)[-1] == ("refund", "03-10", -2, Decimal("4.70"), 27, Decimal("-8.19"))


def test_an_addon_the_vendor_refused_to_create_is_given_back_whole(world28: World):
    w = world28
    base = w.buy(2, offer_id=BUSINESS_BASIC)
    w.clock.set(at28(3, 21))
    addon = w.app.add_subscription_addon(base.id, TEAMS_PHONE, 2, actor=ACTOR)
    w.clock.set(at28(3, 22))
    w.app.record_vendor_refusal(addon.id, 1, "the base subscription is not active [ParentSubscriptionNotActive]")
    assert w.sub(addon.id).status == "cancelled"
    assert charges(w, addon.id, base.ends_at) == [
        ("period", "03-21", 2, Decimal("6.30"), 16, Decimal("6.50")),
        ("reversal", "03-22", -2, Decimal("6.30"), 0, Decimal("-6.50")),
    ]


def test_an_event_the_ledger_only_advances_to_is_read_as_its_time_alone(world: World):
    """A billing run hands the ledger a licence sync (one of ``LEDGER_IGNORES``) as a
    ``Tick`` of its time, undecoded: the charges are those of the whole events — even when
    the next event is dated before it, and the advance to its time changed the outcome."""
    from csp.aggregates.billing import LEDGER_IGNORES, Tick
    from csp.application.billing import _ledger_event

    sub = world.buy(3)
    s = world.sub(sub.id)
    s.sync_assigned(2, actor=ACTOR, at=at(3, 10))  # dated after the 5 March period start…
    s.change_quantity(5, actor=ACTOR, at=at(2, 20))  # …and recorded before this earlier change
    world.app.save(s)
    stored = list(world.app.recorder.select_events(sub.id))
    read = [_ledger_event(world.app.mapper, e) for e in stored]
    assert sum(isinstance(e, Tick) for e in read) == sum(e.topic in LEDGER_IGNORES for e in stored) >= 1
    decoded = charges_until(sub.id, [world.app.mapper.to_domain_event(e) for e in stored], at(4, 1))
    assert charges_until(sub.id, read, at(4, 1)) == decoded
    skipped = [world.app.mapper.to_domain_event(e) for e in stored if e.topic not in LEDGER_IGNORES]
    assert charges_until(sub.id, skipped, at(4, 1)) != decoded  # (leaving it out would not do)
