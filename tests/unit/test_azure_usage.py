"""Azure plans: rating and rounding per row, the once-per-day import, budget thresholds
(once per month and threshold), and the month's usage charged per entitlement × meter."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csp.aggregates.azure import MeterReading, rate, thresholds_crossed
from csp.aggregates.customer_invoice import customer_invoice_id_for
from csp.aggregates.errors import InvalidInput
from csp.aggregates.subscription import Subscription
from csp.clock import SettableClock
from tests.support import ACTOR, AZURE_PLAN, World, make_world, memory_app

JAN_5 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
VM = MeterReading("Virtual Machines D2s v5 hours", "Virtual Machines", "1 Hour", D("10.5"), D("0.0960"))


@pytest.fixture
def world() -> World:
    clock = SettableClock(JAN_5)
    return make_world(memory_app(clock), clock)


def test_a_row_is_rated_at_the_vendor_price_then_the_markups_each_rounded_to_the_cent():
    row = rate(VM.meter, VM.meter_category, VM.unit, D("10.5"), D("0.0960"), D("3"), D("5"))
    assert row.partner_cost == D("1.01")  # 1.008
    assert row.customer_price == D("1.09")  # 1.01 × 1.08 = 1.0908
    with pytest.raises(InvalidInput):
        rate(VM.meter, VM.meter_category, VM.unit, D("-1"), D("0.0960"), D(0), D(5))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.decimals(min_value=0, max_value=100, places=4), min_size=1, max_size=8))
def test_rounded_rows_sum_to_what_is_invoiced_to_the_cent(quantities: list[D]):
    rows = [rate("m", "c", "u", q, D("0.0184"), D(0), D(5)) for q in quantities]
    assert all(r.partner_cost == r.partner_cost.quantize(D("0.01")) for r in rows)
    assert sum(r.customer_price for r in rows) >= sum(r.partner_cost for r in rows)


def test_thresholds_are_crossed_once_each():
    assert thresholds_crossed(D("100"), D("0"), D("79.99"), set()) == []
    assert thresholds_crossed(D("100"), D("0"), D("80"), set()) == [80]
    assert thresholds_crossed(D("100"), D("50"), D("120"), set()) == [80, 100]
    assert thresholds_crossed(D("100"), D("85"), D("120"), {80}) == [100]
    assert thresholds_crossed(None, D("0"), D("500"), set()) == []
    assert thresholds_crossed(D("0"), D("0"), D("0.01"), set()) == [80, 100]


def _plan(world: World) -> tuple[Subscription, object]:
    azure = world.buy(offer_id=AZURE_PLAN, term="monthly", markup_percent=None)
    ent = world.app.add_entitlement(azure.id, "Production", D("2.00"), actor=ACTOR)
    return azure, ent


def test_a_day_is_recorded_once_and_budget_alerts_once_per_month(world: World):
    azure, ent = _plan(world)
    world.clock.set(datetime(2026, 1, 9, 1, tzinfo=UTC))
    app = world.app
    # day 5: 1.01 partner, 1.06 customer (5 % default markup): 53 % of the budget
    assert app.record_daily_usage(azure.id, "2026-01-05", {ent.id: [VM]}, ACTOR) == 1
    assert app.record_daily_usage(azure.id, "2026-01-05", {ent.id: [VM]}, ACTOR) == 0  # again: nothing
    # day 6 brings it to 2.12: 80 % and 100 % at once; day 7 crosses nothing new
    app.record_daily_usage(azure.id, "2026-01-06", {ent.id: [VM]}, ACTOR)
    app.record_daily_usage(azure.id, "2026-01-07", {ent.id: [VM]}, ACTOR)
    events = list(app.events.get(azure.id))
    assert len([e for e in events if isinstance(e, Subscription.UsageRecorded)]) == 3
    alerts = [(e.month, e.threshold) for e in events if isinstance(e, Subscription.BudgetThresholdReached)]
    assert alerts == [("2026-01", 80), ("2026-01", 100)]
    # a day not over yet, and an unknown entitlement, are refused
    with pytest.raises(InvalidInput):
        app.record_daily_usage(azure.id, "2026-01-09", {ent.id: [VM]}, ACTOR)
    with pytest.raises(Exception, match="entitlement"):
        app.record_daily_usage(azure.id, "2026-01-08", {uuid4(): [VM]}, ACTOR)


def test_a_budget_notice_is_dated_at_the_usage_day_that_crossed_it_not_at_the_import(world: World):
    from csp.aggregates.notify import Notice
    from csp.workers.notices import NoticeSteps, event_notice

    # given the clock jumped to the 9th: days 5 to 7 are imported at once
    azure, ent = _plan(world)
    world.clock.set(datetime(2026, 1, 9, 1, tzinfo=UTC))
    for day in ("2026-01-05", "2026-01-06", "2026-01-07"):
        world.app.record_daily_usage(azure.id, day, {ent.id: [VM]}, ACTOR)
    reached = [e for e in world.app.events.get(azure.id) if isinstance(e, Subscription.BudgetThresholdReached)]
    assert [(e.threshold, e.day) for e in reached] == [(80, "2026-01-06"), (100, "2026-01-06")]
    # when the relay's step records their notices (with the events' time, the import's)
    steps = NoticeSteps(world.app, store=None)  # type: ignore[arg-type]
    for e in reached:
        kind, subject = event_notice(e) or ("", None)
        assert subject == azure.id
        steps._record(kind, azure.id, e.originator_version, e.at.isoformat())
    # then each is dated at the 6th, whose usage crossed the threshold, not the 9th
    notices = [
        world.app.load(Notice, e.originator_id, "notice")
        for e in (world.app.mapper.to_domain_event(n) for n in world.app.recorder.select_notifications(1, 10_000))
        if isinstance(e, Notice.Issued)
    ]
    assert sorted((n.kind, n.due_at) for n in notices) == [
        ("budget_100", datetime(2026, 1, 6, tzinfo=UTC)),
        ("budget_80", datetime(2026, 1, 6, tzinfo=UTC)),
    ]
    assert all("usage of 2026-01-06" in n.detail for n in notices)
    assert {n.sent_at for n in notices} == {datetime(2026, 1, 9, 1, tzinfo=UTC)}  # sent when imported


def test_a_budget_alert_recorded_before_it_had_a_day_reads_without_one():
    import json

    app = memory_app(SettableClock(datetime(2026, 1, 9, tzinfo=UTC)))
    event = Subscription.BudgetThresholdReached(
        originator_id=uuid4(),
        originator_version=2,
        timestamp=datetime(2026, 1, 9, tzinfo=UTC),
        entitlement_id=uuid4(),
        month="2026-01",
        threshold=80,
        monthly_budget=D("2.00"),
        month_to_date=D("2.12"),
        day="2026-01-06",
        actor=ACTOR,
        at=datetime(2026, 1, 9, tzinfo=UTC),
    )
    stored = app.mapper.to_stored_event(event)
    state = json.loads(stored.state)
    for key in ("day", "class_version"):  # as version 1 wrote it
        state.pop(key, None)
    old = type(stored)(stored.originator_id, stored.originator_version, stored.topic, json.dumps(state).encode())
    read = app.mapper.to_domain_event(old)
    assert isinstance(read, Subscription.BudgetThresholdReached)
    assert (read.day, read.threshold) == (None, 80)


def test_an_entitlement_needs_a_name_of_its_own_and_a_budget_of_at_least_zero(world: World):
    azure, _ent = _plan(world)
    for name, budget, field in (("production", None, "name"), (" ", None, "name"), ("Dev", D("-1"), "monthly_budget")):
        with pytest.raises(InvalidInput) as e:
            world.app.add_entitlement(azure.id, name, budget, actor=ACTOR)
        assert e.value.field == field
    with pytest.raises(InvalidInput):
        world.app.add_entitlement(world.buy().id, "Dev", None, actor=ACTOR)  # not an Azure plan


def test_the_months_usage_is_one_invoice_line_per_entitlement_and_meter(world: World):
    azure, ent = _plan(world)
    other = world.app.add_entitlement(azure.id, "Dev", None, actor=ACTOR)
    world.clock.set(datetime(2026, 1, 9, 1, tzinfo=UTC))
    for day in ("2026-01-05", "2026-01-06"):
        world.app.record_daily_usage(azure.id, day, {ent.id: [VM], other.id: [VM]}, ACTOR)
    world.clock.set(datetime(2026, 2, 1, 0, 5, tzinfo=UTC))
    (jan,) = world.app.run_billing("2026-01")
    assert [(line.days, line.amount) for line in jan.lines] == [(2, D("2.02")), (2, D("2.02"))]
    assert {line.description.split(" · ")[-2] for line in jan.lines} == {"Production", "Dev"}


def test_a_day_whose_usage_rounds_to_nothing_still_counts_in_the_lines_quantity_and_days(world: World):
    # found by the month scenario (tests/integration/test_billing_month.py): 0.0309 GB of
    # bandwidth (0.0027 EUR → 0.00) was left out of the line, which then disagreed with the
    # reconciliation file's quantity and days
    azure, ent = _plan(world)
    world.clock.set(datetime(2026, 1, 9, 1, tzinfo=UTC))

    def bandwidth(gb: str) -> MeterReading:
        return MeterReading("Bandwidth GB", "Bandwidth", "1 GB", D(gb), D("0.0870"))

    world.app.record_daily_usage(azure.id, "2026-01-05", {ent.id: [bandwidth("10.5")]}, ACTOR)  # 0.9135 → 0.91
    world.app.record_daily_usage(azure.id, "2026-01-06", {ent.id: [bandwidth("0.0309")]}, ACTOR)  # 0.0027 → 0.00
    world.clock.set(datetime(2026, 2, 1, 0, 5, tzinfo=UTC))
    (jan,) = world.app.run_billing("2026-01")
    (line,) = jan.lines
    assert (line.quantity, line.days, line.amount) == (D("10.5309"), 2, D("0.91"))
    assert line.description.endswith("Bandwidth GB, usage on 2 day(s)")
    # the customer's draft too (1.05 × 0.91 = 0.9555 → 0.96; the zero day 0.00)
    draft = world.app.customer_invoice(customer_invoice_id_for(world.reseller.id, world.customer.id, "2026-01"))
    (cline,) = draft.lines
    assert (cline.quantity, cline.days, cline.net) == (D("10.5309"), 2, D("0.96"))
