"""The webhooks' tables, in the sagas' store (``csp.workers.store``), beside the relay's position.

- ``webhook_endpoints``: each endpoint's reseller, kinds and enabled state as of the
  relay's position (the relay fans an event out to the endpoints that wanted it *then*),
  and its count of deliveries failed in a row.
- ``webhook_deliveries``: one row per (endpoint, event): its stable event id (the
  ``webhook-id``), kind, lane (the subject: deliveries of one subject go one at a time,
  in log order), the body as first built (a replay sends the same bytes), its status.
- ``webhook_attempts``: each POST of a delivery: when, the status code or the error.

The relay writes endpoints and new deliveries in the same transaction as its tracking
position (``RelayWrite.webhooks``); the delivery actor writes statuses and attempts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

WEBHOOK_TABLES = [
    "CREATE TABLE IF NOT EXISTS {p}webhook_endpoints (endpoint_id TEXT PRIMARY KEY, reseller_id TEXT NOT NULL, "
    "events TEXT NOT NULL, enabled INTEGER NOT NULL, failures INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS webhook_endpoints_reseller ON {p}webhook_endpoints (reseller_id)",
    "CREATE TABLE IF NOT EXISTS {p}webhook_deliveries (delivery_id TEXT PRIMARY KEY, endpoint_id TEXT NOT NULL, "
    "event_id TEXT NOT NULL, kind TEXT NOT NULL, lane TEXT NOT NULL, position INTEGER NOT NULL, "
    "body TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT, "
    "replay_requested INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_lane ON {p}webhook_deliveries (endpoint_id, lane, position)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_status ON {p}webhook_deliveries (status)",
    "CREATE TABLE IF NOT EXISTS {p}webhook_attempts (delivery_id TEXT NOT NULL, n INTEGER NOT NULL, at TEXT NOT NULL, "
    "status_code INTEGER, error TEXT NOT NULL, PRIMARY KEY (delivery_id, n))",
]


@dataclass(frozen=True)
class EndpointRow:
    endpoint_id: UUID
    reseller_id: UUID
    events: tuple[str, ...]
    enabled: bool


@dataclass(frozen=True)
class NewDelivery:
    delivery_id: UUID
    endpoint_id: UUID
    event_id: UUID
    kind: str
    lane: UUID
    body: str
    created_at: str  # stamped


@dataclass(frozen=True)
class WebhookWrite:
    """What one event changes in the webhooks' tables."""

    endpoints: tuple[EndpointRow, ...] = ()
    deliveries: tuple[NewDelivery, ...] = ()


@dataclass(frozen=True)
class Attempt:
    at: datetime
    status_code: int | None
    error: str


@dataclass(frozen=True)
class Delivery:
    id: UUID
    endpoint_id: UUID
    event_id: UUID
    kind: str
    lane: UUID
    position: int
    body: str
    status: str  # pending | delivered | failed
    created_at: datetime
    finished_at: datetime | None
    attempts: tuple[Attempt, ...] = field(default=())


class _Store(Protocol):
    def _sql(self, sql: str) -> str: ...
    def _rows(self, sql: str, params: Any = ()) -> list[Any]: ...
    def _exec(self, sql: str, params: Any = ()) -> None: ...


def apply_webhook_write(sql: Any, c: Any, w: WebhookWrite, position: int) -> None:
    """Inside the relay's transaction (``sql``: the store's dialect adapter)."""
    for e in w.endpoints:
        c.execute(
            sql(
                "INSERT INTO {p}webhook_endpoints (endpoint_id, reseller_id, events, enabled, failures) "
                "VALUES (?, ?, ?, ?, 0) ON CONFLICT (endpoint_id) DO UPDATE SET events = excluded.events, "
                "enabled = excluded.enabled, failures = CASE WHEN excluded.enabled = 1 "
                "AND {p}webhook_endpoints.enabled = 0 THEN 0 ELSE {p}webhook_endpoints.failures END"
            ),
            (str(e.endpoint_id), str(e.reseller_id), json.dumps(list(e.events)), int(e.enabled)),
        )
    for d in w.deliveries:
        c.execute(
            sql(
                "INSERT INTO {p}webhook_deliveries (delivery_id, endpoint_id, event_id, kind, lane, position, body, "
                "status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT (delivery_id) DO NOTHING"
            ),
            (
                str(d.delivery_id),
                str(d.endpoint_id),
                str(d.event_id),
                d.kind,
                str(d.lane),
                position,
                d.body,
                d.created_at,
            ),
        )


def _unstamp(s: str | None) -> datetime | None:
    # the sagas' store's fixed-width UTC stamps (csp.workers.store.stamp)
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) if s else None


class WebhookStore:
    """Queries and updates of the webhooks' tables (over the sagas' store)."""

    def __init__(self, store: _Store) -> None:
        self.store = store

    # --- endpoints (the relay's view) -------------------------------------------------

    def endpoints_of(self, reseller_id: UUID) -> list[EndpointRow]:
        rows = self.store._rows(
            "SELECT endpoint_id, reseller_id, events, enabled FROM {p}webhook_endpoints "
            "WHERE reseller_id = ? ORDER BY endpoint_id",
            (str(reseller_id),),
        )
        return [
            EndpointRow(
                UUID(r["endpoint_id"]), UUID(r["reseller_id"]), tuple(json.loads(r["events"])), bool(r["enabled"])
            )
            for r in rows
        ]

    def any_enabled(self) -> bool:
        """Whether any endpoint is enabled (else the relay loads nothing to build bodies)."""
        return bool(self.store._rows("SELECT 1 FROM {p}webhook_endpoints WHERE enabled = 1 LIMIT 1"))

    def record_failure(self, endpoint_id: UUID) -> int:
        """One more delivery failed for good: the count of failures in a row."""
        self.store._exec(
            "UPDATE {p}webhook_endpoints SET failures = failures + 1 WHERE endpoint_id = ?", (str(endpoint_id),)
        )
        rows = self.store._rows("SELECT failures FROM {p}webhook_endpoints WHERE endpoint_id = ?", (str(endpoint_id),))
        return int(rows[0]["failures"]) if rows else 0

    def record_success(self, endpoint_id: UUID) -> None:
        self.store._exec("UPDATE {p}webhook_endpoints SET failures = 0 WHERE endpoint_id = ?", (str(endpoint_id),))

    # --- deliveries ----------------------------------------------------------------

    def _delivery(self, r: Any, attempts: tuple[Attempt, ...] = ()) -> Delivery:
        return Delivery(
            id=UUID(r["delivery_id"]),
            endpoint_id=UUID(r["endpoint_id"]),
            event_id=UUID(r["event_id"]),
            kind=r["kind"],
            lane=UUID(r["lane"]),
            position=int(r["position"]),
            body=r["body"],
            status=r["status"],
            created_at=_unstamp(r["created_at"]),  # type: ignore[arg-type]
            finished_at=_unstamp(r["finished_at"]),
            attempts=attempts,
        )

    def attempts(self, delivery_id: UUID) -> tuple[Attempt, ...]:
        rows = self.store._rows(
            "SELECT at, status_code, error FROM {p}webhook_attempts WHERE delivery_id = ? ORDER BY n",
            (str(delivery_id),),
        )
        return tuple(
            Attempt(
                _unstamp(r["at"]),  # type: ignore[arg-type]
                int(r["status_code"]) if r["status_code"] is not None else None,
                r["error"],
            )
            for r in rows
        )

    def delivery(self, delivery_id: UUID) -> Delivery | None:
        rows = self.store._rows("SELECT * FROM {p}webhook_deliveries WHERE delivery_id = ?", (str(delivery_id),))
        return self._delivery(rows[0], self.attempts(delivery_id)) if rows else None

    def deliveries(self, endpoint_id: UUID, limit: int = 50, offset: int = 0) -> tuple[list[Delivery], int]:
        """An endpoint's deliveries, newest first, with their attempts."""
        total = self.store._rows(
            "SELECT COUNT(*) AS n FROM {p}webhook_deliveries WHERE endpoint_id = ?", (str(endpoint_id),)
        )[0]["n"]
        rows = self.store._rows(
            "SELECT * FROM {p}webhook_deliveries WHERE endpoint_id = ? ORDER BY position DESC, delivery_id "
            "LIMIT ? OFFSET ?",
            (str(endpoint_id), limit, offset),
        )
        return [self._delivery(r, self.attempts(UUID(r["delivery_id"]))) for r in rows], int(total)

    def pending(self) -> list[UUID]:
        rows = self.store._rows(
            "SELECT delivery_id FROM {p}webhook_deliveries WHERE status = 'pending' ORDER BY position"
        )
        return [UUID(r["delivery_id"]) for r in rows]

    def earlier_pending(self, d: Delivery) -> bool:
        """Whether a delivery of the same subject to the same endpoint, earlier in the log,
        is still pending (this one waits for it)."""
        rows = self.store._rows(
            "SELECT 1 FROM {p}webhook_deliveries WHERE endpoint_id = ? AND lane = ? AND position < ? "
            "AND status = 'pending' LIMIT 1",
            (str(d.endpoint_id), str(d.lane), d.position),
        )
        return bool(rows)

    def next_in_lane(self, d: Delivery) -> UUID | None:
        rows = self.store._rows(
            "SELECT delivery_id FROM {p}webhook_deliveries WHERE endpoint_id = ? AND lane = ? AND position > ? "
            "AND status = 'pending' ORDER BY position LIMIT 1",
            (str(d.endpoint_id), str(d.lane), d.position),
        )
        return UUID(rows[0]["delivery_id"]) if rows else None

    def record_attempt(self, delivery_id: UUID, at: str, status_code: int | None, error: str) -> None:
        self.store._exec(
            "INSERT INTO {p}webhook_attempts (delivery_id, n, at, status_code, error) VALUES (?, "
            "(SELECT COALESCE(MAX(n), 0) + 1 FROM {p}webhook_attempts WHERE delivery_id = ?), ?, ?, ?) "
            "ON CONFLICT (delivery_id, n) DO NOTHING",
            (str(delivery_id), str(delivery_id), at, status_code, error[:1000]),
        )

    def finish(self, delivery_id: UUID, status: str, at: str) -> None:
        self.store._exec(
            "UPDATE {p}webhook_deliveries SET status = ?, finished_at = ?, replay_requested = 0 WHERE delivery_id = ?",
            (status, at, str(delivery_id)),
        )

    def request_replay(self, delivery_id: UUID, requested: bool) -> None:
        """Pending again (its same webhook-id and body); ``requested``: for the in-process
        broker, the running service sends it on its next tick."""
        self.store._exec(
            "UPDATE {p}webhook_deliveries SET status = 'pending', finished_at = NULL, replay_requested = ? "
            "WHERE delivery_id = ?",
            (int(requested), str(delivery_id)),
        )

    def replay_requests(self) -> list[UUID]:
        rows = self.store._rows(
            "SELECT delivery_id FROM {p}webhook_deliveries WHERE replay_requested = 1 AND status = 'pending'"
        )
        return [UUID(r["delivery_id"]) for r in rows]

    def clear_replay_request(self, delivery_id: UUID) -> None:
        self.store._exec(
            "UPDATE {p}webhook_deliveries SET replay_requested = 0 WHERE delivery_id = ?", (str(delivery_id),)
        )
