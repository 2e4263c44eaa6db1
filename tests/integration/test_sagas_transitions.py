"""The transition saga step against the simulator: the vendor's refusal is recorded with its
reason and the subscription is as it was; a replayed step duplicates nothing."""

from __future__ import annotations

from uuid import UUID

from csp.aggregates.order import Order
from csp.aggregates.subscription import Subscription
from csp.application import NewLineRequest
from csp.application.transitions import transition_subscription_id
from tests.fixtures.sagas import SagaWorld, world_through_sagas
from tests.support import ACTOR, BUSINESS_BASIC
from tests.unit.test_transitions import BUSINESS_STANDARD


def _basic(w: SagaWorld, quantity: int = 3) -> UUID:
    app = w.app
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_BASIC, w.tenant.id, quantity, "monthly", "annual"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    done = app.load(Order, order.id, "order")
    assert done.status == "provision_finished"
    return done.subscription_ids[0]


def test_the_vendors_refusal_of_a_transition_is_recorded_with_its_reason(saga_system_factory):
    system = saga_system_factory(vendor_sim_order_seconds=0.0)
    w = world_through_sagas(system)
    app = w.app
    sid = _basic(w)
    # the vendor suspended it on its own (the platform still has it active)
    vendor_id = app.load(Subscription, sid, "subscription").vendor_subscription_id
    sim_state = w.sagas._sim_server._server.config.app.state.sim  # type: ignore[union-attr]
    with sim_state.tx() as c:
        c.execute("UPDATE subscriptions SET status = 'suspended' WHERE id = ?", (vendor_id,))
    # when an upgrade is asked for
    _, request = app.request_transition(sid, BUSINESS_STANDARD, ACTOR)
    assert w.sagas.drain(30)
    # then the vendor's no is on the subscription, which is as it was, and nothing was created
    sub = app.load(Subscription, sid, "subscription")
    assert (sub.status, sub.quantity, sub.pending_transition, sub.transitioned_to) == ("active", 3, None, None)
    assert "SubscriptionSuspended" in (sub.last_vendor_refusal or "")
    assert not app.exists(transition_subscription_id(request.transition_id))
    assert w.sagas.store.pending() == []


def test_a_transition_done_at_the_vendor_whose_answer_was_lost_is_found_not_done_twice(saga_system_factory):
    system = saga_system_factory(vendor_sim_order_seconds=0.0)
    w = world_through_sagas(system)
    app = w.app
    sagas = w.sagas
    sid = _basic(w)
    # given the worker gone (the relay queues the step, nobody runs it)
    sagas.worker.stop()
    sagas.worker = None
    sub, request = app.request_transition(sid, BUSINESS_STANDARD, ACTOR, quantity=1)
    assert sagas.relay.wait(app.recorder.max_notification_id(), timeout=10)
    # and the vendor having done it once already, its answer lost (the step's own key)
    customer, vendor_id = w.tenant.vendor_customer_id, sub.vendor_subscription_id
    assert customer is not None
    assert vendor_id is not None
    first = sagas.gateway().transition(customer, vendor_id, "CFQ7TTC0LDPB:0001", 1, f"{sid}:{sub.version}")
    # when the step runs
    sagas.steps.push_change(str(sid), sub.version)
    # then it found that transition: one new subscription, the vendor's, the seats moved once
    new = app.load(Subscription, transition_subscription_id(request.transition_id), "subscription")
    assert new.vendor_subscription_id == first.to_subscription_id
    assert (app.load(Subscription, sid, "subscription").quantity, new.quantity) == (2, 1)
    assert [s.offer_id for s in sagas.gateway().list_subscriptions(customer)].count("CFQ7TTC0LDPB:0001") == 1
    # and running it again changes nothing
    sagas.steps.push_change(str(sid), sub.version)
    assert app.load(Subscription, new.id, "subscription").version == new.version
