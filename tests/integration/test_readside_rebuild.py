"""Rebuilding read models: fresh tables, live models serving meanwhile, an atomic swap."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import timedelta

import pytest

from csp.aggregates.order import Order
from csp.persistence import eventsourcing_env, parse_database_url
from csp.projections import Projector, ReadModels
from csp.projections.charges_ledger import ChargesLedger
from csp.projections.model import ReadModel, ReadModelGroup, handles
from csp.projections.orders_list import OrdersList
from csp.projections.rebuild import RebuildFailed, RebuildInterrupted
from csp.projections.rows import Rows
from csp.projections.schema import META, table_names
from csp.projections.sql import Table, cols
from tests.fixtures.readside import ReadWorld, assert_matches_fold, open_read_world, stored_tables
from tests.support import ACTOR, BUSINESS_BASIC

pytestmark = pytest.mark.postgres


def busy_world(rw: ReadWorld) -> None:
    w = rw.world()
    a = w.buy(3)
    b = w.buy(2, billing_cycle="yearly")
    rw.clock.advance(timedelta(days=2))
    rw.app.change_subscription_quantity(a.id, 5, actor=ACTOR)
    rw.app.suspend_subscription(b.id, actor=ACTOR)
    w.order_with_line(offer_id=BUSINESS_BASIC, quantity=4)
    rw.clock.advance(timedelta(days=30))
    rw.app.run_billing("2026-01")


def meta(rw: ReadWorld) -> dict[str, int]:
    with rw.read.view.tx(write=False) as tx:
        d = tx.dialect
        return {
            r["model"]: r["generation"] for r in tx.query(f'SELECT "model", "generation" FROM {d.qualify(META.name)}')
        }


def test_a_rebuild_equals_the_incrementally_built_models_row_for_row(read_world: ReadWorld):
    rw = read_world
    rw.projector.start()
    busy_world(rw)
    assert rw.read.wait(rw.app.last_notification_id(), timeout=10)
    before, generations = stored_tables(rw.read), meta(rw)
    result = rw.projector.rebuild(rw.read.model_names())
    assert result.position == rw.app.recorder.max_notification_id()
    assert stored_tables(rw.read) == before
    assert all(meta(rw)[m] != g for m, g in generations.items())
    # a rebuilt model goes on following the log
    w = rw.world()
    w.buy(1)
    assert rw.read.wait(rw.app.last_notification_id(), timeout=10)
    assert_matches_fold(rw.read, rw.app)


def test_the_live_models_serve_and_follow_the_log_while_a_rebuild_runs(
    read_world: ReadWorld, monkeypatch: pytest.MonkeyPatch
):
    rw = read_world
    monkeypatch.setattr("csp.projections.rebuild.REBUILD_BATCH", 5)
    rw.projector.start()
    busy_world(rw)
    w = rw.world()
    assert rw.read.wait(rw.app.last_notification_id(), timeout=10)
    served, bought = [], []

    def meanwhile(progress) -> None:
        if not bought:
            bought.append(w.buy(7))  # new events while the fresh tables fill
            assert rw.read.wait(rw.app.last_notification_id(), timeout=10)
            served.append(rw.read.subscriptions(w.customer.id).total)  # from the live tables

    rw.projector.rebuild(["subscriptions_list", "charges_ledger"], progress=meanwhile)
    assert served == [1]
    assert rw.read.subscriptions(w.customer.id).items[0]["purchased"] == 7
    assert_matches_fold(rw.read, rw.app)


def test_an_interrupted_rebuild_leaves_the_live_models_untouched(
    read_world: ReadWorld, monkeypatch: pytest.MonkeyPatch
):
    rw = read_world
    monkeypatch.setattr("csp.projections.rebuild.REBUILD_BATCH", 5)
    busy_world(rw)
    rw.sync()
    before, generations = stored_tables(rw.read), meta(rw)
    stop = threading.Event()
    with pytest.raises(RebuildInterrupted):
        rw.projector.rebuild(["orders_list", "audit_chain"], progress=lambda p: stop.set(), stop=stop)
    assert stored_tables(rw.read) == before
    assert meta(rw) == generations
    with rw.read.view.tx(write=False) as tx:
        assert not [t for t in table_names(tx) if "__r" in t]  # the fresh tables are gone


def test_a_read_model_whose_handlers_changed_is_rebuilt_when_the_projections_start(
    store_url: str, clock, monkeypatch: pytest.MonkeyPatch
):
    with open_read_world(store_url, clock) as rw:
        busy_world(rw)
        rw.sync()
        generation = meta(rw)["orders_list"]
    monkeypatch.setattr(OrdersList, "version", OrdersList.version + 1)
    with open_read_world(store_url, clock) as rw:
        rw.sync()  # as the leader: rebuilds orders_list first
        assert meta(rw)["orders_list"] != generation
        assert_matches_fold(rw.read, rw.app)


def test_a_rebuild_shared_among_processes_equals_one_in_a_single_process(
    read_world: ReadWorld, monkeypatch: pytest.MonkeyPatch
):
    rw = read_world
    busy_world(rw)
    rw.sync()
    before = stored_tables(rw.read)
    monkeypatch.setattr("csp.projections.rebuild.PARALLEL_MIN_EVENTS", 0)
    monkeypatch.setattr("csp.projections.rebuild.WORKERS", 3)
    monkeypatch.setattr("csp.projections.rebuild.REBUILD_BATCH", 7)  # several batches in each part
    result = rw.projector.rebuild(rw.read.model_names())
    assert result.processes == 3
    assert result.position == rw.app.recorder.max_notification_id()
    assert stored_tables(rw.read) == before
    assert rw.projector.verify_audit().ok


def test_a_fresh_read_side_over_a_long_log_is_built_in_processes_then_follows_the_log(
    store_url: str, clock, monkeypatch: pytest.MonkeyPatch
):
    with open_read_world(store_url, clock) as rw:
        busy_world(rw)  # nothing projected yet
    monkeypatch.setattr("csp.projections.projector.BUILD_MIN_EVENTS", 1)
    monkeypatch.setattr("csp.projections.rebuild.PARALLEL_MIN_EVENTS", 0)
    monkeypatch.setattr("csp.projections.rebuild.WORKERS", 2)
    with open_read_world(store_url, clock) as rw:
        assert rw.read.position() == 0
        rw.sync()  # as the leader: builds every model in fresh tables, then moves the position
        assert rw.read.position() == rw.app.recorder.max_notification_id()
        assert set(meta(rw)) == set(rw.read.model_names())
        assert_matches_fold(rw.read, rw.app)
        assert rw.projector.verify_audit().ok
        rw.projector.start()
        rw.world().buy(2)
        assert rw.read.wait(rw.app.last_notification_id(), timeout=10)
        assert_matches_fold(rw.read, rw.app)


def test_an_interrupted_rebuild_in_processes_stops_them_and_leaves_the_live_models_untouched(
    read_world: ReadWorld, monkeypatch: pytest.MonkeyPatch
):
    rw = read_world
    busy_world(rw)
    rw.sync()
    before, generations = stored_tables(rw.read), meta(rw)
    monkeypatch.setattr("csp.projections.rebuild.PARALLEL_MIN_EVENTS", 0)
    monkeypatch.setattr("csp.projections.rebuild.REBUILD_BATCH", 3)
    stop = threading.Event()
    with pytest.raises(RebuildInterrupted):
        rw.projector.rebuild(rw.read.model_names(), progress=lambda p: stop.set(), stop=stop)
    assert not multiprocessing.active_children()
    assert stored_tables(rw.read) == before
    assert meta(rw) == generations
    with rw.read.view.tx(write=False) as tx:
        assert not [t for t in table_names(tx) if "__r" in t]


EXPLODING = Table("read_exploding", cols("id uuid!"), key=("id",))


class Exploding(ReadModel):
    """A read model whose handler fails in a child process of a rebuild."""

    name = "exploding"
    tables = (EXPLODING,)

    @handles(Order.Drafted)
    def drafted(self, e: Order.Drafted, rows: Rows) -> None:
        if multiprocessing.parent_process() is not None:
            raise RuntimeError("boom")
        rows.put(EXPLODING, {"id": e.originator_id})


def test_a_rebuild_whose_other_process_fails_says_why_and_leaves_the_live_models_untouched(
    store_url: str, clock, monkeypatch: pytest.MonkeyPatch
):
    with open_read_world(store_url, clock) as rw:
        busy_world(rw)
    monkeypatch.setattr("csp.projections.rebuild.PARALLEL_MIN_EVENTS", 0)
    monkeypatch.setattr("csp.projections.rebuild.WORKERS", 2)
    db = parse_database_url(store_url)
    from csp.application import CspApplication

    app = CspApplication(env=eventsourcing_env(db), clock=clock)
    read = ReadModels(database=db, app=app, group=ReadModelGroup("boom", (ChargesLedger(), Exploding())))
    try:
        projector = Projector(read, run_in_process=False)
        projector.sync(timeout=1)  # (a group that skips topics stops at its last event, not the head)
        before = stored_tables(read)
        with pytest.raises(RebuildFailed, match="exploding failed: RuntimeError: boom"):
            projector.rebuild(["charges_ledger", "exploding"])
        assert stored_tables(read) == before
        assert not multiprocessing.active_children()
        with read.view.tx(write=False) as tx:
            assert not [t for t in table_names(tx) if "__r" in t]
    finally:
        read.close()
        app.close()


def test_rows_copied_in_bulk_equal_the_fold_when_following_and_when_rebuilding(
    read_world: ReadWorld, monkeypatch: pytest.MonkeyPatch
):
    rw = read_world
    monkeypatch.setattr("csp.projections.sql.COPY_MIN_ROWS", 1)  # PostgreSQL: every write through COPY
    rw.projector.start()
    busy_world(rw)
    assert rw.read.wait(rw.app.last_notification_id(), timeout=10)
    assert_matches_fold(rw.read, rw.app)
    before = stored_tables(rw.read)
    rw.projector.rebuild(rw.read.model_names())
    assert stored_tables(rw.read) == before
