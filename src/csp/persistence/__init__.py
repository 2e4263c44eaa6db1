"""Event-store wiring: database URLs, value transcodings, and SQLite subscriptions.

eventsourcing 9.5.6's SQLite recorder has no ``subscribe()``; ``PollingSQLiteRecorder``
gives it one that polls ``select_notifications`` and is woken early by writes made in
this process, so ``ProjectionRunner`` and the relay follow SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

from eventsourcing.persistence import (
    JSONTranscoder,
    ListenNotifySubscription,
    StoredEvent,
    Subscription,
    Transcoding,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder

from csp.aggregates.base import Value
from csp.errors import StartupError

POLL_INTERVAL_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class Database:
    """A parsed ``CSP_DATABASE_URL``."""

    kind: str  # "sqlite" | "postgres"
    url: str
    path: Path | None = None  # sqlite file (None: in memory)
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""
    pool_size: int = 2
    max_overflow: int = 4
    schema: str = ""

    @property
    def is_sqlite(self) -> bool:
        return self.kind == "sqlite"

    def sibling(self, suffix: str) -> Path | None:
        """A follower's own SQLite file beside the events' file (``csp.db`` → ``csp.read.db``)."""
        if self.path is None:
            return None
        return self.path.with_name(f"{self.path.stem}.{suffix}{self.path.suffix or '.db'}")

    def describe(self) -> str:
        if self.is_sqlite:
            return f"SQLite {self.path or ':memory:'}"
        return f"PostgreSQL {self.user}@{self.host}:{self.port}/{self.dbname}"


def parse_database_url(url: str, pool_size: int = 2, max_overflow: int = 4) -> Database:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db``, ``sqlite:///:memory:``,
    ``postgresql://user:pass@host:port/db?pool_size=5&max_overflow=10&schema=x`` (the
    URL's pool sizes win over ``pool_size`` / ``max_overflow``, the settings')."""
    try:
        parts = urlsplit(url)
    except ValueError as e:
        raise StartupError(f"CSP_DATABASE_URL is not a URL: {url!r} ({e})") from None
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        raw = unquote(parts.path)
        if parts.netloc:
            raise StartupError(f"CSP_DATABASE_URL: a SQLite URL has no host: use sqlite:///path (got {url!r})")
        path = raw[1:] if raw.startswith("/") else raw
        if path in ("", ":memory:"):
            return Database(kind="sqlite", url=url, path=None)
        return Database(kind="sqlite", url=url, path=Path(path))
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            port = parts.port or 5432
            pool_size = int(q.get("pool_size", pool_size))
            max_overflow = int(q.get("max_overflow", max_overflow))
        except ValueError as e:
            raise StartupError(f"CSP_DATABASE_URL has a bad number in it: {e}") from None
        dbname = parts.path.lstrip("/")
        if not dbname:
            raise StartupError("CSP_DATABASE_URL names no database: postgresql://user@host:5432/DBNAME")
        return Database(
            kind="postgres",
            url=url,
            host=parts.hostname or "127.0.0.1",
            port=port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            dbname=dbname,
            pool_size=pool_size,
            max_overflow=max_overflow,
            schema=q.get("schema", ""),
        )
    raise StartupError(f"CSP_DATABASE_URL must start with sqlite:/// or postgresql:// (got {url.split(':', 1)[0]!r})")


def eventsourcing_env(db: Database, sqlite_path: Path | None = None) -> dict[str, str]:
    """The eventsourcing environment for a database (``sqlite_path`` overrides the file)."""
    if db.is_sqlite:
        path = sqlite_path or db.path
        if path is None:
            name = "file:csp-memory?mode=memory&cache=shared"
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            name = str(path)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": name,
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": "csp.persistence:PollingSQLiteRecorder",
        }
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": db.dbname,
        "POSTGRES_HOST": db.host,
        "POSTGRES_PORT": str(db.port),
        "POSTGRES_USER": db.user,
        "POSTGRES_PASSWORD": db.password,
        "POSTGRES_POOL_SIZE": str(db.pool_size),
        "POSTGRES_MAX_OVERFLOW": str(db.max_overflow),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        # A pooled connection is checked before use: one dropped by the server (a
        # restart, ``pg_terminate_backend``, an idle timeout) is replaced, not handed out.
        # (The events' recorder checks only when needed: ``csp.persistence.postgres``.)
        "POSTGRES_PRE_PING": "y",
        # Appends in one round trip, concurrent saves committed together.
        "APPLICATION_RECORDER_TOPIC": "csp.persistence.postgres:GroupCommitRecorder",
    }
    if db.schema:
        env["POSTGRES_SCHEMA"] = db.schema
    return env


@contextlib.contextmanager
def schema_lock(db: Database) -> Iterator[None]:
    """Serialise table creation between processes starting at once.

    PostgreSQL's catalog does not take concurrent ``CREATE TABLE IF NOT EXISTS`` of the
    same table well ("tuple concurrently updated", a duplicate ``pg_type`` row), so every
    process creates its tables holding one advisory lock per database and schema.
    SQLite serialises writers itself.
    """
    if db.is_sqlite:
        yield
        return
    import psycopg

    key = zlib.crc32(f"csp-schema:{db.dbname}:{db.schema}".encode()) - 2**31
    with psycopg.connect(
        host=db.host,
        port=db.port,
        user=db.user or None,
        password=db.password or None,
        dbname=db.dbname,
        autocommit=True,
        connect_timeout=5,
    ) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


# --- value transcodings --------------------------------------------------------


class ValueTranscoding(Transcoding):
    """Encodes a frozen dataclass ``Value`` as its fields; lists decode back to tuples."""

    def __init__(self, cls: type[Value]) -> None:
        self.type = cls
        self.name = cls.__name__
        self._fields = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f: getattr(obj, f) for f in self._fields}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in self._fields})


class TupleJSONTranscoder(JSONTranscoder):
    """JSON has no tuples: an event's sequences come back as lists. Events hold tuples
    only, so the top-level lists are turned back into tuples, and replayed state equals
    the state that was saved (values convert their own fields)."""

    def decode(self, data: bytes) -> Any:
        obj = super().decode(data)
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, list):
                    obj[k] = tuple(v)
        return obj


def register_value_transcodings(transcoder: JSONTranscoder) -> None:
    # Import every module that defines values, so the registry is complete.
    import csp.aggregates  # noqa: F401

    for cls in Value.registry.values():
        transcoder.register(ValueTranscoding(cls))


# --- SQLite subscriptions --------------------------------------------------------


class _WriteSignal:
    """Wakes the subscribers of one SQLite file when events are written to it: this
    process's at once (a condition), and other processes' through their datagram
    sockets beside it (``csp.persistence.signals``), so a follower in another process
    (``csp project``, the relay) does not wait for its next poll."""

    _signals: ClassVar[dict[str, _WriteSignal]] = {}
    _lock = threading.Lock()

    def __init__(self, name: str) -> None:
        self.condition = threading.Condition()
        self.generation = 0
        self._across: Any = None
        if not name.startswith("file:") and name != ":memory:":
            from csp.persistence.signals import SocketDirSignal

            self._across = SocketDirSignal(Path(name), "events")

    @classmethod
    def for_db(cls, name: str) -> _WriteSignal:
        with cls._lock:
            signal = cls._signals.get(name)
            if signal is None:
                signal = cls._signals[name] = cls(name)
            return signal

    def _wake(self, _: int | None = None) -> None:
        with self.condition:
            self.generation += 1
            self.condition.notify_all()

    def notify(self) -> None:
        self._wake()
        if self._across is not None:
            self._across.publish(self.generation)

    def listen_across(self) -> None:
        """Be woken by the writes of other processes too (a follower calls this)."""
        if self._across is not None:
            self._across.listen(self._wake)

    def wait(self, seen: int, timeout: float) -> int:
        with self.condition:
            if self.generation == seen:
                self.condition.wait(timeout)
            return self.generation


class PollingSQLiteRecorder(SQLiteApplicationRecorder):
    """SQLite application recorder with a ``subscribe()`` (polling, woken by local writes)."""

    poll_interval = POLL_INTERVAL_SECONDS

    @property
    def _signal(self) -> _WriteSignal:
        return _WriteSignal.for_db(self.datastore.pool.db_name)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super().insert_events(stored_events, **kwargs)
        self._signal.notify()
        return ids

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[Any]:
        return PollingSubscription(recorder=self, gt=gt, topics=topics)


class PollingSubscription(ListenNotifySubscription[PollingSQLiteRecorder]):
    """Pulls new notifications when woken by a local write, or every poll interval
    (for writes made by other processes)."""

    def __init__(self, recorder: PollingSQLiteRecorder, gt: int | None = None, topics: Sequence[str] = ()) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._waker = threading.Thread(target=self._wake_loop, name="sqlite-subscription-waker", daemon=True)
        self._waker.start()

    def _wake_loop(self) -> None:
        signal = self._recorder._signal
        signal.listen_across()
        seen = signal.generation
        while not self._has_been_stopped:
            seen = signal.wait(seen, self._recorder.poll_interval)
            self._has_been_notified.set()

    def stop(self) -> None:
        super().stop()
        self._recorder._signal.notify()

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._waker.join(timeout=2)


# --- transient database errors ------------------------------------------------------

# What a process may meet while others start at the same moment, while PostgreSQL is
# full, or when its connection is dropped: worth a bounded back-off and retry.
TRANSIENT_DATABASE_ERRORS = (
    "tuple concurrently updated",
    "duplicate key value violates unique constraint",  # a concurrent CREATE (pg_type, pg_class)
    "already exists",  # a concurrent CREATE TABLE / TYPE / INDEX
    "too many clients",
    "remaining connection slots are reserved",
    "the database system is starting up",
    "the database system is shutting down",
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "connection is lost",
    "consuming input failed",
    "ssl syscall error",
    "couldn't get a connection",  # a pool's wait timed out
)


def is_transient_startup_error(e: BaseException) -> bool:
    """A database error that another attempt, a moment later, may not meet."""
    from eventsourcing.persistence import PersistenceError

    try:
        import psycopg

        db_errors: tuple[type[BaseException], ...] = (PersistenceError, psycopg.Error)
    except ImportError:  # pragma: no cover - psycopg is a dependency
        db_errors = (PersistenceError,)
    if not isinstance(e, db_errors):
        return False
    text = str(e).lower()
    return any(marker in text for marker in TRANSIENT_DATABASE_ERRORS)


# --- many aggregates' events in one query -------------------------------------------


def select_histories(recorder: Any, originator_ids: Sequence[UUID]) -> dict[UUID, list[StoredEvent]]:
    """Every stored event of each aggregate in ``originator_ids``, oldest first, in one
    query (where ``recorder.select_events`` takes one per aggregate): a batch of a billing
    run's subscriptions. Aggregates with no events are absent from the result."""
    out: dict[UUID, list[StoredEvent]] = {}
    if not originator_ids:
        return out
    if isinstance(recorder, SQLiteApplicationRecorder):
        marks = ",".join("?" * len(originator_ids))
        statement = (
            f"SELECT originator_id, originator_version, topic, state FROM {recorder.events_table_name} "
            f"WHERE originator_id IN ({marks}) ORDER BY originator_id, originator_version"
        )
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(statement, [i.hex for i in originator_ids])
            rows = c.fetchall()
        for row in rows:
            oid = UUID(row["originator_id"])
            out.setdefault(oid, []).append(StoredEvent(oid, row["originator_version"], row["topic"], row["state"]))
        return out
    if not hasattr(recorder, "datastore"):  # the in-memory recorder of unit tests: one call each
        for oid in originator_ids:
            if found := list(recorder.select_events(oid)):
                out[oid] = found
        return out
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    ).format(schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, [list(originator_ids)])
        for row in curs.fetchall():
            oid = row["originator_id"]
            out.setdefault(oid, []).append(
                StoredEvent(oid, row["originator_version"], row["topic"], bytes(row["state"]))
            )
    return out
