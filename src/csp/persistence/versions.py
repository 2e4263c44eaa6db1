"""The current version of some aggregates, in one query on the events' table: how a
cache of what was read from them (the caller of a request) tells, cheaply and across
processes, that none of them has changed since."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from eventsourcing.sqlite import SQLiteAggregateRecorder


def aggregate_versions(recorder: Any, ids: Collection[UUID]) -> dict[UUID, int]:
    """Each aggregate's last version (an id without events is left out), read from
    eventsourcing's recorder (SQLite or PostgreSQL) in one statement."""
    if not ids:
        return {}
    if isinstance(recorder, SQLiteAggregateRecorder):
        marks = ", ".join("?" for _ in ids)
        sql = (
            f"SELECT originator_id, MAX(originator_version) AS v FROM {recorder.events_table_name} "
            f"WHERE originator_id IN ({marks}) GROUP BY originator_id"
        )
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(sql, [i.hex for i in ids])
            return {UUID(str(r["originator_id"])): int(r["v"]) for r in c.fetchall()}
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT originator_id, MAX(originator_version) AS v FROM {schema}.{table} "
        "WHERE originator_id = ANY(%s) GROUP BY originator_id"
    ).format(schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, [list(ids)], prepare=True)
        return {UUID(str(r["originator_id"])): int(r["v"]) for r in curs.fetchall()}
