"""Lifecycle notices end to end (relay, workers and scheduler jobs in-process, on SQLite
and PostgreSQL): due notices sent once when the clock moves past their instants twice,
event-driven ones, the email and the notice.<kind> webhook, customers' order copies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from csp.aggregates.notify import NotificationPreferences
from csp.aggregates.order import Order
from csp.aggregates.organization import Organization
from csp.aggregates.subscription import Subscription
from csp.application import NewLineRequest
from csp.clock import SettableClock
from tests.fixtures.api import outbox
from tests.fixtures.sagas import world_through_sagas
from tests.fixtures.webhooks import Receiver, ReceiverServer, hook_system
from tests.support import ACTOR, BUSINESS_PREMIUM

__all__ = ["hook_system"]  # the fixture, imported


def _email(app: Any, org_id: Any) -> str:
    return str(app.load(Organization, org_id, "organization").profile.contact_email)


def test_a_window_closing_is_noticed_once_by_email_and_webhook_and_customers_get_order_copies(hook_system):
    clock = SettableClock()
    system = hook_system(clock=clock)
    with ReceiverServer(Receiver()) as receiver:
        w = world_through_sagas(system)
        app = w.app
        app.change_organization(w.customer_id, ACTOR, contact_email="it@contoso.example")
        app.change_notification_preferences(w.reseller_id, NotificationPreferences(copy_customer=True), ACTOR)
        created = app.register_webhook(
            w.reseller_id, receiver.url, ["notice.window_closing"], ACTOR, allow_loopback_http=True
        )
        receiver.secret = created.secret
        order = app.create_order(w.customer_id, actor=ACTOR)
        app.add_new_subscription_line(
            order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 2, "monthly", "annual"), actor=ACTOR
        )
        app.place_order(order.id, accept_terms=True, actor=ACTOR)
        assert w.sagas.drain(30)
        # then the customer got a copy of each order email, once
        customer = _email(app, w.customer_id)
        copies = [m["X-CSP-Kind"] for m in outbox(system) if m["To"] == customer]
        assert sorted(copies) == ["licences_provisioned_customer_copy", "order_placed_customer_copy"]
        sub = app.load(Subscription, app.load(Order, order.id, "order").subscription_ids[0], "subscription")
        closes = sub.tranches[0].window_ends_at
        # when the clock moves past the notice's due instant (24 h before), twice
        for at in (closes - timedelta(hours=20), closes - timedelta(hours=10)):
            clock.set(at)
            assert w.sagas.run_due(clock.now()).drained
        # then one notice, one email to the reseller, one webhook
        mails = outbox(system, "notice_window_closing")
        assert [m["To"] for m in mails] == [_email(app, w.reseller_id)]
        assert "Cancellation window closes" in mails[0]["Subject"]
        hooks = receiver.of_type("notice.window_closing")
        assert len(hooks) == 1
        assert hooks[0]["data"]["subject_id"] == str(sub.id)
        assert hooks[0]["data"]["due_at"].startswith((closes - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M"))


def test_an_issued_invoice_is_noticed_unless_turned_off(hook_system):
    clock = SettableClock()
    system = hook_system(clock=clock)
    w = world_through_sagas(system)
    app = w.app
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 1, "monthly", "annual"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    # when the month ends and is invoiced
    now = clock.now()
    first_of_next = (now.replace(day=1) + timedelta(days=32)).replace(day=1, hour=1)
    clock.set(first_of_next)
    assert w.sagas.run_due(clock.now()).drained
    mails = outbox(system, "notice_invoice_issued")
    assert [m["To"] for m in mails] == [_email(app, w.reseller_id)]
    # when the reseller turns that kind off, the next month's invoice brings none
    app.change_notification_preferences(w.reseller_id, NotificationPreferences(invoice_issued=False), ACTOR)
    clock.set((first_of_next + timedelta(days=32)).replace(day=1, hour=1))
    assert w.sagas.run_due(clock.now()).drained
    assert len(outbox(system, "notice_invoice_issued")) == 1


def test_a_notice_owed_when_the_in_process_broker_loses_its_queue_is_recorded_after_a_restart(hook_system):
    from csp.aggregates.notify import WebhookEndpoint, notice_id_for
    from tests.support import profile

    # given an event that calls for a notice, seen by the relay while no worker runs
    first = hook_system(start=False)
    first.sagas.start_relay()
    reseller = first.app.register_reseller(profile(), actor=ACTOR)
    endpoint = first.app.register_webhook(reseller.id, "https://psa.example.com/in", ["*"], ACTOR).endpoint
    first.app.disable_webhook(endpoint.id, "10 deliveries in a row failed", "system:webhooks")
    assert first.sagas.relay.wait(first.app.recorder.max_notification_id(), timeout=10)
    assert ("notice:webhook_disabled", endpoint.id, 2) in first.sagas.store.pending()
    # when the process dies (its queue with it) and the service starts again
    first.close()
    second = hook_system()
    assert second.sagas.drain(30)
    # then the relay re-enqueued it: the notice exists, once, and nothing is owed any more
    disabled = [
        e for e in second.app.repository.event_store.get(endpoint.id) if isinstance(e, WebhookEndpoint.Disabled)
    ]
    notice = second.app.notice(notice_id_for(reseller.id, "webhook_disabled", endpoint.id, disabled[0].at), reseller.id)
    assert notice.kind == "webhook_disabled"
    assert [p for p in second.sagas.store.pending() if p[0].startswith("notice:")] == []
