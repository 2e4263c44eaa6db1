"""Sign in with Microsoft personal and work accounts: OpenID Connect, authorization code
with PKCE.

- ``GET /api/v1/auth/oidc/{method}/start?next=<relative path>`` (``method``:
  ``microsoft_personal`` | ``microsoft_work``) keeps a pending sign-in server-side
  (state, nonce, code verifier, ``next``; one-time, expiring), ties it to this browser
  with an HttpOnly cookie, and redirects to the provider.
- ``GET /api/v1/auth/oidc/{method}/callback`` takes the pending sign-in back (once),
  checks it came back to the browser that started it, exchanges the code, verifies the
  ID token (``csp.api.oidc_provider``), lets the application decide who that is
  (``CspApplication.sign_in_with_identity``: the account must allow the method, the user's
  own method must be it, the first sign-in binds the identity to the invited email), and
  redirects to ``next`` with the session cookie — or to ``/login?error=<code>``. A client
  that asks for JSON (``Accept: application/json``) gets the login answer, or the error
  envelope, instead of redirects.

Error codes: ``sign_in_method_unavailable`` (404), ``state_invalid`` / ``state_expired``
(400), ``consent_denied`` / ``id_token_invalid`` (401), ``sign_in_method_not_allowed`` /
``wrong_sign_in_method`` / ``wrong_account`` / ``invitation_not_accepted`` /
``user_disabled`` (403), ``provider_error`` (502), ``provider_unavailable`` (503).
"""

from __future__ import annotations

import logging
import secrets
from contextlib import ExitStack
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from csp.aggregates.errors import CspError
from csp.aggregates.user import User
from csp.api import schemas as s
from csp.api.auth import Auth
from csp.api.commands import Commands
from csp.api.deps import AppDep, CurrentCaller, SettingsDep
from csp.api.errors import ApiError, Unauthorized, error_response, status_for
from csp.api.oidc_provider import (
    MICROSOFT_CONSUMER_TENANT,
    TENANT_ID,
    OidcProvider,
    ProviderConfig,
    ProviderError,
)
from csp.api.presenters import user_public
from csp.application import CspApplication
from csp.application.passwords import secret_hash
from csp.errors import StartupError
from csp.persistence import Database
from csp.persistence.oidc_states import PendingSignIn, StateStore, build_state_store, wall_time
from csp.settings import Settings

log = logging.getLogger("csp.api.oidc")

API_PREFIX = "/api/v1"
OIDC_METHODS = ("microsoft_personal", "microsoft_work")
BROWSER_COOKIE = "csp_oidc"
COOKIE_PATH = f"{API_PREFIX}/auth/oidc"
LOGIN_PAGE = "/login"
DEFAULT_NEXT = "/"
_STATUS = {
    "sign_in_method_unavailable": 404,
    "state_invalid": 400,
    "state_expired": 400,
    "consent_denied": 401,
    "id_token_invalid": 401,
    "provider_error": 502,
    "provider_unavailable": 503,
}

# What the login page says for each code the browser is sent back with (/login?error=…).
SIGN_IN_ERRORS: dict[str, str] = {
    "sign_in_method_unavailable": "This sign-in method is not available here.",
    "state_invalid": "This sign-in link was already used or belongs to another browser; please sign in again.",
    "state_expired": "The sign-in took too long; please sign in again.",
    "consent_denied": "The sign-in was cancelled at Microsoft.",
    "id_token_invalid": "Microsoft's answer could not be verified; please sign in again.",
    "sign_in_method_not_allowed": "Your account does not allow this sign-in method.",
    "wrong_sign_in_method": "You sign in another way: use the method your invitation named.",
    "wrong_account": "No user here is linked to that Microsoft account.",
    "invitation_not_accepted": "Accept the invitation we emailed you first, then sign in.",
    "user_disabled": "Your user is disabled; ask your account manager.",
    "provider_error": "Microsoft refused the sign-in; please try again.",
    "provider_unavailable": "Microsoft cannot be reached right now; please try again in a moment.",
}

router = APIRouter(tags=["accounts"])


class SignInFailed(ApiError):
    """A Microsoft sign-in that did not go through (the code says why)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, code=code, **details)
        self.status = _STATUS.get(code, 400)


class OidcSignIn:
    """A sign-in method (``Auth.register_method``) backed by one OpenID provider."""

    def __init__(
        self, provider: OidcProvider, states: StateStore, app: CspApplication, commands: Commands, ttl_seconds: float
    ) -> None:
        self.provider = provider
        self.name = provider.method
        self.states = states
        self.app = app
        self.commands = commands
        self.ttl_seconds = ttl_seconds

    def begin(self, next_path: str, browser_id: str) -> str:
        """Keep a pending sign-in and answer the provider's authorization URL."""
        state, nonce, verifier = OidcProvider.new_secrets()
        url = self.provider.authorization_url(state, nonce, verifier)  # discovery first: no state if it fails
        now = wall_time()
        self.states.put(
            state,
            PendingSignIn(
                method=self.name,
                nonce=nonce,
                code_verifier=verifier,
                next_path=next_path,
                browser_hash=secret_hash(browser_id),
                created_at=now,
                expires_at=now + self.ttl_seconds,
            ),
        )
        return url

    def complete(self, state: str, code: str, error: str, error_description: str, browser_id: str) -> tuple[User, str]:
        """The user signing in, and where to send it: the provider's answer checked
        against the pending sign-in (used up here, whatever happens next)."""
        pending = self.states.take(state) if state else None
        if pending is None or pending.method != self.name:
            raise SignInFailed("state_invalid", "this sign-in is unknown or was already used; start the sign-in again")
        if pending.expired:
            raise SignInFailed("state_expired", "this sign-in took too long; start the sign-in again")
        if not browser_id or not secrets.compare_digest(secret_hash(browser_id), pending.browser_hash):
            raise SignInFailed(
                "state_invalid", "this sign-in was started in another browser; start the sign-in again here"
            )
        if error:
            if error == "access_denied":
                raise SignInFailed("consent_denied", "the sign-in was cancelled or consent was not given at Microsoft")
            raise SignInFailed(
                "provider_error",
                f"Microsoft refused the sign-in: {error}"
                + (f" ({error_description[:300]})" if error_description else ""),
                provider_error=error,
            )
        if not code:
            raise SignInFailed("provider_error", "the provider came back without an authorization code")
        try:
            verified = self.provider.sign_in(code, pending.code_verifier, pending.nonce)
        except ProviderError as e:
            raise SignInFailed(e.code, e.message, **e.details) from None
        app = self.app
        user = self.commands.run(lambda: app.sign_in_with_identity(verified.identity, verified.emails))
        return user, pending.next_path


# --- helpers ---------------------------------------------------------------------


def safe_next(value: str | None) -> str:
    """A relative path on this site, else ``/`` (no open redirects)."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return DEFAULT_NEXT
    if "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return value


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/html" not in accept


def _secure(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.public_url.startswith("https://")


def _method(request: Request, method: str) -> OidcSignIn:
    auth: Auth = request.app.state.auth
    sign_in = auth.methods.get(method)
    if method not in OIDC_METHODS:
        raise SignInFailed(
            "sign_in_method_unavailable",
            f"unknown sign-in method {method!r}: one of {', '.join(OIDC_METHODS)}",
            method=method,
        )
    if not isinstance(sign_in, OidcSignIn):
        raise SignInFailed(
            "sign_in_method_unavailable",
            f"signing in with {method} is not set up on this platform",
            method=method,
        )
    return sign_in


def _failure(request: Request, code: str, status: int, message: str, details: dict[str, Any]) -> Response:
    log.info("microsoft sign-in refused", extra={"code": code, "path": request.url.path})
    if wants_json(request):
        return error_response(status, code, message, details)
    return RedirectResponse(f"{LOGIN_PAGE}?error={code}", status_code=303)


def _failed(request: Request, error: Exception) -> Response:
    if isinstance(error, ApiError):
        return _failure(request, error.code, error.status, error.message, error.details)
    if isinstance(error, CspError):
        return _failure(request, error.code, status_for(error), error.message, error.details)
    raise error


# --- routes ------------------------------------------------------------------------

_REDIRECTS: dict[int | str, dict[str, Any]] = {
    302: {"description": "to the provider's sign-in page"},
    303: {"description": "back to `next` signed in, or to `/login?error=<code>`"},
}


@router.get("/auth/oidc/{method}/start", status_code=302, response_class=RedirectResponse, responses=_REDIRECTS)
def oidc_start(
    method: str,
    request: Request,
    settings: SettingsDep,
    next_path: Annotated[
        str | None, Query(alias="next", max_length=2000, description="a relative path to return to")
    ] = None,
) -> Response:
    """Start signing in with a Microsoft account (``microsoft_personal`` or
    ``microsoft_work``): a redirect to Microsoft's sign-in page."""
    try:
        sign_in = _method(request, method)
        browser_id = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(32)
        url = sign_in.begin(safe_next(next_path), browser_id)
    except ProviderError as e:
        return _failed(request, SignInFailed(e.code, e.message, **e.details))
    except (ApiError, CspError) as e:
        return _failed(request, e)
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        BROWSER_COOKIE,
        browser_id,
        max_age=int(sign_in.ttl_seconds),
        httponly=True,
        samesite="lax",
        secure=_secure(request, settings),
        path=COOKIE_PATH,
    )
    return response


@router.get(
    "/auth/oidc/{method}/callback",
    status_code=303,
    response_class=RedirectResponse,
    responses={**_REDIRECTS, 200: {"model": s.LoginPublic, "description": "signed in (a client asking for JSON)"}},
)
def oidc_callback(
    method: str,
    request: Request,
    code: Annotated[str, Query(max_length=8000)] = "",
    state: Annotated[str, Query(max_length=500)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
    error_description: Annotated[str, Query(max_length=8000)] = "",
) -> Response:
    """Where Microsoft sends the browser back: signed in and redirected to ``next``, or
    to ``/login?error=<code>``."""
    try:
        sign_in = _method(request, method)
        user, next_path = sign_in.complete(
            state, code, error, error_description, request.cookies.get(BROWSER_COOKIE, "")
        )
    except (ApiError, CspError) as e:
        return _failed(request, e)
    auth: Auth = request.app.state.auth
    response: Response
    if wants_json(request):
        cookies = Response()
        session = auth.start_session(user, request, cookies)
        body = s.LoginPublic(user=user_public(user), csrf_token=session.csrf_token)
        response = JSONResponse(body.model_dump(mode="json"))
        for value in cookies.headers.getlist("set-cookie"):
            response.headers.append("set-cookie", value)
    else:
        response = RedirectResponse(next_path, status_code=303)
        auth.start_session(user, request, response)
    log.info("microsoft sign-in", extra={"user_id": str(user.id), "method": method})
    return response


@router.get("/auth/session", response_model=s.LoginPublic)
def current_session(caller: CurrentCaller, app: AppDep) -> s.LoginPublic:
    """The signed-in user and the session's CSRF token: after a sign-in that ended in a
    redirect (Microsoft), a script reads here the token to send as ``X-CSRF-Token``."""
    if caller.session is None:
        raise Unauthorized("an API token has no session (and needs no CSRF token)", code="no_session")
    return s.LoginPublic(user=user_public(app.user(caller.user_id)), csrf_token=caller.session.csrf_token)


# --- wiring ------------------------------------------------------------------------


def provider_configs(settings: Settings) -> list[ProviderConfig]:
    """The providers the settings configure (a client id each)."""
    base = (settings.oidc_redirect_base or settings.public_url).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise StartupError(f"CSP_OIDC_REDIRECT_BASE / CSP_PUBLIC_URL must be an http(s) address, not {base!r}")
    common = {"timeout": settings.oidc_timeout_seconds, "leeway": settings.oidc_clock_skew_seconds}
    configs = []
    if settings.oidc_personal_client_id:
        configs.append(
            ProviderConfig(
                method="microsoft_personal",
                client_id=settings.oidc_personal_client_id,
                client_secret=settings.oidc_personal_client_secret,
                discovery_url=settings.oidc_personal_discovery_url,
                redirect_uri=f"{base}{API_PREFIX}/auth/oidc/microsoft_personal/callback",
                **common,  # type: ignore[arg-type]
            )
        )
    if settings.oidc_work_client_id:
        tenants = frozenset(t.strip().lower() for t in settings.oidc_work_tenants.split(",") if t.strip())
        for tenant in tenants:
            if not TENANT_ID.match(tenant) or tenant == MICROSOFT_CONSUMER_TENANT:
                raise StartupError(
                    f"CSP_OIDC_WORK_TENANTS: {tenant!r} is not the id of an organization's tenant (a GUID)"
                )
        configs.append(
            ProviderConfig(
                method="microsoft_work",
                client_id=settings.oidc_work_client_id,
                client_secret=settings.oidc_work_client_secret,
                discovery_url=settings.oidc_work_discovery_url,
                redirect_uri=f"{base}{API_PREFIX}/auth/oidc/microsoft_work/callback",
                tenants=tenants,
                **common,  # type: ignore[arg-type]
            )
        )
    return configs


def install_oidc(
    settings: Settings,
    database: Database,
    app: CspApplication,
    commands: Commands,
    resources: ExitStack,
    auth: Auth,
) -> None:
    """Register a sign-in method per configured provider with ``auth``; the routes
    (``router``) answer ``sign_in_method_unavailable`` for the others. What they open is
    closed with ``resources``."""
    configs = provider_configs(settings)
    if not configs:
        return
    states = build_state_store(settings, database)
    resources.callback(states.close)
    for config in configs:
        provider = OidcProvider(config)
        resources.callback(provider.close)
        auth.register_method(OidcSignIn(provider, states, app, commands, settings.oidc_state_ttl_seconds))
