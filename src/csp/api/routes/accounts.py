"""Accounts: reseller sign-up, customer self-registration, sign-in, users, settings."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from csp.aggregates.catalog import Eligibility
from csp.aggregates.organization import Address, OrganizationProfile
from csp.api import access
from csp.api import schemas as s
from csp.api.actions import change_settings
from csp.api.deps import (
    AppDep,
    AuthDep,
    ClientAddress,
    CommandsDep,
    CurrentCaller,
    IfMatch,
    InvitationsDep,
    Limit,
    Offset,
    OptionalCaller,
    PasswordsDep,
    ReadModelsDep,
    SettingsDep,
    SettingsReader,
    SettingsWriter,
    SignUpsDep,
    UsersInviter,
    UsersManager,
    UsersReader,
)
from csp.api.lists import NOT_MODIFIED, list_response
from csp.api.presenters import organization_public, settings_public, tokens_public, user_public
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
        vat_number=body.vat_number,
        billing_email=body.billing_email,
        currency=body.currency,
    )


def _login(c: s.ContactCreate) -> NewLogin:
    return NewLogin(email=c.email, password=c.password, first_name=c.first_name, last_name=c.last_name)


SIGN_UP_THROTTLED = {429: {"model": s.ErrorPublic, "description": "too many sign-ups: wait Retry-After seconds"}}


@router.post(
    "/resellers", status_code=status.HTTP_201_CREATED, response_model=s.ResellerPublic, responses=SIGN_UP_THROTTLED
)
def sign_up(
    body: s.ResellerCreate, app: AppDep, settings: SettingsDep, signups: SignUpsDep, address: ClientAddress
) -> s.ResellerPublic:
    """A new reseller account with its primary contact (who signs in with a local account,
    once the link emailed to its address confirmed it). The answer is the same whether or
    not the address has an account already; its owner is then told by email instead."""
    contact = body.primary_contact
    registration = signups.register(
        "signup",
        contact.email,
        address,
        f"the reseller account {body.company_name}",
        lambda: app.start_reseller_sign_up(
            body.company_name,
            body.country,
            _login(contact),
            address=_address(body.address) if body.address else None,
            contact_phone=body.contact_phone,
            industry=body.industry,
            slug=body.slug,
        ),
    )
    org, user = registration.organization, registration.user
    return s.ResellerPublic(
        id=org.id,
        slug=org.slug or "",
        name=org.name,
        country=org.profile.country,
        portal_url=f"{settings.public_url.rstrip('/')}/portal/{org.slug}",
        primary_contact=user_public(user),
        version=org.version,
        confirm_token=registration.token if settings.test_mode else None,
    )


@router.post(
    "/resellers/{slug}/customers",
    status_code=status.HTTP_201_CREATED,
    response_model=s.CustomerRegistrationPublic,
    responses=SIGN_UP_THROTTLED,
)
def self_register(
    slug: str,
    body: s.CustomerRegistration,
    app: AppDep,
    settings: SettingsDep,
    signups: SignUpsDep,
    address: ClientAddress,
) -> s.CustomerRegistrationPublic:
    """A customer registers on its reseller's portal (403 unless the reseller allows it);
    its admin signs in once the link emailed to its address confirmed it (the same answer
    whether or not the address has an account)."""
    registration = signups.register(
        "register",
        body.admin.email,
        address,
        f"the organization {body.name}, a customer of the reseller at /portal/{slug}",
        lambda: app.self_register_customer(slug, profile_of(body), _login(body.admin), body.accept_terms),
    )
    return s.CustomerRegistrationPublic(
        organization=organization_public(registration.organization),
        user=user_public(registration.user),
        confirm_token=registration.token if settings.test_mode else None,
    )


@router.post("/auth/confirm-email/{token}", response_model=s.UserPublic)
def confirm_email(token: str, signups: SignUpsDep) -> s.UserPublic:
    """The link emailed at sign-up (or self-registration): the user is active and may sign
    in (404 unknown link, 409 `invitation_invalid` used, `invitation_expired` after 7 days,
    `email_taken` when the address has an account)."""
    return user_public(signups.confirm(token))


@router.post(
    "/auth/login",
    response_model=s.LoginPublic,
    responses={429: {"model": s.ErrorPublic, "description": "too many failed sign-ins: wait Retry-After seconds"}},
)
def login(
    body: s.LoginRequest, request: Request, response: Response, auth: AuthDep, address: ClientAddress
) -> s.LoginPublic:
    """Sign in with email and password: a session cookie, and the CSRF token to send back."""
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


THROTTLED = {429: {"model": s.ErrorPublic, "description": "too many attempts: wait Retry-After seconds"}}


@router.post("/auth/password", response_model=s.PasswordChangedPublic, responses=THROTTLED)
def change_password(
    body: s.PasswordChange, caller: CurrentCaller, passwords: PasswordsDep, address: ClientAddress
) -> s.PasswordChangedPublic:
    """A new password for the signed-in user (a local account), the current one required.
    Every other session of the user ends; this one goes on; API tokens stay."""
    user, ended = passwords.change(caller, body.current_password, body.new_password, address)
    return s.PasswordChangedPublic(user=user_public(user), other_sessions_ended=ended)


@router.post(
    "/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=s.PasswordResetAsked,
    responses=THROTTLED,
)
def ask_password_reset(
    body: s.PasswordResetAsk, passwords: PasswordsDep, address: ClientAddress
) -> s.PasswordResetAsked:
    """A forgotten password: a one-time link (valid an hour) is emailed to the address when
    it belongs to a user with a local password. The answer is the same for every address."""
    return s.PasswordResetAsked(message=passwords.ask_reset(body.email, address))


@router.post("/auth/password-reset/{token}", response_model=s.UserPublic)
def reset_password(token: str, body: s.PasswordResetSet, passwords: PasswordsDep) -> s.UserPublic:
    """Choose a new password with the emailed link's token (once; 409 `reset_link_invalid`
    when used or replaced, `reset_link_expired` after an hour). Every session of the user ends."""
    return user_public(passwords.reset(token, body.password))


@router.post("/auth/tokens", status_code=status.HTTP_201_CREATED, response_model=s.TokenPublic)
def create_token(body: s.TokenCreate, caller: CurrentCaller, app: AppDep, commands: CommandsDep) -> s.TokenPublic:
    """A new API token for the signed-in user, shown this once (only its hash is kept);
    with ``expires_at`` it stops working then, else when revoked."""
    user, token = commands.run(lambda: app.issue_api_token(caller.user_id, body.name, body.expires_at))
    issued = user.tokens[-1]
    return s.TokenPublic(
        id=issued.id, name=issued.name, token=token, created_at=issued.created_at, expires_at=issued.expires_at
    )


@router.get("/auth/tokens", response_model=s.TokensPublic)
def my_tokens(caller: CurrentCaller, app: AppDep, limit: Limit = 50, offset: Offset = 0) -> s.TokensPublic:
    """The signed-in user's API tokens, oldest first (revoked and expired ones too)."""
    return tokens_public(app.api_tokens(caller.user_id, caller.user_id), app.now(), limit, offset)


@router.delete("/auth/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_my_token(token_id: UUID, caller: CurrentCaller, app: AppDep, commands: CommandsDep) -> Response:
    commands.run(lambda: app.revoke_api_token(caller.user_id, caller.user_id, token_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/{user_id}/tokens", response_model=s.TokensPublic)
def user_tokens(
    user_id: UUID, caller: UsersManager, app: AppDep, limit: Limit = 50, offset: Offset = 0
) -> s.TokensPublic:
    """Another user's API tokens (an account manager: its account's users; a customer
    admin: its organization's)."""
    access.user(app, caller, user_id)
    return tokens_public(app.api_tokens(caller.user_id, user_id), app.now(), limit, offset)


@router.delete("/users/{user_id}/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_user_token(
    user_id: UUID, token_id: UUID, caller: UsersManager, app: AppDep, commands: CommandsDep
) -> Response:
    """Revoke another user's API token: it stops working at once."""
    access.user(app, caller, user_id)
    commands.run(lambda: app.revoke_api_token(caller.user_id, user_id, token_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users", response_model=s.UserRowsPublic, responses=NOT_MODIFIED)
def users(
    caller: UsersReader, read: ReadModelsDep, request: Request, limit: Limit = 50, offset: Offset = 0
) -> Response:
    """The account's users (a customer admin: its organization's)."""
    organization_id = caller.organization_id if caller.is_customer else None
    return list_response(request, read.users(caller.reseller_id, organization_id, limit, offset))


@router.post("/users/invitations", status_code=status.HTTP_201_CREATED, response_model=s.InvitationPublic)
def invite(body: s.InvitationCreate, caller: UsersInviter, invitations: InvitationsDep) -> s.InvitationPublic:
    """Invite someone by email with a role in an organization of this account; the email
    carries a one-time link that expires (``email_sent`` says whether it went out)."""
    return invitations.invite(caller, body)


@router.post("/invitations/{token}/accept", status_code=status.HTTP_201_CREATED, response_model=s.UserPublic)
def accept_invitation(token: str, body: s.InvitationAccept, app: AppDep, commands: CommandsDep) -> s.UserPublic:
    user = commands.run(
        lambda: app.accept_invitation(token, body.first_name, body.last_name, body.password, body.accept_terms),
    )
    return user_public(user)


@router.patch("/users/{user_id}", response_model=s.UserPublic)
def change_user(
    user_id: UUID,
    body: s.UserUpdate,
    caller: UsersManager,
    app: AppDep,
    commands: CommandsDep,
    auth: AuthDep,
    version: IfMatch,
) -> s.UserPublic:
    """Change a user's role or sign-in method, or disable it (which ends its sessions at
    once, as does a new sign-in method)."""
    access.user(app, caller, user_id)
    before = app.user(user_id).sign_in_method
    user = commands.run(
        lambda: app.change_user(
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
    body: s.SettingsUpdate,
    caller: SettingsWriter,
    app: AppDep,
    commands: CommandsDep,
    auth: AuthDep,
    version: IfMatch,
) -> s.SettingsPublic:
    """The account's settings; fields left out keep their value. ``sign_in_methods`` may
    allow only the methods the platform is set up for (``available_sign_in_methods``)."""
    offered = auth.offered_methods()
    return settings_public(change_settings(app, commands, caller, body, version, offered), offered)
