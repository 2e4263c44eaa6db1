"""Dependencies of the routes and pages, as ``Annotated`` aliases: each collaborator a
route uses, by its narrow type (the application, the settings, the read models, the
command runner, the test clock, the sagas' and the vendor's ports), the caller, the
permission of each action, ``If-Match``, paging. ``create_app`` puts each collaborator on
``app.state``; these read them from there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from csp.aggregates.organization import Organization
from csp.api.actions import Invitations
from csp.api.auth import Auth, Caller
from csp.api.commands import Commands
from csp.api.errors import Malformed, NotAllowed, Unauthorized, Unavailable
from csp.api.passwords import PasswordFlows
from csp.api.permissions import OPERATOR_ACTIONS, Action, Grant, grant_for
from csp.api.ports import SagaControl, VendorLinks, Webhooks
from csp.api.signups import SignUps
from csp.api.tenant_directory import TenantDirectory
from csp.application import CspApplication
from csp.clock import Clock
from csp.projections import ReadModels
from csp.settings import Settings

T = TypeVar("T")


async def get_app(request: Request) -> CspApplication:
    return request.app.state.application  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def optional_read_models(request: Request) -> ReadModels | None:
    return request.app.state.read  # type: ignore[no-any-return]


async def read_models(request: Request) -> ReadModels:
    """The read models' queries; 503 when this process was built without them."""
    read: ReadModels | None = request.app.state.read
    if read is None:
        raise Unavailable("the read side is not running in this process", code="read_side_unavailable")
    return read


async def get_commands(request: Request) -> Commands:
    return request.app.state.commands  # type: ignore[no-any-return]


async def get_clock(request: Request) -> Clock:
    return request.app.state.clock  # type: ignore[no-any-return]


async def get_saga_control(request: Request) -> SagaControl:
    return request.app.state.saga_control  # type: ignore[no-any-return]


async def get_vendor_links(request: Request) -> VendorLinks:
    return request.app.state.vendor_links  # type: ignore[no-any-return]


async def get_tenant_directory(request: Request) -> TenantDirectory:
    return request.app.state.tenant_directory  # type: ignore[no-any-return]


async def get_webhooks(request: Request) -> Webhooks:
    return request.app.state.webhooks  # type: ignore[no-any-return]


async def get_invitations(request: Request) -> Invitations:
    return request.app.state.invitations  # type: ignore[no-any-return]


async def get_auth(request: Request) -> Auth:
    return request.app.state.auth  # type: ignore[no-any-return]


async def get_passwords(request: Request) -> PasswordFlows:
    return request.app.state.passwords  # type: ignore[no-any-return]


async def get_signups(request: Request) -> SignUps:
    return request.app.state.signups  # type: ignore[no-any-return]


async def client_address(request: Request) -> str:
    """The caller's address, as throttles count it."""
    return request.client.host if request.client else "unknown"


AppDep = Annotated[CspApplication, Depends(get_app)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ReadModelsDep = Annotated[ReadModels, Depends(read_models)]
OptionalReadModels = Annotated[ReadModels | None, Depends(optional_read_models)]
CommandsDep = Annotated[Commands, Depends(get_commands)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SagaControlDep = Annotated[SagaControl, Depends(get_saga_control)]
VendorLinksDep = Annotated[VendorLinks, Depends(get_vendor_links)]
TenantDirectoryDep = Annotated[TenantDirectory, Depends(get_tenant_directory)]

WebhooksDep = Annotated[Webhooks, Depends(get_webhooks)]
InvitationsDep = Annotated[Invitations, Depends(get_invitations)]
PasswordsDep = Annotated[PasswordFlows, Depends(get_passwords)]
SignUpsDep = Annotated[SignUps, Depends(get_signups)]
ClientAddress = Annotated[str, Depends(client_address)]
AuthDep = Annotated[Auth, Depends(get_auth)]


def optional_caller(request: Request, auth: AuthDep) -> Caller | None:
    # The one dependency of a request that waits on I/O (the session store, the events'
    # table): a plain ``def``, run in the thread pool; the others are ``async def`` and
    # cost no hop to it.
    caller = auth.caller(request)
    request.state.caller = caller
    return caller


OptionalCaller = Annotated[Caller | None, Depends(optional_caller)]


def _signed_in(caller: Caller | None) -> Caller:
    if caller is None:
        raise Unauthorized("sign in first (POST /api/v1/auth/login) or send an API token")
    return caller


async def signed_in(caller: OptionalCaller) -> Caller:
    return _signed_in(caller)


CurrentCaller = Annotated[Caller, Depends(signed_in)]


class Authorize:
    """The permission of one action, from the permission table."""

    def __init__(self, action: Action) -> None:
        self.action = action

    def check(self, caller: Caller, app: CspApplication) -> Caller:
        """The caller if its role may (and, for a self-service grant, its reseller lets
        customers order for themselves); else 403. May read the reseller: not on the loop."""
        if self._needs_reseller(caller):
            app.load(Organization, caller.reseller_id, "organization").check_self_service_allowed()
        return caller

    async def __call__(self, caller: CurrentCaller, app: AppDep) -> Caller:
        if self._needs_reseller(caller):
            return await run_in_threadpool(self.check, caller, app)
        return caller

    def _needs_reseller(self, caller: Caller) -> bool:
        """Refuse a role without the grant; True when the reseller must be read to decide
        (a self-service grant whose answer was not read with the caller, or was no)."""
        grant = grant_for(caller.role, self.action, caller.operator)
        if grant is None and self.action in OPERATOR_ACTIONS:
            raise NotAllowed("only the distributor's operators may do this", code="forbidden", action=self.action)
        if grant is None:
            raise NotAllowed(
                f"the {caller.role.replace('_', ' ')} role may not do this",
                code="forbidden",
                action=self.action,
                role=caller.role,
            )
        return grant is Grant.SELF_SERVICE and not caller.self_service_allowed


class Permit:
    """A route's permission, checked in the route's own thread: calling it resolves the
    caller (the session store, the events' table) and checks the action, so that a read
    route answers with one hop to the thread pool in all (``Reads``), where a caller
    dependency costs one of its own."""

    def __init__(self, request: Request, auth: Auth, app: CspApplication, authorize: Authorize) -> None:
        self._request, self._auth, self._app, self._authorize = request, auth, app, authorize

    def __call__(self) -> Caller:
        caller = self._auth.caller(self._request)
        self._request.state.caller = caller
        return self._authorize.check(_signed_in(caller), self._app)


class Permission:
    """The ``Permit`` of one action (the same table, the same answers as ``Authorize``)."""

    def __init__(self, action: Action) -> None:
        self._authorize = Authorize(action)

    async def __call__(self, request: Request, auth: AuthDep, app: AppDep) -> Permit:
        return Permit(request, auth, app, self._authorize)


async def in_thread(work: Callable[[], T]) -> T:
    """Run a route's blocking work (its permit first) in the thread pool: one hop."""
    return await run_in_threadpool(work)


UsersReader = Annotated[Caller, Depends(Authorize("users.read"))]
UsersInviter = Annotated[Caller, Depends(Authorize("users.invite"))]
UsersManager = Annotated[Caller, Depends(Authorize("users.manage"))]
SettingsReader = Annotated[Caller, Depends(Authorize("settings.read"))]
SettingsWriter = Annotated[Caller, Depends(Authorize("settings.write"))]
CatalogCustomizer = Annotated[Caller, Depends(Authorize("catalog.customize"))]
SegmentsReader = Annotated[Caller, Depends(Authorize("segments.read"))]
PricingReader = Annotated[Caller, Depends(Authorize("pricing.preview"))]
OrganizationsReader = Annotated[Caller, Depends(Authorize("organizations.read"))]
OrganizationsWriter = Annotated[Caller, Depends(Authorize("organizations.write"))]
TenantsReader = Annotated[Caller, Depends(Authorize("tenants.read"))]
TenantsWriter = Annotated[Caller, Depends(Authorize("tenants.write"))]
OrdersReader = Annotated[Caller, Depends(Authorize("orders.read"))]
OrdersWriter = Annotated[Caller, Depends(Authorize("orders.write"))]
SubscriptionsReader = Annotated[Caller, Depends(Authorize("subscriptions.read"))]
SubscriptionsWriter = Annotated[Caller, Depends(Authorize("subscriptions.write"))]
HistoryReader = Annotated[Caller, Depends(Authorize("history.read"))]
InvoicesReader = Annotated[Caller, Depends(Authorize("invoices.read"))]
ExchangeRatesReader = Annotated[Caller, Depends(Authorize("exchange_rates.read"))]
ExchangeRatesWriter = Annotated[Caller, Depends(Authorize("exchange_rates.write"))]
CustomerInvoicesReader = Annotated[Caller, Depends(Authorize("customer_invoices.read"))]
CustomerInvoicesWriter = Annotated[Caller, Depends(Authorize("customer_invoices.write"))]
TaxReader = Annotated[Caller, Depends(Authorize("tax.read"))]
TaxWriter = Annotated[Caller, Depends(Authorize("tax.write"))]
ReportsReader = Annotated[Caller, Depends(Authorize("reports.read"))]
QuotesReader = Annotated[Caller, Depends(Authorize("quotes.read"))]
QuotesWriter = Annotated[Caller, Depends(Authorize("quotes.write"))]
QuotesAcceptor = Annotated[Caller, Depends(Authorize("quotes.accept"))]
NotificationsReader = Annotated[Caller, Depends(Authorize("notifications.read"))]
NotificationsWriter = Annotated[Caller, Depends(Authorize("notifications.write"))]
WebhooksReader = Annotated[Caller, Depends(Authorize("webhooks.read"))]
WebhooksWriter = Annotated[Caller, Depends(Authorize("webhooks.write"))]
CreditWriter = Annotated[Caller, Depends(Authorize("credit.write"))]
ApprovalsReader = Annotated[Caller, Depends(Authorize("approvals.read"))]
ApprovalsWriter = Annotated[Caller, Depends(Authorize("approvals.write"))]
# the same permissions, for a route that checks them in its own thread (``Permit``)
OrdersReading = Annotated[Permit, Depends(Permission("orders.read"))]
SubscriptionsReading = Annotated[Permit, Depends(Permission("subscriptions.read"))]
ReportsReading = Annotated[Permit, Depends(Permission("reports.read"))]


async def if_match(
    value: Annotated[str | None, Header(alias="If-Match", description="the version you edit (409 when stale)")] = None,
) -> int | None:
    if value is None or value.strip() in ("", "*"):
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not raw.isdigit() or len(raw) > 12:
        raise Malformed("If-Match must be the version number of the resource, e.g. 3", code="malformed_if_match")
    return int(raw)


IfMatch = Annotated[int | None, Depends(if_match)]
Limit = Annotated[int, Query(ge=1, le=200, description="at most 200")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
After = Annotated[
    str | None,
    Query(
        max_length=2000,
        description="keyset paging: the rows after the one this cursor names (a page's `next_after`); "
        "`offset` then counts from there",
    ),
]
