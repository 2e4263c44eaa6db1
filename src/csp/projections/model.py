"""A read model: its tables, and a handler per event class it follows.

Handlers are methods marked ``@handles(EventClass, ...)``; they read and write rows by
key through ``Rows`` and never see SQL, so the same handlers build the stored model
(live, in batches, or into fresh tables for a rebuild) and the pure in-memory fold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from csp.projections.rows import Rows
from csp.projections.sql import Table, schema_hash

F = TypeVar("F", bound=Callable[..., Any])


def handles(*event_classes: type) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        fn._handles = event_classes  # type: ignore[attr-defined]
        return fn

    return mark


class ReadModel:
    """One read model, named after the question it answers (``orders_list``)."""

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1  # bump when the handlers change: the model is rebuilt
    tables: ClassVar[tuple[Table, ...]] = ()
    all_events: ClassVar[bool] = False  # sees every notification, undecoded (the audit chain)
    cost: ClassVar[int] = 1  # relative cost of a replay, to share a rebuild among processes
    dispatch: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dispatch: dict[str, str] = {}
        for attr in dir(cls):
            fn = getattr(cls, attr, None)
            for event_class in getattr(fn, "_handles", ()):
                dispatch[get_topic(event_class)] = attr
        cls.dispatch = dispatch

    @classmethod
    def topics(cls) -> frozenset[str]:
        return frozenset(cls.dispatch)

    @classmethod
    def schema_hash(cls) -> str:
        return schema_hash(cls.tables, cls.version)

    def apply(self, event: Any, rows: Rows) -> None:
        getattr(self, self.dispatch[get_topic(type(event))])(event, rows)

    def apply_notifications(self, notifications: Sequence[Notification], rows: Rows) -> None:
        """For ``all_events`` models: every notification of a batch, as stored, in order."""


@dataclass(frozen=True)
class ReadModelGroup:
    """Read models that follow the log together: one subscription, one tracking position."""

    name: str
    models: tuple[ReadModel, ...]

    def topics(self) -> tuple[str, ...]:
        """What the group's subscription asks for (nothing: every event)."""
        if any(m.all_events for m in self.models):
            return ()
        return tuple(sorted(set().union(*(m.topics() for m in self.models))))

    def feeds(self, topic: str) -> bool:
        """Whether an event of this topic moves the group's tracking position."""
        return not self.topics() or topic in self.topics()

    def model(self, name: str) -> ReadModel:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    def tables(self) -> tuple[Table, ...]:
        return tuple(t for m in self.models for t in m.tables)


class Dispatcher:
    """Applies notifications to some read models, decoding each event once at most."""

    def __init__(self, models: Sequence[ReadModel], decode: Callable[[Notification], Any]) -> None:
        self.models = tuple(models)
        self._decode = decode
        self._raw = tuple(m for m in self.models if m.all_events)
        self._by_topic: dict[str, tuple[ReadModel, ...]] = {}
        self._handlers: dict[str, tuple[Callable[[Any, Rows], None], ...]] = {}
        for m in self.models:
            for topic in m.topics():
                self._by_topic[topic] = (*self._by_topic.get(topic, ()), m)
                self._handlers[topic] = (*self._handlers.get(topic, ()), getattr(m, m.dispatch[topic]))

    def topics(self) -> frozenset[str] | None:
        """The topics these models need (None: every one)."""
        if self._raw:
            return None
        return frozenset(self._by_topic)

    def apply(self, notifications: Iterable[Notification], rows: Rows) -> None:
        # Each model reads and writes only its own tables, so a model that sees every
        # notification can take the whole batch first.
        notifications = notifications if isinstance(notifications, Sequence) else list(notifications)
        for m in self._raw:
            m.apply_notifications(notifications, rows)
        handlers, decode = self._handlers, self._decode
        for n in notifications:
            found = handlers.get(n.topic)
            if found:
                event = decode(n)
                for handle in found:
                    handle(event, rows)
