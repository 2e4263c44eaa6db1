"""Rebuilding read models with no downtime.

The log is replayed into fresh tables (``<table>__r<generation>``) in batches: a page of
notifications, applied through a bounded row cache, flushed as multi-row upserts in one
transaction. Memory stays flat in the number of events. The live tables keep serving
and following the log meanwhile. When the fresh tables are close behind, one transaction
locks the group's tracking (the runner waits), applies the last few events up to the
live position, drops the live tables and renames the fresh ones in their place: readers
see the old model or the new one, never a mix. Interrupting a rebuild at any point
before that transaction leaves the live model untouched (the fresh tables are dropped,
or dropped by the next rebuild).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from csp.aggregates.errors import Conflict
from csp.projections.model import Dispatcher, ReadModel, ReadModelGroup
from csp.projections.rows import RowBuffer, RowCache
from csp.projections.runner import LogReader
from csp.projections.schema import create_indexes, create_tables, set_meta, table_names
from csp.projections.store import APPLICATION_NAME, ReadView, Tx

REBUILD_BATCH = 2000
CACHE_ROWS = 10_000


class RebuildInterrupted(Exception):
    pass


class RebuildBusy(Conflict):
    code = "rebuild_running"


@dataclass
class Progress:
    done: int  # notifications replayed (position reached)
    total: int  # the position to reach
    events: int  # events applied so far
    started: float

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.events / elapsed if elapsed > 0 else 0.0


@dataclass
class RebuildResult:
    models: tuple[str, ...]
    position: int
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def rebuild(
    view: ReadView,
    group: ReadModelGroup,
    names: Sequence[str],
    reader: LogReader,
    progress: Callable[[Progress], None] = lambda _: None,
    stop: threading.Event | None = None,
    batch: int | None = None,
    cache_rows: int = CACHE_ROWS,
) -> RebuildResult:
    """Replay the log into fresh tables for the named models and swap them in."""
    batch = batch or REBUILD_BATCH
    models = tuple(group.model(n) for n in names)
    lock = view.leader_lock(f"{group.name}-rebuild")
    if not lock.acquire():
        raise RebuildBusy("another rebuild of these read models is running")
    try:
        return _rebuild(view, models, reader, progress, stop, batch, cache_rows)
    finally:
        lock.release()


def _rebuild(
    view: ReadView,
    models: tuple[ReadModel, ...],
    reader: LogReader,
    progress: Callable[[Progress], None],
    stop: threading.Event | None,
    batch: int,
    cache_rows: int,
) -> RebuildResult:
    generation = int(time.time() * 1000)
    tables = tuple(t for m in models for t in m.tables)
    shadow = {t.name: f"{t.name}__r{generation}" for t in tables}
    with view.tx(write=True) as tx:
        _drop_leftovers(tx, tables)
        create_tables(tx, tables, shadow, generation, indexes=False)
    dispatcher = Dispatcher(models, reader.decode)
    topics = dispatcher.topics()
    cache = RowCache(cache_rows)
    state = Progress(0, view.max_tracking_id(APPLICATION_NAME) or 0, 0, time.monotonic())

    def replay(tx: Tx | None, target: int) -> None:
        while state.done < target:
            if stop is not None and stop.is_set():
                raise RebuildInterrupted("the rebuild was interrupted; the live read models are untouched")
            page = reader.recorder.select_notifications(
                state.done, batch, stop=target, topics=sorted(topics or ()), inclusive_of_start=False
            )
            if not page:
                state.done = target
                break
            if tx is None:
                with view.tx(write=True) as batch_tx:
                    _apply(batch_tx, dispatcher, page, shadow, cache)
            else:
                _apply(tx, dispatcher, page, shadow, cache)
            state.done = page[-1].id
            state.events += len(page)
            progress(state)
        progress(state)

    try:
        replay(None, state.total)
        with view.tx(write=True) as tx:
            for t in tables:
                create_indexes(tx, t, shadow[t.name], generation)
        # Chase the live position while it moves, then swap with the runner held.
        for _ in range(20):
            live = view.max_tracking_id(APPLICATION_NAME) or 0
            if live - state.done <= batch:
                break
            state.total = live
            replay(None, live)
        with view.tx(write=True) as tx:
            tx.lock_tracking()
            state.total = tx.position() or 0
            replay(tx, state.total)
            d = tx.dialect
            for t in tables:
                tx.execute(d.drop_table(t.name))
                tx.execute(d.rename_table(shadow[t.name], t.name))
            rows = RowBuffer(tx)
            for m in models:
                set_meta(rows, m, generation, "ready")
            rows.flush()
    except BaseException:
        try:
            with view.tx(write=True) as tx:
                for name in shadow.values():
                    tx.execute(tx.dialect.drop_table(name))
        except Exception:  # the next rebuild drops leftovers too
            pass
        raise
    return RebuildResult(tuple(m.name for m in models), state.done, state.events, time.monotonic() - state.started)


def _apply(tx: Tx, dispatcher: Dispatcher, page: Sequence[object], shadow: dict[str, str], cache: RowCache) -> None:
    rows = RowBuffer(tx, shadow, cache)
    dispatcher.apply(page, rows)  # type: ignore[arg-type]
    rows.flush()


def _drop_leftovers(tx: Tx, tables: tuple[object, ...]) -> None:
    """Fresh tables of an interrupted rebuild (``<table>__r<generation>``)."""
    names = {t.name for t in tables}  # type: ignore[attr-defined]
    for existing in table_names(tx):
        base, sep, _ = existing.partition("__r")
        if sep and base in names:
            tx.execute(tx.dialect.drop_table(existing))
