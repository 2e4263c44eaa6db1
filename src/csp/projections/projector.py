"""The projector: the lifecycle of the process (or thread) that applies events to the read models.

``Projector(read, run_in_process=...)`` runs the runner's ``Supervisor`` over the
``ReadModels``' store: in a thread of this process (``start``/``stop``, ``csp serve``
on the embedded default) or in the calling thread (``run``, ``csp project``); it tells
the read models each position it commits, so ``ReadModels.wait`` wakes at once. For
one-off commands it brings the models up to the log's head (``sync``), rebuilds them
(``rebuild``, ``csp rebuild``) and verifies the audit chain (``verify_audit``,
``csp audit verify``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from csp.persistence import Database, eventsourcing_env
from csp.projections import rebuild as rebuilding
from csp.projections.audit_chain import Verification
from csp.projections.audit_chain import verify as verify_chain
from csp.projections.queries import GROUP_NAME, ReadModels
from csp.projections.rebuild import Progress, RebuildResult, Store
from csp.projections.runner import GroupProjection, LogReader, Supervisor
from csp.projections.schema import ensure_schema

log = logging.getLogger("csp.projections")

BUILD_MIN_EVENTS = 50_000  # a fresh read side over a longer log is built, not caught up


def reader_env(db: Database) -> dict[str, str]:
    """The log reader's environment: the events' store, with a small pool.

    A reader creates no tables: the composition root created them holding the schema
    lock, and a reader opened later (the projector's) must not race other processes'
    start-up ("tuple concurrently updated")."""
    env = eventsourcing_env(db)
    env["CREATE_TABLE"] = "no"
    if not db.is_sqlite:
        env["POSTGRES_POOL_SIZE"] = "1"
        env["POSTGRES_MAX_OVERFLOW"] = "1"
    return env


class Projector:
    """Applies the log to ``read``'s models: the supervisor's thread, sync, rebuild, audit."""

    def __init__(self, read: ReadModels, *, run_in_process: bool) -> None:
        self.read = read
        self.run_in_process = run_in_process
        self.reader_env = reader_env(read.database)
        # how a rebuild's other processes open the read store and the log
        self.store = Store(
            GROUP_NAME,
            read.env,
            type(read.view),
            self.reader_env,
            shared=not (read.database.is_sqlite and read.database.path is None),
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_build: RebuildResult | None = None  # of a fresh read side, by ``_prepare``
        self.supervisor = Supervisor(
            read.view, read.group, self.reader_env, read.committed, self._prepare, active=read.applying
        )

    # --- running the projections ---------------------------------------------------

    def start(self) -> None:
        """Run the projections in this process, in a thread (no-op unless ``run_in_process``)."""
        if not self.run_in_process or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.supervisor.run, args=(self._stop,), name="read-side", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def run(self, stop: threading.Event) -> None:
        """Run the projections in the calling thread until ``stop`` is set (``csp project``)."""
        self.supervisor.run(stop)

    def close(self) -> None:
        self.stop()

    @property
    def is_active(self) -> bool:
        """Whether this process is the one applying events right now."""
        return self.read.applying.is_set()

    def _prepare(self, reader: LogReader, stop: threading.Event) -> None:
        """As the new leader: create missing tables, rebuild stale models; a fresh read
        side over a long log is built as a rebuild of every model (in parallel)."""
        view, group = self.read.view, self.read.group
        with view.tx(write=True) as tx:
            position = tx.position()
            stale = ensure_schema(tx, group, position)
        head = reader.recorder.max_notification_id() or 0
        if not position and head >= BUILD_MIN_EVENTS:
            log.info("read side: building the read models from the log (%d events)", head)
            names = [m.name for m in group.models]
            result = rebuilding.rebuild(view, group, names, reader, stop=stop, store=self.store, advance=True)
            self.last_build = result
            log.info(
                "read side: built to %d: %d events, %.0f events/s, %d process(es)",
                result.position,
                result.events,
                result.rate,
                result.processes,
            )
        elif stale:
            log.info("read side: rebuilding %s (new or changed)", ", ".join(stale))
            result = rebuilding.rebuild(view, group, stale, reader, stop=stop, store=self.store)
            log.info("read side: rebuilt %s: %d events, %.0f events/s", ", ".join(stale), result.events, result.rate)

    # --- one-off commands ----------------------------------------------------------

    def sync(self, timeout: float = 60.0) -> bool:
        """Bring the read models up to the log's head now, for a one-off command: apply
        the events here if no replica is running, else wait for the one that is."""
        read = self.read
        head = read.app.recorder.max_notification_id() or 0
        if not read.stale_models() and read.wait(head, 0.05):
            return True
        if self.is_active:
            return read.wait(head, timeout)
        lock = read.view.leader_lock(read.group.name)
        if not lock.acquire():
            return read.wait(head, timeout)
        reader = LogReader(self.reader_env)
        try:
            self._prepare(reader, self._stop)
            GroupProjection(read.view, read.group, reader.decode, read.committed).catch_up(reader)
        finally:
            reader.close()
            lock.release()
        return read.wait(head, 0.05)

    def rebuild(
        self,
        names: Sequence[str],
        progress: Callable[[Progress], None] = lambda _: None,
        stop: threading.Event | None = None,
    ) -> RebuildResult:
        """Rebuild read models into fresh tables and swap them in (see ``rebuild``)."""
        for n in names:
            self.read.model_names_check(n)
        reader = LogReader(self.reader_env)
        try:
            return rebuilding.rebuild(
                self.read.view, self.read.group, names, reader, progress=progress, stop=stop, store=self.store
            )
        finally:
            reader.close()

    def verify_audit(self) -> Verification:
        return verify_chain(self.read.app.recorder, self.read.view)
