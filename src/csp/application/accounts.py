"""Account commands: reseller sign-up, customer self-registration, users, invitations,
passwords (change, forgotten-password reset), API tokens. Every change is an event of
the ``User`` (or ``Organization``) aggregate."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from slugify import slugify

from csp.aggregates.base import Actor, user_actor
from csp.aggregates.catalog import Eligibility
from csp.aggregates.errors import (
    AlreadyExists,
    ConcurrentModification,
    EmailTaken,
    InvalidInput,
    InvitationInvalid,
    NotFound,
    TermsNotAccepted,
    UserError,
)
from csp.aggregates.index import UniqueKey
from csp.aggregates.organization import (
    Address,
    Organization,
    OrganizationProfile,
    check_email,
    parse_sign_in_method,
)
from csp.aggregates.user import ApiToken, Role, User, check_password_policy, parse_role
from csp.application.base import CspApplicationBase
from csp.application.directory import EMAIL_KEYS, SLUG_KEYS, Directory
from csp.application.passwords import Passwords, new_secret, secret_hash

INVITATION_KEYS = "invitation"
TOKEN_KEYS = "api-token"
IDENTITY_KEYS = "external-identity"  # an outside identity (Microsoft) → its user
PASSWORD_RESET_KEYS = "password-reset"
CONFIRMATION_KEYS = "email-confirmation"  # a sign-up's confirming link → its user
INVITED_KEYS = "invited-email"  # "<reseller id>:<email>" → the user that account invited
SYSTEM_PASSWORD_RESET: Actor = "system:password-reset"  # who asks for a link: anyone, not signed in


@dataclass(frozen=True)
class NewLogin:
    """A person's local sign-in: email, password and names."""

    email: str
    password: str
    first_name: str
    last_name: str


@dataclass(frozen=True)
class Invitation:
    user: User
    token: str  # the one-time secret of the link, shown once (in the email)
    taken_by: User | None = None  # the address belongs to this user of another account: tell it, send no link


@dataclass(frozen=True)
class Registration:
    """A sign-up in public (or a self-registration): the new organization and its first
    user, who signs in once the link sent to its email confirmed the address."""

    organization: Organization
    user: User
    token: str  # the confirming link's one-time secret
    taken_by: User | None  # the address belongs to this user already: tell it, send no link


@dataclass(frozen=True)
class PasswordResetRequest:
    """What asking for a reset link for an email found: the user (if any) and the link's
    one-time secret (only when a link was made: an active user with a local password)."""

    user: User | None
    token: str | None


class AccountCommands(CspApplicationBase):
    _passwords: Passwords | None = None

    @property
    def passwords(self) -> Passwords:
        if self._passwords is None:
            self._passwords = Passwords()
        return self._passwords

    # --- look-ups ---------------------------------------------------------------

    def _owner_of(self, namespace: str, key: str) -> UUID | None:
        return self.directory.owner_of(namespace, key)

    def user(self, user_id: UUID) -> User:
        return self.directory.user(user_id)

    def user_by_email(self, email: str) -> User | None:
        return self.directory.user_by_email(email)

    def user_by_token(self, token: str) -> User | None:
        """The active user an API token belongs to, if the token is live."""
        token_hash = secret_hash(token)
        owner = self._owner_of(TOKEN_KEYS, token_hash)
        if owner is None:
            return None
        user = self.user(owner)
        return user if user.is_active and user.has_live_token(token_hash, self.now()) else None

    def user_by_invitation(self, token: str) -> User:
        owner = self._owner_of(INVITATION_KEYS, secret_hash(token))
        if owner is None:
            raise NotFound("invitation", "token")
        user = self.user(owner)
        if user.invitation_hash != secret_hash(token):
            raise InvitationInvalid("this invitation is no longer valid")
        return user

    def authenticate_local(self, email: str, password: str) -> User | None:
        """The active local user with this email and password, else None (in constant-ish time)."""
        try:
            user = self.user_by_email(check_email(email, "email"))
        except InvalidInput:
            user = None
        ok = self.passwords.verify(user.password_hash if user is not None else None, password)
        if user is None or not ok or not user.is_active or user.sign_in_method != "local":
            return None
        return user

    def _checked_password(self, password: str, email: str, field: str = "password") -> str:
        check_password_policy(password, email, field)
        return self.passwords.hash(password)

    def _email_key(self, email: str, owner_id: UUID, actor: Actor) -> UniqueKey:
        """Claim an email for a user (one user per email on the whole platform)."""
        key_id = UniqueKey.id_for(EMAIL_KEYS, email)
        if self.exists(key_id):
            key = self.load(UniqueKey, key_id, "email")
            if key.owner_id is not None and key.owner_id != owner_id:
                raise EmailTaken("a user with this email exists already", field="email")
            key.reclaim(owner_id, actor=actor, at=self.now())
            return key
        return UniqueKey(namespace=EMAIL_KEYS, key=email, owner_id=owner_id, actor=actor, at=self.now())

    # --- sign-up -----------------------------------------------------------------

    def sign_up_reseller(
        self,
        company_name: str,
        country: str,
        contact: NewLogin,
        address: Address | None = None,
        contact_phone: str = "",
        industry: str = "it_services",
        slug: str | None = None,
    ) -> tuple[Organization, User]:
        """A new reseller account and its primary contact, active at once (a local
        account), atomically: for operators, the demo and tests. A sign-up in public goes
        through ``start_reseller_sign_up``."""
        org, user, _ = self._new_reseller(company_name, country, contact, address, contact_phone, industry, slug)
        return org, user

    def start_reseller_sign_up(
        self,
        company_name: str,
        country: str,
        contact: NewLogin,
        address: Address | None = None,
        contact_phone: str = "",
        industry: str = "it_services",
        slug: str | None = None,
    ) -> Registration:
        """A sign-up in public: the reseller account and its primary contact, who signs in
        once the link sent to its email confirmed the address. The same whether or not
        the address has an account already (``taken_by``: its owner, to be told by email;
        the link then never works)."""
        org, user, token = self._new_reseller(
            company_name, country, contact, address, contact_phone, industry, slug, confirm=True
        )
        assert token is not None
        return Registration(org, user, token, self._active_owner(user.email))

    def _new_reseller(
        self,
        company_name: str,
        country: str,
        contact: NewLogin,
        address: Address | None,
        contact_phone: str,
        industry: str,
        slug: str | None,
        confirm: bool = False,
    ) -> tuple[Organization, User, str | None]:
        email = check_email(contact.email, "primary_contact.email")
        password_hash = self._checked_password(contact.password, email)
        profile = OrganizationProfile(
            name=company_name,
            country=country,
            address=address or Address(line1="", city="", postal_code=""),
            contact_email=email,
            contact_phone=contact_phone,
            industry=industry,  # type: ignore[arg-type]
            eligibility=Eligibility(),
        )
        org_id, user_id = uuid4(), uuid4()
        actor = user_actor(user_id)
        token = new_secret("cfm") if confirm else None
        base = slugify(slug or company_name, max_length=48) or "reseller"
        for n in range(1, 1000):
            candidate = base if n == 1 else f"{base}-{n}"
            if self.exists(UniqueKey.id_for(SLUG_KEYS, candidate)):
                if slug:
                    raise AlreadyExists(f"the portal address {candidate!r} is taken", field="slug", value=candidate)
                continue
            now = self.now()
            org = Organization.register_reseller(org_id, candidate, profile, actor=actor, at=now)
            user = User.register_primary_contact(
                user_id,
                email,
                org_id,
                contact.first_name,
                contact.last_name,
                password_hash,
                actor=actor,
                at=now,
                confirmation_hash=secret_hash(token) if token else None,
            )
            slug_key = UniqueKey(namespace=SLUG_KEYS, key=candidate, owner_id=org_id, actor=actor, at=now)
            # Confirming claims the address later; an account made at once claims it now.
            claim = self._confirmation_key(token, user_id, actor) if token else self._email_key(email, user_id, actor)
            try:
                self.save(org, user, slug_key, claim)
            except ConcurrentModification:
                if not token and self._owner_of(EMAIL_KEYS, email) not in (None, user_id):
                    raise EmailTaken("a user with this email exists already", field="email") from None
                continue  # someone took that slug a moment ago
            return org, user, token
        raise AlreadyExists("no free portal address for this name", field="slug")

    def self_register_customer(
        self, reseller_slug: str, profile: OrganizationProfile, admin: NewLogin, accept_terms: bool
    ) -> Registration:
        """A customer registers itself on its reseller's portal, when the reseller allows it;
        its admin signs in once the link sent to its email confirmed the address (the
        same whether or not the address has an account: see ``start_reseller_sign_up``)."""
        reseller = self.directory.reseller_by_slug(reseller_slug)
        reseller.check_self_registration_allowed()
        settings = reseller.reseller_settings()
        if settings.require_terms_acceptance and not accept_terms:
            raise TermsNotAccepted("the terms and conditions must be accepted")
        email = check_email(admin.email, "admin.email")
        password_hash = self._checked_password(admin.password, email)
        org_id, user_id = uuid4(), uuid4()
        actor = user_actor(user_id)
        now = self.now()
        token = new_secret("cfm")
        org = Organization.register_customer(org_id, reseller, profile, actor=actor, at=now, self_registered=True)
        user = User.register_customer_admin(
            user_id,
            email,
            org_id,
            reseller.id,
            admin.first_name,
            admin.last_name,
            password_hash,
            actor=actor,
            at=now,
            confirmation_hash=secret_hash(token),
        )
        if accept_terms:
            user.accept_terms(actor=actor, at=now)
        self.save(org, user, self._confirmation_key(token, user_id, actor))
        return Registration(org, user, token, self._active_owner(email))

    def _confirmation_key(self, token: str, user_id: UUID, actor: Actor) -> UniqueKey:
        return UniqueKey(
            namespace=CONFIRMATION_KEYS, key=secret_hash(token), owner_id=user_id, actor=actor, at=self.now()
        )

    def _active_owner(self, email: str) -> User | None:
        """The user who holds this address, unless disabled (then nobody is told)."""
        owner = self.user_by_email(email)
        return owner if owner is not None and owner.status != "disabled" else None

    def confirm_email(self, token: str) -> User:
        """The link sent at sign-up (or self-registration) was followed: the user is active
        and claims its address (409 ``email_taken`` if someone holds it)."""
        owner = self._owner_of(CONFIRMATION_KEYS, secret_hash(token))
        if owner is None:
            raise NotFound("confirmation link", "token")
        user = self.user(owner)
        actor = user_actor(user.id)
        user.confirm_email(secret_hash(token), actor=actor, at=self.now())
        self.save(user, self._email_key(user.email, user.id, actor))
        return user

    # --- invitations -------------------------------------------------------------

    def invite_user(
        self,
        inviter_id: UUID,
        email: str,
        role: str,
        organization_id: UUID,
        sign_in_method: str = "local",
    ) -> Invitation:
        """Invite someone by email, with a role in one organization of the inviter's account.

        Inviting again someone who has not accepted yet sends a new link (the old one dies).
        An address that belongs to a user of another account is invited like any other
        (the answer does not tell), but can never accept: ``taken_by`` is its owner, told
        by email instead of the link. A user of the inviter's own account is no secret to
        it: 409 ``email_taken``.
        """
        inviter = self.user(inviter_id)
        r: Role = parse_role(role)
        method = parse_sign_in_method(sign_in_method)
        org = self.load(Organization, organization_id, "organization")
        if org.owner_reseller_id != inviter.reseller_id:
            raise NotFound("organization", organization_id)
        inviter.check_may_invite(r, org.id, org.kind)
        reseller = org if org.kind == "reseller" else self.load(Organization, org.owner_reseller_id, "organization")
        allowed = reseller.reseller_settings().sign_in_methods
        email = check_email(email, "email")
        token = new_secret("inv")
        token_hash = secret_hash(token)
        actor = user_actor(inviter.id)
        now = self.now()
        owner = self.user_by_email(email)
        invited_key_name = f"{inviter.reseller_id}:{email}"
        invited_id = self._owner_of(INVITED_KEYS, invited_key_name)
        invited = self.user(invited_id) if invited_id is not None else None
        if invited is None and owner is not None and owner.reseller_id == inviter.reseller_id:
            invited = owner  # invited before invitations had their own key
        keys: list[UniqueKey] = []
        if invited is not None and invited.status == "invited" and not invited.awaits_email_confirmation:
            user = invited
            user.reissue_invitation(r, org.id, org.kind, method, allowed, token_hash, actor=actor, at=now)
        elif owner is not None and owner.reseller_id == inviter.reseller_id:
            raise EmailTaken("a user of this account has this email already", field="email")
        else:
            user = User.invite(
                uuid4(), email, r, org.id, org.kind, org.owner_reseller_id, method, allowed, token_hash, actor, now
            )
            if owner is None:
                keys.append(self._email_key(email, user.id, actor))
            keys.append(self._invited_key(invited_key_name, user.id, actor))
        keys.append(UniqueKey(namespace=INVITATION_KEYS, key=token_hash, owner_id=user.id, actor=actor, at=now))
        self.save(user, *keys)
        taken_by = owner if owner is not None and owner.id != user.id and owner.status != "disabled" else None
        return Invitation(user=user, token=token, taken_by=taken_by)

    def _invited_key(self, name: str, user_id: UUID, actor: Actor) -> UniqueKey:
        """This account's invitation of an address → the invited user (one per account)."""
        key_id = UniqueKey.id_for(INVITED_KEYS, name)
        if self.exists(key_id):
            key = self.load(UniqueKey, key_id, "invited")
            if key.owner_id != user_id:  # a new user invited in place of an older one
                key.release(actor=actor, at=self.now())
                key.reclaim(user_id, actor=actor, at=self.now())
            return key
        return UniqueKey(namespace=INVITED_KEYS, key=name, owner_id=user_id, actor=actor, at=self.now())

    def accept_invitation(
        self,
        token: str,
        first_name: str,
        last_name: str,
        password: str | None,
        accept_terms: bool,
    ) -> User:
        user = self.user_by_invitation(token)
        reseller = self.load(Organization, user.reseller_id, "organization")
        password_hash = None
        if user.sign_in_method == "local":
            if not password:
                raise InvalidInput("password", "is required for a local account")
            password_hash = self._checked_password(password, user.email)
        actor = user_actor(user.id)
        user.accept_invitation(
            secret_hash(token),
            first_name,
            last_name,
            password_hash,
            accept_terms,
            reseller.reseller_settings().require_terms_acceptance,
            actor=actor,
            at=self.now(),
        )
        # The address is this user's from now on (409 when another account's user has it).
        self.save(user, self._email_key(user.email, user.id, actor))
        return user

    # --- managing users ------------------------------------------------------------

    def change_user(
        self,
        manager_id: UUID,
        user_id: UUID,
        role: str | None = None,
        disabled: bool | None = None,
        expected_version: int | None = None,
        sign_in_method: str | None = None,
    ) -> User:
        manager = self.user(manager_id)
        user = self.load_for_update(User, user_id, "user", expected_version)
        if user.reseller_id != manager.reseller_id:
            raise NotFound("user", user_id)
        asked = [
            f for f, v in (("role", role), ("sign_in_method", sign_in_method), ("disabled", disabled)) if v is not None
        ]
        manager.check_may_manage(user, asked[0] if asked else None)
        actor = user_actor(manager.id)
        now = self.now()
        if role is not None:
            r = parse_role(role)
            org = self.load(Organization, user.organization_id, "organization")
            manager.check_may_invite(r, org.id, org.kind)
            user.change_role(r, org.kind, actor=actor, at=now)
        released_key: UniqueKey | None = None
        if sign_in_method is not None:
            method = parse_sign_in_method(sign_in_method)
            reseller = self.load(Organization, user.reseller_id, "organization")
            released = user.change_sign_in_method(
                method, reseller.reseller_settings().sign_in_methods, actor=actor, at=now
            )
            if released is not None:
                released_key = self._identity_key(released.key)
                if released_key is not None:
                    released_key.release(actor=actor, at=now)
        if disabled is True:
            user.disable(actor=actor, at=now)
        elif disabled is False:
            user.enable(actor=actor, at=now)
        self.save(*(a for a in (user, released_key) if a is not None))
        return user

    def _identity_key(self, key: str) -> UniqueKey | None:
        return identity_unique_key(self.directory, key)

    def change_password(self, user_id: UUID, current: str, new: str) -> User:
        """The user's new password, the current one required (``current_password``)."""
        user = self.user(user_id)
        if user.sign_in_method != "local":
            raise UserError(
                "you sign in with a Microsoft account: its password is changed at Microsoft", user_id=user.id
            )
        if not self.passwords.verify(user.password_hash, current):
            raise InvalidInput("current_password", "is not your current password")
        if new == current:
            raise InvalidInput("new_password", "must differ from your current password")
        user.change_password(
            self._checked_password(new, user.email, "new_password"), actor=user_actor(user.id), at=self.now()
        )
        self.save(user)
        return user

    # --- forgotten passwords -----------------------------------------------------------

    def request_password_reset(self, email: str) -> PasswordResetRequest:
        """A one-time link for the user with this email, if it is active and signs in with
        a local password (a newer link replaces an older one). Whoever asks learns
        nothing from the answer: the caller tells the address's owner, never the asker."""
        user = self.user_by_email(check_email(email, "email"))
        if user is None or not user.may_reset_password:
            return PasswordResetRequest(user, None)
        token = new_secret("pwr")
        token_hash = secret_hash(token)
        now = self.now()
        user.request_password_reset(token_hash, actor=SYSTEM_PASSWORD_RESET, at=now)
        key = UniqueKey(
            namespace=PASSWORD_RESET_KEYS, key=token_hash, owner_id=user.id, actor=SYSTEM_PASSWORD_RESET, at=now
        )
        self.save(user, key)
        return PasswordResetRequest(user, token)

    def user_by_password_reset(self, token: str) -> User:
        """The user a reset link was sent to, whether or not the link still works."""
        owner = self._owner_of(PASSWORD_RESET_KEYS, secret_hash(token))
        if owner is None:
            raise NotFound("password reset link", "token")
        return self.user(owner)

    def check_password_reset(self, token: str) -> User:
        """The user whose password this link may set now (else why not: used, expired)."""
        user = self.user_by_password_reset(token)
        user.check_password_reset(secret_hash(token), self.now())
        return user

    def reset_password(self, token: str, new_password: str) -> User:
        """Set a new password through a reset link, which can be used once."""
        user = self.check_password_reset(token)
        password_hash = self._checked_password(new_password, user.email)
        user.reset_password(secret_hash(token), password_hash, actor=user_actor(user.id), at=self.now())
        self.save(user)
        return user

    def rehash_password_if_needed(self, user: User, password: str) -> None:
        """After a good login: upgrade a hash made with weaker parameters."""
        if user.password_hash and self.passwords.needs_rehash(user.password_hash):
            user.change_password(self.passwords.hash(password), actor=user_actor(user.id), at=self.now())
            self.save(user)

    # --- API tokens -------------------------------------------------------------------

    def issue_api_token(self, user_id: UUID, name: str, expires_at: datetime | None = None) -> tuple[User, str]:
        """A new API token for the user, lasting until ``expires_at`` (or until revoked);
        the token itself is returned once, never stored."""
        user = self.user(user_id)
        token = new_secret("csp")
        token_hash = secret_hash(token)
        actor = user_actor(user.id)
        now = self.now()
        user.issue_token(uuid4(), name, token_hash, actor=actor, at=now, expires_at=expires_at)
        key = UniqueKey(namespace=TOKEN_KEYS, key=token_hash, owner_id=user.id, actor=actor, at=now)
        self.save(user, key)
        return user, token

    def _token_owner(self, viewer_id: UUID, owner_id: UUID) -> User:
        """The user whose tokens ``viewer_id`` asks about (another account's: not found)."""
        viewer = self.user(viewer_id)
        owner = viewer if owner_id == viewer_id else self.user(owner_id)
        if owner.reseller_id != viewer.reseller_id:
            raise NotFound("user", owner_id)
        viewer.check_may_manage_tokens_of(owner)
        return owner

    def api_tokens(self, viewer_id: UUID, owner_id: UUID) -> tuple[ApiToken, ...]:
        """A user's API tokens, oldest first, revoked and expired ones too."""
        return self._token_owner(viewer_id, owner_id).tokens

    def revoke_api_token(self, actor_id: UUID, owner_id: UUID, token_id: UUID) -> User:
        """Revoke one of a user's tokens: the user itself, or whoever manages it."""
        owner = self._token_owner(actor_id, owner_id)
        owner.revoke_token(token_id, actor=user_actor(actor_id), at=self.now())
        self.save(owner)
        return owner


def identity_key_name(key: str) -> str:
    """The unique key of an outside identity: a digest, since unique keys are compared
    without case and a provider's ``sub`` is case-sensitive."""
    return hashlib.sha256(key.encode()).hexdigest()


def identity_unique_key(directory: Directory, key: str) -> UniqueKey | None:
    """The unique key binding an outside identity to its user, if there is one."""
    return directory.unique_key(IDENTITY_KEYS, identity_key_name(key), "identity")
