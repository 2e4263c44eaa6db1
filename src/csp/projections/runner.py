"""Following the log: eventsourcing's projection runner, batches, and a supervisor.

One runner per process follows the notification log with one subscription and applies
each event to every read model of the group, committing the rows with the tracking
position. The runner reads stored notifications (``LogReader``: its mapper passes them
through) so the audit chain can hash the bytes as stored; events are decoded once, and
only for models that follow their topic.

A process that starts far behind the log catches up in batches first (many events per
transaction), then hands over to the runner. The ``Supervisor`` (which the ``Projector``
of ``csp.projections.projector`` runs) takes the group's leader lock (one active replica,
the others stand by), rebuilds read models whose schema changed, catches up, runs, and
restarts after any failure with a log line, so ``csp project`` never dies silently.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, Notification, Tracking
from eventsourcing.projection import BaseProjectionRunner, Projection

from csp.application import CspApplication
from csp.projections.model import Dispatcher, ReadModelGroup
from csp.projections.rows import RowBuffer, RowCache
from csp.projections.schema import META
from csp.projections.store import APPLICATION_NAME, ReadView, Tx

log = logging.getLogger("csp.projections")

CATCH_UP_BATCH = 2000
CACHE_ROWS = 5000  # rows kept between transactions (a subscription's row, its ledger...)
POLL_SECONDS = 2.0  # fallback wake-up of the subscription (a NOTIFY may come before LISTEN)
STANDBY_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 30.0
REPLAY_GC_THRESHOLD = 50_000  # allocations between young collections while replaying (700 by default)


class _FewerCollections:
    """The process's GC thresholds while replays run: set by the first, put back by the last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.before: tuple[int, int, int] = gc.get_threshold()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self.lock:
            if self.running == 0:
                self.before = gc.get_threshold()
                gc.set_threshold(max(self.before[0], REPLAY_GC_THRESHOLD), *self.before[1:])
            self.running += 1
        try:
            yield
        finally:
            with self.lock:
                self.running -= 1
                if self.running == 0:
                    gc.set_threshold(*self.before)


# A replay allocates millions of short-lived objects and hardly any cycles: the young
# generation is collected less often meanwhile (about a tenth of the CPU).
fewer_collections = _FewerCollections()


class _PassThroughMapper(Mapper[UUID]):
    def to_domain_event(self, stored_event: Any) -> Any:
        return stored_event


class LogReader(CspApplication):
    """Reads the application's log as stored notifications (for the runner and rebuilds);
    ``decoder`` turns one into its domain event."""

    name = "csp"

    def construct_mapper(self) -> Mapper[UUID]:
        real = super().construct_mapper()
        self.decoder = real
        return _PassThroughMapper(transcoder=real.transcoder, compressor=real.compressor, cipher=real.cipher)

    def decode(self, notification: Notification) -> Any:
        return self.decoder.to_domain_event(notification)


class GroupProjection(Projection[Any]):
    """Applies notifications to a group's read models, rows and position in one transaction.

    Rows read or written are kept in a bounded cache between transactions, so an
    aggregate's next event finds its row without a query. Only this projection writes
    the tables, but a rebuild (in any process) swaps in new ones: it changes
    ``read_meta``, which each transaction compares first, dropping the cache if it moved.
    A failed transaction drops it too (it may hold rows that were rolled back).
    """

    name = "read"

    def __init__(
        self,
        view: ReadView,
        group: ReadModelGroup,
        decode: Callable[[Notification], Any],
        on_commit: Callable[[int], None] = lambda _: None,
    ) -> None:
        super().__init__(view)
        self.group = group
        self.topics = group.topics()
        self.dispatcher = Dispatcher(group.models, decode)
        self.on_commit = on_commit
        self.cache = RowCache(CACHE_ROWS)
        self._meta: tuple[tuple[Any, ...], ...] | None = None

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process([domain_event], tracking.notification_id)

    def process(self, notifications: Sequence[Notification], position: int) -> None:
        view: ReadView = self.view
        try:
            with view.tx(write=True) as tx:
                # The position first: a second replica processing the same events blocks here,
                # then fails (the upsert finds a position already at or past its own) and rolls back.
                tx.insert_tracking(Tracking(APPLICATION_NAME, position))
                self._check_cache(tx)
                rows = RowBuffer(tx, cache=self.cache)
                self.dispatcher.apply(notifications, rows)
                rows.flush()
        except BaseException:
            self.cache.clear()
            raise
        self.on_commit(position)

    def _check_cache(self, tx: Tx) -> None:
        d = tx.dialect
        names = ", ".join(f'"{c}"' for c in META.column_names)
        found = tx.query(f'SELECT {names} FROM {d.qualify(META.name)} ORDER BY "model"')
        meta = tuple(tuple(r[c] for c in META.column_names) for r in found)
        if meta != self._meta:
            self.cache.clear()
            self._meta = meta

    def catch_up(self, reader: LogReader, batch: int | None = None, stop: threading.Event | None = None) -> int:
        """Process the log in batches up to its head; returns the position reached."""
        batch = batch or CATCH_UP_BATCH
        view: ReadView = self.view
        position = view.max_tracking_id(APPLICATION_NAME) or 0
        with fewer_collections():
            while stop is None or not stop.is_set():
                page = reader.recorder.select_notifications(
                    position, batch, topics=list(self.topics), inclusive_of_start=False
                )
                if not page:
                    break
                self.process(page, page[-1].id)
                position = page[-1].id
                if len(page) < batch:
                    break
        return position


class GroupRunner(BaseProjectionRunner[LogReader]):
    """eventsourcing's runner for a group projection built by us, plus a polling fallback.

    Following the log live, the events the subscription has already fetched (its page,
    up to 500) are applied together, in one transaction, instead of one transaction
    each: under load the runner keeps up with fewer commits."""

    def __init__(self, projection: GroupProjection, env: dict[str, str], poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__(
            projection=projection,
            application_class=LogReader,
            tracking_recorder=projection.view,
            topics=projection.topics,
            env=env,
        )
        self._poll_seconds = poll_seconds
        self._poller = threading.Thread(target=self._poll, name="read-side-poller", daemon=True)
        self._poller.start()

    @staticmethod
    def _process_events_loop(  # type: ignore[override]
        subscription: Any, projection: GroupProjection, is_stopping: threading.Event, runner: Any
    ) -> None:
        try:
            notifications = subscription.subscription  # the recorder's: notifications, in pages
            for first in notifications:
                batch = [first, *_fetched(notifications)]
                projection.process(batch, batch[-1].id)
        except BaseException as e:
            r = runner()
            if r is not None:
                r._thread_error = e
        finally:
            is_stopping.set()

    def _poll(self) -> None:
        flag = getattr(self._subscription.subscription, "_has_been_notified", None)
        while flag is not None and not self.is_interrupted.wait(self._poll_seconds):
            flag.set()


def _fetched(subscription: Any) -> list[Notification]:
    """The notifications a subscription has fetched and not yet handed out (the rest of
    its current page), taken without blocking. eventsourcing 9.5.6's
    ``ListenNotifySubscription`` keeps them in ``_notifications`` from
    ``_notifications_index``; a subscription without them hands out one at a time."""
    page = getattr(subscription, "_notifications", None)
    index = getattr(subscription, "_notifications_index", None)
    if not isinstance(page, Sequence) or not isinstance(index, int) or index >= len(page):
        return []
    subscription._notifications_index = len(page)
    return list(page[index:])


class Supervisor:
    """The supervisor of one group's projections in this process; ``active`` is set
    while it leads (holds the lock and applies events)."""

    def __init__(
        self,
        view: ReadView,
        group: ReadModelGroup,
        env: dict[str, str],
        on_commit: Callable[[int], None],
        prepare: Callable[[LogReader, threading.Event], None],
        active: threading.Event | None = None,
    ) -> None:
        self.view = view
        self.group = group
        self.env = env
        self.on_commit = on_commit
        self.prepare = prepare
        self.active = active if active is not None else threading.Event()
        self.standing_by = threading.Event()
        self.restarts = 0

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set: lead when the lock is free, stand by otherwise."""
        backoff = 1.0
        announced_standby = False
        while not stop.is_set():
            lock = self.view.leader_lock(self.group.name)
            try:
                acquired = lock.acquire()
            except Exception as e:  # the database is down: retry, say so
                log.warning("read side: cannot reach %s (%s); retrying in %.0fs", self.view.describe(), e, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if not acquired:
                if not announced_standby:
                    log.info("read side: another replica is active; standing by")
                    announced_standby = True
                self.standing_by.set()
                stop.wait(STANDBY_SECONDS)
                continue
            announced_standby = False
            self.standing_by.clear()
            try:
                self._lead(lock, stop)
                backoff = 1.0
            except Exception as e:  # restart after any failure, with a log line
                if stop.is_set():
                    return
                self.restarts += 1
                log.warning(
                    "read side: projections stopped (%s: %s); restarting in %.0fs", type(e).__name__, e, backoff
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            finally:
                self.active.clear()
                lock.release()

    def _lead(self, lock: Any, stop: threading.Event) -> None:
        reader = LogReader(self.env)
        try:
            self.prepare(reader, stop)
            projection = GroupProjection(self.view, self.group, reader.decode, self.on_commit)
            # Another replica may have moved the position while this one stood by.
            self.on_commit(self.view.max_tracking_id(APPLICATION_NAME) or 0)
            self.active.set()
            started = time.monotonic()
            position = projection.catch_up(reader, stop=stop)
            if position:
                log.info("read side: caught up to %d in %.1fs", position, time.monotonic() - started)
            if stop.is_set():
                return
            with GroupRunner(projection, self.env) as runner:
                log.info("read side: following the log from %d (%s)", position, self.view.describe())
                while not stop.is_set():
                    runner.run_forever(timeout=1.0)
                    if runner.is_interrupted.is_set() and not stop.is_set():
                        raise RuntimeError("the subscription stopped")
                    lock.check()
        finally:
            reader.close()
