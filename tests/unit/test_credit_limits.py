"""Credit limits (issue 18 item 6): a customer user's order above its organization's
monthly limit waits for the reseller's approval; reseller staff are never limited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from csp.aggregates.base import user_actor
from csp.aggregates.credit import CreditCheck, monthly_spend, parse_credit_limit
from csp.aggregates.errors import InvalidInput, InvalidOrderTransition
from csp.aggregates.order import Order, approval_id_for
from csp.aggregates.pricing import money
from csp.aggregates.user import User
from csp.application import NewLineRequest
from csp.clock import SettableClock
from tests.support import ACTOR, BUSINESS_PREMIUM, World, make_world, memory_app


@pytest.fixture
def world() -> World:
    clock = SettableClock()
    return make_world(memory_app(clock), clock)


def _user(world: World, role: str, organization_id: UUID) -> str:
    kind = "reseller" if organization_id == world.reseller.id else "customer"
    user = User.invite(
        uuid4(), f"{uuid4().hex[:8]}@example.ro", role, organization_id, kind, world.reseller.id,  # type: ignore[arg-type]
        "local", ("local",), "hash", ACTOR, world.app.now(),
    )  # fmt: skip
    world.app.save(user)
    return user_actor(user.id)


def _cart(world: World, actor: str, quantity: int) -> Order:
    order = world.app.create_order(world.customer.id, actor=actor)
    req = NewLineRequest(BUSINESS_PREMIUM, world.tenant.id, quantity, "monthly", "annual", None)
    return world.app.add_new_subscription_line(order.id, req, actor=actor)


@dataclass
class Seats:
    status: str
    unit_customer_price: Decimal
    quantity: int
    is_trial: bool = False


def test_the_monthly_spend_counts_billed_subscriptions_at_customer_prices_to_the_cent() -> None:
    subs = [
        Seats("active", Decimal("15.58"), 3),  # 46.74
        Seats("suspended", Decimal("6.33"), 7),  # 44.31: suspending does not stop billing
        Seats("trial", Decimal("0"), 25, is_trial=True),
        Seats("cancelled", Decimal("99.99"), 4),
        Seats("expired", Decimal("10.00"), 1),
    ]
    assert monthly_spend(subs) == Decimal("91.05")  # type: ignore[arg-type]
    check = CreditCheck(monthly_limit=Decimal("100.00"), current_spend=Decimal("91.05"))
    assert not check.exceeded_by(Decimal("8.95"))  # exactly at the limit: within
    assert check.exceeded_by(Decimal("8.96"))  # one cent over


def test_a_limit_is_a_non_negative_amount_in_cents_and_null_clears_it() -> None:
    assert parse_credit_limit("250.5") == Decimal("250.50")
    assert parse_credit_limit(300) == Decimal("300.00")
    assert parse_credit_limit(None) is None
    for bad in ("-0.01", "abc", "1.005"):
        with pytest.raises(InvalidInput) as e:
            parse_credit_limit(bad)
        assert e.value.field == "monthly_limit"


def test_a_customer_users_order_under_exactly_at_and_over_the_limit(world: World) -> None:
    # given a live subscription (5 seats) and a customer user
    sub = world.buy(quantity=5)
    spend = money(sub.unit_customer_price * 5)
    customer_user = _user(world, "customer_user", world.customer.id)
    at_limit = _cart(world, customer_user, 2)
    limit = spend + at_limit.total  # the live spend plus this order, cent for cent
    world.app.set_credit_limit(world.customer.id, limit, ACTOR)
    live = [sub.id]

    over = _cart(world, customer_user, 2)
    world.app.set_credit_limit(world.customer.id, limit - Decimal("0.01"), ACTOR)
    over = world.app.place_order(over.id, True, customer_user, live_subscription_ids=live)
    assert over.status == "awaiting_approval"
    assert over.approval is not None
    assert over.approval.id == approval_id_for(over.id)
    assert over.approval.amount == limit
    assert over.approval.monthly_limit == limit - Decimal("0.01")
    assert over.approval.current_spend == spend
    assert over.approval.requested_by == customer_user
    assert over.placed_at is None  # not placed: nothing goes to the vendor

    world.app.set_credit_limit(world.customer.id, limit, ACTOR)
    assert world.app.place_order(at_limit.id, True, customer_user, live_subscription_ids=live).status == "placed"
    world.app.set_credit_limit(world.customer.id, limit + 1, ACTOR)
    under = _cart(world, customer_user, 2)
    # the first order is placed but not provisioned: its seats are not live yet
    assert world.app.place_order(under.id, True, customer_user, live_subscription_ids=live).status == "placed"


def test_reseller_staff_orders_are_never_limited(world: World) -> None:
    world.app.set_credit_limit(world.customer.id, Decimal("0"), ACTOR)
    manager = _user(world, "order_manager", world.reseller.id)
    for actor in (manager, ACTOR):
        order = _cart(world, actor, 3)
        assert world.app.place_order(order.id, True, actor).status == "placed"
    # and without a limit a customer user is not checked either
    world.app.set_credit_limit(world.customer.id, None, ACTOR)
    customer = _user(world, "customer_admin", world.customer.id)
    assert world.app.place_order(_cart(world, customer, 3).id, True, customer).status == "placed"


def test_approve_places_the_order_and_a_second_decision_is_refused(world: World) -> None:
    world.app.set_credit_limit(world.customer.id, Decimal("1.00"), ACTOR)
    customer_user = _user(world, "customer_user", world.customer.id)
    order = world.app.place_order(_cart(world, customer_user, 1).id, True, customer_user)
    world.clock.advance(timedelta(minutes=5))
    approved = world.app.approve_order(order.id, ACTOR)
    assert approved.status == "placed"
    assert approved.placed_at == world.app.now()
    assert approved.approval is not None
    assert (approved.approval.status, approved.approval.decided_by) == ("approved", ACTOR)
    assert approved.approval.decided_at == world.app.now()
    names = [type(e).__name__ for e in world.app.events.get(order.id)]
    assert names[-3:] == ["ApprovalRequested", "ApprovalGranted", "Placed"]
    with pytest.raises(InvalidOrderTransition):
        world.app.approve_order(order.id, ACTOR)
    with pytest.raises(InvalidOrderTransition):
        world.app.reject_order(order.id, "too late", ACTOR)
    world.provision(approved)  # the provisioning steps run on it as on any placed order
    assert world.app.read(Order, order.id, "order").status == "provision_finished"


def test_reject_needs_a_reason_and_ends_the_order_with_it(world: World) -> None:
    world.app.set_credit_limit(world.customer.id, Decimal("1.00"), ACTOR)
    customer_user = _user(world, "customer_user", world.customer.id)
    order = world.app.place_order(_cart(world, customer_user, 1).id, True, customer_user)
    with pytest.raises(InvalidInput) as e:
        world.app.reject_order(order.id, "  ", ACTOR)
    assert e.value.field == "reason"
    rejected = world.app.reject_order(order.id, "Budget frozen until March", ACTOR)
    assert rejected.status == "rejected"
    assert rejected.failure_reason == "Budget frozen until March"
    assert rejected.approval is not None
    assert rejected.approval.reason == "Budget frozen until March"
    with pytest.raises(InvalidOrderTransition):
        world.app.approve_order(order.id, ACTOR)
    with pytest.raises(InvalidOrderTransition):
        world.app.start_provisioning(order.id)


def test_only_a_customer_has_a_limit_and_it_is_never_negative(world: World) -> None:
    with pytest.raises(InvalidInput) as e:
        world.app.set_credit_limit(world.reseller.id, Decimal("10"), ACTOR)
    assert e.value.field == "monthly_limit"
    with pytest.raises(InvalidInput):
        world.app.set_credit_limit(world.customer.id, Decimal("-1"), ACTOR)
