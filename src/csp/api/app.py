"""The FastAPI application factory: ``create_app(services)``, over the narrow collaborators
the composition root (``csp.bootstrap.web_app``) hands it."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from csp.api.auth import Auth
from csp.api.background import Background
from csp.api.commands import remember_saves
from csp.api.errors import install_error_handlers
from csp.api.limits import BodyLimit
from csp.api.observability import Metrics, RequestContext
from csp.api.oidc import install_oidc
from csp.api.oidc import router as oidc_router
from csp.api.pages import install as install_portal
from csp.api.passwords import PasswordFlows
from csp.api.routes import (
    accounts,
    billing,
    catalog,
    history,
    operations,
    orders,
    organizations,
    quotes,
    subscriptions,
)
from csp.api.schemas import ErrorPublic
from csp.api.services import Services
from csp.api.signups import SignUps
from csp.persistence.sessions import build_session_store

API_PREFIX = "/api/v1"
ERRORS = {
    code: {"model": ErrorPublic, "description": why}
    for code, why in {
        400: "malformed request",
        401: "not signed in",
        403: "signed in, not allowed",
        404: "not found, or not yours",
        409: "state or version conflict",
        413: "the request body is larger than CSP_MAX_BODY_BYTES",
        422: "invalid input: which field, why",
        503: "a dependency (database, read side) is unavailable",
    }.items()
}


def create_app(system: Services, auth: Auth | None = None) -> FastAPI:
    """The HTTP API and the portal over the web layer's collaborators (``Services``)."""
    app = FastAPI(
        title="csp",
        summary="Back office of a Microsoft CSP reseller platform",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.system = system
    app.state.auth = auth or Auth(system.app, system.settings, build_session_store(system.settings, system.database))
    app.state.metrics = Metrics()
    if auth is None:
        system.resources.callback(app.state.auth.store.close)
        install_oidc(system, app.state.auth)  # Microsoft sign-in, where configured
    app.state.background = Background()
    system.resources.callback(app.state.background.close)  # closed before the store and the app (LIFO)
    app.state.passwords = PasswordFlows(system, app.state.auth, app.state.background)
    app.state.signups = SignUps(system, app.state.auth, app.state.background)
    app.state.metrics.add_gauges(
        "csp_projection_lag_events",
        "Events a read model is behind the event log",
        lambda: {k: float(v) for k, v in operations.projection_lag(system).items()},
        "projection",
    )
    app.state.metrics.add_gauges(
        "csp_saga_outcomes",
        "Saga steps by outcome since start",
        lambda: _saga_outcomes(system),
        "outcome",
    )
    system.app.add_save_listener(remember_saves)  # read-your-writes (csp.api.commands)
    install_error_handlers(app)
    api = APIRouter(prefix=API_PREFIX, responses=ERRORS)  # type: ignore[arg-type]
    for module in (accounts, catalog, organizations, orders, subscriptions, history, billing, quotes):
        api.include_router(module.router)
    api.include_router(oidc_router)
    api.include_router(operations.router)
    if system.settings.test_mode:
        api.include_router(operations.test_router)
    app.include_router(api)
    install_portal(app)  # the server-rendered pages (csp.api.pages)
    app.add_middleware(BodyLimit, max_bytes=system.settings.max_body_bytes)  # before any parsing
    app.add_middleware(RequestContext, metrics=app.state.metrics)  # outermost: logs and counts the 413s too
    return app


def _saga_outcomes(system: Services) -> dict[str, float]:
    """Saga messages by state, from the sagas' store (shared by every process)."""
    if system.sagas is None:
        return {}
    store = system.sagas.store
    return {
        "pending": float(len(store.pending())),
        "failed": float(len(store.failed(include_retried=False))),
    }
