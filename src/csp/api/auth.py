"""Who is calling: sessions (cookie + CSRF token) and API tokens, and sign-in methods.

A sign-in method is a strategy that turns credentials into an active ``User``; the local
one (email + password) is here, Microsoft sign-in plugs in beside it with
``Auth.register_method``. Whatever the method, ``Auth.start_session`` makes the session.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from csp.aggregates.base import Actor, user_actor
from csp.aggregates.organization import SIGN_IN_METHODS
from csp.aggregates.organization import SignInMethod as SignInMethodName
from csp.aggregates.user import CUSTOMER_ROLES, User
from csp.api.callers import CallerCache
from csp.api.errors import NotAllowed, TooManyAttempts, Unauthorized
from csp.api.throttles import LoginThrottle
from csp.application import CspApplication
from csp.persistence import Database
from csp.persistence.sessions import Session, SessionStore
from csp.settings import Settings

SESSION_COOKIE = "csp_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Caller:
    """The signed-in user of a request."""

    user_id: UUID
    email: str
    role: str
    organization_id: UUID
    reseller_id: UUID
    via: Literal["session", "token"]
    session: Session | None = None
    # whether the reseller lets customers order for themselves, when it was read with
    # the caller (None: not read; the permission check then reads it)
    self_service_allowed: bool | None = None
    # one of the distributor's operators (``CSP_OPERATOR_EMAILS``): may do the operator's actions
    operator: bool = False

    @property
    def actor(self) -> Actor:
        return user_actor(self.user_id)

    @property
    def is_customer(self) -> bool:
        return self.role in CUSTOMER_ROLES

    @classmethod
    def of(
        cls,
        user: User,
        via: Literal["session", "token"],
        session: Session | None = None,
        self_service_allowed: bool | None = None,
        operator: bool = False,
    ) -> Caller:
        return cls(
            user.id,
            user.email,
            user.role,
            user.organization_id,
            user.reseller_id,
            via,
            session,
            self_service_allowed,
            operator,
        )


class SignInMethod(Protocol):
    """A way to sign in; ``name`` is one of the account settings' ``sign_in_methods``."""

    name: str


class LocalSignIn:
    """Email and password (argon2id), throttled per account and per address."""

    name = "local"

    def __init__(self, app: CspApplication, throttle: LoginThrottle) -> None:
        self.app = app
        self.throttle = throttle

    def authenticate(self, email: str, password: str, address: str) -> User:
        # The attempt is counted before the password is checked (one atomic step), so
        # concurrent guesses cannot all pass a check that none of them has counted yet.
        refuse_if_throttled(self.throttle.reserve(email, address), "too many failed sign-ins")
        user = self.app.authenticate_local(email, password)
        if user is None:
            raise Unauthorized("wrong email or password", code="invalid_credentials")
        self.throttle.succeeded(email, address)
        self.app.rehash_password_if_needed(user, password)
        return user


def refuse_if_throttled(wait: float, what: str) -> None:
    """429 with ``Retry-After`` when a throttle answered a wait."""
    if wait > 0:
        seconds = int(wait) + 1
        raise TooManyAttempts(
            f"{what}; wait before trying again", headers={"Retry-After": str(seconds)}, retry_after_seconds=seconds
        )


@functools.lru_cache(maxsize=8)
def _emails(listed: str) -> frozenset[str]:
    return frozenset(e.strip().lower() for e in listed.split(",") if e.strip())


class Auth:
    """Sessions, tokens and sign-in methods of one API process."""

    def __init__(self, app: CspApplication, settings: Settings, store: SessionStore) -> None:
        self.app = app
        self.settings = settings
        self.store = store
        self.throttle = LoginThrottle(store)
        self.local = LocalSignIn(app, self.throttle)
        self.methods: dict[str, SignInMethod] = {"local": self.local}
        self.ttl_seconds = settings.session_ttl_hours * 3600
        self.callers = CallerCache(app)

    def is_operator(self, email: str) -> bool:
        """Whether the user is one of the distributor's operators (``CSP_OPERATOR_EMAILS``)."""
        return email.strip().lower() in _emails(self.settings.operator_emails)

    def register_method(self, method: SignInMethod) -> None:
        self.methods[method.name] = method

    def offered_methods(self) -> tuple[SignInMethodName, ...]:
        """The sign-in methods this platform is set up for (local, and each configured
        provider), in the settings' order."""
        return tuple(m for m in SIGN_IN_METHODS if m in self.methods)

    # --- sessions ---------------------------------------------------------------

    def start_session(self, user: User, request: Request, response: Response) -> Session:
        sid, session = self.store.create(user.id, user.sign_in_method, self.ttl_seconds)
        secure = request.url.scheme == "https" or self.settings.public_url.startswith("https://")
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            max_age=int(self.ttl_seconds),
            httponly=True,
            samesite="lax",
            secure=secure,
            path="/",
        )
        return session

    def end_session(self, request: Request, response: Response) -> None:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            self.store.delete(sid)
        response.delete_cookie(SESSION_COOKIE, path="/")

    def end_user_sessions(self, user_id: UUID, keep: str | None = None) -> int:
        """End every session of the user (disabled, a new password), but ``keep`` (the id
        hash of the session that changed the password); how many ended."""
        return self.store.delete_for_user(user_id, keep=keep)

    # --- who is calling -----------------------------------------------------------

    def caller(self, request: Request, csrf_token: str | None = None) -> Caller | None:
        """The signed-in user, or None. A session's unsafe request must carry its CSRF
        token: the header (the JSON API), or ``csrf_token`` (a portal form's field)."""
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("the Authorization header must be 'Bearer <api token>'", code="invalid_token")
            resolved = self.callers.by_token(token.strip())
            if resolved is None:
                raise Unauthorized("this API token is unknown, revoked, or its user is disabled", code="invalid_token")
            user = resolved.user
            return Caller.of(user, "token", None, resolved.self_service_allowed, self.is_operator(user.email))
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        session = self.store.get(sid)
        if session is None:
            return None
        resolved = self.callers.user(session.user_id)
        if not resolved.user.is_active:
            self.store.delete(sid)
            return None
        caller = Caller.of(
            resolved.user, "session", session, resolved.self_service_allowed, self.is_operator(resolved.user.email)
        )
        if request.method in UNSAFE_METHODS:
            sent = csrf_token if csrf_token is not None else request.headers.get(CSRF_HEADER, "")
            if not sent or not hmac.compare_digest(sent, session.csrf_token):
                raise NotAllowed(
                    f"a signed-in browser request that changes something needs the {CSRF_HEADER} header "
                    "from the login answer",
                    code="csrf_token_invalid",
                )
        return caller


AuthFactory = Callable[[CspApplication, Settings, Database], Auth]
