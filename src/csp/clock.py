"""The Clock port: the domain's time comes from here, never from ``datetime.now()`` in aggregates."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Real time, UTC, microsecond precision."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SettableClock:
    """A clock for tests and simulations: it stands still until set or advanced."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("the clock's time must carry a timezone")
        with self._lock:
            self._now = at

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now = self._now + delta
            return self._now


class StoredOffsetClock:
    """The test clock (``CSP_TEST_MODE``): real time plus an offset stored in the
    database, so every process (API, workers, scheduler) reads the same time. It keeps
    running; it only ever moves forward."""

    def __init__(self, store: OffsetStore, refresh_seconds: float = 0.1) -> None:
        self._store = store
        self._refresh = refresh_seconds
        self._offset = timedelta(0)
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def _current_offset(self) -> timedelta:
        with self._lock:
            now = time.monotonic()
            if now - self._read_at > self._refresh:
                self._offset = self._store.read()
                self._read_at = now
            return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._current_offset()

    def set(self, at: datetime) -> datetime:
        """Move the clock to ``at``; raises ``ValueError`` when that is in the past."""
        if at.tzinfo is None:
            raise ValueError("the clock's time must carry a timezone")
        with self._lock:
            current = datetime.now(UTC) + self._store.read()
            if at < current:
                raise ValueError(f"the clock only moves forward; it is {current.isoformat()}")
            offset = at - datetime.now(UTC)
            self._store.write(offset)
            self._offset = offset
            self._read_at = time.monotonic()
        return at


class OffsetStore(Protocol):
    def read(self) -> timedelta: ...

    def write(self, offset: timedelta) -> None: ...
