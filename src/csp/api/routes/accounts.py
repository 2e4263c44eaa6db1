"""Accounts: reseller sign-up, customer self-registration, sign-in, users, settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from csp.aggregates.catalog import Eligibility
from csp.aggregates.organization import Address, Organization, OrganizationProfile, ResellerSettings
from csp.api import access
from csp.api import schemas as s
from csp.api.auth import Caller
from csp.api.commands import command, send_invitation
from csp.api.deps import (
    AppDep,
    AuthDep,
    CurrentCaller,
    IfMatch,
    Limit,
    Offset,
    OptionalCaller,
    SettingsReader,
    SettingsWriter,
    SystemDep,
    UsersInviter,
    UsersManager,
    UsersReader,
)
from csp.api.presenters import organization_public, settings_public, user_public
from csp.api.readside import page, read_side
from csp.api.services import Services
from csp.application.accounts import NewLogin

router = APIRouter(tags=["accounts"])


def _address(a: s.AddressIn | None) -> Address:
    a = a or s.AddressIn()
    return Address(line1=a.line1, city=a.city, postal_code=a.postal_code, line2=a.line2, region=a.region)


def profile_of(body: s.OrganizationCreate) -> OrganizationProfile:
    return OrganizationProfile(
        name=body.name,
        country=body.country,
        address=_address(body.address),
        contact_email=body.contact_email,
        contact_phone=body.contact_phone,
        industry=body.industry,
        eligibility=Eligibility(**body.eligibility.model_dump()),
    )


def _login(c: s.ContactCreate) -> NewLogin:
    return NewLogin(email=c.email, password=c.password, first_name=c.first_name, last_name=c.last_name)


@router.post("/resellers", status_code=status.HTTP_201_CREATED, response_model=s.ResellerPublic)
def sign_up(body: s.ResellerCreate, system: SystemDep) -> s.ResellerPublic:
    """A new reseller account with its primary contact (who signs in with a local account)."""
    org, user = command(
        system,
        lambda: system.app.sign_up_reseller(
            body.company_name,
            body.country,
            _login(body.primary_contact),
            address=_address(body.address) if body.address else None,
            contact_phone=body.contact_phone,
            industry=body.industry,
            slug=body.slug,
        ),
    )
    return s.ResellerPublic(
        id=org.id,
        slug=org.slug or "",
        name=org.name,
        country=org.profile.country,
        portal_url=f"{system.settings.public_url.rstrip('/')}/portal/{org.slug}",
        primary_contact=user_public(user),
        version=org.version,
    )


@router.post(
    "/resellers/{slug}/customers", status_code=status.HTTP_201_CREATED, response_model=s.CustomerRegistrationPublic
)
def self_register(slug: str, body: s.CustomerRegistration, system: SystemDep) -> s.CustomerRegistrationPublic:
    """A customer registers on its reseller's portal (403 unless the reseller allows it)."""
    org, user = command(
        system,
        lambda: system.app.self_register_customer(slug, profile_of(body), _login(body.admin), body.accept_terms),
    )
    return s.CustomerRegistrationPublic(organization=organization_public(org), user=user_public(user))


@router.post(
    "/auth/login",
    response_model=s.LoginPublic,
    responses={429: {"model": s.ErrorPublic, "description": "too many failed sign-ins: wait Retry-After seconds"}},
)
def login(body: s.LoginRequest, request: Request, response: Response, auth: AuthDep) -> s.LoginPublic:
    """Sign in with email and password: a session cookie, and the CSRF token to send back."""
    address = request.client.host if request.client else "unknown"
    user = auth.local.authenticate(body.email, body.password, address)
    session = auth.start_session(user, request, response)
    return s.LoginPublic(user=user_public(user), csrf_token=session.csrf_token)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, auth: AuthDep, caller: OptionalCaller) -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    auth.end_session(request, response)
    return response


@router.get("/auth/me", response_model=s.UserPublic)
def me(caller: CurrentCaller, app: AppDep) -> s.UserPublic:
    return user_public(app.user(caller.user_id))


@router.get("/auth/methods", response_model=s.SignInMethodsPublic)
def sign_in_methods(app: AppDep, email: Annotated[str, Query(min_length=3, max_length=254)]) -> s.SignInMethodsPublic:
    """The sign-in methods this email may use (an unknown email gets the local one)."""
    user = app.user_by_email(email)
    methods = [user.sign_in_method] if user is not None and user.status != "disabled" else ["local"]
    return s.SignInMethodsPublic(email=email.strip().lower(), methods=methods)  # type: ignore[arg-type]


@router.post("/auth/tokens", status_code=status.HTTP_201_CREATED, response_model=s.TokenPublic)
def create_token(body: s.TokenCreate, caller: CurrentCaller, system: SystemDep) -> s.TokenPublic:
    """A new API token for the signed-in user, shown this once (only its hash is kept)."""
    user, token = command(system, lambda: system.app.issue_api_token(caller.user_id, body.name))
    issued = user.tokens[-1]
    return s.TokenPublic(id=issued.id, name=issued.name, token=token, created_at=issued.created_at)


@router.get("/users", response_model=s.UserRowsPublic)
def users(caller: UsersReader, system: SystemDep, limit: Limit = 50, offset: Offset = 0) -> Any:
    """The account's users (a customer admin: its organization's)."""
    organization_id = caller.organization_id if caller.is_customer else None
    return page(read_side(system).users(caller.reseller_id, organization_id, limit, offset))


def invite_user(system: Services, caller: Caller, body: s.InvitationCreate) -> s.InvitationPublic:
    """Invite (the API's and the portal's): the email carries a one-time link; in test mode
    the answer also carries its token (tests have no mailbox)."""
    org = access.organization(system.app, caller, body.organization_id)
    invitation = command(
        system,
        lambda: system.app.invite_user(
            caller.user_id, body.email, body.role, body.organization_id, body.sign_in_method
        ),
    )
    user = invitation.user
    sent = send_invitation(system, invitation, system.app.user(caller.user_id), org.name)
    assert user.invitation_expires_at is not None
    return s.InvitationPublic(
        user=user_public(user),
        expires_at=user.invitation_expires_at,
        email_sent=sent,
        accept_token=invitation.token if system.settings.test_mode else None,
    )


@router.post("/users/invitations", status_code=status.HTTP_201_CREATED, response_model=s.InvitationPublic)
def invite(body: s.InvitationCreate, caller: UsersInviter, system: SystemDep) -> s.InvitationPublic:
    """Invite someone by email with a role in an organization of this account; the email
    carries a one-time link that expires (``email_sent`` says whether it went out)."""
    return invite_user(system, caller, body)


@router.post("/invitations/{token}/accept", status_code=status.HTTP_201_CREATED, response_model=s.UserPublic)
def accept_invitation(token: str, body: s.InvitationAccept, system: SystemDep) -> s.UserPublic:
    user = command(
        system,
        lambda: system.app.accept_invitation(token, body.first_name, body.last_name, body.password, body.accept_terms),
    )
    return user_public(user)


@router.patch("/users/{user_id}", response_model=s.UserPublic)
def change_user(
    user_id: UUID, body: s.UserUpdate, caller: UsersManager, system: SystemDep, auth: AuthDep, version: IfMatch
) -> s.UserPublic:
    """Change a user's role or sign-in method, or disable it (which ends its sessions at
    once, as does a new sign-in method)."""
    access.user(system.app, caller, user_id)
    before = system.app.user(user_id).sign_in_method
    user = command(
        system,
        lambda: system.app.change_user(
            caller.user_id,
            user_id,
            body.role,
            body.disabled,
            expected_version=version,
            sign_in_method=body.sign_in_method,
        ),
    )
    if user.status == "disabled" or user.sign_in_method != before:
        auth.end_user_sessions(user.id)
    return user_public(user)


@router.get("/settings", response_model=s.SettingsPublic)
def get_settings(caller: SettingsReader, app: AppDep, auth: AuthDep) -> s.SettingsPublic:
    return settings_public(access.reseller(app, caller), auth.offered_methods())


@router.put("/settings", response_model=s.SettingsPublic)
def put_settings(
    body: s.SettingsUpdate, caller: SettingsWriter, system: SystemDep, auth: AuthDep, version: IfMatch
) -> s.SettingsPublic:
    """The account's settings; fields left out keep their value. ``sign_in_methods`` may
    allow only the methods the platform is set up for (``available_sign_in_methods``)."""
    offered = auth.offered_methods()
    return settings_public(change_settings(system, caller, body, version, offered), offered)


def change_settings(
    system: Services, caller: Caller, body: s.SettingsUpdate, version: int | None, offered: Sequence[str]
) -> Organization:
    """The account's settings changed by the fields the body names (API and portal)."""
    current = access.reseller(system.app, caller).reseller_settings()
    changes = body.model_dump(exclude_none=True)
    if "sign_in_methods" in changes:
        changes["sign_in_methods"] = tuple(changes["sign_in_methods"])
    new: ResellerSettings = current.replace(**changes)
    return command(
        system,
        lambda: system.app.change_settings(
            caller.reseller_id, new, caller.actor, expected_version=version, offered_methods=offered
        ),
    )
