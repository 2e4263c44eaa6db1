"""Hypothesis drives random command sequences through an order's life (cart, placing,
the reseller's approval of an order over the credit limit, provisioning) and checks the
lifecycle rules after every step, from state and events."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from csp.aggregates.base import user_actor
from csp.aggregates.errors import CspError, TermsNotAccepted
from csp.aggregates.order import ORDER_STATUSES, Order
from csp.aggregates.organization import Organization
from csp.aggregates.pricing import money
from csp.aggregates.user import User
from csp.application import AddonRequest, NewLineRequest
from csp.clock import SettableClock
from tests.support import (
    ACTOR,
    BUSINESS_BASIC,
    BUSINESS_PREMIUM,
    E5_SECURITY,
    TEAMS_PHONE,
    World,
    make_world,
    memory_app,
)

OFFERS = st.sampled_from([BUSINESS_PREMIUM, BUSINESS_PREMIUM, BUSINESS_BASIC, TEAMS_PHONE, E5_SECURITY])
DRAFT_EVENTS = (Order.LineAdded, Order.LineReplaced, Order.LineRemoved, Order.Discarded)
PROVISION_EVENTS = (Order.ProvisionStarted, Order.LineProvisioned, Order.ProvisionFinished)


def fold(events: list[Order.Event]) -> Order | None:
    agg = None
    for e in events:
        agg = e.mutate(agg)
    return agg


class OrderLifecycle(RuleBasedStateMachine):
    world: World

    @initialize()
    def start(self) -> None:
        clock = SettableClock()
        self.world = make_world(memory_app(clock), clock)
        self.existing = self.world.buy(quantity=5)
        self.order_id = self.world.app.create_order(self.world.customer.id, actor=ACTOR).id
        user = User.invite(
            uuid4(), "cu@example.ro", "customer_user", self.world.customer.id, "customer", self.world.reseller.id,
            "local", ("local",), "hash", ACTOR, clock.now(),
        )  # fmt: skip
        self.world.app.save(user)
        self.customer_user = user_actor(user.id)

    @property
    def order(self) -> Order:
        return self.world.app.load(Order, self.order_id, "order")

    def attempt(self, command, *args, **kwargs) -> CspError | None:  # type: ignore[no-untyped-def]
        before = self.order.version
        try:
            command(self.order_id, *args, **kwargs)
        except CspError as e:
            assert self.order.version == before  # nothing half-written
            return e
        return None

    @rule(minutes=st.integers(min_value=1, max_value=60 * 24 * 10))
    def time_passes(self, minutes: int) -> None:
        self.world.clock.advance(timedelta(minutes=minutes))

    @rule(
        offer=OFFERS,
        quantity=st.one_of(st.integers(min_value=1, max_value=12), st.just(0)),
        cycle=st.sampled_from(["monthly", "yearly"]),
        term=st.sampled_from(["annual", "annual", "annual", "monthly"]),
        markup=st.one_of(st.none(), st.decimals(min_value=-10, max_value=30, places=2)),
        with_addon=st.booleans(),
    )
    def add_line(self, offer, quantity, cycle, term, markup, with_addon) -> None:  # type: ignore[no-untyped-def]
        addons = (AddonRequest(TEAMS_PHONE, 1),) if with_addon else ()
        req = NewLineRequest(offer, self.world.tenant.id, quantity, cycle, term, markup, addons=addons)
        self.attempt(self.world.app.add_new_subscription_line, req, actor=ACTOR)

    @rule(delta=st.integers(min_value=-3, max_value=5))
    def add_change_line(self, delta: int) -> None:
        self.attempt(self.world.app.add_change_line, self.existing.id, delta, actor=ACTOR)

    @rule(n=st.integers(min_value=1, max_value=6))
    def remove_line(self, n: int) -> None:
        self.attempt(self.world.app.remove_order_line, n, actor=ACTOR)

    @rule(n=st.integers(min_value=1, max_value=6), quantity=st.integers(min_value=1, max_value=12))
    def edit_line(self, n: int, quantity: int) -> None:
        req = NewLineRequest(BUSINESS_PREMIUM, self.world.tenant.id, quantity, "monthly", "annual")
        self.attempt(self.world.app.replace_new_subscription_line, n, req, actor=ACTOR)

    @rule(accept=st.booleans())
    def place(self, accept: bool) -> None:
        before = self.order
        error = self.attempt(self.world.app.place_order, accept, actor=ACTOR)
        if before.status == "draft" and before.lines and not accept:
            assert isinstance(error, TermsNotAccepted)

    @rule(limit=st.one_of(st.none(), st.decimals(min_value=0, max_value=2000, places=2)))
    def set_credit_limit(self, limit: Decimal | None) -> None:
        self.world.app.set_credit_limit(self.world.customer.id, limit, ACTOR)

    @rule(accept=st.booleans())
    def a_customer_user_places(self, accept: bool) -> None:
        before = self.order
        limit = self.world.app.read(Organization, self.world.customer.id, "organization").credit_limit
        spend = money(self.existing.unit_customer_price * self.world.sub(self.existing.id).quantity)
        error = self.attempt(
            self.world.app.place_order, accept, actor=self.customer_user, live_subscription_ids=[self.existing.id]
        )
        if error is None and before.status == "draft":
            over = limit is not None and spend + before.total > limit
            assert self.order.status == ("awaiting_approval" if over else "placed")

    @rule()
    def the_reseller_approves(self) -> None:
        before = self.order.status
        error = self.attempt(self.world.app.approve_order, actor=ACTOR)
        assert (error is None) == (before == "awaiting_approval")  # deciding twice: refused

    @rule(reason=st.sampled_from(["", "over budget"]))
    def the_reseller_rejects(self, reason: str) -> None:
        before = self.order.status
        error = self.attempt(self.world.app.reject_order, reason, actor=ACTOR)
        assert (error is None) == (before == "awaiting_approval" and bool(reason))

    @rule(roll=st.integers(min_value=0, max_value=5))
    def discard(self, roll: int) -> None:
        if roll == 0:
            self.attempt(self.world.app.discard_order, actor=ACTOR)

    @rule()
    def start_provisioning(self) -> None:
        self.attempt(self.world.app.start_provisioning)

    @rule(n=st.integers(min_value=1, max_value=6))
    def provision_line(self, n: int) -> None:
        self.attempt(self.world.app.provision_line, n, f"vendor-order-{n}")

    @rule()
    def the_vendor_fulfils_every_line(self) -> None:
        for n in self.order.pending_line_nos:
            self.attempt(self.world.app.provision_line, n, f"vendor-order-{n}")

    @rule()
    def finish(self) -> None:
        self.attempt(self.world.app.finish_provisioning)

    @rule(roll=st.integers(min_value=0, max_value=5))
    def fail(self, roll: int) -> None:
        if roll == 0:
            self.attempt(self.world.app.fail_provisioning, "vendor refused the order")

    @invariant()
    def the_state_is_consistent(self) -> None:
        order = self.order
        assert order.status in ORDER_STATUSES
        assert order.total == sum((line.total for line in order.lines), Decimal(0))
        if order.status == "provision_finished":
            assert not order.pending_line_nos
            assert len(order.subscription_ids) >= len(order.lines)
        if order.status not in ("draft", "discarded"):
            assert order.lines
        if order.status == "awaiting_approval":
            assert order.approval is not None
            assert order.approval.status == "pending"
        if order.status == "rejected":
            assert order.approval is not None
            assert order.approval.reason
            assert order.placed_at is None

    @invariant()
    def replaying_the_stored_events_gives_the_same_state(self) -> None:
        replayed = fold(list(self.world.app.events.get(self.order_id)))
        live = self.order
        assert replayed is not None
        assert {k: v for k, v in replayed.__dict__.items() if k != "_pending_events"} == {
            k: v for k, v in live.__dict__.items() if k != "_pending_events"
        }

    @invariant()
    def the_event_log_follows_the_lifecycle(self) -> None:
        events = list(self.world.app.events.get(self.order_id))
        names = [type(e).__name__ for e in events]
        placed_at = names.index("Placed") if "Placed" in names else None
        for i, e in enumerate(events):
            if isinstance(e, DRAFT_EVENTS):
                assert placed_at is None or i < placed_at  # the cart changes only while a draft
            if isinstance(e, PROVISION_EVENTS):
                assert placed_at is not None
                assert i > placed_at
            if isinstance(e, Order.Placed):  # after the terms, or after the approval of an order over the limit
                assert isinstance(events[i - 1], Order.TermsAccepted | Order.ApprovalGranted)
            if isinstance(e, Order.ApprovalGranted | Order.ApprovalRefused):
                assert "ApprovalRequested" in names[:i]
        assert names.count("Placed") <= 1
        assert names.count("ApprovalGranted") + names.count("ApprovalRefused") <= names.count("ApprovalRequested") <= 1
        assert not ("Placed" in names and "ApprovalRefused" in names)
        assert names.count("ProvisionFinished") <= 1
        assert not ("ProvisionFinished" in names and "ProvisionFailed" in names)

    def teardown(self) -> None:
        if hasattr(self, "world"):
            event(f"ended {self.order.status}")


TestOrderLifecycle = OrderLifecycle.TestCase
TestOrderLifecycle.settings = settings(stateful_step_count=40)  # examples: the conftest profile (200 in CI)
