"""Outbound webhooks end to end: the relay fans events out, the delivery actor signs and
POSTs, retries with back-off, keeps each subject's order, disables an endpoint that keeps
failing; a test receiver checks signatures and de-duplicates by webhook-id; the signing
secret is stored sealed, and an endpoint stored in plain text before that still signs. On
SQLite and PostgreSQL with the in-process broker, and once on Redis."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from csp.aggregates.notify import WebhookEndpoint, notice_id_for
from csp.aggregates.order import Order
from csp.aggregates.organization import Organization
from csp.application import NewLineRequest
from csp.application.notify import new_webhook_secret
from tests.fixtures.api import outbox
from tests.fixtures.sagas import world_through_sagas
from tests.fixtures.webhooks import FAST_HOOKS, Receiver, ReceiverServer, hook_system
from tests.support import ACTOR, BUSINESS_PREMIUM

__all__ = ["hook_system"]  # the fixture, imported


def _register(system: Any, reseller_id: Any, receiver: Receiver, events: list[str]) -> WebhookEndpoint:
    created = system.app.register_webhook(reseller_id, receiver.url, events, ACTOR, allow_loopback_http=True)
    receiver.secret = created.secret
    return created.endpoint


def _order(w: Any, quantity: int = 2) -> Any:
    app = w.app
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, quantity, "monthly", "annual"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    return app.load(Order, order.id, "order")


def test_deliveries_are_signed_retried_until_accepted_and_a_replay_keeps_the_webhook_id(hook_system):
    system = hook_system()
    with ReceiverServer(Receiver(fail_first=2)) as receiver:
        w = world_through_sagas(system)
        endpoint = _register(system, w.reseller_id, receiver, ["order.placed", "order.provision_finished"])
        # when an order is placed and provisioned while the receiver fails each first two attempts
        order = _order(w)
        # then each event arrived once, signed, after two retries, in the order of the log
        assert [e["type"] for e in receiver.events.values()] == ["order.placed", "order.provision_finished"]
        assert receiver.bad_signatures == 0
        assert all(n == 3 for n in receiver.attempts.values())
        placed = receiver.of_type("order.placed")[0]
        assert placed["data"]["order_id"] == str(order.id)
        deliveries, total = system.sagas.deliveries(endpoint.id)
        assert total == 2
        assert {d.status for d in deliveries} == {"delivered"}
        assert [a.status_code for a in deliveries[0].attempts] == [500, 500, 204]
        # when a delivery is replayed
        first = next(d for d in deliveries if d.kind == "order.placed")
        system.sagas.replay_delivery(first.id)
        assert system.sagas.drain(30)
        # then the receiver gets the same webhook-id again, and its de-duplication drops it
        assert receiver.duplicates == 1
        assert receiver.attempts[str(first.event_id)] == 4
        assert len(system.sagas.delivery(first.id).attempts) == 4


def test_deliveries_of_one_subscription_arrive_in_log_order_while_earlier_ones_retry(hook_system):
    system = hook_system()
    with ReceiverServer(Receiver(fail_first=1)) as receiver:
        w = world_through_sagas(system)
        order = _order(w)
        sid = order.subscription_ids[0]
        _register(system, w.reseller_id, receiver, ["subscription.changed", "subscription.suspended"])
        # when several changes follow one another (each first attempt fails)
        for q in (3, 4, 5):
            w.app.change_subscription_quantity(sid, q, actor=ACTOR)
        w.app.suspend_subscription(sid, actor=ACTOR)
        assert w.sagas.drain(30)
        # then they arrived one at a time, in the order they happened
        got = [(e["type"], e["data"]["quantity"]) for e in (receiver.events[i] for i in receiver.order)]
        assert got == [
            ("subscription.changed", 3),
            ("subscription.changed", 4),
            ("subscription.changed", 5),
            ("subscription.suspended", 5),
        ]


def test_an_endpoint_that_keeps_failing_is_disabled_and_the_reseller_told(hook_system):
    system = hook_system(webhook_max_retries=1, webhook_disable_after=2)
    with ReceiverServer(Receiver(always_fail=True)) as receiver:
        w = world_through_sagas(system)
        endpoint = _register(system, w.reseller_id, receiver, ["*"])
        # when two deliveries in a row fail for good
        _order(w)
        assert w.sagas.drain(30)
        # then the endpoint is disabled, with the reason, and the reseller has a notice
        endpoint = w.app.load(WebhookEndpoint, endpoint.id, "webhook")
        assert not endpoint.enabled
        assert "in a row failed" in endpoint.disabled_reason
        deliveries, _ = system.sagas.deliveries(endpoint.id)
        assert {d.status for d in deliveries} == {"failed"}
        disabled = [e for e in w.app.repository.event_store.get(endpoint.id) if isinstance(e, WebhookEndpoint.Disabled)]
        notice = w.app.notice(
            notice_id_for(w.reseller_id, "webhook_disabled", endpoint.id, disabled[0].at), w.reseller_id
        )
        assert notice.kind == "webhook_disabled"
        assert receiver.url in notice.title
        assert [m["To"] for m in outbox(system, "notice_webhook_disabled")] == [
            w.app.load(Organization, w.reseller_id, "organization").profile.contact_email
        ]
        # and nothing more is sent to it
        before = sum(receiver.attempts.values())
        w.app.change_subscription_quantity(_order(w).subscription_ids[0], 3, actor=ACTOR)
        assert w.sagas.drain(30)
        assert sum(receiver.attempts.values()) == before


def test_webhooks_run_on_redis(saga_system_factory, redis_url):
    system = saga_system_factory(broker_url=redis_url, **FAST_HOOKS)
    with ReceiverServer(Receiver(fail_first=1)) as receiver:
        w = world_through_sagas(system)
        _register(system, w.reseller_id, receiver, ["order.placed"])
        _order(w)
        assert len(receiver.of_type("order.placed")) == 1
        assert list(receiver.attempts.values()) == [2]


def test_the_secret_is_stored_sealed_and_an_endpoint_stored_in_plain_text_still_signs(hook_system):
    system = hook_system()
    with ReceiverServer(Receiver()) as sealed_rx, ReceiverServer(Receiver()) as plain_rx:
        w = world_through_sagas(system)
        endpoint = _register(system, w.reseller_id, sealed_rx, ["order.placed"])
        # the raw stored record holds the sealed value, never the secret (nor its key part)
        stored = system.app.recorder.select_events(endpoint.id)
        raw = b"".join(r.state for r in stored)
        assert sealed_rx.secret.encode() not in raw
        assert sealed_rx.secret.removeprefix("whsec_").encode() not in raw
        state = json.loads(stored[0].state)
        assert state["sealed_secret"].startswith("aesgcm1:")
        assert "secret" not in state
        # given an endpoint registered before secrets were sealed: version 1, the secret in plain text
        old_id, plain_rx.secret = uuid4(), new_webhook_secret()
        del state["class_version"], state["sealed_secret"]
        state.update(originator_id=old_id.hex, url=plain_rx.url, secret=plain_rx.secret)
        system.app.recorder.insert_events([StoredEvent(old_id, 1, stored[0].topic, json.dumps(state).encode())])
        old = system.app.load(WebhookEndpoint, old_id, "webhook")
        assert old.sealed_secret == plain_rx.secret  # upcast: read as a legacy plain value
        assert system.sagas.relay.wait(system.app.recorder.max_notification_id(), timeout=10)
        # when an order is placed, both endpoints get it, each signed with its own secret
        order = _order(w)
        for rx in (sealed_rx, plain_rx):
            assert [e["data"]["order_id"] for e in rx.of_type("order.placed")] == [str(order.id)]
            assert rx.bad_signatures == 0
