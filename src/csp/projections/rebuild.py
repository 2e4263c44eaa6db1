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

A long replay is shared among processes (``Store`` says how a child opens the read
store and the log): the models are split into parts of about equal cost, this process
replays one and a child process each other, all up to the same position, each into its
own fresh tables (on SQLite, a batch is applied outside the write lock and only written
under it, so the parts do not wait for each other's work). Then this process alone
creates the indexes, catches up with the live position and swaps, as above.

A fresh read side (position 0) is built the same way (``advance``): every model of the
group into fresh tables, then the swap moves the group's position to where they are.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import resource
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, Notification, Tracking
from eventsourcing.utils import Environment

from csp.aggregates.errors import Conflict
from csp.projections.model import Dispatcher, ReadModel, ReadModelGroup
from csp.projections.rows import FLUSH_ROWS, RowBuffer, RowCache
from csp.projections.runner import REPLAY_GC_THRESHOLD, LogReader, fewer_collections
from csp.projections.schema import create_indexes, create_tables, set_meta, table_names
from csp.projections.store import APPLICATION_NAME, ReadView, Tx

REBUILD_BATCH = 2000
CACHE_ROWS = 5000
PARALLEL_MIN_EVENTS = 50_000  # below this, starting processes costs more than it saves
APART_SLICE = 50  # notifications applied between checks of the rows waiting to be written,
APART_SLICE_BYTES = 256 * 1024  # or fewer, if they are large (an invoice: a line per subscription)
WORKERS = max(1, min(4, os.cpu_count() or 1))


class RebuildInterrupted(Exception):
    pass


class RebuildBusy(Conflict):
    code = "rebuild_running"


class RebuildFailed(RuntimeError):
    pass


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
    processes: int = 1
    child_peak_rss_mb: float | None = None  # the largest peak memory of the other processes

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Store:
    """How another process opens the read store and the log (picklable): the read
    side's eventsourcing environment (``name`` prefixes its keys), the view's class,
    and the log reader's environment. ``shared`` is False for an in-memory store,
    which another process cannot see."""

    name: str
    env: dict[str, str]
    view_class: type
    reader_env: dict[str, str]
    shared: bool = True

    def open(self) -> tuple[Any, ReadView, LogReader]:
        factory = InfrastructureFactory.construct(Environment(self.name, self.env))
        view: ReadView = factory.tracking_recorder(self.view_class)  # type: ignore[arg-type,assignment]
        return factory, view, LogReader(self.reader_env)


def rebuild(
    view: ReadView,
    group: ReadModelGroup,
    names: Sequence[str],
    reader: LogReader,
    progress: Callable[[Progress], None] = lambda _: None,
    stop: threading.Event | None = None,
    batch: int | None = None,
    cache_rows: int = CACHE_ROWS,
    store: Store | None = None,
    advance: bool = False,
) -> RebuildResult:
    """Replay the log into fresh tables for the named models and swap them in.

    With ``store``, a long replay is shared among processes. With ``advance`` (every
    model of the group, by the group's leader), the replay goes to the log's head and
    the swap moves the group's position there: how a fresh read side is built."""
    batch = batch or REBUILD_BATCH
    models = tuple(group.model(n) for n in names)
    if advance and {m.name for m in models} != {m.name for m in group.models}:
        raise ValueError("only a rebuild of every model of the group can move its position")
    lock = view.leader_lock(f"{group.name}-rebuild")
    if not lock.acquire():
        raise RebuildBusy("another rebuild of these read models is running")
    try:
        with fewer_collections():
            return _rebuild(view, models, reader, progress, stop, batch, cache_rows, store, advance)
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
    store: Store | None,
    advance: bool,
) -> RebuildResult:
    generation = int(time.time() * 1000)
    tables = tuple(t for m in models for t in m.tables)
    shadow = {t.name: f"{t.name}__r{generation}" for t in tables}
    with view.tx(write=True) as tx:
        _drop_leftovers(tx, tables)
        create_tables(tx, tables, shadow, generation, indexes=False)
    live = view.max_tracking_id(APPLICATION_NAME) or 0
    target = (reader.recorder.max_notification_id() or 0) if advance else live
    state = Progress(0, target, 0, time.monotonic())
    cache = RowCache(cache_rows)
    dispatcher = Dispatcher(models, reader.decode)
    processes, child_peak = 1, None

    def replay(tx: Tx | None, until: int) -> None:
        _replay(view, reader, dispatcher, shadow, cache, state, until, batch, stop, progress, tx)

    try:
        parts = _parts(models, WORKERS) if store is not None and store.shared and target >= PARALLEL_MIN_EVENTS else []
        if len(parts) > 1:
            processes = len(parts)
            child_peak = _replay_in_parts(
                view, reader, parts, shadow, cache, state, target, batch, stop, progress, store
            )
        else:
            replay(None, target)
        with view.tx(write=True) as tx:
            for t in tables:
                create_indexes(tx, t, shadow[t.name], generation)
        # Chase the live position while it moves, then swap with the runner held.
        for _ in range(20):
            if advance:
                break  # the group's leader is this process: nothing else moves the position
            live = view.max_tracking_id(APPLICATION_NAME) or 0
            if live - state.done <= batch:
                break
            state.total = live
            replay(None, live)
        with view.tx(write=True) as tx:
            tx.lock_tracking()
            if not advance:
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
            if advance and state.done > (tx.position() or 0):
                tx.insert_tracking(Tracking(APPLICATION_NAME, state.done))
    except BaseException:
        try:
            with view.tx(write=True) as tx:
                for name in shadow.values():
                    tx.execute(tx.dialect.drop_table(name))
        except Exception:  # the next rebuild drops leftovers too
            pass
        raise
    return RebuildResult(
        tuple(m.name for m in models), state.done, state.events, time.monotonic() - state.started, processes, child_peak
    )


def _replay(
    view: ReadView,
    reader: LogReader,
    dispatcher: Dispatcher,
    shadow: dict[str, str],
    cache: RowCache,
    state: Progress,
    until: int,
    batch: int,
    stop: threading.Event | None,
    progress: Callable[[Progress], None],
    tx: Tx | None = None,
    apart: bool = False,
    between: Callable[[], None] = lambda: None,
) -> None:
    """Apply the notifications after ``state.done`` up to ``until`` to the fresh tables:
    a transaction per batch (or all in ``tx``). ``apart``: apply a batch outside the
    write lock, then write it under the lock (several processes share the store)."""
    topics = dispatcher.topics()
    while state.done < until:
        if stop is not None and stop.is_set():
            raise RebuildInterrupted("the rebuild was interrupted; the live read models are untouched")
        between()
        page = reader.recorder.select_notifications(
            state.done, batch, stop=until, topics=sorted(topics or ()), inclusive_of_start=False
        )
        if not page:
            state.done = until
            break
        if tx is not None:
            _apply(tx, dispatcher, page, shadow, cache)
        elif apart:
            try:
                _apply_apart(view, dispatcher, page, shadow, cache)
            except BaseException:
                cache.clear()
                raise
        else:
            with view.tx(write=True) as batch_tx:
                _apply(batch_tx, dispatcher, page, shadow, cache)
        state.done = page[-1].id
        state.events += len(page)
        progress(state)
    progress(state)


def _apply(
    tx: Tx, dispatcher: Dispatcher, page: Sequence[Notification], shadow: dict[str, str], cache: RowCache
) -> None:
    rows = RowBuffer(tx, shadow, cache)
    dispatcher.apply(page, rows)
    rows.flush()


def _apply_apart(
    view: ReadView, dispatcher: Dispatcher, page: Sequence[Notification], shadow: dict[str, str], cache: RowCache
) -> None:
    """Apply a page under a read transaction, write its rows under the write lock; in
    slices, so that the rows waiting to be written stay bounded (an invoice has a line
    per subscription): each write is a new snapshot for the next slice's reads."""
    i = 0
    while i < len(page):
        with view.tx(write=False) as read_tx:
            rows = RowBuffer(read_tx, shadow, cache, flush_rows=None)
            while i < len(page) and rows.count < FLUSH_ROWS:
                j, size = i, 0
                while j < len(page) and j - i < APART_SLICE and (j == i or size < APART_SLICE_BYTES):
                    size += len(page[j].state)
                    j += 1
                dispatcher.apply(page[i:j], rows)
                i = j
        with view.tx(write=True) as write_tx:
            rows.tx = write_tx
            rows.flush()


def _parts(models: Sequence[ReadModel], n: int) -> list[tuple[ReadModel, ...]]:
    """The models in at most ``n`` parts of about equal replay cost. Models that follow
    a common topic stay together, so that no event is decoded in two processes."""
    clusters: list[tuple[list[ReadModel], set[str]]] = []
    for m in models:
        topics = set() if m.all_events else set(m.topics())  # the audit chain decodes nothing
        joined = [c for c in clusters if c[1] & topics]
        merged: tuple[list[ReadModel], set[str]] = ([m], topics)
        for c in joined:
            clusters.remove(c)
            merged = (c[0] + merged[0], c[1] | merged[1])
        clusters.append(merged)
    bins: list[list[ReadModel]] = [[] for _ in range(min(n, len(clusters)))]
    for cluster, _ in sorted(clusters, key=lambda c: -sum(m.cost for m in c[0])):
        min(bins, key=lambda b: sum(m.cost for m in b)).extend(cluster)
    order = {m.name: i for i, m in enumerate(models)}
    return [tuple(sorted(b, key=lambda m: order[m.name])) for b in bins if b]


def _replay_in_parts(
    view: ReadView,
    reader: LogReader,
    parts: list[tuple[ReadModel, ...]],
    shadow: dict[str, str],
    cache: RowCache,
    state: Progress,
    target: int,
    batch: int,
    stop: threading.Event | None,
    progress: Callable[[Progress], None],
    store: Store,
) -> float:
    """This process replays the first part, a child process each other part. Returns the
    children's largest peak memory (MB)."""
    ctx = multiprocessing.get_context("spawn")  # never fork a process that runs threads
    children = []
    for part in parts[1:]:
        done = ctx.Value("q", 0)
        events = ctx.Value("q", 0)
        result = ctx.Queue()
        p = ctx.Process(
            target=_child,
            args=(store, part, {t.name: shadow[t.name] for m in part for t in m.tables}, target, batch, done, events),
            kwargs={"result": result},
            name=f"csp-rebuild-{'-'.join(m.name for m in part)}",
            daemon=True,
        )
        p.start()
        children.append((p, done, events, result))
    own = Progress(0, target, 0, state.started)

    def overall(_: Progress | None = None) -> None:
        state.done = min([own.done, *(d.value for _, d, _, _ in children)])
        state.events = replayed()
        progress(state)

    def replayed() -> int:
        # Parts overlap (an event may feed models of several parts): the largest part's
        # count is the events replayed, when one part sees them all (the audit chain's).
        return max([own.events, *(e.value for _, _, e, _ in children)])

    def check_children() -> None:
        for p, _, _, result in children:
            if not p.is_alive() and p.exitcode != 0:
                raise RebuildFailed(f"{p.name} failed: {_child_error(result) or f'exit code {p.exitcode}'}")

    try:
        own_dispatcher = Dispatcher(parts[0], reader.decode)
        _replay(
            view,
            reader,
            own_dispatcher,
            shadow,
            cache,
            own,
            target,
            batch,
            stop,
            overall,
            apart=True,
            between=check_children,
        )
        for p, _, _, _ in children:
            while p.is_alive():
                if stop is not None and stop.is_set():
                    raise RebuildInterrupted("the rebuild was interrupted; the live read models are untouched")
                p.join(0.2)
                overall()
            check_children()
    except BaseException:
        for p, _, _, _ in children:
            if p.is_alive():
                p.terminate()
        for p, _, _, _ in children:
            p.join(10)
        raise
    # every part is at the target; the parent's cache knows only its own part's rows
    state.done, state.events = target, replayed()
    cache.clear()
    peaks = [_child_said(result, "peak_rss_mb") for _, _, _, result in children]
    return max(float(x) for x in peaks if x is not None) if any(x is not None for x in peaks) else 0.0


def _child_said(result: Any, what: str) -> object | None:
    try:
        kind, value = result.get(timeout=5)
    except Exception:
        return None
    return value if kind == what else None


def _child_error(result: Any) -> str | None:
    said = _child_said(result, "error")
    return str(said) if said is not None else None


def _child(
    store: Store,
    models: tuple[ReadModel, ...],
    shadow: dict[str, str],
    target: int,
    batch: int,
    done: Any,
    events: Any,
    result: Any,
) -> None:
    """A child process: replay some models up to ``target`` into their fresh tables."""
    factory = reader = None
    gc.freeze()  # what the imports made lives as long as the process: never scan it
    gc.set_threshold(REPLAY_GC_THRESHOLD)
    try:
        factory, view, reader = store.open()
        state = Progress(0, target, 0, time.monotonic())

        def report(p: Progress) -> None:
            done.value, events.value = p.done, p.events

        _replay(
            view,
            reader,
            Dispatcher(models, reader.decode),
            shadow,
            RowCache(CACHE_ROWS),
            state,
            target,
            batch,
            None,
            report,
            apart=True,
        )
    except BaseException as e:
        result.put(("error", f"{type(e).__name__}: {e}"))
        raise SystemExit(1) from None
    else:
        result.put(("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    finally:
        if reader is not None:
            reader.close()
        if factory is not None:
            factory.close()


def _drop_leftovers(tx: Tx, tables: tuple[object, ...]) -> None:
    """Fresh tables of an interrupted rebuild (``<table>__r<generation>``)."""
    names = {t.name for t in tables}  # type: ignore[attr-defined]
    for existing in table_names(tx):
        base, sep, _ = existing.partition("__r")
        if sep and base in names:
            tx.execute(tx.dialect.drop_table(existing))
