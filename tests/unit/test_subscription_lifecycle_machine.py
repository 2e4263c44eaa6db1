"""Hypothesis drives random command sequences at random times through a subscription's
life and checks the commerce rules after every step, from the state and the event log."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from csp.aggregates.errors import CspError, OutsideCancellationWindow, SubscriptionSuspended, TransitionNotAllowed
from csp.aggregates.subscription import SUBSCRIPTION_STATUSES, Subscription
from csp.aggregates.terms import billing_boundaries
from csp.application.catalog import offer_id_for
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

BUSINESS_STANDARD = offer_id_for("CFQ7TTC0LDPB:0001")
M365_E5 = offer_id_for("CFQ7TTC0LFLX:0002")
# upgrades, a downgrade and an offer of another family, for the transition rules
TARGETS = st.sampled_from([BUSINESS_STANDARD, BUSINESS_PREMIUM, BUSINESS_BASIC, M365_E5])

DURATIONS = st.one_of(
    st.integers(min_value=1, max_value=120).map(lambda m: timedelta(minutes=m)),
    st.integers(min_value=1, max_value=200).map(lambda h: timedelta(hours=h)),
    st.integers(min_value=1, max_value=120).map(lambda d: timedelta(days=d)),
    st.just(timedelta(hours=168)),
    st.integers(min_value=300, max_value=400).map(lambda d: timedelta(days=d)),
)


def fold(events: list[Subscription.Event]) -> Subscription | None:
    agg = None
    for e in events:
        agg = e.mutate(agg)
    return agg


def state_of(sub: Subscription) -> dict[str, object]:
    return {k: v for k, v in sub.__dict__.items() if k != "_pending_events"}


class SubscriptionLifecycle(RuleBasedStateMachine):
    world: World
    sub_id: object

    @initialize(
        quantity=st.integers(min_value=1, max_value=20),
        cycle=st.sampled_from(["monthly", "yearly"]),
        kind=st.sampled_from(["annual", "annual", "monthly-term", "trial", "basic"]),
    )
    def start(self, quantity: int, cycle: str, kind: str) -> None:
        clock = SettableClock()
        self.world = make_world(memory_app(clock), clock)
        if kind == "trial":
            sub = self.world.buy(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly", markup_percent=None)
        elif kind == "basic":  # the family with upgrades: Basic → Standard → Premium
            sub = self.world.buy(offer_id=BUSINESS_BASIC, quantity=quantity, billing_cycle=cycle)
        elif kind == "monthly-term":
            sub = self.world.buy(offer_id=BUSINESS_BASIC, quantity=quantity, term="monthly", billing_cycle="monthly")
        else:
            sub = self.world.buy(offer_id=BUSINESS_PREMIUM, quantity=quantity, billing_cycle=cycle)
        self.sub_id = sub.id
        self.checked_version = 0

    @property
    def sub(self) -> Subscription:
        return self.world.sub(self.sub_id)  # type: ignore[arg-type]

    def attempt(self, command, *args, **kwargs) -> CspError | None:  # type: ignore[no-untyped-def]
        try:
            command(self.sub_id, *args, actor=ACTOR, **kwargs)
        except CspError as e:
            return e
        return None

    # --- commands ---------------------------------------------------------------

    @rule(delta=DURATIONS)
    def time_passes(self, delta: timedelta) -> None:
        self.world.clock.advance(delta)

    @rule(late=st.integers(min_value=0, max_value=3 * 24 * 60))
    def the_term_ends(self, late: int) -> None:
        """Jump to the term end (give or take) and let the scheduler run."""
        sub = self.sub
        target = sub.ends_at + timedelta(minutes=late)
        if target > self.world.clock.now():
            self.world.clock.set(target)
        self.world.app.run_due_work(self.sub_id)  # type: ignore[arg-type]

    @rule()
    def the_next_billing_period_begins(self) -> None:
        due = self.sub.billing_cycle_change_due
        if due is not None and due > self.world.clock.now():
            self.world.clock.set(due)
        self.world.app.run_due_work(self.sub_id)  # type: ignore[arg-type]

    @rule()
    def due_work_runs(self) -> None:
        self.world.app.run_due_work(self.sub_id)  # type: ignore[arg-type]

    @rule(quantity=st.integers(min_value=0, max_value=40))
    def change_quantity(self, quantity: int) -> None:
        before = self.sub
        now = self.world.clock.now()
        error = self.attempt(self.world.app.change_subscription_quantity, quantity)
        after = self.sub
        reduction = before.quantity - quantity
        if before.status == "suspended":
            assert isinstance(error, SubscriptionSuspended)
        if before.status == "active" and reduction > 0 and quantity >= 1:
            refundable = before.refundable_quantity(now)
            assert (error is None) == (reduction <= refundable and not self._addon_blocks(quantity)), (
                error,
                refundable,
            )
            if reduction > refundable:
                assert isinstance(error, OutsideCancellationWindow)
        if error is not None:
            assert after.version == before.version  # nothing half-written
        elif quantity != before.quantity:
            assert not after.has_next_term_changes  # an immediate change deletes the next term's

    def _addon_blocks(self, quantity: int) -> bool:
        return any(
            self.world.sub(a).quantity > quantity for a in self.sub.addon_ids if self.world.sub(a).status == "active"
        )

    @rule(quantity=st.integers(min_value=1, max_value=30))
    def schedule_quantity_for_renewal(self, quantity: int) -> None:
        self.attempt(self.world.app.change_subscription_quantity, quantity, at_renewal=True)

    @rule(cycle=st.sampled_from(["monthly", "yearly"]))
    def change_billing_cycle(self, cycle: str) -> None:
        before = self.sub
        self.attempt(self.world.app.change_subscription_billing_cycle, cycle)
        assert self.sub.billing_cycle == before.billing_cycle  # never applied at once

    @rule()
    def suspend(self) -> None:
        self.attempt(self.world.app.suspend_subscription)

    @rule()
    def reactivate(self) -> None:
        self.attempt(self.world.app.reactivate_subscription)

    @rule(roll=st.integers(min_value=0, max_value=7))
    def cancel(self, roll: int) -> None:
        if roll:  # cancelling ends the story: try it one time in eight
            return
        before = self.sub
        now = self.world.clock.now()
        error = self.attempt(self.world.app.cancel_subscription)
        if before.status in ("active", "suspended") and before.refundable_quantity(now) < before.quantity:
            assert isinstance(error, OutsideCancellationWindow)

    @rule(on=st.booleans())
    def auto_renew(self, on: bool) -> None:
        self.attempt(self.world.app.set_subscription_auto_renew, on)

    @rule(markup=st.decimals(min_value=-5, max_value=50, places=1))
    def change_price(self, markup: Decimal) -> None:
        self.attempt(self.world.app.change_subscription_price, markup_percent=markup)

    @rule(quantity=st.integers(min_value=1, max_value=30))
    def convert_trial(self, quantity: int) -> None:
        self.attempt(self.world.app.convert_trial, quantity=quantity)

    @rule(quantity=st.integers(min_value=1, max_value=5))
    def add_teams_phone(self, quantity: int) -> None:
        with contextlib.suppress(CspError):  # refused when not active or too many
            self.world.app.add_subscription_addon(self.sub_id, TEAMS_PHONE, quantity, actor=ACTOR)  # type: ignore[arg-type]

    @rule()
    def remove_an_addon(self) -> None:
        if self.sub.addon_ids:
            self.attempt(self.world.app.remove_subscription_addon, self.sub.addon_ids[0])

    @rule(offer=TARGETS, part=st.integers(min_value=0, max_value=3), vendor_says_yes=st.booleans())
    def transition(self, offer: object, part: int, vendor_says_yes: bool) -> None:
        """An upgrade asked for (all seats, or all but ``part``), then done or refused by the vendor."""
        before = self.sub
        upgrades = self.world.app.catalog().offer(before.offer_id).upgrade_offer_ids
        quantity = before.quantity - part if part and before.quantity > part else None
        app = self.world.app
        error: CspError | None = None
        try:
            sub, request = app.request_transition(self.sub_id, offer, ACTOR, quantity=quantity)  # type: ignore[arg-type]
        except CspError as e:
            error = e
        if error is not None:
            assert self.sub.version == before.version  # nothing half-written
            if before.status != "active" or offer not in upgrades:
                assert isinstance(error, TransitionNotAllowed), error
            return
        # only an active subscription, only to an upgrade of its offer, never a downgrade
        assert before.status == "active"
        assert offer in upgrades
        if vendor_says_yes:
            new = app.complete_transition(sub.id, request.transition_id, f"vendor-{request.transition_id}")
            after = self.sub
            assert (new.ends_at, new.term) == (before.ends_at, before.term)
            assert new.quantity + after.quantity == before.quantity  # every seat somewhere, once
            assert after.status == ("transitioned" if quantity is None else "active")
            assert not after.has_next_term_changes
        else:
            app.record_vendor_refusal(sub.id, sub.version, "not eligible [TransitionNotEligible]")
            assert (self.sub.pending_transition, self.sub.quantity) == (None, before.quantity)

    @rule(
        offer=st.sampled_from([None, BUSINESS_STANDARD, BUSINESS_PREMIUM, BUSINESS_BASIC]),
        quantity=st.one_of(st.none(), st.integers(min_value=1, max_value=30)),
        cycle=st.sampled_from([None, "monthly", "yearly"]),
    )
    def set_next_term(self, offer: object, quantity: int | None, cycle: str | None) -> None:
        before = self.sub
        with contextlib.suppress(CspError):
            self.world.app.set_next_term(self.sub_id, ACTOR, offer_id=offer, quantity=quantity, billing_cycle=cycle)  # type: ignore[arg-type]
            after = self.sub
            assert (after.renewal_offer_id, after.renewal_quantity) == (
                None if offer == before.offer_id else offer,
                quantity,
            )
            assert after.billing_cycle == before.billing_cycle  # only at the renewal

    @rule()
    def cancel_next_term(self) -> None:
        if self.attempt(self.world.app.cancel_next_term) is None:
            assert not self.sub.has_next_term_changes or self.sub.billing_cycle_change_due is not None

    # --- invariants -------------------------------------------------------------

    @invariant()
    def quantity_never_below_one_unless_cancelled(self) -> None:
        sub = self.sub
        assert sub.status in SUBSCRIPTION_STATUSES
        assert sub.quantity == sum(t.quantity for t in sub.tranches)
        if sub.status not in ("cancelled", "transitioned"):
            assert sub.quantity >= 1
        if sub.status == "trial":
            assert sub.quantity == 25

    @invariant()
    def replaying_the_stored_events_gives_the_same_state(self) -> None:
        for sub_id in (self.sub_id, *self.sub.addon_ids):
            live = self.world.sub(sub_id)  # type: ignore[arg-type]
            replayed = fold(list(self.world.app.events.get(sub_id)))  # type: ignore[arg-type]
            assert replayed is not None
            assert state_of(replayed) == state_of(live)

    @invariant()
    def the_event_log_obeys_the_rules(self) -> None:
        events = list(self.world.app.events.get(self.sub_id))  # type: ignore[arg-type]
        state = fold(events[: max(self.checked_version, 1)])
        for e in events[max(self.checked_version, 1) :]:
            assert state is not None
            if isinstance(e, (Subscription.SeatsAdded, Subscription.SeatsRemoved)):
                # a suspended subscription never changes quantity
                assert state.status == "active"
            if isinstance(e, (Subscription.SeatsRemoved, Subscription.Cancelled)):
                # no seat removed outside its window
                windows = {t.number: t for t in state.tranches}
                for r in e.removals:
                    assert e.at < windows[r.tranche_number].window_ends_at
                    assert r.quantity <= windows[r.tranche_number].quantity
            if isinstance(e, Subscription.BillingCycleChanged):
                # billing-cycle changes never apply mid-period
                bounds = billing_boundaries(state.starts_at, state.ends_at, state.billing_cycle, state.term)
                assert e.effective_at in bounds[1:-1]
                assert e.at >= e.effective_at
            if isinstance(e, Subscription.Renewed):
                assert e.at >= state.ends_at
                assert e.starts_at == state.ends_at
            if isinstance(e, Subscription.TransitionRequested):
                # only from an active subscription, to an upgrade its catalog names
                assert state.status == "active"
                upgrades = self.world.app.catalog().offer(state.offer_id).upgrade_offer_ids
                assert e.request.offer_id in upgrades
            if isinstance(e, Subscription.TransitionCompleted):
                assert state.pending_transition is not None
                assert state.pending_transition.transition_id == e.transition_id
            state = e.mutate(state)
        self.checked_version = len(events)

    def teardown(self) -> None:
        # Coverage of the lifecycle, shown by --hypothesis-show-statistics.
        if hasattr(self, "world"):
            for name in sorted({type(e).__name__ for e in self.world.app.events.get(self.sub_id)}):  # type: ignore[arg-type]
                event(name)


TestSubscriptionLifecycle = SubscriptionLifecycle.TestCase
# examples from the profile loaded in conftest (200 in CI)
TestSubscriptionLifecycle.settings = settings(stateful_step_count=40)
