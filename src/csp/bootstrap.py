"""The composition root: the one place that builds the system from settings.

``bootstrap(settings, role=...)`` builds, in one pass and holding the schema lock, what
a process role needs (the event store and application always; the read side — its
queries and its projector —, the sagas and the mailer as the role asks) and returns a
frozen ``System``. The parts take
the narrow collaborators they use (``settings``, ``database``, ``app``, ``clock``,
``mailer``), never the ``System``; nothing below this module imports it.
``web_app(system)`` builds the HTTP app over a system's parts. Nothing connects at import.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from eventsourcing.persistence import PersistenceError

from csp.application import CspApplication
from csp.application.sealing import SecretBox
from csp.clock import Clock, StoredOffsetClock, SystemClock
from csp.errors import StartupError
from csp.keys import SecretKey, load_secret_key
from csp.persistence import Database, eventsourcing_env, is_transient_startup_error, parse_database_url, schema_lock
from csp.settings import Settings

log = logging.getLogger(__name__)

# The first wait after a transient start-up error; it doubles per attempt, up to 10 s.
STARTUP_BACKOFF_SECONDS = 0.5
MAX_STARTUP_BACKOFF_SECONDS = 10.0

if TYPE_CHECKING:
    from fastapi import FastAPI

    from csp.api.app import WebParts
    from csp.api.auth import Auth
    from csp.mail import Mailer
    from csp.projections import Projector, ReadModels
    from csp.workers import Sagas

# What each process role builds beyond the application: (read side, sagas and mailer).
# ``all``: csp serve and csp demo (the embedded default runs everything in-process);
# ``read``: csp project, rebuild, audit, billing export; ``sagas``: csp relay, worker,
# scheduler, sagas; ``tool``: csp check, catalog, billing run, audit history.
Role = Literal["all", "read", "sagas", "tool"]
ROLES: dict[str, tuple[bool, bool]] = {
    "all": (True, True),
    "read": (True, False),
    "sagas": (False, True),
    "tool": (False, False),
}


@dataclass(frozen=True)
class System:
    """What a process was built with (frozen: nothing is set on it after ``bootstrap``).

    ``read`` (the queries and read-your-writes, what the web layer uses), ``projector``
    (what applies the events to them: ``start`` in-process, ``run``, ``sync``,
    ``rebuild``, ``verify_audit``) and ``sagas`` are ``None`` when the role does not need them;
    ``resources`` closes, in reverse order, what the parts opened (``close()``).
    """

    settings: Settings
    database: Database
    app: CspApplication
    clock: Clock
    resources: ExitStack
    read: ReadModels | None = None
    projector: Projector | None = None
    sagas: Sagas | None = None
    mailer: Mailer | None = None
    secret_key: SecretKey | None = None  # where the key sealing webhook secrets came from

    def close(self) -> None:
        self.resources.close()
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


def open_application(db: Database, clock: Clock, secrets: SecretBox | None = None) -> CspApplication:
    try:
        return CspApplication(env=eventsourcing_env(db), clock=clock, secrets=secrets)
    except PersistenceError as e:
        raise StartupError(f"cannot open the event store on {db.describe()}: {e}") from None


def build_clock(settings: Settings, db: Database) -> Clock:
    """Real time; with ``CSP_TEST_MODE`` the test clock, shared through the database."""
    if not settings.test_mode:
        return SystemClock()
    from csp.persistence.clock_offset import offset_store_for

    return StoredOffsetClock(offset_store_for(db, eventsourcing_env(db).get("SQLITE_DBNAME", "")))


def bootstrap(
    settings: Settings, clock: Clock | None = None, *, load_catalog: bool = True, role: Role = "all"
) -> System:
    """Build what ``role`` needs: the event store and application, and (per ``ROLES``)
    the read side, the sagas and their mailer.

    Tables are created holding the schema lock, so processes started at the same moment
    on a fresh database do not trip over each other. A transient database error on the
    way (a concurrent schema creation, "too many clients", a dropped connection) is
    retried with a growing back-off and one log line per retry, up to
    ``CSP_STARTUP_ATTEMPTS`` attempts; anything else fails at once.
    """
    attempts = max(1, settings.startup_attempts)
    backoff = STARTUP_BACKOFF_SECONDS
    for attempt in range(1, attempts + 1):
        try:
            return _bootstrap_once(settings, clock, load_catalog=load_catalog, role=role)
        except Exception as e:
            cause = e.__cause__ if isinstance(e, StartupError) and e.__cause__ is not None else e
            if not is_transient_startup_error(cause):
                raise
            if attempt == attempts:
                raise StartupError(f"cannot start after {attempts} attempts: {_one_line(cause)}") from None
            log.warning(
                "start-up: %s (attempt %d of %d); retrying in %.1fs", _one_line(cause), attempt, attempts, backoff
            )
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_STARTUP_BACKOFF_SECONDS)
    raise AssertionError("unreachable")  # pragma: no cover


def _one_line(e: BaseException) -> str:
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    return lines[0] if lines else type(e).__name__


def _bootstrap_once(settings: Settings, clock: Clock | None, *, load_catalog: bool, role: Role) -> System:
    with_read, with_sagas = ROLES[role]
    db = parse_database_url(
        settings.resolved_database_url(), settings.postgres_pool_size, settings.postgres_max_overflow
    )
    check_database(db)
    resources = ExitStack()
    with schema_lock(db):
        clock = clock or build_clock(settings, db)
        key = load_secret_key(settings, is_postgres=not db.is_sqlite)
        app = open_application(db, clock, key.box)
        try:
            read, projector = _read_side(settings, db, app, resources) if with_read else (None, None)
            mailer, sagas = _sagas(settings, db, app, clock, resources) if with_sagas else (None, None)
        except BaseException:
            resources.close()
            app.close()
            raise
    system = System(
        settings,
        db,
        app,
        clock,
        resources,
        read=read,
        projector=projector,
        sagas=sagas,
        mailer=mailer,
        secret_key=key,
    )
    if load_catalog:
        try:
            app.ensure_catalog()
        except BaseException:
            system.close()
            raise
    return system


def _read_side(
    settings: Settings, db: Database, app: CspApplication, resources: ExitStack
) -> tuple[ReadModels, Projector]:
    from csp.projections import Projector, ReadModels

    read = ReadModels(database=db, app=app)
    resources.callback(read.close)
    projector = Projector(read, run_in_process=settings.run_projections_in_process())
    resources.callback(projector.close)  # closed first: its thread stops before the store closes
    return read, projector


def _sagas(
    settings: Settings, db: Database, app: CspApplication, clock: Clock, resources: ExitStack
) -> tuple[Mailer, Sagas]:
    from csp.mail import build_mailer
    from csp.workers import Sagas

    mailer = build_mailer(settings)
    sagas = Sagas(settings, db, app, clock, mailer, run_in_process=settings.run_sagas_in_process())
    resources.callback(sagas.stop)
    return mailer, sagas


def web_services(system: System) -> WebParts:
    """The web layer's parts, taken from a system (``create_app`` hands each route and
    page only the collaborators it uses)."""
    from csp.api.app import WebParts

    return WebParts(
        settings=system.settings,
        database=system.database,
        app=system.app,
        clock=system.clock,
        resources=system.resources,
        read=system.read,
        sagas=system.sagas,
        mailer=system.mailer,
    )


def web_app(system: System, auth: Auth | None = None) -> FastAPI:
    """The HTTP app (JSON API and portal) over a system's parts."""
    from csp.api import create_app

    return create_app(web_services(system), auth=auth)
