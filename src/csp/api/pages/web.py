"""The portal's machinery: templates, who is signed in, forms and their CSRF token,
notices after a redirect, and the navigation a role may see (from the permission table)."""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote, unquote, urlsplit
from uuid import UUID

from fastapi import Request
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.datastructures import FormData
from starlette.responses import Response

from csp.aggregates.currency import BASE_CURRENCY, AppliedRate
from csp.aggregates.errors import ConcurrentModification, CspError, InvalidInput
from csp.aggregates.organization import Organization
from csp.api.auth import Auth, Caller
from csp.api.commands import Commands
from csp.api.deps import (
    AppDep,
    AuthDep,
    Authorize,
    CommandsDep,
    OptionalReadModels,
    SettingsDep,
)
from csp.api.errors import NotAllowed, Unavailable
from csp.api.pages import format as fmt
from csp.api.permissions import Action, grant_for
from csp.api.queries import price_list_rate
from csp.application import CspApplication
from csp.projections import ReadModels
from csp.settings import Settings

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


@pass_context
def _price(ctx: Context, value: Any, label: bool = False) -> str:
    """An amount in EUR as the page's caller sees it: in its account's currency at this
    month's rate (``Page.display_rate``), else in EUR (with `` EUR`` after it: ``label``)."""
    page = ctx.get("page")
    return fmt.shown(value, page.display_rate if isinstance(page, Page) else None, label)


templates.env.filters.update(
    money=fmt.money,
    price=_price,  # an EUR amount in the caller's currency (docs/currencies.md)
    amount=fmt.amount,  # money with its currency, per locale (Babel)
    rate=fmt.rate,
    date=fmt.date,
    datetime=fmt.when,
    left=fmt.left,
    label=fmt.label,
    actor=fmt.actor,
    industry_option=lambda i: (i, fmt.label(i)),
)


def page_link(request: Request, number: int) -> str:
    """This list's address at another page, its other query parameters kept."""
    return str(request.url.include_query_params(page=number).replace(scheme="", netloc=""))


templates.env.globals.update(label=fmt.label, page_link=page_link)

FORM_COOKIE = "csp_form"  # the CSRF token of forms sent before signing in (double submit)
NOTICE_COOKIE = "csp_notice"
ORG_COOKIE = "csp_org"  # the organization the reseller acts for (nav links only; every page checks access)
CART_COOKIE = "csp_cart"  # the draft order the Buy now flow adds to


class Redirect(Exception):
    """Answer with a redirect (e.g. to the sign-in page)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go back to after signing in (never another site)."""
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return default
    return value


def login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(here, safe='/')}"


PER_PAGE = 50


@dataclass(frozen=True)
class Paging:
    """One page of a long list: ``limit``/``offset`` for the read side, and the links."""

    number: int
    per_page: int
    total: int = 0

    @property
    def limit(self) -> int:
        return self.per_page

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page

    def of(self, total: int) -> Paging:
        return Paging(self.number, self.per_page, total)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first_row(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last_row(self) -> int:
        return min(self.offset + self.per_page, self.total)


@dataclass
class Page:
    """One request of the portal: the collaborators pages use (the application, the
    settings, the command runner, the read models when this process has them, sign-in),
    the caller, and what the layout shows."""

    request: Request
    app: CspApplication
    settings: Settings
    commands: Commands
    read: ReadModels | None
    auth: Auth
    caller: Caller | None
    form: FormData | None = None
    errors: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def of(cls, request: Request, caller: Caller | None, form: FormData | None = None) -> Page:
        """The page of a request outside a route's dependencies (an error page)."""
        state = request.app.state
        return cls(request, state.application, state.settings, state.commands, state.read, state.auth, caller, form)

    def read_models(self) -> ReadModels:
        """The read models' queries; 503 when this process was built without them."""
        if self.read is None:
            raise Unavailable("the read side is not running in this process", code="read_side_unavailable")
        return self.read

    # --- who ---------------------------------------------------------------------

    def user(self) -> Caller:
        """The signed-in caller, or off to the sign-in page."""
        if self.caller is None:
            raise Redirect(login_url(self.request))
        return self.caller

    def may(self, action: Action) -> bool:
        return self.caller is not None and grant_for(self.caller.role, action) is not None

    def allow(self, action: Action) -> Caller:
        """The caller, if the permission table lets its role do this (else 403 / sign in)."""
        return Authorize(action).check(self.user(), self.app)

    @property
    def is_customer(self) -> bool:
        return self.caller is not None and self.caller.is_customer

    def current_org(self) -> UUID | None:
        """The organization the navigation points at: a customer's own, or the one the
        reseller selected last."""
        if self.caller is None:
            return None
        if self.caller.is_customer:
            return self.caller.organization_id
        raw = self.cookies.get(ORG_COOKIE) or self.request.cookies.get(ORG_COOKIE)
        try:
            return UUID(raw) if raw else None
        except ValueError:
            return None

    def csrf_token(self) -> str:
        if self.caller is not None and self.caller.session is not None:
            return self.caller.session.csrf_token
        token = self.request.cookies.get(FORM_COOKIE) or self.cookies.get(FORM_COOKIE)
        if not token:
            token = secrets.token_urlsafe(24)
            self.cookies[FORM_COOKIE] = token
        return token

    @functools.cached_property
    def display_rate(self) -> AppliedRate | None:
        """The rate EUR amounts are shown at on this page: the caller's account currency
        (a customer user's organization's, else its reseller's) at this month's rate, as
        the catalog's prices; None (EUR) for a visitor, an account in EUR, or no rate."""
        if self.caller is None:
            return None
        buyer = (
            self.app.read(Organization, self.caller.organization_id, "organization")
            if self.caller.is_customer
            else None
        )
        return price_list_rate(self.app, self.caller, buyer)

    @property
    def display_currency(self) -> str:
        rate = self.display_rate
        return rate.currency if rate is not None else BASE_CURRENCY

    # --- forms -----------------------------------------------------------------------

    def value(self, name: str, default: str = "") -> str:
        if self.form is None:
            return default
        v = self.form.get(name)
        return v.strip() if isinstance(v, str) else default

    def values(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def checked(self, name: str) -> bool:
        return self.value(name) in ("on", "true", "1", "yes")

    def required(self, name: str, why: str = "is required") -> str:
        v = self.value(name)
        if not v:
            self.errors[name] = why
        return v

    def integer(self, name: str, default: int | None = None, minimum: int = 0, maximum: int = 100000) -> int | None:
        raw = self.value(name)
        if not raw:
            return default
        try:
            n = int(raw)
        except ValueError:
            self.errors[name] = "must be a whole number"
            return default
        if not minimum <= n <= maximum:
            self.errors[name] = f"must be between {minimum} and {maximum}"
            return default
        return n

    def version(self) -> int | None:
        """The version of the aggregate the form was rendered from (its hidden ``version``
        field): the command is refused when the aggregate has moved on since."""
        return self.integer("version", None, minimum=1, maximum=10**9)

    def version_of(self, current: Any, shown: Callable[[Any], object]) -> int | None:
        """The version a form's command is checked against. The form carries the version it
        was rendered from; when the aggregate has moved on since only in what the form does
        not show (the vendor's confirmation of the change just saved, an assigned-licence
        sync), the form is not stale and the current version is taken. When what it shows
        has changed, the form's own version is kept: the command is refused as stale."""
        version = self.version()
        if version is None or version >= current.version:
            return version
        then = self.app.load(type(current), current.id, "resource", version=version)
        return current.version if shown(then) == shown(current) else version

    def paging(self, per_page: int = PER_PAGE) -> Paging:
        """The list page asked for by ``?page=`` (from 1; anything else is the first)."""
        raw = self.request.query_params.get("page", "1")
        number = int(raw) if raw.isdigit() and 0 < int(raw) <= 1_000_000 else 1
        return Paging(number, per_page)

    def decimal(self, name: str) -> Decimal | None:
        raw = self.value(name).replace(",", ".").removesuffix("%").strip()
        if not raw:
            return None
        try:
            d = Decimal(raw)
        except InvalidOperation:
            self.errors[name] = "must be a number, e.g. 5 or 15.58"
            return None
        if not d.is_finite() or abs(d) >= Decimal("1e12"):
            self.errors[name] = "must be a number, e.g. 5 or 15.58"
            return None
        return d

    def uuid(self, name: str, required_why: str | None = None) -> UUID | None:
        raw = self.value(name)
        if not raw:
            if required_why:
                self.errors[name] = required_why
            return None
        try:
            return UUID(raw)
        except ValueError:
            self.errors[name] = "is not one of the choices"
            return None

    def fail(self, error: CspError, fields: Mapping[str, str] | None = None) -> None:
        """A domain error shown next to its field (``fields`` maps the domain's field names
        to the form's), or at the top of the form."""
        if isinstance(error, ConcurrentModification) and error.details.get("expected_version") is not None:
            # A stale form (another tab or user saved first): nothing is saved, and the
            # page shows the current values, not the ones typed over an old state.
            self.form = None
            self.errors["_form"] = (
                "This was changed by someone else (or in another tab) after you opened this form, "
                "so nothing is saved. The current values are shown: check them and make your change again."
            )
            return
        name = str(error.details.get("field") or "")
        name = (fields or {}).get(name, name)
        message = error.message
        if isinstance(error, InvalidInput) and error.details.get("reason"):
            message = str(error.details["reason"])
        self.errors[name or "_form"] = fmt.sentence(message)

    # --- answers ----------------------------------------------------------------------

    def render(self, template: str, status_code: int = 200, **context: Any) -> Response:
        raw_notice = self.request.cookies.get(NOTICE_COOKIE)
        notice = unquote(raw_notice) if raw_notice else None
        ctx = {
            "page": self,
            "caller": self.caller,
            "errors": self.errors,
            "notice": notice,
            "csrf_token": self.csrf_token(),
            "nav": self.nav(),
            **context,
        }
        response = templates.TemplateResponse(self.request, template, ctx, status_code=status_code)
        if raw_notice:
            response.delete_cookie(NOTICE_COOKIE, path="/")
        self.apply_cookies(response)
        return response

    def redirect(self, url: str, notice: str | None = None) -> Response:
        response = RedirectResponse(url, status_code=303)
        if notice:
            response.set_cookie(NOTICE_COOKIE, quote(notice), max_age=60, httponly=True, samesite="lax", path="/")
        self.apply_cookies(response)
        return response

    def apply_cookies(self, response: Response) -> None:
        secure = self.request.url.scheme == "https" or self.settings.public_url.startswith("https://")
        for name, value in self.cookies.items():
            if value is None:
                response.delete_cookie(name, path="/")
            else:
                response.set_cookie(name, value, httponly=True, samesite="lax", secure=secure, path="/")

    def nav(self) -> dict[str, Any]:
        """The links of the portal's top bar, as the role may use them."""
        org = self.current_org()
        org_name = None
        if org is not None and self.caller is not None:
            try:
                from csp.api import access

                org_name = access.organization(self.app, self.caller, org).name
            except CspError:
                org = None
        items: list[tuple[str, str, str]] = []  # name, address, the paths where it is the current section
        if self.caller is not None:
            base = f"/o/{org}" if org else None
            items.append(("HOME", "/home", "/home"))
            items.append(("CATALOG", f"{base}/catalog" if base else "/catalog", "/catalog"))
            if self.may("orders.read"):
                items.append(("ORDERS", f"{base}/orders" if base else "/organizations", "/orders"))
            if self.may("subscriptions.read"):
                items.append(("SUBSCRIPTIONS", f"{base}/subscriptions" if base else "/organizations", "/subscriptions"))
            # acting for a customer: its reports, and the users with access to it
            customer = org is not None and org != self.caller.reseller_id
            if self.may("reports.read"):
                items.append(("REPORTS", f"/reports?organization_id={org}" if customer else "/reports", "/reports"))
            if self.may("invoices.read"):
                items.append(("INVOICES", "/invoices", "/invoices"))
            if self.may("customer_invoices.read"):  # issue 18
                items.append(("CUSTOMER INVOICES", "/customer-invoices", "/customer-invoices"))
            if self.may("users.read"):
                items.append(("USERS", f"/o/{org}#users-h" if customer else "/users", "/users"))
            if self.may("quotes.read"):
                items.append(("QUOTES", f"{base}/quotes" if base else "/organizations", "/quotes"))
            # notifications (with the unread count) and webhooks (issue 16)
            if self.may("notifications.read") and self.read is not None:
                unread = self.read.unread_notices(self.caller.reseller_id)
                # current on its own pages only (not on /settings/notifications)
                here = self.request.url.path
                section = here if here.startswith("/notifications") else "/notifications/"
                items.append((f"NOTIFICATIONS ({unread})" if unread else "NOTIFICATIONS", "/notifications", section))
            if self.may("webhooks.read"):
                items.append(("WEBHOOKS", "/webhooks", "/webhooks"))
        return {
            "links": items,
            "org_id": org,
            "org_name": org_name,
            "settings": self.may("settings.read"),
            "customize": self.may("catalog.customize"),
            "approvals": self.may("approvals.read"),  # orders above a credit limit (issue 18)
            "select_org": self.caller is not None and not self.caller.is_customer,
            "path": self.request.url.path,
        }


async def page_for(
    request: Request,
    app: AppDep,
    settings: SettingsDep,
    commands: CommandsDep,
    read: OptionalReadModels,
    auth: AuthDep,
) -> Page:
    """The request as a ``Page``; a POST form is read once, and its CSRF token checked:
    the session's when signed in, else the form cookie's (double submit)."""
    form = None
    if request.method == "POST":
        form = await request.form()
        token = form.get("csrf_token")
        token = token if isinstance(token, str) else ""
        caller = auth.caller(request, csrf_token=token)
        if caller is None:
            cookie = request.cookies.get(FORM_COOKIE, "")
            if not cookie or not token or not hmac.compare_digest(cookie, token):
                raise NotAllowed(
                    "this form has expired or was not sent from this site; go back, reload and try again",
                    code="csrf_token_invalid",
                )
    else:
        caller = auth.caller(request)
    return Page(request, app, settings, commands, read, auth, caller, form)


def not_found(kind: str, ident: object) -> NoReturn:
    from csp.aggregates.errors import NotFound

    raise NotFound(kind, ident)


def parse_as_of(raw: str) -> datetime | None:
    """A ``datetime-local`` value (UTC) or ISO 8601 with an offset."""
    if not raw:
        return None
    from datetime import UTC

    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("as_of", "must be a date and time, e.g. 2026-05-05T12:00") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)
