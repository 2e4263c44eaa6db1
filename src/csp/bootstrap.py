"""The one place that builds the system from settings. Nothing connects at import time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import PersistenceError

from csp.application import CspApplication
from csp.clock import Clock, StoredOffsetClock, SystemClock
from csp.errors import StartupError
from csp.persistence import Database, eventsourcing_env, parse_database_url, schema_lock
from csp.settings import Settings
from csp.workers import build_sagas

if TYPE_CHECKING:
    from csp.mail import Mailer
    from csp.projections import ReadSide
    from csp.workers import Sagas


@dataclass
class System:
    """Everything a process needs, built from settings.

    Each area adds its part here, built by a function of its own package and called
    from ``bootstrap``: the read side (``read``: projections, queries, read-your-writes
    wait), the sagas (``sagas``: broker, relay, workers, vendor gateway, mailer,
    scheduler). ``closers`` are called in reverse order by ``close()``.
    """

    settings: Settings
    database: Database
    app: CspApplication
    clock: Clock
    closers: list[Any] = field(default_factory=list)
    sagas: Sagas | None = None  # csp.workers.build_sagas
    mailer: Mailer | None = None  # the sagas' mailer (SMTP or the .eml outbox)
    read: ReadSide | None = None

    def close(self) -> None:
        for c in reversed(self.closers):
            c()
        self.closers.clear()
        self.app.close()


def check_database(db: Database) -> None:
    """Fail start-up with one clear line when the database cannot be reached."""
    if db.is_sqlite:
        if db.path is not None:
            try:
                db.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StartupError(f"cannot create the data folder {db.path.parent}: {e.strerror}") from None
        return
    import psycopg

    try:
        with psycopg.connect(
            host=db.host,
            port=db.port,
            user=db.user or None,
            password=db.password or None,
            dbname=db.dbname,
            connect_timeout=5,
        ):
            pass
    except psycopg.OperationalError as e:
        lines = [x.strip() for x in str(e).splitlines() if x.strip()] or [type(e).__name__]
        reason = lines[0].removeprefix("connection failed: ")
        raise StartupError(f"cannot connect to {db.describe()}: {reason}") from None


def open_application(db: Database, clock: Clock) -> CspApplication:
    try:
        return CspApplication(env=eventsourcing_env(db), clock=clock)
    except PersistenceError as e:
        raise StartupError(f"cannot open the event store on {db.describe()}: {e}") from None


def build_clock(settings: Settings, db: Database) -> Clock:
    """Real time; with ``CSP_TEST_MODE`` the test clock, shared through the database."""
    if not settings.test_mode:
        return SystemClock()
    from csp.clockstore import offset_store_for

    return StoredOffsetClock(offset_store_for(db, eventsourcing_env(db).get("SQLITE_DBNAME", "")))


def bootstrap(settings: Settings, clock: Clock | None = None, *, load_catalog: bool = True) -> System:
    """Build the system: the event store and application, the read side and the sagas.

    Tables are created holding the schema lock, so processes started at the same moment
    on a fresh database do not trip over each other.
    """
    from csp.projections import build_read_side

    db = parse_database_url(
        settings.resolved_database_url(), settings.postgres_pool_size, settings.postgres_max_overflow
    )
    check_database(db)
    with schema_lock(db):
        clock = clock or build_clock(settings, db)
        app = open_application(db, clock)
        system = System(settings=settings, database=db, app=app, clock=clock)
        system.read = build_read_side(system, run_in_process=settings.run_projections_in_process())
        system.sagas = build_sagas(system, run_in_process=not settings.broker_url)
        system.closers.append(system.sagas.stop)
    if load_catalog:
        app.ensure_catalog()
    return system
