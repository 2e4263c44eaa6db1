"""The notifications and webhooks API on SQLite and PostgreSQL: notices listed and marked
read, notification settings, endpoints registered (secret shown once), validated, changed,
deleted, their deliveries listed with attempts and replayed; roles and isolation."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from csp.bootstrap import System, bootstrap, web_app
from csp.settings import Settings
from tests.fixtures.api import sign_up
from tests.fixtures.webhooks import Receiver, ReceiverServer
from tests.support import ACTOR, postgres_schema


@pytest.fixture(params=["sqlite", "postgres"])
def hooks_api_system(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[System]:
    """``store_api_system`` with short webhook back-offs, its relay and workers running."""
    base = {
        "data_dir": tmp_path,
        "test_mode": True,
        "public_url": "http://testserver",
        "webhook_min_backoff_ms": 30,
        "webhook_max_backoff_ms": 100,
        "worker_threads": 2,
    }
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            url = request.getfixturevalue("postgres_dsn")
            base["database_url"] = f"{url}?schema={stack.enter_context(postgres_schema(url))}"
        system = bootstrap(Settings(**base))  # type: ignore[arg-type]
        stack.callback(system.close)
        assert system.projector is not None
        assert system.sagas is not None
        system.projector.start()
        system.sagas.start_worker(2)
        system.sagas.start_relay()
        yield system


def test_notices_are_listed_newest_first_and_marked_read(store_api_system):
    app = web_app(store_api_system)
    acc = sign_up(app, store_api_system)
    other = sign_up(app, store_api_system, company="Other Reseller")
    core = store_api_system.app
    now = core.now()
    first = core.issue_notice(acc.reseller_id, "invoice_issued", acc.reseller_id, now, "Invoice 1", "d", ACTOR)
    core.issue_notice(acc.reseller_id, "provisioning_failed", acc.reseller_id, now, "Order failed", "d", ACTOR)
    assert first is not None
    store_api_system.read.wait(core.recorder.max_notification_id() or 0, timeout=5)
    page = acc.boss.ok("GET", "/notifications")
    assert (page["total"], page["unread"]) == (2, 2)
    assert [n["kind"] for n in page["items"]] == ["provisioning_failed", "invoice_issued"]
    assert set(page["items"][0]) >= {"id", "kind", "subject_id", "due_at", "sent_at", "read_at"}
    # marking one read
    read = acc.boss.ok("POST", f"/notifications/{first.id}/read")
    assert read["read_at"] is not None
    assert acc.boss.ok("GET", "/notifications?unread=true")["total"] == 1
    # another reseller neither sees nor marks it
    assert other.boss.ok("GET", "/notifications")["total"] == 0
    other.boss.ok("POST", f"/notifications/{first.id}/read", 404)


def test_notification_settings_are_read_and_changed(store_api_system):
    app = web_app(store_api_system)
    acc = sign_up(app, store_api_system)
    assert acc.boss.ok("GET", "/settings/notifications") == {
        "renewal_days": [30, 7],
        "window_closing_hours": 24,
        "trial_ending_days": [7, 1],
        "gdap_expiring_days": 30,
        "invoice_issued": True,
        "provisioning_failed": True,
        "copy_customer": False,
        "approval_requested": True,
    }
    changed = acc.boss.ok("PUT", "/settings/notifications", json={"renewal_days": [7, 60], "copy_customer": True})
    assert (changed["renewal_days"], changed["copy_customer"], changed["trial_ending_days"]) == ([60, 7], True, [7, 1])
    r = acc.boss.put("/api/v1/settings/notifications", json={"renewal_days": [0]})
    assert r.status_code == 422
    assert "renewal_days" in r.text
    ro = acc.invite("ro@example.com", "read_only", acc.reseller_id)
    assert ro.ok("GET", "/settings/notifications")["renewal_days"] == [60, 7]
    ro.ok("PUT", "/settings/notifications", 403, json={"copy_customer": False})


def test_webhook_endpoints_are_registered_validated_changed_and_deleted(store_api_system):
    app = web_app(store_api_system)
    acc = sign_up(app, store_api_system)
    other = sign_up(app, store_api_system, company="Other Reseller")
    kinds = acc.boss.ok("GET", "/webhooks/kinds")["items"]
    assert {"order.placed", "customer_invoice.issued", "notice.renewal_due"} <= set(kinds)
    # validation: https only (http to loopback in test mode), known kinds
    r = acc.boss.post("/api/v1/webhooks", json={"url": "http://psa.example.com/in", "events": ["order.placed"]})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "url"
    r = acc.boss.post("/api/v1/webhooks", json={"url": "https://psa.example.com/in", "events": ["order.exploded"]})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "events"
    # registered: the secret once
    created = acc.boss.ok("POST", "/webhooks", 201, json={"url": "https://psa.example.com/in", "events": ["*"]})
    assert created["secret"].startswith("whsec_")
    assert created["enabled"] is True
    listed = acc.boss.ok("GET", "/webhooks")
    assert [w["id"] for w in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    assert "secret" not in acc.boss.ok("GET", f"/webhooks/{created['id']}")
    # changed, with If-Match
    patched = acc.boss.ok("PATCH", f"/webhooks/{created['id']}", json={"enabled": False, "events": ["order.placed"]})
    assert (patched["enabled"], patched["events"]) == (False, ["order.placed"])
    acc.boss.ok("PATCH", f"/webhooks/{created['id']}", 409, json={"enabled": True}, headers={"If-Match": '"1"'})
    # roles and isolation
    ro = acc.invite("ro@example.com", "read_only", acc.reseller_id)
    assert ro.ok("GET", "/webhooks")["total"] == 1
    ro.ok("POST", "/webhooks", 403, json={"url": "https://psa.example.com/x", "events": ["*"]})
    other.boss.ok("GET", f"/webhooks/{created['id']}", 404)
    other.boss.ok("DELETE", f"/webhooks/{created['id']}", 404)
    customer = acc.customer()
    cust = acc.invite("admin@contoso.example", "customer_admin", customer["id"])
    cust.ok("GET", "/webhooks", 403)
    cust.ok("GET", "/notifications", 403)
    # deleted
    acc.boss.ok("DELETE", f"/webhooks/{created['id']}", 204)
    acc.boss.ok("GET", f"/webhooks/{created['id']}", 404)
    assert acc.boss.ok("GET", "/webhooks")["total"] == 0


def test_deliveries_are_listed_with_their_attempts_and_replayed(hooks_api_system):
    system = hooks_api_system
    assert system.sagas is not None
    app = web_app(system)
    acc = sign_up(app, system)
    with ReceiverServer(Receiver(fail_first=1)) as receiver:
        created = acc.boss.ok("POST", "/webhooks", 201, json={"url": receiver.url, "events": ["notice.invoice_issued"]})
        receiver.secret = created["secret"]
        wid = created["id"]
        # when a notice of that kind is recorded
        system.app.issue_notice(acc.reseller_id, "invoice_issued", acc.reseller_id, system.app.now(), "I", "d", ACTOR)
        assert system.sagas.drain(30)
        page = acc.boss.ok("GET", f"/webhooks/{wid}/deliveries")
        assert page["total"] == 1
        d = page["items"][0]
        assert (d["kind"], d["status"]) == ("notice.invoice_issued", "delivered")
        assert [a["status_code"] for a in d["attempts"]] == [500, 204]
        # replayed: the same webhook-id, de-duplicated by the receiver
        replay = acc.boss.ok("POST", f"/webhooks/{wid}/deliveries/{d['id']}/replay", 202)
        assert replay["replay"] == "enqueued"
        assert system.sagas.drain(30)
        assert receiver.duplicates == 1
        assert list(receiver.events) == [d["event_id"]]
        acc.boss.ok("POST", f"/webhooks/{wid}/deliveries/{UUID(int=1)}/replay", 404)
