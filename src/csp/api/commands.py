"""Running a command for a request: read-your-writes after it.

A command answers once the projections it feeds have processed its events (bounded
wait, ~2 s; on timeout it answers anyway). The application tells its save listeners, in
the saving thread, what each save recorded: the command and the wait run in the same
worker thread, so the wait is for exactly this request's events.

Each attempt is one ``unit_of_work`` of the application: the aggregates the route loaded
for its access check are handed to the command's first attempt, which uses them instead
of loading them again; a retry after a conflict loads afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from eventsourcing.persistence import Recording

from csp.aggregates.base import CspAggregate
from csp.aggregates.errors import ConcurrentModification

T = TypeVar("T")
READ_YOUR_WRITES_TIMEOUT = 2.0
COMMAND_ATTEMPTS = 5
log = logging.getLogger("csp.api")


_saved = threading.local()


def remember_saves(recordings: Sequence[Recording[Any]]) -> None:
    """A save listener: this thread's recordings, for the wait after the command."""
    if getattr(_saved, "active", False):
        _saved.recordings.extend(recordings)


class UnitsOfWork(Protocol):
    """What the runner needs of the application (``CspApplication.unit_of_work``)."""

    def unit_of_work(self, *loaded: CspAggregate) -> AbstractContextManager[None]: ...


def _run(fn: Callable[[], T], app: UnitsOfWork | None, loaded: tuple[CspAggregate, ...]) -> T:
    """Run a command; when its save loses a race with another writer (a saga recording the
    vendor's answer, say), decide again on the new state. A stale ``If-Match`` is not
    retried: the client asked for that version."""
    for attempt in range(COMMAND_ATTEMPTS):
        try:
            if app is None:
                return fn()
            with app.unit_of_work(*(loaded if attempt == 0 else ())):
                return fn()
        except ConcurrentModification as e:
            if e.details.get("expected_version") is not None or attempt == COMMAND_ATTEMPTS - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


class ReadYourWrites(Protocol):
    """What the wait needs of the read side (``csp.projections.ReadModels.wait_for``)."""

    def wait_for(self, recordings: Sequence[Recording[Any]], timeout: float = ...) -> bool: ...


class Commands:
    """Runs the commands of requests: the command, then the wait for the read side to
    reflect it (no wait in a process without a read side)."""

    def __init__(self, read: ReadYourWrites | None, app: UnitsOfWork | None = None) -> None:
        self.read = read
        self.app = app

    def run(self, fn: Callable[[], T], *loaded: CspAggregate) -> T:
        """Run a command, then wait for the read side to reflect it. ``loaded``: aggregates
        the caller has just loaded (copies, from ``load``), which the command's first
        attempt uses instead of loading them again."""
        _saved.active = True
        _saved.recordings = []
        try:
            result = _run(fn, self.app, loaded)
            recordings = list(_saved.recordings)
        finally:
            _saved.active = False
            _saved.recordings = []
        self.settle(recordings)
        return result

    def settle(self, recordings: Sequence[Recording[Any]], timeout: float = READ_YOUR_WRITES_TIMEOUT) -> bool:
        """Wait until the read models these recordings feed have applied them (only those:
        a read model that skips an event's topic never moves for it)."""
        if not recordings or self.read is None:
            return True
        caught_up = self.read.wait_for(recordings, timeout=timeout)
        if not caught_up:
            log.warning("read side behind after a command", extra={"notification_id": recordings[-1].notification.id})
        return caught_up
