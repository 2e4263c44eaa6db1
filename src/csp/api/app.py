"""The FastAPI application factory: ``create_app(parts)``, over the parts the composition
root (``csp.bootstrap.web_app``) hands it. The only module that imports both the JSON API's
routes (``csp.api.routes``) and the portal's pages (``csp.api.pages``); it puts each narrow
collaborator they use on ``app.state``, where ``csp.api.deps`` finds it."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

from csp.api.actions import Invitations
from csp.api.auth import Auth
from csp.api.background import Background
from csp.api.commands import Commands, remember_saves
from csp.api.errors import install_error_handlers
from csp.api.limits import BodyLimit
from csp.api.observability import Metrics, RequestContext
from csp.api.oidc import install_oidc
from csp.api.oidc import router as oidc_router
from csp.api.pages import install as install_pages
from csp.api.passwords import PasswordFlows
from csp.api.ports import SagaControl, VendorLinks, Webhooks, WebSagas
from csp.api.routes import (
    accounts,
    azure,
    billing,
    catalog,
    credit,
    customer_billing,
    exchange_rates,
    gdap,
    history,
    licences,
    notify,
    operations,
    orders,
    organizations,
    quotes,
    subscriptions,
)
from csp.api.routes import transitions as transition_routes  # issue 16: upgrades, next term
from csp.api.schemas import ErrorPublic
from csp.api.signups import SignUps
from csp.api.tenant_directory import TenantDirectory
from csp.application import CspApplication
from csp.clock import Clock
from csp.persistence import Database
from csp.persistence.sessions import build_session_store
from csp.settings import Settings

if TYPE_CHECKING:
    from csp.mail import Mailer
    from csp.projections import ReadModels

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


@dataclass(frozen=True)
class WebParts:
    """What the composition root hands the factory (``csp.bootstrap.web_services``); the
    factory takes it apart: no route or page sees it whole. ``resources`` is where the web
    layer registers what it must close at shutdown (session and OIDC-state stores, OIDC
    providers)."""

    settings: Settings
    database: Database
    app: CspApplication
    clock: Clock
    resources: ExitStack
    read: ReadModels | None = None
    sagas: WebSagas | None = None
    mailer: Mailer | None = None


def create_app(parts: WebParts, auth: Auth | None = None) -> FastAPI:
    """The HTTP API and the portal over the web layer's collaborators."""
    settings, resources = parts.settings, parts.resources
    app = FastAPI(
        title="csp",
        summary="Back office of a Microsoft CSP reseller platform",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    commands = Commands(parts.read, parts.app)
    saga_control = SagaControl(parts.sagas)
    app.state.application = parts.app
    app.state.settings = settings
    app.state.read = parts.read
    app.state.commands = commands
    app.state.clock = parts.clock
    app.state.saga_control = saga_control
    app.state.vendor_links = VendorLinks(parts.sagas)
    app.state.tenant_directory = TenantDirectory(parts.sagas)  # licence assignment: a tenant's users
    app.state.webhooks = Webhooks(parts.sagas)  # deliveries (csp.api.routes.notify)
    app.state.invitations = Invitations(parts.app, commands, parts.mailer, settings.public_url, settings.test_mode)
    app.state.auth = auth or Auth(parts.app, settings, build_session_store(settings, parts.database))
    app.state.metrics = Metrics()
    if auth is None:
        resources.callback(app.state.auth.store.close)
        install_oidc(settings, parts.database, parts.app, commands, resources, app.state.auth)  # Microsoft sign-in
    app.state.background = Background()
    resources.callback(app.state.background.close)  # closed before the store and the app (LIFO)
    app.state.passwords = PasswordFlows(
        parts.app, commands, parts.mailer, settings.public_url, app.state.auth, app.state.background
    )
    app.state.signups = SignUps(parts.app, commands, parts.mailer, settings, app.state.auth, app.state.background)
    read = parts.read
    app.state.metrics.add_gauges(
        "csp_projection_lag_events",
        "Events a read model is behind the event log",
        lambda: {k: float(v) for k, v in operations.projection_lag(read).items()},
        "projection",
    )
    app.state.metrics.add_gauges(
        "csp_saga_outcomes",
        "Saga steps by outcome since start",
        saga_control.outcomes,
        "outcome",
    )
    parts.app.add_save_listener(remember_saves)  # read-your-writes (csp.api.commands)
    install_error_handlers(app)
    api = APIRouter(prefix=API_PREFIX, responses=ERRORS)  # type: ignore[arg-type]
    for module in (accounts, catalog, organizations, orders, subscriptions, history, billing, quotes, licences, notify):
        api.include_router(module.router)
    api.include_router(transition_routes.router)
    api.include_router(gdap.router)  # issue 16: GDAP relationships, the customer agreement
    api.include_router(customer_billing.router)  # customer invoices and tax (issue 18)
    api.include_router(exchange_rates.router)  # the distributor's exchange rates (issue 18)
    api.include_router(azure.router)  # Azure usage, reconciliation, entitlements (issue 18)
    api.include_router(credit.router)  # credit limits and approvals (issue 18)
    api.include_router(oidc_router)
    api.include_router(operations.router)
    if settings.test_mode:
        api.include_router(operations.test_router)
        api.include_router(gdap.test_router)
    app.include_router(api)
    install_pages(app)  # the server-rendered pages (csp.api.pages)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # before any parsing
    app.add_middleware(RequestContext, metrics=app.state.metrics)  # outermost: logs and counts the 413s too
    return app
