"""The application's common machinery: load → decide → save, clock, errors, catalog cache,
and the shared collaborators every ``*Commands`` class uses (each derives from this base only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording, Transcoder

from csp.aggregates.base import CspAggregate, utc
from csp.aggregates.catalog import CATALOG_ID, Catalog
from csp.aggregates.errors import ConcurrentModification, NotFound
from csp.aggregates.index import Counter
from csp.application.carts import Carts
from csp.application.directory import Directory
from csp.application.pricing import CustomerPricing
from csp.clock import Clock, SystemClock
from csp.persistence import TupleJSONTranscoder, register_value_transcodings

A = TypeVar("A", bound=CspAggregate)
R = TypeVar("R")

SaveListener = Callable[[Sequence[Recording[UUID]]], None]


class CspApplicationBase(Application[UUID]):
    """One application holds every aggregate: one log, one notification sequence."""

    name = "csp"
    env = {"AGGREGATE_CACHE_MAXSIZE": "5000"}  # noqa: RUF012 - eventsourcing's class-level default env
    # The order-number counter gains an event per order: without snapshots, a cache miss
    # (another process, or a lost race) replays all of them (31 % of a create at 1M events).
    snapshotting_intervals = {Counter: 100}  # noqa: RUF012 - eventsourcing's class-level setting

    def __init__(self, env: dict[str, str] | None = None, *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self._catalog: Catalog | None = None
        self._catalog_lock = threading.Lock()
        self._local = threading.local()
        self._save_listeners: list[SaveListener] = []
        # Shared decisions and steps, composed (never inherited): what a customer may buy
        # and at what price; look-ups by unique key; order numbers and new cart lines.
        self.pricing = CustomerPricing(self.load, self.exists)
        self.directory = Directory(self.load, self.exists)
        self.carts = Carts(self.load, self.exists, self.catalog, self.now, self.pricing)
        super().__init__(env)

    def construct_transcoder(self) -> Transcoder:
        transcoder = TupleJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_value_transcodings(transcoder)

    # --- time -------------------------------------------------------------

    def now(self) -> datetime:
        """The domain time of the next event (UTC, microseconds)."""
        return utc(self.clock.now())

    # --- loading and saving -------------------------------------------------

    def load(
        self, cls: type[A], aggregate_id: UUID, kind: str, version: int | None = None, *, read_only: bool = False
    ) -> A:
        """Load an aggregate of the given class, or raise ``NotFound``.

        ``read_only``: the cached object itself, not a copy, for code that only reads it
        (an issued invoice's charges): never call a command method on it."""
        try:
            agg = self.repository.get(aggregate_id, version=version, deepcopy_from_cache=not read_only)
        except AggregateNotFoundError:
            raise NotFound(kind, aggregate_id) from None
        if not isinstance(agg, cls):
            raise NotFound(kind, aggregate_id)
        return agg

    def load_for_update(self, cls: type[A], aggregate_id: UUID, kind: str, expected_version: int | None) -> A:
        """Load for a command; a stale ``If-Match`` version is a conflict."""
        agg = self.load(cls, aggregate_id, kind)
        if expected_version is not None and agg.version != expected_version:
            raise ConcurrentModification(aggregate_id, expected_version, agg.version)
        return agg

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Save atomically; a concurrent write to any of the aggregates is a conflict."""
        try:
            return super().save(*objs, **kwargs)
        except IntegrityError:
            ids = [o.id for o in objs if isinstance(o, CspAggregate)]
            raise ConcurrentModification(ids[0] if len(ids) == 1 else ids) from None

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if recordings:
            self._local.last_notification_id = recordings[-1].notification.id
            for listener in list(self._save_listeners):
                listener(recordings)

    def add_save_listener(self, listener: SaveListener) -> None:
        """Called in-process after every save (e.g. to wake followers)."""
        self._save_listeners.append(listener)

    def last_notification_id(self) -> int | None:
        """The notification id of this thread's last save (for read-your-writes)."""
        return getattr(self._local, "last_notification_id", None)

    def forget_last_notification_id(self) -> None:
        self._local.last_notification_id = None

    def retrying(self, command: Callable[[], R], attempts: int = 8) -> R:
        """Run a command again when it loses a race (for counters and system steps)."""
        for attempt in range(attempts):
            try:
                return command()
            except ConcurrentModification:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    # --- the catalog (cached by version) ------------------------------------

    def catalog(self) -> Catalog:
        """The current catalog; reloaded when another process changed it."""
        latest = self.recorder.select_events(CATALOG_ID, desc=True, limit=1)
        if not latest:
            raise NotFound("catalog", CATALOG_ID)
        version = latest[0].originator_version
        with self._catalog_lock:
            if self._catalog is None or self._catalog.version != version:
                self._catalog = self.load(Catalog, CATALOG_ID, "catalog")
            return self._catalog

    def has_catalog(self) -> bool:
        return self.exists(CATALOG_ID)
