"""Common ground for every aggregate: the event base carrying actor and time, ids, values."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, ClassVar, Self
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from csp.aggregates.errors import InvalidInput

# Namespace for every deterministic id of the platform (uuid5).
CSP_NAMESPACE = UUID("6f2c1a8e-3d4b-5c6d-8e9f-0a1b2c3d4e5f")

Actor = str
"""Who did it: ``user:<uuid>`` for a person, ``system:<component>`` for the platform."""

SYSTEM_SCHEDULER: Actor = "system:scheduler"
SYSTEM_PROVISIONING: Actor = "system:provisioning"
SYSTEM_VENDOR_SYNC: Actor = "system:vendor-sync"
SYSTEM_BILLING: Actor = "system:billing"
SYSTEM_CATALOG: Actor = "system:catalog"


def user_actor(user_id: UUID) -> Actor:
    return f"user:{user_id}"


def actor_user_id(actor: Actor) -> UUID | None:
    """The user id inside a ``user:`` actor, else None."""
    if actor.startswith("user:"):
        return UUID(actor[5:])
    return None


def deterministic_id(*parts: object) -> UUID:
    """An id derived from its parts, so a replayed step finds instead of duplicating."""
    return uuid5(CSP_NAMESPACE, "/".join(str(p) for p in parts))


def require_aware(at: datetime) -> datetime:
    """Domain times are always timezone-aware; naive ones are a programming error."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput("at", "time must carry a timezone offset")
    return at


def utc(at: datetime) -> datetime:
    return require_aware(at).astimezone(UTC)


class CspAggregate(Aggregate):
    """Base aggregate: every event records who did it (``actor``) and when (``at``)."""

    # A copy of a new aggregate joins the application's cache when it is saved (its next
    # load fast-forwards). Off for the big, write-once documents of a billing run: copying
    # a month's invoices cost a fifth of the run, and they are seldom read at once.
    cache_when_saved: ClassVar[bool] = True

    class Event(Aggregate.Event):
        actor: Actor
        at: datetime

    class Created(Event, Aggregate.Created):
        pass


class Value:
    """Marker base for frozen dataclass value objects stored inside events.

    Subclasses are registered with the application's JSON transcoder; their
    fields are JSON-native, Decimal, UUID, datetime, tuples or other values.
    """

    registry: ClassVar[dict[str, type[Value]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Value.registry[cls.__name__] = cls

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]
