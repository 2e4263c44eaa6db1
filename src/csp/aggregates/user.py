"""Users of a reseller account or of a customer organization: invited → active → disabled.

A user has one email (unique on the platform), one role, one organization and one
sign-in method. A user who signs in with Microsoft is bound, at its first sign-in, to
its identity there (``ExternalIdentity``: the provider's tenant and the user's immutable
id), matched by the invited email; later sign-ins match that identity only. The primary contact of a reseller is created active, with a local
password; everyone else is invited by email with a one-time link that expires. API
tokens belong to a user and are stored hashed. Passwords arrive here already hashed:
hashing is infrastructure, the policy (length, common passwords) is a rule, here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Literal, get_args
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, Value, require_aware
from csp.aggregates.errors import (
    Conflict,
    EmailTaken,
    Forbidden,
    InvalidInput,
    InvitationExpired,
    InvitationInvalid,
    InvitationNotAccepted,
    NoLocalPassword,
    NotFound,
    PasswordResetExpired,
    PasswordResetInvalid,
    RoleNotAssignable,
    SignInMethodNotAllowed,
    TermsNotAccepted,
    UserDisabled,
    UserError,
    WrongAccount,
    WrongSignInMethod,
)
from csp.aggregates.organization import SignInMethod, check_email, parse_sign_in_method

Role = Literal["account_manager", "order_manager", "billing", "read_only", "customer_admin", "customer_user"]
ROLES: tuple[Role, ...] = get_args(Role)
RESELLER_ROLES: tuple[Role, ...] = ("account_manager", "order_manager", "billing", "read_only")
CUSTOMER_ROLES: tuple[Role, ...] = ("customer_admin", "customer_user")
UserStatus = Literal["invited", "active", "disabled"]

INVITATION_TTL = timedelta(days=7)
PASSWORD_RESET_TTL = timedelta(hours=1)
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
_NAME_MAX = 100
# Runs a person types instead of choosing a password.
_SEQUENCES = (
    "01234567890123456789",
    "09876543210987654321",
    "qwertyuiopasdfghjklzxcvbnm",
    "abcdefghijklmnopqrstuvwxyz",
)
_EDGES = re.compile(r"^[^a-z]+|[^a-z]+$")

SIGN_IN_METHOD_LABELS: dict[str, str] = {
    "local": "an account created here (email and password)",
    "microsoft_personal": "a personal Microsoft account",
    "microsoft_work": "a work Microsoft account",
}


def parse_role(value: str, field: str = "role") -> Role:
    if value not in ROLES:
        raise InvalidInput(field, f"must be one of {', '.join(ROLES)}", value=value)
    return value


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list of the 10,000 most common passwords (lower case)."""
    text = resources.files("csp.data").joinpath("common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line and not line.startswith("#"))


def check_password_policy(password: str, email: str = "", field: str = "password") -> None:
    """At least 12 characters, not a common password (nor one dressed up with digits)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(field, f"must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_PASSWORD_LENGTH} characters long")
    lowered = password.lower()
    core = _EDGES.sub("", lowered)
    common = common_passwords()
    if lowered in common or (len(core) >= 3 and core in common):
        raise InvalidInput(field, "is too common; choose a less predictable password")
    if len(set(lowered)) <= 2 or any(lowered in s for s in _SEQUENCES):
        raise InvalidInput(field, "is too predictable; choose a less predictable password")
    local = email.split("@", 1)[0].lower()
    if local and len(local) >= 4 and (lowered == local or core == local):
        raise InvalidInput(field, "must not be your email address")


def check_name(value: str, field: str) -> str:
    value = value.strip()
    if not value or len(value) > _NAME_MAX:
        raise InvalidInput(field, f"is required (at most {_NAME_MAX} characters)")
    return value


def check_role_fits(role: Role, organization_kind: str) -> None:
    """Reseller roles belong to the reseller account, customer roles to a customer."""
    if organization_kind == "reseller" and role not in RESELLER_ROLES:
        raise InvalidInput("role", f"a reseller account's users have one of: {', '.join(RESELLER_ROLES)}")
    if organization_kind == "customer" and role not in CUSTOMER_ROLES:
        raise InvalidInput("role", f"a customer organization's users have one of: {', '.join(CUSTOMER_ROLES)}")


@dataclass(frozen=True)
class ExternalIdentity(Value):
    """Who a person is at an outside identity provider: the method it came through, the
    token's issuer, the directory (tenant) it lives in and its immutable id there
    (Microsoft: ``tid`` and ``oid``; ``sub`` where there is no ``oid``)."""

    method: SignInMethod
    issuer: str
    tenant_id: str
    subject: str

    @property
    def key(self) -> str:
        """What makes it unique on the platform (one identity, one user)."""
        return f"{self.method}:{self.tenant_id}:{self.subject}"


TokenStatus = Literal["active", "expired", "revoked"]


@dataclass(frozen=True)
class ApiToken(Value):
    """An API token: only its SHA-256 is kept; the token itself is shown once. Without
    ``expires_at`` it lasts until revoked."""

    id: UUID
    name: str
    token_hash: str
    created_at: datetime
    revoked_at: datetime | None = None
    expires_at: datetime | None = None

    def status(self, at: datetime) -> TokenStatus:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and at >= self.expires_at:
            return "expired"
        return "active"

    def is_live(self, at: datetime) -> bool:
        return self.status(at) == "active"


class User(CspAggregate):
    class Added(CspAggregate.Created):
        """A user joined an account: the primary contact or a self-registered customer
        admin (with a local password; active at once, or, signing up in public, once its
        email is confirmed: ``invitation_hash`` is then the hash of the confirming link),
        or an invited person (``invitation_hash`` set, until accepted)."""

        email: str
        role: Role
        organization_id: UUID
        reseller_id: UUID
        sign_in_method: SignInMethod
        first_name: str
        last_name: str
        password_hash: str | None
        primary_contact: bool
        invitation_hash: str | None
        expires_at: datetime | None

    @event(Added)
    def __init__(
        self,
        email: str,
        role: Role,
        organization_id: UUID,
        reseller_id: UUID,
        sign_in_method: SignInMethod,
        first_name: str,
        last_name: str,
        password_hash: str | None,
        primary_contact: bool,
        invitation_hash: str | None,
        expires_at: datetime | None,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.email = email
        self.role = role
        self.organization_id = organization_id
        self.reseller_id = reseller_id
        self.sign_in_method = sign_in_method
        self.first_name = first_name
        self.last_name = last_name
        self.password_hash = password_hash
        self.primary_contact = primary_contact
        self.invitation_hash = invitation_hash
        self.invitation_expires_at = expires_at
        invited = invitation_hash is not None
        self.status: UserStatus = "invited" if invited else "active"
        self.invited_by: Actor | None = actor if invited else None
        self.activated_at: datetime | None = None if invited else at
        self.created_at = at
        self.terms_accepted_at: datetime | None = None
        self.tokens: tuple[ApiToken, ...] = ()
        self.disabled_at: datetime | None = None
        self.identity: ExternalIdentity | None = None
        self.password_reset_hash: str | None = None
        self.password_reset_expires_at: datetime | None = None

    @classmethod
    def register_primary_contact(
        cls,
        id: UUID,
        email: str,
        reseller_id: UUID,
        first_name: str,
        last_name: str,
        password_hash: str,
        actor: Actor,
        at: datetime,
        confirmation_hash: str | None = None,
    ) -> User:
        """The first user of a reseller account; with ``confirmation_hash`` it waits until
        its email is confirmed (a public sign-up)."""
        return cls._create(
            cls.Added,
            id=id,
            email=check_email(email, "primary_contact.email"),
            role="account_manager",
            organization_id=reseller_id,
            reseller_id=reseller_id,
            sign_in_method="local",
            first_name=check_name(first_name, "primary_contact.first_name"),
            last_name=check_name(last_name, "primary_contact.last_name"),
            password_hash=password_hash,
            primary_contact=True,
            invitation_hash=confirmation_hash,
            expires_at=at + INVITATION_TTL if confirmation_hash else None,
            actor=actor,
            at=at,
        )

    @classmethod
    def register_customer_admin(
        cls,
        id: UUID,
        email: str,
        organization_id: UUID,
        reseller_id: UUID,
        first_name: str,
        last_name: str,
        password_hash: str,
        actor: Actor,
        at: datetime,
        confirmation_hash: str | None = None,
    ) -> User:
        """The first user of a self-registered customer organization (with
        ``confirmation_hash``: once its email is confirmed)."""
        return cls._create(
            cls.Added,
            id=id,
            email=check_email(email, "admin.email"),
            role="customer_admin",
            organization_id=organization_id,
            reseller_id=reseller_id,
            sign_in_method="local",
            first_name=check_name(first_name, "admin.first_name"),
            last_name=check_name(last_name, "admin.last_name"),
            password_hash=password_hash,
            primary_contact=False,
            invitation_hash=confirmation_hash,
            expires_at=at + INVITATION_TTL if confirmation_hash else None,
            actor=actor,
            at=at,
        )

    @classmethod
    def invite(
        cls,
        id: UUID,
        email: str,
        role: Role,
        organization_id: UUID,
        organization_kind: str,
        reseller_id: UUID,
        sign_in_method: SignInMethod,
        allowed_methods: tuple[SignInMethod, ...],
        invitation_hash: str,
        actor: Actor,
        at: datetime,
    ) -> User:
        check_role_fits(role, organization_kind)
        _check_method_allowed(sign_in_method, allowed_methods)
        return cls._create(
            cls.Added,
            id=id,
            email=check_email(email, "email"),
            role=role,
            organization_id=organization_id,
            reseller_id=reseller_id,
            sign_in_method=sign_in_method,
            first_name="",
            last_name="",
            password_hash=None,
            primary_contact=False,
            invitation_hash=invitation_hash,
            expires_at=at + INVITATION_TTL,
            actor=actor,
            at=at,
        )

    # --- queries -------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def is_customer_user(self) -> bool:
        return self.role in CUSTOMER_ROLES

    def live_tokens(self, at: datetime) -> tuple[ApiToken, ...]:
        return tuple(t for t in self.tokens if t.is_live(at))

    @property
    def awaits_email_confirmation(self) -> bool:
        """Signed up in public (its password chosen), its email not confirmed yet; an
        invited person has no password before it accepts."""
        return self.status == "invited" and self.password_hash is not None

    def invitation_open(self, at: datetime) -> bool:
        return self.status == "invited" and self.invitation_expires_at is not None and at < self.invitation_expires_at

    def check_may_invite(self, role: Role, organization_id: UUID, organization_kind: str) -> None:
        """Who may give which role: an account manager any; a customer admin only
        customer roles in its own organization; nobody else."""
        if not self.is_active:
            raise Forbidden("only an active user may invite", user_id=self.id)
        if self.role == "account_manager":
            return
        if self.role == "customer_admin" and organization_id == self.organization_id and role in CUSTOMER_ROLES:
            return
        raise RoleNotAssignable(
            f"a {self.role} cannot give the {role} role in this organization", role=role, kind=organization_kind
        )

    def check_may_manage(self, other: User, field: str | None = None) -> None:
        """Change another user's role, sign-in method or status; ``field`` is the first one
        asked for, which a refusal names (what the primary contact keeps is refused by
        each change, naming its field)."""
        if other.id == self.id:
            if other.primary_contact and field == "sign_in_method":
                raise UserError(
                    "the primary contact always signs in with a local account", user_id=self.id, field=field
                )
            what = {"role": "role", "sign_in_method": "sign-in method", "disabled": "status"}.get(field or "")
            raise UserError(
                f"you cannot change your own {what or 'role or status'}",
                user_id=self.id,
                **({"field": field} if field else {}),
            )
        if self.role == "account_manager" and other.reseller_id == self.reseller_id:
            return
        if self.role == "customer_admin" and other.organization_id == self.organization_id:
            return
        raise Forbidden("you cannot manage this user", user_id=other.id)

    def check_may_manage_tokens_of(self, other: User) -> None:
        """See and revoke another user's API tokens: the user itself, an account manager
        of its account, a customer admin of its organization (the primary contact's too:
        a leaked token must be stoppable by someone)."""
        if not self.is_active:
            raise Forbidden("only an active user may manage API tokens", user_id=self.id)
        if other.id == self.id:
            return
        if self.role == "account_manager" and other.reseller_id == self.reseller_id:
            return
        if self.role == "customer_admin" and other.organization_id == self.organization_id:
            return
        raise Forbidden("you cannot manage this user's API tokens", user_id=other.id)

    # --- invitation ------------------------------------------------------------

    class InvitationReissued(CspAggregate.Event):
        role: Role
        organization_id: UUID
        sign_in_method: SignInMethod
        invitation_hash: str
        expires_at: datetime

    def reissue_invitation(
        self,
        role: Role,
        organization_id: UUID,
        organization_kind: str,
        sign_in_method: SignInMethod,
        allowed_methods: tuple[SignInMethod, ...],
        invitation_hash: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        """Invite again someone who has not accepted yet: a new link, the old one dies."""
        if self.status != "invited":
            raise EmailTaken("this email already belongs to a user", field="email")
        check_role_fits(role, organization_kind)
        _check_method_allowed(sign_in_method, allowed_methods)
        self._reissue(
            role=role,
            organization_id=organization_id,
            sign_in_method=sign_in_method,
            invitation_hash=invitation_hash,
            expires_at=at + INVITATION_TTL,
            actor=actor,
            at=at,
        )

    @event(InvitationReissued)
    def _reissue(
        self,
        role: Role,
        organization_id: UUID,
        sign_in_method: SignInMethod,
        invitation_hash: str,
        expires_at: datetime,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.role = role
        self.organization_id = organization_id
        self.sign_in_method = sign_in_method
        self.invitation_hash = invitation_hash
        self.invitation_expires_at = expires_at
        self.invited_by = actor

    class InvitationAccepted(CspAggregate.Event):
        first_name: str
        last_name: str
        password_hash: str | None
        terms_accepted: bool

    def accept_invitation(
        self,
        invitation_hash: str,
        first_name: str,
        last_name: str,
        password_hash: str | None,
        accept_terms: bool,
        terms_required: bool,
        actor: Actor,
        at: datetime,
    ) -> None:
        if self.status != "invited" or self.invitation_hash != invitation_hash or self.awaits_email_confirmation:
            raise InvitationInvalid("this invitation is no longer valid")
        if not self.invitation_open(at):
            raise InvitationExpired("this invitation has expired; ask for a new one")
        if terms_required and not accept_terms:
            raise TermsNotAccepted("the account's terms and conditions must be accepted", user_id=self.id)
        if self.sign_in_method == "local" and password_hash is None:
            raise InvalidInput("password", "is required for a local account")
        self._accept(
            first_name=check_name(first_name, "first_name"),
            last_name=check_name(last_name, "last_name"),
            password_hash=password_hash if self.sign_in_method == "local" else None,
            terms_accepted=accept_terms,
            actor=actor,
            at=at,
        )

    @event(InvitationAccepted)
    def _accept(
        self,
        first_name: str,
        last_name: str,
        password_hash: str | None,
        terms_accepted: bool,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.status = "active"
        self.first_name = first_name
        self.last_name = last_name
        self.password_hash = password_hash
        self.invitation_hash = None
        self.invitation_expires_at = None
        self.activated_at = at
        if terms_accepted:
            self.terms_accepted_at = at

    class EmailConfirmed(CspAggregate.Event):
        """The owner of the address followed the link sent at sign-up: the user is active."""

    def confirm_email(self, confirmation_hash: str, actor: Actor, at: datetime) -> None:
        if not self.awaits_email_confirmation or self.invitation_hash != confirmation_hash:
            raise InvitationInvalid("this link was used already; log in", user_id=self.id)
        if not self.invitation_open(at):
            raise InvitationExpired("this link has expired; sign up again", user_id=self.id)
        self._confirm_email(actor=actor, at=at)

    @event(EmailConfirmed)
    def _confirm_email(self, actor: Actor, at: datetime) -> None:
        self.status = "active"
        self.invitation_hash = None
        self.invitation_expires_at = None
        self.activated_at = at

    class TermsAccepted(CspAggregate.Event):
        pass

    def accept_terms(self, actor: Actor, at: datetime) -> None:
        if self.terms_accepted_at is None:
            self._accept_terms(actor=actor, at=at)

    @event(TermsAccepted)
    def _accept_terms(self, actor: Actor, at: datetime) -> None:
        self.terms_accepted_at = at

    # --- role, status, password ----------------------------------------------

    class RoleChanged(CspAggregate.Event):
        role: Role

    def change_role(self, role: Role, organization_kind: str, actor: Actor, at: datetime) -> None:
        if self.primary_contact:
            raise UserError("the primary contact's role cannot be changed", user_id=self.id, field="role")
        check_role_fits(role, organization_kind)
        if role != self.role:
            self._change_role(role=role, actor=actor, at=at)

    @event(RoleChanged)
    def _change_role(self, role: Role, actor: Actor, at: datetime) -> None:
        self.role = role

    class Disabled(CspAggregate.Event):
        pass

    class Enabled(CspAggregate.Event):
        pass

    def disable(self, actor: Actor, at: datetime) -> None:
        if self.primary_contact:
            raise UserError("the primary contact cannot be disabled", user_id=self.id, field="disabled")
        if self.status != "disabled":
            self._disable(actor=actor, at=at)

    @event(Disabled)
    def _disable(self, actor: Actor, at: datetime) -> None:
        self.status = "disabled"
        self.disabled_at = at

    def enable(self, actor: Actor, at: datetime) -> None:
        if self.status == "disabled":
            self._enable(actor=actor, at=at)

    @event(Enabled)
    def _enable(self, actor: Actor, at: datetime) -> None:
        self.status = "active" if self.activated_at is not None else "invited"
        self.disabled_at = None

    class PasswordChanged(CspAggregate.Event):
        """A new password hash: the user chose a new password, or a login upgraded the
        hash of the same one. Either ends a pending reset link."""

        password_hash: str

    def change_password(self, password_hash: str, actor: Actor, at: datetime) -> None:
        self._check_has_local_password()
        self._change_password(password_hash=password_hash, actor=actor, at=at)

    def _check_has_local_password(self) -> None:
        if self.sign_in_method != "local":
            raise UserError("this user signs in with Microsoft, not a local password", user_id=self.id)
        if not self.is_active:
            raise UserError(f"the user is {self.status}", user_id=self.id)

    @event(PasswordChanged)
    def _change_password(self, password_hash: str, actor: Actor, at: datetime) -> None:
        self.password_hash = password_hash
        self.password_reset_hash = None
        self.password_reset_expires_at = None

    @property
    def may_reset_password(self) -> bool:
        """Only an active user with a local password has one to reset."""
        return self.is_active and self.sign_in_method == "local"

    class PasswordResetRequested(CspAggregate.Event):
        """Someone asked for a reset link for this user's email; the link (only its hash
        here) went to that email. A newer link replaces an older one."""

        reset_hash: str
        expires_at: datetime

    def request_password_reset(self, reset_hash: str, actor: Actor, at: datetime) -> None:
        self._check_has_local_password()
        self._request_password_reset(reset_hash=reset_hash, expires_at=at + PASSWORD_RESET_TTL, actor=actor, at=at)

    @event(PasswordResetRequested)
    def _request_password_reset(self, reset_hash: str, expires_at: datetime, actor: Actor, at: datetime) -> None:
        self.password_reset_hash = reset_hash
        self.password_reset_expires_at = expires_at

    def check_password_reset(self, reset_hash: str, at: datetime) -> None:
        """May this link set a new password now? Once, before it expires, while the user
        still signs in with a local password."""
        if self.password_reset_hash is None or self.password_reset_hash != reset_hash or not self.may_reset_password:
            raise PasswordResetInvalid(
                "this link was used already, or a newer one was sent; ask for a new link", user_id=self.id
            )
        if self.password_reset_expires_at is None or at >= self.password_reset_expires_at:
            raise PasswordResetExpired("this link has expired; ask for a new one", user_id=self.id)

    class PasswordReset(CspAggregate.Event):
        """A new password set through a reset link (which dies with it)."""

        password_hash: str

    def reset_password(self, reset_hash: str, password_hash: str, actor: Actor, at: datetime) -> None:
        self.check_password_reset(reset_hash, at)
        self._reset_password(password_hash=password_hash, actor=actor, at=at)

    @event(PasswordReset)
    def _reset_password(self, password_hash: str, actor: Actor, at: datetime) -> None:
        self.password_hash = password_hash
        self.password_reset_hash = None
        self.password_reset_expires_at = None

    # --- sign-in methods and outside identities ------------------------------------

    def check_sign_in(self, method: SignInMethod, allowed_methods: tuple[SignInMethod, ...]) -> None:
        """May this user sign in with this method now? The account must allow the method
        and it must be the user's own; the user must be active."""
        if self.status == "disabled":
            raise UserDisabled("this user is disabled; ask your account manager", user_id=self.id)
        if method not in allowed_methods:
            raise SignInMethodNotAllowed(
                f"this account does not allow signing in with {SIGN_IN_METHOD_LABELS[method]}",
                method=method,
                allowed=list(allowed_methods),
            )
        if method != self.sign_in_method:
            raise WrongSignInMethod(
                f"this user signs in with {SIGN_IN_METHOD_LABELS[self.sign_in_method]}",
                method=method,
                user_method=self.sign_in_method,
            )
        if self.status == "invited":
            raise InvitationNotAccepted(
                "accept your invitation first (the link in the email), then sign in", user_id=self.id
            )

    class IdentityBound(CspAggregate.Event):
        """The first sign-in through an identity provider: the identity is this user's
        from now on (``matched_email`` is the token's email that matched the user's)."""

        identity: ExternalIdentity
        matched_email: str

    def sign_in_with(
        self,
        identity: ExternalIdentity,
        claimed_emails: tuple[str, ...],
        allowed_methods: tuple[SignInMethod, ...],
        actor: Actor,
        at: datetime,
    ) -> bool:
        """Check a sign-in with an outside identity; the first one binds the identity to
        this user when one of the token's emails is the user's. True when it bound."""
        self.check_sign_in(identity.method, allowed_methods)
        if self.identity is not None:
            if self.identity.key != identity.key:
                raise WrongAccount(
                    f"this user is linked to another {SIGN_IN_METHOD_LABELS[identity.method].removeprefix('a ')}",
                    method=identity.method,
                )
            return False
        emails = {e.strip().lower() for e in claimed_emails if e}
        if self.email not in emails:
            raise WrongAccount(
                f"the Microsoft account signed in ({', '.join(sorted(emails)) or 'no email'}) is not {self.email}",
                method=identity.method,
            )
        self._bind_identity(identity=identity, matched_email=self.email, actor=actor, at=at)
        return True

    @event(IdentityBound)
    def _bind_identity(self, identity: ExternalIdentity, matched_email: str, actor: Actor, at: datetime) -> None:
        self.identity = identity

    class SignInMethodChanged(CspAggregate.Event):
        """An account manager gave the user another sign-in method; the identity it was
        bound to (if any) is released, and the next sign-in binds again."""

        sign_in_method: SignInMethod
        released_identity: ExternalIdentity | None

    def change_sign_in_method(
        self, method: SignInMethod, allowed_methods: tuple[SignInMethod, ...], actor: Actor, at: datetime
    ) -> ExternalIdentity | None:
        """Switch the user to another method; answers the identity released (if any)."""
        if self.primary_contact:
            raise UserError(
                "the primary contact always signs in with a local account", user_id=self.id, field="sign_in_method"
            )
        _check_method_allowed(method, allowed_methods)
        if method == self.sign_in_method:
            return None
        if method == "local" and self.status != "invited" and not self.password_hash:
            raise NoLocalPassword(
                "this user has no local password to sign in with; invite a new user for a local account",
                user_id=self.id,
            )
        released = self.identity
        self._change_sign_in_method(sign_in_method=method, released_identity=released, actor=actor, at=at)
        return released

    @event(SignInMethodChanged)
    def _change_sign_in_method(
        self, sign_in_method: SignInMethod, released_identity: ExternalIdentity | None, actor: Actor, at: datetime
    ) -> None:
        self.sign_in_method = sign_in_method
        self.identity = None

    # --- API tokens --------------------------------------------------------------

    class TokenIssued(CspAggregate.Event):
        token: ApiToken

    def issue_token(
        self,
        token_id: UUID,
        name: str,
        token_hash: str,
        actor: Actor,
        at: datetime,
        expires_at: datetime | None = None,
    ) -> ApiToken:
        if not self.is_active:
            raise UserError(f"the user is {self.status}", user_id=self.id)
        name = name.strip()
        if not name or len(name) > _NAME_MAX:
            raise InvalidInput("name", f"is required (at most {_NAME_MAX} characters)")
        if expires_at is not None and require_aware(expires_at) <= at:
            raise InvalidInput("expires_at", "must be in the future", value=expires_at.isoformat())
        if any(t.name == name for t in self.live_tokens(at)):
            raise Conflict(f"a token named {name!r} exists already", name=name)
        token = ApiToken(id=token_id, name=name, token_hash=token_hash, created_at=at, expires_at=expires_at)
        self._issue_token(token=token, actor=actor, at=at)
        return token

    @event(TokenIssued)
    def _issue_token(self, token: ApiToken, actor: Actor, at: datetime) -> None:
        self.tokens = (*self.tokens, token)

    class TokenRevoked(CspAggregate.Event):
        token_id: UUID

    def revoke_token(self, token_id: UUID, actor: Actor, at: datetime) -> None:
        """Revoke a token that is not revoked yet (an expired one too)."""
        if not any(t.id == token_id and t.revoked_at is None for t in self.tokens):
            raise NotFound("token", token_id)
        self._revoke_token(token_id=token_id, actor=actor, at=at)

    @event(TokenRevoked)
    def _revoke_token(self, token_id: UUID, actor: Actor, at: datetime) -> None:
        self.tokens = tuple(t.replace(revoked_at=at) if t.id == token_id else t for t in self.tokens)

    def has_live_token(self, token_hash: str, at: datetime) -> bool:
        return any(t.token_hash == token_hash for t in self.live_tokens(at))


def _check_method_allowed(method: SignInMethod, allowed: tuple[SignInMethod, ...]) -> None:
    parse_sign_in_method(method)
    if method not in allowed:
        raise InvalidInput(
            "sign_in_method", f"the account allows these sign-in methods: {', '.join(allowed)}", value=method
        )
