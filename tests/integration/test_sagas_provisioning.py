"""The sagas end to end, in-process and on a real Redis: tenants, orders, pushed changes, email."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import httpx

from csp.aggregates.order import Order
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.application import AddonRequest, NewLineRequest
from csp.clock import SettableClock
from tests.fixtures.sagas import world_through_sagas
from tests.support import ACTOR, BUSINESS_PREMIUM, TEAMS_PHONE, profile


def _sim(system) -> str:  # type: ignore[no-untyped-def]
    return system.sagas.gateway().base_url


def _outbox(system) -> list:  # type: ignore[no-untyped-def]
    folder = Path(system.settings.data_dir) / "outbox"
    return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))]


def test_an_order_is_provisioned_with_its_add_on_and_the_reseller_is_told_once(saga_system_factory, broker_url):
    system = saga_system_factory(broker_url=broker_url)
    w = world_through_sagas(system)
    app = w.app
    # given a placed order: 3 seats of Business Premium with 2 Teams Phone add-ons
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id,
        NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 3, "monthly", "annual", addons=(AddonRequest(TEAMS_PHONE, 2),)),
        actor=ACTOR,
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    # when the sagas run
    assert w.sagas.drain(30)
    # then the order is finished, each subscription linked to its vendor subscription
    order = app.load(Order, order.id, "order")
    assert order.status == "provision_finished"
    subs = [app.load(Subscription, sid, "subscription") for sid in order.subscription_ids]
    assert [s.quantity for s in subs] == [3, 2]
    assert all(s.vendor_subscription_id for s in subs)
    vendor = httpx.get(f"{_sim(system)}/v1/customers/{w.tenant.vendor_customer_id}/subscriptions").json()["items"]
    assert sorted((v["offerId"], v["quantity"]) for v in vendor) == [
        ("CFQ7TTC0LCHC:0002", 3),
        ("CFQ7TTC0LHXM:0001", 2),
    ]
    assert {v["id"] for v in vendor} == {s.vendor_subscription_id for s in subs}
    # and the emails went out once each: tenant created, order placed, licences provisioned
    kinds = sorted(m["X-CSP-Kind"] for m in _outbox(system))
    assert kinds == ["licences_provisioned", "order_placed", "tenant_created"]
    tenant_mail = next(m for m in _outbox(system) if m["X-CSP-Kind"] == "tenant_created")
    assert w.tenant.domain in tenant_mail.get_content()
    assert f"admin@{w.tenant.domain}" in tenant_mail.get_content()
    assert w.sagas.store.pending() == []


def test_a_domain_taken_at_the_vendor_rejects_the_tenant(saga_system_factory):
    system = saga_system_factory()
    app = system.app
    # someone else already has the domain at the vendor
    httpx.post(f"{_sim(system)}/sim/customers", json={"domain": "fabrikam.onmicrosoft.com"}).raise_for_status()
    reseller = app.register_reseller(profile(), actor=ACTOR)
    customer = app.register_customer(reseller.id, profile("Contoso SRL", "retail"), actor=ACTOR)
    tenant = app.request_tenant(customer.id, "fabrikam", "create", actor=ACTOR)
    assert system.sagas.drain(30)
    tenant = app.load(Tenant, tenant.id, "tenant")
    assert (tenant.status, tenant.rejection_code) == ("rejected", "domain_taken")


def test_linking_checks_the_tenant_exists_and_granted_delegated_access(saga_system_factory):
    # the old yes/no delegated admin access: only the simulator's legacy mode reports it
    system = saga_system_factory(vendor_sim_legacy_delegated_access=True)
    app = system.app
    sim = _sim(system)
    httpx.post(f"{sim}/sim/customers", json={"domain": "granted.example.com"}).raise_for_status()
    httpx.post(f"{sim}/sim/customers", json={"domain": "closed.example.com", "delegatedAccess": False})
    reseller = app.register_reseller(profile(), actor=ACTOR)
    customer = app.register_customer(reseller.id, profile("Contoso SRL", "retail"), actor=ACTOR)
    ids = {
        d: app.request_tenant(customer.id, d, "link", actor=ACTOR).id
        for d in ("granted.example.com", "closed.example.com", "missing.example.com")
    }
    assert system.sagas.drain(30)
    got = {d: app.load(Tenant, i, "tenant") for d, i in ids.items()}
    assert got["granted.example.com"].status == "linked"
    assert got["granted.example.com"].vendor_customer_id
    assert got["closed.example.com"].status == "verifying"  # waits for admin rights (a GDAP relationship)
    assert got["missing.example.com"].rejection_code == "tenant_not_found"


def test_the_customers_admin_grants_delegated_rights_through_the_vendors_link_then_it_links(saga_system_factory):
    system = saga_system_factory(vendor_sim_legacy_delegated_access=True)  # the old DAP link: legacy mode
    app = system.app
    sim = _sim(system)
    httpx.post(f"{sim}/sim/customers", json={"domain": "later.example.com", "delegatedAccess": False})
    reseller = app.register_reseller(profile(), actor=ACTOR)
    customer = app.register_customer(reseller.id, profile("Contoso SRL", "retail"), actor=ACTOR)
    waiting = app.request_tenant(customer.id, "later.example.com", "link", actor=ACTOR)
    assert system.sagas.drain(30)
    assert app.load(Tenant, waiting.id, "tenant").status == "verifying"
    # the vendor's link, opened by the customer's global admin, who accepts for its tenant
    url = system.sagas.relationship_request_url()
    assert url.startswith(sim)
    page = httpx.get(url)
    assert page.status_code == 200
    assert 'name="domain"' in page.text
    assert httpx.post(url, data={"domain": "nobody.example.com"}).status_code == 404
    accepted = httpx.post(url, data={"domain": "later.example.com"})
    assert accepted.status_code == 200
    assert "granted delegated admin rights" in accepted.text
    # then the waiting link is checked again (the scheduler's gdap job) and links
    assert system.sagas.run_due(app.now()).drained
    assert app.load(Tenant, waiting.id, "tenant").status == "linked"


def test_changes_are_pushed_to_the_vendor_and_acknowledged(saga_system_factory, broker_url):
    system = saga_system_factory(broker_url=broker_url)
    w = world_through_sagas(system)
    app = w.app
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 2, "monthly", "annual"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    sid = app.load(Order, order.id, "order").subscription_ids[0]
    # when the reseller makes several changes in a row
    app.change_subscription_quantity(sid, 7, actor=ACTOR)
    app.change_subscription_quantity(sid, 5, actor=ACTOR)
    app.suspend_subscription(sid, actor=ACTOR)
    app.set_subscription_auto_renew(sid, False, actor=ACTOR)
    assert w.sagas.drain(30)
    # then the vendor holds the same state, and every change is acknowledged
    sub = app.load(Subscription, sid, "subscription")
    v = httpx.get(
        f"{_sim(system)}/v1/customers/{w.tenant.vendor_customer_id}/subscriptions/{sub.vendor_subscription_id}"
    )
    assert (v.json()["quantity"], v.json()["status"], v.json()["autoRenewEnabled"]) == (5, "suspended", False)
    acks = [e for e in app.repository.event_store.get(sid) if isinstance(e, Subscription.VendorChangeAcknowledged)]
    assert len(acks) == 4
    assert w.sagas.store.pending() == []


def test_a_change_the_vendor_refuses_is_compensated_and_the_reseller_notified(saga_system_factory):
    clock = SettableClock()
    system = saga_system_factory(clock=clock)
    w = world_through_sagas(system)
    app = w.app
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 2, "monthly", "annual"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    sid = app.load(Order, order.id, "order").subscription_ids[0]
    sub = app.load(Subscription, sid, "subscription")
    # the vendor's seats are already outside their window (it bought them 8 days ago)…
    sim_state = w.sagas._sim_server._server.config.app.state.sim  # type: ignore[union-attr]
    with sim_state.tx() as c:
        c.execute(
            "UPDATE subscriptions SET tranches = json_array(json_array(quantity, created_at - 8 * 86400)) WHERE id = ?",
            (sub.vendor_subscription_id,),
        )
    # …while the platform still thinks they are inside: the reduction is decided locally
    app.change_subscription_quantity(sid, 1, actor=ACTOR)
    assert w.sagas.drain(30)
    sub = app.load(Subscription, sid, "subscription")
    assert sub.quantity == 2  # restored to what the vendor holds
    assert "OutsideCancellationWindow" in (sub.last_vendor_refusal or "")
    refusals = [m for m in _outbox(system) if m["X-CSP-Kind"] == "vendor_refused"]
    assert len(refusals) == 1
    assert "cancellation window" in refusals[0].get_content()
    clock.advance(timedelta(seconds=1))


def test_the_same_message_delivered_twice_changes_nothing_the_second_time(saga_system_factory):
    system = saga_system_factory(start=False)
    sagas = system.sagas
    sagas.start_relay()
    sagas.start_worker(2)
    w = world_through_sagas(system)
    app = w.app
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 4, "monthly", "annual"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert sagas.drain(30)
    sid = app.load(Order, order.id, "order").subscription_ids[0]
    app.change_subscription_quantity(sid, 6, actor=ACTOR)
    assert sagas.drain(30)
    head = app.recorder.max_notification_id()
    stats = httpx.get(f"{_sim(system)}/sim/stats").json()
    outbox = len(_outbox(system))
    # when every message of those sagas is delivered again
    sagas.send("provision_order", str(order.id))
    sagas.send("push_change", str(sid), app.load(Subscription, sid, "subscription").version - 1)
    sagas.send("send_mail", "order_placed", str(order.id), 4)
    sagas.send("create_tenant", str(w.tenant.id))
    assert sagas.drain(30)
    # then no new event, no new vendor order or subscription, no second email
    assert app.recorder.max_notification_id() == head
    again = httpx.get(f"{_sim(system)}/sim/stats").json()
    assert (again["orders"], again["subscriptions"], again["customers"]) == (
        stats["orders"],
        stats["subscriptions"],
        stats["customers"],
    )
    assert len(_outbox(system)) == outbox


def test_pending_work_survives_the_in_process_broker_losing_its_queue(saga_system_factory):
    # given orders placed while only the relay runs: the stub broker holds their messages
    first = saga_system_factory(start=False)
    first.sagas.start_relay()
    first.sagas.start_worker(2)
    w = world_through_sagas(first)
    first.sagas.worker.stop()
    first.sagas.worker = None
    first.sagas._running.discard("worker")
    orders = []
    for _ in range(3):
        o = w.app.create_order(w.customer_id, actor=ACTOR)
        w.app.add_new_subscription_line(
            o.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 1, "monthly", "annual"), actor=ACTOR
        )
        w.app.place_order(o.id, accept_terms=True, actor=ACTOR)
        orders.append(o.id)
    assert first.sagas.relay.wait(first.app.recorder.max_notification_id(), timeout=10)
    # when the process dies (the in-memory queue is lost) and the service starts again
    first.close()
    second = saga_system_factory()
    assert second.sagas.drain(30)
    # then the relay re-derived the pending work from the orders' states
    assert [second.app.load(Order, o, "order").status for o in orders] == ["provision_finished"] * 3


def test_run_due_renews_at_term_end_and_expires_trials(saga_system_factory):
    clock = SettableClock()
    system = saga_system_factory(clock=clock)
    w = world_through_sagas(system)
    app = w.app
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 2, "monthly", "annual"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    sid = app.load(Order, order.id, "order").subscription_ids[0]
    ends = app.load(Subscription, sid, "subscription").ends_at
    assert w.sagas.store.next_due(sid) == ends - timedelta(days=365) + timedelta(hours=168)  # the window closes
    # when the clock passes the term end
    clock.set(ends + timedelta(hours=1))
    report = w.sagas.run_due(clock.now())
    # then the subscription renewed once, and the schedule points at the new window
    sub = app.load(Subscription, sid, "subscription")
    assert sub.renewal_count == 1
    assert report.jobs["due-work"]["changes"] >= 1
    assert w.sagas.store.next_due(sid) == ends + timedelta(hours=168)
    # running it again changes nothing
    head = app.recorder.max_notification_id()
    w.sagas.run_due(clock.now())
    assert app.recorder.max_notification_id() == head


def test_the_vendor_sync_brings_assigned_licences_and_each_days_usage_once(saga_system_factory):
    from datetime import UTC, datetime

    from tests.support import AZURE_PLAN

    real_now = datetime.now(UTC)
    clock = SettableClock(real_now - timedelta(days=3))
    system = saga_system_factory(clock=clock)
    w = world_through_sagas(system)
    app = w.app
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id, NewLineRequest(AZURE_PLAN, w.tenant.id, 1, "monthly", "monthly"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    sid = app.load(Order, order.id, "order").subscription_ids[0]
    vendor_id = app.load(Subscription, sid, "subscription").vendor_subscription_id
    # the vendor follows the platform's clock: there too the subscription is three days
    # old when the clock comes back to now; one licence is assigned
    httpx.put(f"{_sim(system)}/sim/subscriptions/{vendor_id}/assigned", json={"assignedLicenses": 1})
    clock.set(real_now)
    # when the sync runs (twice)
    for _ in range(2):
        w.sagas.send("sync_subscription", str(sid))
        assert w.sagas.drain(30)
    # then the assigned figure is synced and each whole day's usage is reported once
    sub = app.load(Subscription, sid, "subscription")
    assert sub.assigned == 1
    usage = [e for e in app.repository.event_store.get(sid) if isinstance(e, Subscription.UsageRecorded)]
    days = sorted({e.day for e in usage})
    assert len(days) in (3, 4)  # whole days since the vendor's start (its first included), up to yesterday
    assert len(usage) == len(days)  # the plan's one entitlement, each day once
    assert all(len(e.rows) == 3 and all(r.partner_cost >= 0 for r in e.rows) for e in usage)


def test_the_relay_restarts_itself_after_an_error_and_loses_nothing(saga_system_factory, caplog):
    system = saga_system_factory(start=False)
    sagas = system.sagas
    store = sagas.store
    real_commit = store.commit
    failures = {"left": 1}

    def flaky_commit(tracking, write):  # type: ignore[no-untyped-def]
        if failures["left"] and tracking.notification_id > 3:
            failures["left"] -= 1
            raise ConnectionError("the database connection dropped")
        real_commit(tracking, write)

    store.commit = flaky_commit  # type: ignore[method-assign]
    sagas.start_worker(2)
    sagas.start_relay()
    w = world_through_sagas(system)
    assert sagas.relay.restarts == 1
    assert "relay stopped by an error; restarting" in caplog.text
    assert store.position() == w.app.recorder.max_notification_id()
