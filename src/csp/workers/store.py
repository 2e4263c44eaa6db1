"""The sagas' own tables, beside the relay's tracking position.

On SQLite they live in ``csp.relay.db`` beside the events' file; on PostgreSQL in the
events' database (tracking table ``relay_tracking``). The relay writes the schedule and
the pending-work rows in the same transaction as its tracking position, so they are
exactly as far along as the position says. Workers record failed messages, sent mail
and reported usage here.

- ``saga_schedule``: the next due time of each base subscription (time-driven work).
- ``saga_subscriptions``: live subscriptions, for the vendor sync.
- ``saga_pending``: outside work started and not yet answered (orders, tenants, pushed
  changes), re-derived against the aggregates' states when the relay starts.
- ``saga_lanes``: each pushed change's lane (its subscription family: the base's id) and
  its place in the log, while it is pending: a change goes to the vendor only when every
  earlier change of its family has been answered.
- ``saga_failed``: messages that exhausted their retries (``csp sagas failed`` / ``retry``).
- ``saga_mail``: the emails sent, keyed by the event that caused them (once each).
- ``saga_usage``: the days of usage already reported per subscription.
- ``saga_jobs``: periodic jobs done per period (billing month, sync slot).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment

from csp.persistence import Database, eventsourcing_env
from csp.workers.webhook_store import WEBHOOK_TABLES, WebhookWrite, apply_webhook_write

RELAY_NAME = "relay"
APPLICATION_NAME = "csp"

_TABLES = [
    "CREATE TABLE IF NOT EXISTS {p}saga_schedule (subscription_id TEXT PRIMARY KEY, due_at TEXT)",
    "CREATE INDEX IF NOT EXISTS saga_schedule_due ON {p}saga_schedule (due_at)",
    "CREATE TABLE IF NOT EXISTS {p}saga_subscriptions (subscription_id TEXT PRIMARY KEY, base_id TEXT NOT NULL, "
    "usage_based INTEGER NOT NULL, live INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}saga_pending (kind TEXT NOT NULL, aggregate_id TEXT NOT NULL, "
    "version INTEGER NOT NULL, PRIMARY KEY (kind, aggregate_id, version))",
    "CREATE TABLE IF NOT EXISTS {p}saga_lanes (aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, "
    "lane TEXT NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (aggregate_id, version))",
    "CREATE INDEX IF NOT EXISTS saga_lanes_lane ON {p}saga_lanes (lane, position)",
    "CREATE TABLE IF NOT EXISTS {p}saga_failed (message_id TEXT PRIMARY KEY, actor TEXT NOT NULL, "
    "queue TEXT NOT NULL, args TEXT NOT NULL, message TEXT NOT NULL, error TEXT NOT NULL, "
    "retries INTEGER NOT NULL, failed_at TEXT NOT NULL, retried_at TEXT, retry_requested_at TEXT)",
    "CREATE TABLE IF NOT EXISTS {p}saga_mail (event_key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "recipient TEXT NOT NULL, sent_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}saga_usage (subscription_id TEXT NOT NULL, day TEXT NOT NULL, "
    "PRIMARY KEY (subscription_id, day))",
    "CREATE TABLE IF NOT EXISTS {p}saga_jobs (job TEXT NOT NULL, period TEXT NOT NULL, ran_at TEXT NOT NULL, "
    "PRIMARY KEY (job, period))",
    # when each subscription's time-driven notices are next to be looked at (csp.workers.notices)
    "CREATE TABLE IF NOT EXISTS {p}saga_notice_checks (subscription_id TEXT PRIMARY KEY, check_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS saga_notice_checks_at ON {p}saga_notice_checks (check_at)",
    *WEBHOOK_TABLES,  # outbound webhooks (csp.workers.webhook_store)
]

CHECK_NOW = "0001-01-01T00:00:00.000000Z"  # a notice check due at once (before any stamp)
CHECK_NEVER = "9999-12-31T23:59:59.999999Z"  # no notice ahead: looked at again after its next event


def stamp(at: datetime) -> str:
    """A fixed-width UTC time, so text comparison is time order (on both stores)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unstamp(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class SQLiteRelayRecorder(SQLiteTrackingRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *(t.format(p="") for t in _TABLES)]


class PostgresRelayRecorder(PostgresTrackingRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from psycopg.sql import SQL

        prefix = f'"{self.datastore.schema}".'
        for t in _TABLES:
            # index names are schema-local in PostgreSQL: no prefix on them
            self.sql_create_statements.append(SQL(t.replace("ON {p}", "ON " + prefix).format(p=prefix)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class FailedMessage:
    message_id: str
    actor: str
    queue: str
    args: list[Any]
    message: dict[str, Any]
    error: str
    retries: int
    failed_at: datetime
    retried_at: datetime | None
    retry_requested_at: datetime | None = None


@dataclass(frozen=True)
class RelayWrite:
    """What processing one event changes in the sagas' tables."""

    schedule: dict[UUID, datetime | None]
    subscriptions: dict[UUID, tuple[UUID, bool, bool]]  # id -> (base id, usage based, live)
    pending_add: tuple[tuple[str, UUID, int], ...] = ()
    pending_done: tuple[tuple[str, UUID, int | None], ...] = ()
    lanes: tuple[tuple[UUID, UUID, int], ...] = ()  # (lane, aggregate, version) of a pushed change
    webhooks: WebhookWrite | None = None  # endpoints and new deliveries (csp.workers.webhook_store)
    notice_checks: tuple[UUID, ...] = ()  # subscriptions whose notices are to be looked at again
    notice_recheck_all: bool = False  # a reseller's notice settings changed: look at every one again


class SagaStore:
    """The sagas' tables and the relay's tracking position, in one recorder's datastore."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.is_postgres = not db.is_sqlite
        if db.is_sqlite:
            path = db.sibling(RELAY_NAME)
            env = eventsourcing_env(db, sqlite_path=path)
            if path is None:
                env["SQLITE_DBNAME"] = f"file:csp-relay-memory-{id(self)}?mode=memory&cache=shared"
            cls: type[TrackingRecorder] = SQLiteRelayRecorder
        else:
            env = eventsourcing_env(db)
            env["POSTGRES_POOL_SIZE"] = "1"
            env["POSTGRES_MAX_OVERFLOW"] = "3"
            cls = PostgresRelayRecorder
        env.pop("APPLICATION_RECORDER_TOPIC", None)
        factory = InfrastructureFactory[TrackingRecorder].construct(env=Environment(RELAY_NAME, env))
        self.recorder = factory.tracking_recorder(cls)
        self._factory = factory
        self._prefix = f'"{self.recorder.datastore.schema}".' if self.is_postgres else ""  # type: ignore[attr-defined]

    def close(self) -> None:
        self._factory.close()

    # --- SQL plumbing: ``?`` placeholders and ``{p}`` table prefix on both dialects -------

    def _sql(self, sql: str) -> str:
        sql = sql.format(p=self._prefix)
        return sql.replace("?", "%s") if self.is_postgres else sql

    @contextmanager
    def _tx(self, commit: bool = True) -> Iterator[Any]:
        with self.recorder.datastore.transaction(commit=commit) as c:  # type: ignore[attr-defined]
            yield c

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._tx(commit=False) as c:
            c.execute(self._sql(sql), tuple(params))
            return list(c.fetchall())

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._tx() as c:
            c.execute(self._sql(sql), tuple(params))

    # --- the relay's position and its writes -----------------------------------------

    def position(self) -> int | None:
        return self.recorder.max_tracking_id(APPLICATION_NAME)

    def commit(self, tracking: Tracking, write: RelayWrite | None) -> None:
        """Record what an event changed and the relay's new position, in one transaction."""
        with self._tx() as c:
            if write is not None:
                self._apply(c, write, tracking.notification_id)
            self.recorder._insert_tracking(c, tracking)  # type: ignore[attr-defined]

    def _apply(self, c: Any, w: RelayWrite, position: int) -> None:
        for sid, due in w.schedule.items():
            c.execute(
                self._sql(
                    "INSERT INTO {p}saga_schedule (subscription_id, due_at) VALUES (?, ?) "
                    "ON CONFLICT (subscription_id) DO UPDATE SET due_at = excluded.due_at"
                ),
                (str(sid), stamp(due) if due is not None else None),
            )
        for sid, (base, usage, live) in w.subscriptions.items():
            c.execute(
                self._sql(
                    "INSERT INTO {p}saga_subscriptions (subscription_id, base_id, usage_based, live) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (subscription_id) DO UPDATE SET "
                    "base_id = excluded.base_id, usage_based = excluded.usage_based, live = excluded.live"
                ),
                (str(sid), str(base), int(usage), int(live)),
            )
        for kind, agg, version in w.pending_add:
            c.execute(
                self._sql(
                    "INSERT INTO {p}saga_pending (kind, aggregate_id, version) VALUES (?, ?, ?) "
                    "ON CONFLICT (kind, aggregate_id, version) DO NOTHING"
                ),
                (kind, str(agg), version),
            )
        for lane, agg, version in w.lanes:
            c.execute(
                self._sql(
                    "INSERT INTO {p}saga_lanes (aggregate_id, version, lane, position) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (aggregate_id, version) DO NOTHING"
                ),
                (str(agg), version, str(lane), position),
            )
        for kind, agg, maybe_version in w.pending_done:
            self._delete_pending(c, kind, agg, maybe_version)
        if w.webhooks is not None:
            apply_webhook_write(self._sql, c, w.webhooks, position)
        for sid in w.notice_checks:
            c.execute(
                self._sql(
                    "INSERT INTO {p}saga_notice_checks (subscription_id, check_at) VALUES (?, ?) "
                    "ON CONFLICT (subscription_id) DO UPDATE SET check_at = excluded.check_at"
                ),
                (str(sid), CHECK_NOW),
            )
        if w.notice_recheck_all:
            c.execute(self._sql("UPDATE {p}saga_notice_checks SET check_at = ?"), (CHECK_NOW,))

    def _delete_pending(self, c: Any, kind: str, agg: UUID, version: int | None) -> None:
        if version is None:
            c.execute(self._sql("DELETE FROM {p}saga_pending WHERE kind = ? AND aggregate_id = ?"), (kind, str(agg)))
        else:
            c.execute(
                self._sql("DELETE FROM {p}saga_pending WHERE kind = ? AND aggregate_id = ? AND version = ?"),
                (kind, str(agg), version),
            )
        if kind == "push":  # answered: it no longer holds its lane
            where = "aggregate_id = ?" if version is None else "aggregate_id = ? AND version = ?"
            params = (str(agg),) if version is None else (str(agg), version)
            c.execute(self._sql(f"DELETE FROM {{p}}saga_lanes WHERE {where}"), params)

    # --- pending work ------------------------------------------------------------

    def pending(self) -> list[tuple[str, UUID, int]]:
        rows = self._rows(
            "SELECT kind, aggregate_id, version FROM {p}saga_pending ORDER BY kind, aggregate_id, version"
        )
        return [(r["kind"], UUID(r["aggregate_id"]), int(r["version"])) for r in rows]

    def complete(self, kind: str, aggregate_id: UUID, version: int | None = None) -> None:
        with self._tx() as c:
            self._delete_pending(c, kind, aggregate_id, version)

    def is_pending(self, kind: str, aggregate_id: UUID, version: int) -> bool:
        rows = self._rows(
            "SELECT 1 FROM {p}saga_pending WHERE kind = ? AND aggregate_id = ? AND version = ?",
            (kind, str(aggregate_id), version),
        )
        return bool(rows)

    def earlier_in_lane(self, aggregate_id: UUID, version: int) -> bool:
        """Whether a change pushed before this one, of the same subscription or of another
        of its family, is still waiting for the vendor's answer."""
        rows = self._rows(
            "SELECT 1 FROM {p}saga_pending WHERE kind = 'push' AND aggregate_id = ? AND version < ? "
            "UNION ALL SELECT 1 FROM {p}saga_lanes other JOIN {p}saga_lanes me ON other.lane = me.lane "
            "WHERE me.aggregate_id = ? AND me.version = ? AND other.position < me.position",
            (str(aggregate_id), version, str(aggregate_id), version),
        )
        return bool(rows)

    # --- schedule and sync --------------------------------------------------------

    def due(self, now: datetime, limit: int = 1000) -> list[UUID]:
        rows = self._rows(
            "SELECT subscription_id FROM {p}saga_schedule WHERE due_at IS NOT NULL AND due_at <= ? "
            "ORDER BY due_at LIMIT ?",
            (stamp(now), limit),
        )
        return [UUID(r["subscription_id"]) for r in rows]

    def next_due(self, subscription_id: UUID) -> datetime | None:
        rows = self._rows("SELECT due_at FROM {p}saga_schedule WHERE subscription_id = ?", (str(subscription_id),))
        return unstamp(rows[0]["due_at"]) if rows and rows[0]["due_at"] else None

    def subscription_ids(self) -> list[UUID]:
        """Every subscription the relay has seen, live or ended."""
        rows = self._rows("SELECT subscription_id FROM {p}saga_subscriptions ORDER BY subscription_id")
        return [UUID(r["subscription_id"]) for r in rows]

    def live_subscriptions(self) -> list[tuple[UUID, bool]]:
        rows = self._rows(
            "SELECT subscription_id, usage_based FROM {p}saga_subscriptions WHERE live = 1 ORDER BY subscription_id"
        )
        return [(UUID(r["subscription_id"]), bool(r["usage_based"])) for r in rows]

    # --- failed messages -----------------------------------------------------------

    def record_failure(
        self,
        message_id: str,
        actor: str,
        queue: str,
        args: list[Any],
        message: dict[str, Any],
        error: str,
        retries: int,
        at: datetime,
    ) -> None:
        self._exec(
            "INSERT INTO {p}saga_failed (message_id, actor, queue, args, message, error, retries, failed_at, retried_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (message_id) DO UPDATE SET "
            "error = excluded.error, retries = excluded.retries, failed_at = excluded.failed_at, retried_at = NULL",
            (message_id, actor, queue, json.dumps(args), json.dumps(message), error[-4000:], retries, stamp(at)),
        )

    def failed(self, include_retried: bool = False) -> list[FailedMessage]:
        where = "" if include_retried else " WHERE retried_at IS NULL"
        rows = self._rows(f"SELECT * FROM {{p}}saga_failed{where} ORDER BY failed_at")
        return [
            FailedMessage(
                message_id=r["message_id"],
                actor=r["actor"],
                queue=r["queue"],
                args=json.loads(r["args"]),
                message=json.loads(r["message"]),
                error=r["error"],
                retries=int(r["retries"]),
                failed_at=unstamp(r["failed_at"]),
                retried_at=unstamp(r["retried_at"]) if r["retried_at"] else None,
                retry_requested_at=unstamp(r["retry_requested_at"]) if r["retry_requested_at"] else None,
            )
            for r in rows
        ]

    def failed_message(self, message_id: str) -> FailedMessage | None:
        for f in self.failed(include_retried=True):
            if f.message_id == message_id or f.message_id.startswith(message_id):
                return f
        return None

    def mark_retried(self, message_id: str, at: datetime) -> None:
        self._exec("UPDATE {p}saga_failed SET retried_at = ? WHERE message_id = ?", (stamp(at), message_id))

    def request_retry(self, message_id: str, at: datetime) -> None:
        """For the in-process broker: the running service re-enqueues it on its next tick."""
        self._exec("UPDATE {p}saga_failed SET retry_requested_at = ? WHERE message_id = ?", (stamp(at), message_id))

    def retry_requests(self) -> list[FailedMessage]:
        return [f for f in self.failed() if f.retry_requested_at is not None]

    # --- mail, usage, periodic jobs -------------------------------------------------

    def mail_sent(self, event_key: str) -> bool:
        return bool(self._rows("SELECT 1 FROM {p}saga_mail WHERE event_key = ?", (event_key,)))

    def record_mail(self, event_key: str, kind: str, recipient: str, at: datetime) -> None:
        self._exec(
            "INSERT INTO {p}saga_mail (event_key, kind, recipient, sent_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (event_key) DO NOTHING",
            (event_key, kind, recipient, stamp(at)),
        )

    def mails(self) -> list[tuple[str, str, str]]:
        rows = self._rows("SELECT event_key, kind, recipient FROM {p}saga_mail ORDER BY sent_at")
        return [(r["event_key"], r["kind"], r["recipient"]) for r in rows]

    def usage_days(self, subscription_id: UUID) -> set[str]:
        rows = self._rows("SELECT day FROM {p}saga_usage WHERE subscription_id = ?", (str(subscription_id),))
        return {r["day"] for r in rows}

    def record_usage_day(self, subscription_id: UUID, day: str) -> None:
        self._exec(
            "INSERT INTO {p}saga_usage (subscription_id, day) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (str(subscription_id), day),
        )

    # --- notice checks -------------------------------------------------------------

    def notice_checks_due(self, now: datetime, limit: int = 500) -> list[tuple[UUID, str]]:
        """Subscriptions whose notices are to be looked at by ``now``, with the check's stamp
        (for ``set_notice_check``)."""
        rows = self._rows(
            "SELECT subscription_id, check_at FROM {p}saga_notice_checks WHERE check_at <= ? "
            "ORDER BY check_at, subscription_id LIMIT ?",
            (stamp(now), limit),
        )
        return [(UUID(r["subscription_id"]), r["check_at"]) for r in rows]

    def set_notice_check(self, subscription_id: UUID, seen: str, next_at: datetime | None) -> None:
        """The next look at a subscription's notices (None: none ahead), unless an event asked
        for a look since ``seen`` was read (compare and set: that look wins)."""
        with self._tx() as c:
            c.execute(
                self._sql("UPDATE {p}saga_notice_checks SET check_at = ? WHERE subscription_id = ? AND check_at = ?"),
                (stamp(next_at) if next_at is not None else CHECK_NEVER, str(subscription_id), seen),
            )

    def backfill_notice_checks(self) -> None:
        """Every live subscription looked at once (a store written before notice checks)."""
        with self._tx() as c:
            c.execute(
                self._sql(
                    "INSERT INTO {p}saga_notice_checks (subscription_id, check_at) "
                    "SELECT subscription_id, ? FROM {p}saga_subscriptions WHERE live = 1 "
                    "ON CONFLICT (subscription_id) DO NOTHING"
                ),
                (CHECK_NOW,),
            )

    def job_done(self, job: str, period: str) -> bool:
        return bool(self._rows("SELECT 1 FROM {p}saga_jobs WHERE job = ? AND period = ?", (job, period)))

    def last_job_period(self, job: str) -> str | None:
        rows = self._rows("SELECT MAX(period) AS p FROM {p}saga_jobs WHERE job = ?", (job,))
        return rows[0]["p"] if rows and rows[0]["p"] else None

    def record_job(self, job: str, period: str, at: datetime) -> None:
        self._exec(
            "INSERT INTO {p}saga_jobs (job, period, ran_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (job, period, stamp(at)),
        )
