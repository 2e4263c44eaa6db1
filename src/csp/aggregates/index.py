"""Unique keys and counters: small aggregates whose ids derive from what they guard.

Creating a second ``UniqueKey`` for the same key writes the same aggregate id at version
1 again, which the event store refuses: uniqueness (slugs, emails, tenant domains) holds
across processes without a lock. ``Counter`` hands out order-number sequences, a block
at a time (``reserve``): two processes reserving at once write the same version, and
the store refuses the second, so no number is handed out twice.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, deterministic_id
from csp.aggregates.errors import AlreadyExists


class UniqueKey(CspAggregate):
    class Claimed(CspAggregate.Created):
        namespace: str
        key: str
        owner_id: UUID

    @event(Claimed)
    def __init__(self, namespace: str, key: str, owner_id: UUID, actor: Actor, at: datetime) -> None:
        self.namespace = namespace
        self.key = key
        self.owner_id: UUID | None = owner_id

    @staticmethod
    def create_id(namespace: str, key: str) -> UUID:
        return UniqueKey.id_for(namespace, key)

    @staticmethod
    def id_for(namespace: str, key: str) -> UUID:
        return deterministic_id("unique-key", namespace, key.lower())

    @property
    def is_held(self) -> bool:
        return self.owner_id is not None

    class Released(CspAggregate.Event):
        pass

    def release(self, actor: Actor, at: datetime) -> None:
        if self.owner_id is not None:
            self._release(actor=actor, at=at)

    @event(Released)
    def _release(self, actor: Actor, at: datetime) -> None:
        self.owner_id = None

    class Reclaimed(CspAggregate.Event):
        owner_id: UUID

    def reclaim(self, owner_id: UUID, actor: Actor, at: datetime) -> None:
        if self.owner_id is not None and self.owner_id != owner_id:
            raise AlreadyExists(f"{self.namespace} {self.key} is already taken", field=self.namespace, value=self.key)
        if self.owner_id != owner_id:
            self._reclaim(owner_id=owner_id, actor=actor, at=at)

    @event(Reclaimed)
    def _reclaim(self, owner_id: UUID, actor: Actor, at: datetime) -> None:
        self.owner_id = owner_id


class Counter(CspAggregate):
    class Started(CspAggregate.Created):
        name: str
        value: int

    @event(Started)
    def __init__(self, name: str, value: int, actor: Actor, at: datetime) -> None:
        self.name = name
        self.value = value

    @staticmethod
    def create_id(name: str) -> UUID:
        return Counter.id_for(name)

    @staticmethod
    def id_for(name: str) -> UUID:
        return deterministic_id("counter", name)

    class Advanced(CspAggregate.Event):
        value: int

    def advance(self, actor: Actor, at: datetime) -> int:
        self._advance(value=self.value + 1, actor=actor, at=at)
        return self.value

    def reserve(self, count: int, actor: Actor, at: datetime) -> range:
        """The next ``count`` values, for the caller alone once saved."""
        if count < 1:
            raise ValueError("reserve at least one value")
        first = self.value + 1
        self._advance(value=self.value + count, actor=actor, at=at)
        return range(first, self.value + 1)

    @event(Advanced)
    def _advance(self, value: int, actor: Actor, at: datetime) -> None:
        self.value = value
