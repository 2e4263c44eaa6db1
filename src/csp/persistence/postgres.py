"""The events' recorder on PostgreSQL: one round trip per append, and saves that arrive
together committed together (group commit), each under eventsourcing's table lock.

eventsourcing 9.5's ``PostgresApplicationRecorder.insert_events`` takes the events
table's ``EXCLUSIVE`` lock (so notification ids are issued in commit order and a
follower never passes over a gap that a slower transaction fills later), then inserts,
then commits: about five round trips, the lock held across the last three. Here one
statement does it all in the server (``csp_append_events``: lock, ``NOTIFY``, insert):
one round trip, and the lock held only while the server runs it and commits.

Group commit: while one thread's append is in flight, the saves of other threads queue;
the next append takes every queued save at once (no added delay: a save that arrives
alone goes alone), so a transaction pays the lock and the commit once for all of them.
The thread whose save heads the queue sends it (each thread leads at most once).
Each save inserts in its own sub-transaction (a plpgsql exception block): a save that
conflicts (another writer took its aggregate's version) fails alone, with eventsourcing's
``IntegrityError``, and the others commit. Any other failure of a combined append is
retried save by save, so it reaches only the save that causes it.

The pool's pre-ping (``POSTGRES_PRE_PING``: an empty query at every checkout) is
replaced, on this recorder's pool, by a check that costs no round trip unless it is
needed: a connection is pinged when the server has sent it something while it sat in
the pool (a terminated backend's goodbye: ``pg_terminate_backend``, a restart, an idle
timeout) or when it has not been used for ``IDLE_CHECK_SECONDS``. A connection dropped
without a word is still caught by eventsourcing's retry of its recorder methods.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Connection
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

IDLE_CHECK_SECONDS = 5.0
MAX_GROUP_EVENTS = 1000


def check_when_needed(conn: Connection[Any]) -> None:
    """The pool's check at checkout: ping only a connection the server has written to
    while it was idle (its socket is readable), or one idle for long."""
    now = time.monotonic()
    last = getattr(conn, "_csp_checked_out_at", None)
    conn._csp_checked_out_at = now  # type: ignore[attr-defined]
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError):
        readable = [True]
    if readable or last is None or now - last > IDLE_CHECK_SECONDS:
        ConnectionPool.check_connection(conn)


class _Save:
    """One thread's save waiting in the queue: its events, then its outcome. Its thread
    is woken when the outcome is known, or when it is handed the lead."""

    __slots__ = ("error", "events", "finished", "ids", "wake")

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.ids: list[int] | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.wake = threading.Event()

    def finish(self) -> None:
        self.finished = True
        self.wake.set()


class GroupCommitRecorder(PostgresApplicationRecorder):
    """``insert_events`` in one round trip, concurrent saves grouped in one transaction."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(self.datastore.schema)
        function = Identifier(f"csp_append_{self.datastore.originator_id_type}_{self.events_table_name}"[:63])
        event_type = Identifier(self.stored_event_type_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}(events {schema}.{event_type}[], sizes int[]) "
                "RETURNS TABLE (save_no int, event_id bigint) LANGUAGE plpgsql AS $BODY$ "
                "DECLARE i int; start_at int := 1; ids bigint[]; "
                "BEGIN "
                "  SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "  LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "  NOTIFY {channel}; "
                "  FOR i IN 1 .. coalesce(array_length(sizes, 1), 0) LOOP "
                "    BEGIN "
                "      WITH inserted AS ("
                "        INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
                "        SELECT originator_id, originator_version, topic, state "
                "        FROM unnest(events[start_at : start_at + sizes[i] - 1]) RETURNING notification_id"
                "      ) SELECT array_agg(inserted.notification_id ORDER BY inserted.notification_id) "
                "        INTO ids FROM inserted; "
                "      RETURN QUERY SELECT i, unnest(ids); "
                "    EXCEPTION WHEN unique_violation THEN "
                "      RETURN QUERY SELECT i, NULL::bigint; "
                "    END; "
                "    start_at := start_at + sizes[i]; "
                "  END LOOP; "
                "END $BODY$"
            ).format(
                schema=schema,
                function=function,
                event_type=event_type,
                table=Identifier(self.events_table_name),
                channel=Identifier(self.channel_name),
                lock_timeout=self.datastore.lock_timeout,
            )
        )
        self._append = SQL("SELECT * FROM {schema}.{function}(%s, %s::int[])").format(schema=schema, function=function)
        self._queue: list[_Save] = []
        self._queue_lock = threading.Lock()
        self._leading = False
        if self.datastore.pre_ping:
            self.datastore.pool._check = check_when_needed  # type: ignore[attr-defined]

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if kwargs.get("tracking") is not None or self.datastore.enable_db_functions:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        if not stored_events:
            return []
        mine = _Save(stored_events)
        with self._queue_lock:
            self._queue.append(mine)
            lead = not self._leading
            self._leading = True
        while True:
            if lead:
                self._lead_once()
            mine.wake.wait()
            if mine.finished:
                break
            lead = True  # handed the lead: this thread's save is at the head of the queue
        if mine.error is not None:
            raise mine.error
        return mine.ids

    def _lead_once(self) -> None:
        """Append one group of what is queued (this thread's save in it), then hand the
        lead to the first save still queued: a thread leads once, so no request waits
        on a stream of other threads' saves."""
        with self._queue_lock:
            group: list[_Save] = []
            size = 0
            while self._queue and (not group or size + len(self._queue[0].events) <= MAX_GROUP_EVENTS):
                save = self._queue.pop(0)
                group.append(save)
                size += len(save.events)
        try:
            self._append_group(group)
        except BaseException as e:  # each save is told; no save waits forever
            for save in group:
                if not save.finished:
                    save.error = e
                    save.finish()
            if not isinstance(e, Exception):
                self._hand_over()
                raise
        self._hand_over()

    def _hand_over(self) -> None:
        with self._queue_lock:
            if self._queue:
                self._queue[0].wake.set()
            else:
                self._leading = False

    def _append_group(self, group: list[_Save]) -> None:
        try:
            outcomes = self._append_once(group)
        except Exception:
            if len(group) == 1:
                raise
            # Not a conflict (those fail alone, inside): find the save that causes it.
            for save in group:
                try:
                    self._tell(save, self._append_once([save])[0])
                except Exception as alone:
                    save.error = alone
                    save.finish()
            return
        for save, outcome in zip(group, outcomes, strict=True):
            self._tell(save, outcome)

    @staticmethod
    def _tell(save: _Save, ids: list[int] | None) -> None:
        if ids is None:
            save.error = IntegrityError("duplicate key value violates unique constraint (originator_id, version)")
        else:
            save.ids = ids
        save.finish()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _append_once(self, group: list[_Save]) -> list[list[int] | None]:
        """One statement, one round trip: the ids of each save's events, None for a save
        that conflicted."""
        events = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for save in group
            for e in save.events
        ]
        sizes = [len(save.events) for save in group]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._append, (events, sizes), prepare=True)
            rows = curs.fetchall()
        ids: list[list[int] | None] = [[] for _ in group]
        for row in rows:
            n = row["save_no"] - 1
            if row["event_id"] is None:
                ids[n] = None
            else:
                got = ids[n]
                assert got is not None
                got.append(row["event_id"])
        return ids
