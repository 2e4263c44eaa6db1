"""Notices and webhook endpoints on the in-memory application: preferences, due notices
found once each as the clock moves, kinds turned off, URL and kind validation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from csp.aggregates.errors import InvalidInput, NotFound
from csp.aggregates.notify import (
    Notice,
    NotificationPreferences,
    WebhookEndpoint,
    check_webhook_url,
    notice_id_for,
)
from csp.clock import SettableClock
from csp.workers.notices import NoticeJob
from csp.workers.store import CHECK_NEVER, CHECK_NOW, stamp
from csp.workers.webhooks import signature
from tests.support import ACTOR, BUSINESS_PREMIUM_TRIAL, make_world, memory_app


class _Live:
    """The sagas' store as the notice job uses it (its notice checks), in memory."""

    def __init__(self, *ids: Any) -> None:
        self.ids = list(ids)
        self.checks: dict[Any, str] = {}
        self.jobs: set[tuple[str, str]] = set()

    def job_done(self, job: str, period: str) -> bool:
        return (job, period) in self.jobs

    def record_job(self, job: str, period: str, at: Any) -> None:
        self.jobs.add((job, period))

    def backfill_notice_checks(self) -> None:
        for i in self.ids:
            self.checks.setdefault(i, CHECK_NOW)

    def notice_checks_due(self, now: Any, limit: int = 500) -> list[tuple[Any, str]]:
        return sorted(((i, at) for i, at in self.checks.items() if at <= stamp(now)), key=lambda x: x[1])[:limit]

    def set_notice_check(self, sid: Any, seen: str, next_at: Any) -> None:
        if self.checks.get(sid) == seen:
            self.checks[sid] = stamp(next_at) if next_at is not None else CHECK_NEVER


def _notices(app: Any, reseller_id: Any) -> list[Notice]:
    found = []
    for n in app.recorder.select_notifications(start=1, limit=100000):
        e = app.mapper.to_domain_event(n)
        if isinstance(e, Notice.Issued) and e.reseller_id == reseller_id:
            found.append(app.load(Notice, e.originator_id, "notice"))
    return found


@pytest.fixture
def world() -> Any:
    clock = SettableClock()
    return make_world(memory_app(clock), clock)


def test_renewal_and_window_notices_are_each_sent_once_as_the_clock_moves_past_them_twice(world):
    # given a subscription (annual term, 7-day cancellation window)
    sub = world.buy(quantity=3)
    job = NoticeJob(world.app, _Live(sub.id))
    window_ends = sub.tranches[0].window_ends_at
    # when the clock reaches 24 h before the window closes, twice
    world.clock.set(window_ends - timedelta(hours=23))
    job.run(world.clock.now())
    job.run(world.clock.now() + timedelta(minutes=5))
    # then one window notice
    kinds = [n.kind for n in _notices(world.app, world.reseller.id)]
    assert kinds == ["window_closing"]
    # when the clock moves to 30 days before the renewal, then to 7 days before, each twice
    for days in (29, 29, 6, 6):
        world.clock.set(sub.ends_at - timedelta(days=days))
        job.run(world.clock.now())
    # then one renewal notice per configured offset, due 30 and 7 days before
    renewals = [n for n in _notices(world.app, world.reseller.id) if n.kind == "renewal_due"]
    assert sorted(n.due_at for n in renewals) == [sub.ends_at - timedelta(days=30), sub.ends_at - timedelta(days=7)]
    assert all(n.subject_id == sub.id for n in renewals)
    assert "renews on" in renewals[0].detail


def test_the_job_looks_at_a_subscription_only_when_one_of_its_notices_falls_due(world):
    # given a subscription looked at once (the first run takes every live one)
    sub = world.buy(quantity=3)
    job = NoticeJob(world.app, _Live(sub.id))
    window_ends = sub.tranches[0].window_ends_at
    assert job.run(world.clock.now())["looked_at"] == 1
    # then runs before its next notice look at nothing
    world.clock.set(window_ends - timedelta(hours=25))
    assert job.run(world.clock.now())["looked_at"] == 0
    # and the run at the window's notice looks at it, once
    world.clock.set(window_ends - timedelta(hours=24))
    assert job.run(world.clock.now()) == {"issued": 1, "looked_at": 1, "changes": 1}
    assert job.run(world.clock.now())["looked_at"] == 0


def test_kinds_turned_off_send_nothing(world):
    sub = world.buy()
    world.app.change_notification_preferences(
        world.reseller.id, NotificationPreferences(renewal_days=(), window_closing_hours=0), ACTOR
    )
    job = NoticeJob(world.app, _Live(sub.id))
    for at in (sub.tranches[0].window_ends_at - timedelta(hours=1), sub.ends_at - timedelta(days=6)):
        world.clock.set(at)
        assert job.run(world.clock.now())["issued"] == 0
    assert _notices(world.app, world.reseller.id) == []


def test_a_trial_ending_is_noticed_seven_days_and_one_day_before(world):
    trial = world.buy(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly")
    assert trial.status == "trial"
    job = NoticeJob(world.app, _Live(trial.id))
    world.clock.set(trial.tranches[0].window_ends_at - timedelta(hours=1))
    job.run(world.clock.now())  # a trial's window closing is no news: its seats cost nothing
    for days in (6, 6, 0.5):
        world.clock.set(trial.ends_at - timedelta(days=days))
        job.run(world.clock.now())
    notices = _notices(world.app, world.reseller.id)
    assert {n.kind for n in notices} == {"trial_ending"}
    assert sorted(n.due_at for n in notices) == [trial.ends_at - timedelta(days=7), trial.ends_at - timedelta(days=1)]


def test_a_notice_is_recorded_once_per_kind_subject_and_due_instant(world):
    app, rid = world.app, world.reseller.id
    due = world.clock.now()
    first = app.issue_notice(rid, "invoice_issued", world.customer.id, due, "Invoice", "detail", ACTOR)
    again = app.issue_notice(rid, "invoice_issued", world.customer.id, due, "Invoice", "detail", ACTOR)
    assert first is not None
    assert again is None
    assert first.id == notice_id_for(rid, "invoice_issued", world.customer.id, due)
    read = app.mark_notice_read(first.id, rid, ACTOR)
    assert read.read_at is not None
    with pytest.raises(NotFound):
        app.mark_notice_read(first.id, world.customer.id, ACTOR)  # not that reseller's


def test_preferences_are_checked():
    with pytest.raises(InvalidInput) as e:
        NotificationPreferences(renewal_days=(0,)).checked()
    assert e.value.field == "renewal_days"
    with pytest.raises(InvalidInput) as e:
        NotificationPreferences(window_closing_hours=-1).checked()
    assert e.value.field == "window_closing_hours"
    assert NotificationPreferences(renewal_days=(7, 30, 7)).checked().renewal_days == (30, 7)


@pytest.mark.parametrize(
    ("url", "loopback_ok", "ok"),
    [
        ("https://psa.example.com/hooks", False, True),
        ("http://psa.example.com/hooks", False, False),
        ("http://psa.example.com/hooks", True, False),
        ("http://127.0.0.1:8080/hooks", False, False),
        ("http://127.0.0.1:8080/hooks", True, True),
        ("http://[::1]:8080/hooks", True, True),
        ("ftp://psa.example.com/", True, False),
        ("https://user:pw@psa.example.com/", False, False),
        ("not a url", False, False),
    ],
)
def test_webhook_urls_are_https_or_loopback_http_in_test_mode(url, loopback_ok, ok):
    if ok:
        assert check_webhook_url(url, loopback_ok) == url
    else:
        with pytest.raises(InvalidInput) as e:
            check_webhook_url(url, loopback_ok)
        assert e.value.field == "url"


def test_an_endpoint_takes_known_kinds_and_star_means_all(world):
    app, rid = world.app, world.reseller.id
    with pytest.raises(InvalidInput) as e:
        app.register_webhook(rid, "https://x.example.com/h", ["order.exploded"], ACTOR)
    assert e.value.field == "events"
    created = app.register_webhook(rid, "https://x.example.com/h", ["*", "order.placed"], ACTOR)
    endpoint = created.endpoint
    assert endpoint.events == ("*",)
    assert created.secret.startswith("whsec_")
    assert created.secret not in endpoint.sealed_secret  # only the sealed value is kept
    assert app.webhook_signing_secret(endpoint) == created.secret
    assert endpoint.wants("notice.renewal_due")
    endpoint = app.change_webhook(endpoint.id, rid, ACTOR, enabled=False)
    assert not endpoint.wants("order.placed")
    app.delete_webhook(endpoint.id, rid, ACTOR)
    with pytest.raises(NotFound):
        app.webhook(endpoint.id, rid)
    assert isinstance(app.load(WebhookEndpoint, endpoint.id, "webhook"), WebhookEndpoint)


def test_the_signature_is_the_standard_webhooks_example():
    # the example of the Standard Webhooks specification (its reference test vector)
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
