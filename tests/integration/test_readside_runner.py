"""Running the projections: read-your-writes, replicas, restarts, and crashes mid-batch."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.utils import get_topic

from csp.aggregates.order import Order
from csp.aggregates.organization import Organization
from csp.aggregates.tenant import Tenant
from csp.clock import SettableClock
from csp.projections import ReadModels
from csp.projections.model import ReadModelGroup
from csp.projections.orders_list import OrdersList
from csp.projections.runner import GroupProjection
from csp.projections.store import APPLICATION_NAME
from csp.projections.subscriptions_list import SubscriptionsList
from tests.fixtures.readside import ReadWorld, assert_matches_fold, open_read_world
from tests.support import ACTOR, AZURE_PLAN, make_world

pytestmark = pytest.mark.postgres


def eventually(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition did not become true in time"
        time.sleep(0.05)


def test_a_command_is_read_back_as_soon_as_it_returns(read_world: ReadWorld):
    rw = read_world
    rw.projector.start()
    eventually(lambda: rw.projector.is_active)
    w = rw.world()
    sub = w.buy(3)
    # the API's read-your-writes: wait for this thread's last notification, then read
    assert rw.read.wait(rw.app.last_notification_id(), timeout=2.0)
    assert rw.read.subscriptions(w.customer.id).items[0]["id"] == sub.id
    recordings = rw.app.save(rw.app.load(Organization, w.customer.id, "organization"))  # nothing to save
    assert rw.read.wait_for(recordings)
    assert rw.read.position() == rw.app.recorder.max_notification_id()
    assert rw.read.lag() == 0


def test_events_fetched_together_while_following_the_log_are_applied_in_one_transaction(
    read_world: ReadWorld, monkeypatch: pytest.MonkeyPatch
):
    rw = read_world
    batches: list[int] = []
    process = GroupProjection.process

    def recording(self, notifications, position):
        batches.append(len(notifications))
        return process(self, notifications, position)

    monkeypatch.setattr(GroupProjection, "process", recording)
    rw.projector.start()
    eventually(lambda: rw.projector.is_active)
    w = rw.world()
    now = rw.app.now()
    rw.app.save(*(Order.draft(uuid4(), w.customer.id, w.reseller.id, f"#{i}", ACTOR, now) for i in range(20)))
    assert rw.read.wait(rw.app.last_notification_id(), timeout=10)
    assert max(batches) >= 20  # the twenty drafts, saved at once, in one transaction
    assert rw.read.orders(w.customer.id).total == 20
    assert_matches_fold(rw.read, rw.app)


def test_waiting_times_out_when_no_process_projects(store_url: str, clock: SettableClock):
    with open_read_world(store_url, clock, run_in_process=False) as rw:
        w = rw.world()
        started = time.monotonic()
        assert not rw.read.wait(rw.app.last_notification_id(), timeout=0.3)
        assert rw.read.lag() == rw.app.recorder.max_notification_id()
        assert time.monotonic() - started < 2
        assert rw.read.wait(None)
        # a group that does not follow tenants never waits for tenant events
        orders_only = ReadModelGroup("orders", (OrdersList(), SubscriptionsList()))
        assert not orders_only.feeds(get_topic(Tenant.Requested))
        assert orders_only.feeds(get_topic(Order.Drafted))
        read = ReadModels(database=rw.database, app=rw.app, group=orders_only)
        try:
            now = rw.app.now()
            tenant = Tenant.request(uuid4(), w.customer.id, w.reseller.id, "other1", "create", ACTOR, now)
            assert read.wait_for(rw.app.save(tenant), timeout=0.2)
            order = Order.draft(uuid4(), w.customer.id, w.reseller.id, "#1", ACTOR, now)
            assert not read.wait_for(rw.app.save(order), timeout=0.2)
        finally:
            read.close()


def test_one_replica_is_active_and_another_takes_over_when_it_stops(store_url: str, clock: SettableClock):
    with open_read_world(store_url, clock) as first, open_read_world(store_url, clock) as second:
        first.projector.start()
        eventually(lambda: first.projector.is_active)
        second.projector.start()
        eventually(lambda: second.projector.supervisor.standing_by.is_set())
        assert not second.projector.is_active
        w = first.world()
        assert second.read.wait(first.app.last_notification_id(), timeout=5)  # polls: another process applies
        first.projector.stop()
        eventually(lambda: second.projector.is_active)
        # the new leader knows where the old one stopped: no stale wait
        started = time.monotonic()
        assert second.read.wait(first.app.last_notification_id(), timeout=2)
        assert time.monotonic() - started < 0.5
        sub = w.buy(2)
        assert second.read.wait(first.app.last_notification_id(), timeout=5)
        assert second.read.subscriptions(w.customer.id).items[0]["id"] == sub.id
        assert_matches_fold(second.read, second.app)


def test_the_supervisor_restarts_the_projections_after_a_failure(
    read_world: ReadWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    rw = read_world
    failures = []
    original = OrdersList.drafted

    def flaky(self, e, rows):
        if not failures:
            failures.append(e)
            raise ConnectionError("the database went away")
        original(self, e, rows)

    monkeypatch.setattr(OrdersList, "drafted", flaky)
    monkeypatch.setattr("csp.projections.runner.MAX_BACKOFF_SECONDS", 0.2)
    caplog.set_level(logging.INFO, logger="csp.projections")
    rw.projector.start()
    w = rw.world()
    w.buy(1)
    assert rw.read.wait(rw.app.last_notification_id(), timeout=10)
    assert failures
    assert rw.projector.supervisor.restarts >= 1
    assert "projections stopped (ConnectionError: the database went away); restarting" in caplog.text
    assert_matches_fold(rw.read, rw.app)


KILLER = textwrap.dedent(
    """
    import os, sys
    from csp.application import CspApplication
    from csp.persistence import eventsourcing_env, parse_database_url
    from csp.projections import Projector, ReadModels, runner
    from csp.projections.model import Dispatcher
    from csp.projections.rows import RowBuffer

    runner.CATCH_UP_BATCH = 7
    batches = []
    apply, flush = Dispatcher.apply, RowBuffer.flush

    def counting_apply(self, notifications, rows):
        batches.append(len(notifications))
        return apply(self, notifications, rows)

    def flush_then_die(self):
        written = flush(self)
        if len(batches) == 3:
            os._exit(9)  # the third batch's rows are written; its commit never comes
        return written

    Dispatcher.apply, RowBuffer.flush = counting_apply, flush_then_die
    db = parse_database_url(sys.argv[1])
    app = CspApplication(env=eventsourcing_env(db))
    Projector(ReadModels(database=db, app=app), run_in_process=True).sync()
    """
)


def test_a_projection_killed_between_a_batchs_writes_and_its_commit_loses_and_repeats_nothing(
    store_url: str, clock: SettableClock, tmp_path: Path
):
    with open_read_world(store_url, clock, run_in_process=False) as rw:
        w = make_world(rw.app, clock)
        azure = w.buy(1, offer_id=AZURE_PLAN, term="monthly")
        for day in range(1, 15):  # usage accumulates: applying an event twice would show
            rw.app.report_usage(azure.id, f"2026-01-{day:02d}", "vm", Decimal(1), Decimal("1.10"), actor=ACTOR)
        head = rw.app.recorder.max_notification_id()
        script = tmp_path / "killer.py"
        script.write_text(KILLER)
        root = Path(__file__).resolve().parents[2]
        r = subprocess.run(
            [sys.executable, str(script), store_url], capture_output=True, text=True, timeout=120, cwd=root
        )
        assert r.returncode == 9, r.stderr
        # two batches committed, the third rolled back with its position
        assert rw.read.view.max_tracking_id(APPLICATION_NAME) == 14
        assert head > 21
        rw.sync()
        assert rw.read.report("consumption", w.reseller.id).items[0]["amount"] == Decimal("15.40")
        assert_matches_fold(rw.read, rw.app)
        assert rw.projector.verify_audit().ok


def test_read_side_in_memory_sqlite_follows_an_in_memory_store(clock: SettableClock):
    with open_read_world("sqlite:///:memory:", clock) as rw:
        w = rw.world()
        w.buy(1)
        rw.sync()
        assert rw.read.orders(w.customer.id).total == 1
        assert isinstance(rw.read, ReadModels)
