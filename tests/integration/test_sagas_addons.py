"""One saga lane per subscription family (issue 20): the vendor sees a base's changes and
its add-ons' in the order they were decided, in-process and on a real Redis; a vendor's
refusal of an add-on is shown on the base and in its history."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import httpx
import pytest

from csp.aggregates.order import Order
from csp.aggregates.subscription import Subscription
from csp.application import NewLineRequest
from csp.audit import history
from csp.workers.steps import PlatformNotReady
from tests.fixtures.sagas import SagaWorld, world_through_sagas
from tests.support import ACTOR, BUSINESS_PREMIUM, TEAMS_PHONE

FAMILIES = 50


def _bases(w: SagaWorld, count: int, per_order: int = 5) -> list[UUID]:
    """``count`` subscriptions of Business Premium ×2, provisioned through the vendor."""
    app = w.app
    orders = []
    for start in range(0, count, per_order):
        order = app.create_order(w.customer_id, actor=ACTOR)
        for _ in range(min(per_order, count - start)):
            app.add_new_subscription_line(
                order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 2, "monthly", "annual"), actor=ACTOR
            )
        app.place_order(order.id, accept_terms=True, actor=ACTOR)
        orders.append(order.id)
    assert w.sagas.drain(60)
    done = [app.load(Order, o, "order") for o in orders]
    assert {o.status for o in done} == {"provision_finished"}
    return [sid for o in done for sid in o.subscription_ids]


def _vendor_subscription(w: SagaWorld, vendor_id: str) -> dict[str, object]:
    sim = w.sagas.gateway().base_url
    return httpx.get(f"{sim}/v1/customers/{w.tenant.vendor_customer_id}/subscriptions/{vendor_id}").json()  # type: ignore[no-any-return]


def _refusals(w: SagaWorld, sid: UUID) -> list[Subscription.VendorChangeRefused]:
    return [e for e in w.app.repository.event_store.get(sid) if isinstance(e, Subscription.VendorChangeRefused)]


def test_an_addon_bought_right_after_a_reactivation_is_active_every_time(saga_system_factory, broker_url):
    # the vendor completes orders at once here: the lanes, not the vendor, set the pace
    system = saga_system_factory(broker_url=broker_url, vendor_sim_order_seconds=0.0, saga_poll_ms=50)
    w = world_through_sagas(system)
    app = w.app
    bases = _bases(w, FAMILIES)
    # when, 50 times over, suspend → reactivate → price → add-on are decided in a row, the
    # sagas behind them (every family's steps queued together, delivered in any order)
    addons: dict[UUID, UUID] = {}
    for base in bases:
        app.suspend_subscription(base, actor=ACTOR)
        app.reactivate_subscription(base, actor=ACTOR)
        app.change_subscription_price(base, actor=ACTOR, markup_percent=Decimal(7))
        addons[base] = app.add_subscription_addon(base, TEAMS_PHONE, 1, actor=ACTOR).id
    assert w.sagas.drain(60)
    # then every add-on is active, on its base, at the vendor too, and nothing was refused
    for base, addon_id in addons.items():
        b, a = app.load(Subscription, base, "subscription"), app.load(Subscription, addon_id, "subscription")
        assert (b.status, b.addon_ids, b.last_vendor_refusal) == ("active", (addon_id,), None)
        assert (a.status, a.last_vendor_refusal) == ("active", None)
        assert _refusals(w, base) == _refusals(w, addon_id) == []
        assert a.vendor_subscription_id is not None
        assert _vendor_subscription(w, a.vendor_subscription_id)["status"] == "active"
        assert _vendor_subscription(w, a.vendor_subscription_id)["parentSubscriptionId"] == b.vendor_subscription_id
    assert w.sagas.store.pending() == []


def test_a_step_waits_for_the_one_before_it_in_its_family_whatever_the_delivery_order(saga_system_factory):
    system = saga_system_factory(start=False, vendor_sim_order_seconds=0.0)
    sagas = system.sagas
    sagas.start_relay()
    sagas.start_worker(2)
    w = world_through_sagas(system)
    app = w.app
    (base,) = _bases(w, 1)
    # given the worker gone: the relay queues the family's steps, nobody runs them
    sagas.worker.stop()
    sagas.worker = None
    app.suspend_subscription(base, actor=ACTOR)
    app.reactivate_subscription(base, actor=ACTOR)
    addon = app.add_subscription_addon(base, TEAMS_PHONE, 1, actor=ACTOR)
    assert sagas.relay.wait(app.recorder.max_notification_id(), timeout=10)
    events = list(app.repository.event_store.get(base))
    suspended = next(e.originator_version for e in events if isinstance(e, Subscription.Suspended))
    reactivated = next(e.originator_version for e in events if isinstance(e, Subscription.Reactivated))
    # when the add-on's step comes first, then the reactivation's, then the suspension's
    sagas.steps.push_change(str(addon.id), 1)
    sagas.steps.push_change(str(base), reactivated)
    # then neither went to the vendor: each waits for the step before it
    assert app.load(Subscription, addon.id, "subscription").vendor_subscription_id is None
    assert not app.vendor_answer_recorded(base, reactivated)
    assert (
        _vendor_subscription(w, app.load(Subscription, base, "subscription").vendor_subscription_id)["status"]
        == "active"
    )
    # and in the order they were decided, each goes through
    sagas.steps.push_change(str(base), suspended)
    sagas.steps.push_change(str(addon.id), 1)  # still behind the reactivation
    assert app.load(Subscription, addon.id, "subscription").vendor_subscription_id is None
    sagas.steps.push_change(str(base), reactivated)
    sagas.steps.push_change(str(addon.id), 1)
    a = app.load(Subscription, addon.id, "subscription")
    assert a.vendor_subscription_id is not None
    assert (a.status, _refusals(w, addon.id), _refusals(w, base)) == ("active", [], [])


def test_a_vendor_refusal_of_an_addon_shows_on_its_base_and_in_its_history(saga_system_factory):
    system = saga_system_factory()
    w = world_through_sagas(system)
    app = w.app
    (base,) = _bases(w, 1)
    vendor_base = app.load(Subscription, base, "subscription").vendor_subscription_id
    # the vendor suspended the base on its own (the platform still has it active)
    sim_state = w.sagas._sim_server._server.config.app.state.sim  # type: ignore[union-attr]
    with sim_state.tx() as c:
        c.execute("UPDATE subscriptions SET status = 'suspended' WHERE id = ?", (vendor_base,))
    addon = app.add_subscription_addon(base, TEAMS_PHONE, 1, actor=ACTOR)
    assert w.sagas.drain(30)
    # then the add-on is ended, and the base says why, now and in its history
    a, b = app.load(Subscription, addon.id, "subscription"), app.load(Subscription, base, "subscription")
    assert a.status == "cancelled"
    assert "ParentSubscriptionNotActive" in (a.last_vendor_refusal or "")
    assert addon.id not in b.addon_ids
    assert b.last_vendor_refusal is not None
    assert "Microsoft Teams Phone Standard" in b.last_vendor_refusal
    assert "ParentSubscriptionNotActive" in b.last_vendor_refusal
    refused = [e for e in history(app, base)["events"] if e["type"] == "AddonRefused"]
    assert len(refused) == 1
    assert refused[0]["data"]["addon_id"] == str(addon.id)
    assert "ParentSubscriptionNotActive" in refused[0]["data"]["reason"]
    assert [e["type"] for e in history(app, addon.id)["events"]][-2:] == ["VendorChangeRefused", "Cancelled"]


def test_a_fault_of_the_platforms_own_is_never_recorded_as_the_vendors_refusal(saga_system_factory):
    system = saga_system_factory(start=False)
    sagas = system.sagas
    sagas.start_relay()
    sagas.start_worker(2)
    w = world_through_sagas(system)
    app = w.app
    sagas.worker.stop()
    sagas.worker = None
    # given a subscription the platform never linked to a vendor subscription
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 2, "monthly", "annual"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    app.start_provisioning(order.id)
    (sid,) = app.provision_line(order.id, 1, "vendor-order-without-ids").subscription_ids
    sub = app.change_subscription_quantity(sid, 3, actor=ACTOR)
    assert sagas.relay.wait(app.recorder.max_notification_id(), timeout=10)
    # when its change's step runs, it fails as ours (retried, then listed for the operator) …
    with pytest.raises(PlatformNotReady):
        sagas.steps.push_change(str(sid), sub.version)
    # … and nothing says the vendor refused it: no compensation, no refusal, still pending
    after = app.load(Subscription, sid, "subscription")
    assert (after.quantity, after.last_vendor_refusal, _refusals(w, sid)) == (3, None, [])
    assert ("push", sid, sub.version) in sagas.store.pending()
