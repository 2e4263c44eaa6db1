"""Auditing: the full history of any aggregate, and its state as of any instant.

``history`` reads the aggregate's events from the event store (never from a read model)
and replays them: every event with its version, type, domain time, actor and data, and
the state after the last of them; with ``as_of`` only the events at or before that
instant, and the state at that instant. Everything is JSON-able (decimals, ids and times
as strings, values as objects). Tamper evidence is ``verify`` (the hash chain kept by
the ``audit_chain`` read model).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from csp.aggregates.base import CspAggregate, require_aware
from csp.aggregates.errors import NotFound
from csp.projections.audit_chain import Verification
from csp.projections.audit_chain import verify as verify_chain

_EVENT_FIELDS_OUTSIDE_DATA = ("originator_id", "originator_version", "timestamp", "actor", "at")


def jsonable(value: Any) -> Any:
    """A value as JSON: decimals, ids and times as strings, dataclass values as objects."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def event_record(event: Any) -> dict[str, Any]:
    data = {k: jsonable(v) for k, v in vars(event).items() if k not in _EVENT_FIELDS_OUTSIDE_DATA}
    return {
        "version": event.originator_version,
        "type": type(event).__name__,
        "at": jsonable(getattr(event, "at", None) or event.timestamp),
        "actor": getattr(event, "actor", None),
        "data": data,
    }


def state_record(aggregate: Any) -> dict[str, Any]:
    public = {k: jsonable(v) for k, v in vars(aggregate).items() if not k.startswith("_")}
    return {"id": str(aggregate.id), "version": aggregate.version, **public}


def history(
    app: Application[UUID],
    aggregate_id: UUID,
    as_of: datetime | None = None,
    *,
    kind: type[CspAggregate] | None = None,
) -> dict[str, Any]:
    """``{"events": [{version, type, at, actor, data}], "state": {...}}`` for an aggregate.

    With ``as_of``: the events at or before it (by domain time) and the state they give
    (None if the aggregate did not exist yet). ``kind`` restricts the lookup to one
    aggregate class (``NotFound`` for another kind: an order id is not a tenant).
    """
    label = kind.__name__.lower() if kind is not None else "aggregate"
    events: list[Any] = list(app.events.get(aggregate_id))
    if not events:
        raise NotFound(label, aggregate_id)
    if kind is not None and not isinstance(events[0].mutate(None), kind):
        raise NotFound(label, aggregate_id)
    if as_of is not None:
        require_aware(as_of)
    replayed: list[Any] = []
    for e in events:
        if as_of is not None and (getattr(e, "at", None) or e.timestamp) > as_of:
            break
        replayed.append(e)
    aggregate: Any = None
    for e in replayed:
        aggregate = e.mutate(aggregate)
    return {
        "id": str(aggregate_id),
        "type": type(aggregate).__name__ if aggregate is not None else None,
        "as_of": as_of.isoformat() if as_of is not None else None,
        "events": [event_record(e) for e in replayed],
        "state": state_record(aggregate) if aggregate is not None else None,
    }


def verify(app: Application[UUID], read: Any) -> Verification:
    """Recompute the audit chain from the stored events (``read``: the ``ReadModels``)."""
    return verify_chain(app.recorder, read.view)
