"""The application's common machinery: load → decide → save, clock, errors, catalog cache,
and the shared collaborators every ``*Commands`` class uses (each derives from this base only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from copy import deepcopy
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent, project_aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Recording, Transcoder

from csp.aggregates.base import CspAggregate, utc
from csp.aggregates.catalog import CATALOG_ID, Catalog
from csp.aggregates.errors import ConcurrentModification, NotFound
from csp.aggregates.index import Counter
from csp.application.carts import Carts, OrderNumbers
from csp.application.customer_invoicing import CustomerInvoicing
from csp.application.directory import Directory
from csp.application.pricing import CustomerPricing
from csp.application.sealing import SecretBox
from csp.clock import Clock, SystemClock
from csp.persistence import TupleJSONTranscoder, register_value_transcodings, select_histories

A = TypeVar("A", bound=CspAggregate)
R = TypeVar("R")

SaveListener = Callable[[Sequence[Recording[UUID]]], None]


class _Scope:
    """What one command attempt has loaded: copies handed in (``held``), aggregates read
    (None: found not to exist)."""

    __slots__ = ("held", "read")

    def __init__(self, held: dict[UUID, CspAggregate]) -> None:
        self.held = held
        self.read: dict[UUID, CspAggregate | None] = {}


class CspApplicationBase(Application[UUID]):
    """One application holds every aggregate: one log, one notification sequence."""

    name = "csp"
    env = {"AGGREGATE_CACHE_MAXSIZE": "5000"}  # noqa: RUF012 - eventsourcing's class-level default env
    # The order-number counter gains an event per block of numbers (per order in stores
    # written before): without snapshots, a cache miss replays all of them.
    snapshotting_intervals = {Counter: 100}  # noqa: RUF012 - eventsourcing's class-level setting

    def __init__(
        self, env: dict[str, str] | None = None, *, clock: Clock | None = None, secrets: SecretBox | None = None
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        # seals the secrets the platform reads back (webhook signing keys); given by the
        # composition root from CSP_SECRET_KEY or the key file (None: none can be registered)
        self.secrets = secrets
        self._catalog: Catalog | None = None
        self._catalog_lock = threading.Lock()
        self._local = threading.local()
        self._save_listeners: list[SaveListener] = []
        # Shared decisions and steps, composed (never inherited): what a customer may buy
        # and at what price; look-ups by unique key; order numbers and new cart lines.
        self.pricing = CustomerPricing(self.find)
        self.directory = Directory(self.load, self.exists)
        self.carts = Carts(self.read, self.catalog, self.now, self.pricing)
        self.order_numbers = OrderNumbers(self.find, self.save, self.retrying, self.now)
        # Customer invoices: a month's charges → drafts per customer (issue 18).
        self.customer_invoicing = CustomerInvoicing(self.find)
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

    def load(self, cls: type[A], aggregate_id: UUID, kind: str, version: int | None = None) -> A:
        """Load an aggregate of the given class (a copy of its own, for the caller to change), or
        raise ``NotFound``. In a ``unit_of_work``, an aggregate handed to it is used once
        instead of loading it again."""
        if version is None:
            held = self._held().pop(aggregate_id, None)
            if held is not None:
                return self._of_class(held, cls, kind)
        try:
            agg = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(kind, aggregate_id) from None
        return self._of_class(agg, cls, kind)

    def read(self, cls: type[A], aggregate_id: UUID, kind: str) -> A:
        """Load an aggregate to read it only, or raise ``NotFound``: the cached instance, not a
        copy (no deep copy), so nothing may change it or record an event on it. In a
        ``unit_of_work``, each aggregate is read once."""
        found = self.find(cls, aggregate_id, kind, readonly=True)
        if found is None:
            raise NotFound(kind, aggregate_id)
        return found

    def find(self, cls: type[A], aggregate_id: UUID, kind: str, *, readonly: bool = False) -> A | None:
        """The aggregate, or None when it does not exist: one round trip either way (where
        ``exists`` then ``load`` took two or three). ``readonly`` as in ``read``."""
        scope = self._scope()
        if scope is not None:
            held = scope.held.get(aggregate_id) if readonly else scope.held.pop(aggregate_id, None)
            if held is not None:
                return self._of_class(held, cls, kind)
            if readonly and aggregate_id in scope.read:
                seen = scope.read[aggregate_id]
                return None if seen is None else self._of_class(seen, cls, kind)
        agg = self._get(aggregate_id, copy=not readonly, snapshots=cls in self.snapshotting_intervals)
        if readonly and scope is not None:
            scope.read[aggregate_id] = agg
        return None if agg is None else self._of_class(agg, cls, kind)

    def _get(self, aggregate_id: UUID, *, copy: bool, snapshots: bool) -> CspAggregate | None:
        cache = self.repository.cache
        cached = True
        if cache is not None:
            try:
                cache.get(aggregate_id)
            except KeyError:
                cached = False
        if cached or snapshots:
            try:
                return self.repository.get(aggregate_id, deepcopy_from_cache=copy)  # type: ignore[no-any-return]
            except AggregateNotFoundError:
                return None
        # Not cached: its events in one query (the repository would ask for a snapshot first).
        stored = self.recorder.select_events(aggregate_id)
        if not stored:
            return None
        agg: CspAggregate | None = project_aggregate(None, map(self.mapper.to_domain_event, stored))
        if agg is None:
            return None
        assert cache is not None
        cache.put(aggregate_id, agg)
        return deepcopy(agg) if copy else agg

    def prefetch(self, aggregate_ids: Iterable[UUID], batch: int = 500) -> None:
        """In a ``unit_of_work``: read the aggregates of ``aggregate_ids`` for its ``find``/
        ``read`` (readonly), their events in one query per ``batch`` where each ``find`` would
        take one (the organizations a billing run drafts invoices for). Not for snapshotted
        classes (read in full here)."""
        scope = self._scope()
        if scope is None:
            raise RuntimeError("prefetch() reads for a unit of work: open one first")
        todo = [i for i in dict.fromkeys(aggregate_ids) if i not in scope.read and i not in scope.held]
        for n in range(0, len(todo), batch):
            ids = todo[n : n + batch]
            histories = select_histories(self.recorder, ids)
            for aggregate_id in ids:
                stored = histories.get(aggregate_id)
                agg = project_aggregate(None, map(self.mapper.to_domain_event, stored)) if stored else None
                if isinstance(agg, tuple(self.snapshotting_intervals)):
                    continue  # (left to ``find``, which starts from the latest snapshot)
                scope.read[aggregate_id] = agg

    @staticmethod
    def _of_class(agg: Any, cls: type[A], kind: str) -> A:
        if not isinstance(agg, cls):
            raise NotFound(kind, agg.id)
        return agg

    # --- a command's unit of work ---------------------------------------------

    @contextmanager
    def unit_of_work(self, *loaded: CspAggregate) -> Iterator[None]:
        """One attempt at a command in this thread: each aggregate is read once (``read``), and
        ``loaded`` — copies the caller loaded moments ago, for an access check — are used by
        the command's ``load`` instead of loading them again (once each: a second ``load``
        loads). A retry after a conflict must open a new one, so that it loads afresh."""
        for agg in loaded:
            if self._is_cached_instance(agg):
                raise ValueError(f"{type(agg).__name__} {agg.id} is the cache's instance, not a copy: load() it")
        outer = self._scope()
        self._local.scope = _Scope({a.id: a for a in loaded})
        try:
            yield
        finally:
            self._local.scope = outer

    def _scope(self) -> _Scope | None:
        return getattr(self._local, "scope", None)

    def _held(self) -> dict[UUID, CspAggregate]:
        scope = self._scope()
        return scope.held if scope is not None else {}

    def _is_cached_instance(self, agg: CspAggregate) -> bool:
        cache = self.repository.cache
        if cache is None:
            return False
        try:
            return cache.get(agg.id) is agg
        except KeyError:
            return False

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

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        recordings = super()._record(processing_event)
        # eventsourcing caches only what it loads: a new aggregate's first load (the next
        # command on a new cart, say) would read its snapshots and all its events. Cache a
        # copy of each saved aggregate the cache lacks (a copy: the caller keeps its own).
        cache = self.repository.cache
        if cache is not None:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                if not getattr(aggregate, "cache_when_saved", True):
                    continue
                try:
                    cache.get(aggregate_id)
                except KeyError:
                    cache.put(aggregate_id, deepcopy(aggregate))
        return recordings

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
