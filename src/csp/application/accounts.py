"""Account commands: reseller sign-up, customer self-registration, users, invitations,
API tokens. Every change is an event of the ``User`` (or ``Organization``) aggregate."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
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
)
from csp.aggregates.index import UniqueKey
from csp.aggregates.organization import (
    Address,
    Organization,
    OrganizationProfile,
    check_email,
    parse_sign_in_method,
)
from csp.aggregates.user import Role, User, check_password_policy, parse_role
from csp.application.base import CspApplicationBase
from csp.application.directory import EMAIL_KEYS, SLUG_KEYS, Directory
from csp.application.passwords import Passwords, new_secret, secret_hash

INVITATION_KEYS = "invitation"
TOKEN_KEYS = "api-token"
IDENTITY_KEYS = "external-identity"  # an outside identity (Microsoft) → its user


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
        return user if user.is_active and user.has_live_token(token_hash) else None

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

    def _checked_password(self, password: str, email: str) -> str:
        check_password_policy(password, email)
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
        """A new reseller account and its primary contact (a local account), atomically."""
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
                user_id, email, org_id, contact.first_name, contact.last_name, password_hash, actor=actor, at=now
            )
            slug_key = UniqueKey(namespace=SLUG_KEYS, key=candidate, owner_id=org_id, actor=actor, at=now)
            email_key = self._email_key(email, user_id, actor)
            try:
                self.save(org, user, slug_key, email_key)
            except ConcurrentModification:
                if self._owner_of(EMAIL_KEYS, email) not in (None, user_id):
                    raise EmailTaken("a user with this email exists already", field="email") from None
                continue  # someone took that slug a moment ago
            return org, user
        raise AlreadyExists("no free portal address for this name", field="slug")

    def self_register_customer(
        self, reseller_slug: str, profile: OrganizationProfile, admin: NewLogin, accept_terms: bool
    ) -> tuple[Organization, User]:
        """A customer registers itself on its reseller's portal, when the reseller allows it."""
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
        org = Organization.register_customer(org_id, reseller, profile, actor=actor, at=now, self_registered=True)
        user = User.register_customer_admin(
            user_id, email, org_id, reseller.id, admin.first_name, admin.last_name, password_hash, actor=actor, at=now
        )
        if accept_terms:
            user.accept_terms(actor=actor, at=now)
        self.save(org, user, self._email_key(email, user_id, actor))
        return org, user

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
        existing = self.user_by_email(email)
        if existing is not None and existing.reseller_id == inviter.reseller_id and existing.status == "invited":
            user = existing
            user.reissue_invitation(r, org.id, org.kind, method, allowed, token_hash, actor=actor, at=now)
            email_key = None
        elif existing is not None:
            raise EmailTaken("a user with this email exists already", field="email")
        else:
            user = User.invite(
                uuid4(), email, r, org.id, org.kind, org.owner_reseller_id, method, allowed, token_hash, actor, now
            )
            email_key = self._email_key(email, user.id, actor)
        invitation_key = UniqueKey(namespace=INVITATION_KEYS, key=token_hash, owner_id=user.id, actor=actor, at=now)
        self.save(*(a for a in (user, email_key, invitation_key) if a is not None))
        return Invitation(user=user, token=token)

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
        user.accept_invitation(
            secret_hash(token),
            first_name,
            last_name,
            password_hash,
            accept_terms,
            reseller.reseller_settings().require_terms_acceptance,
            actor=user_actor(user.id),
            at=self.now(),
        )
        self.save(user)
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
        user = self.user(user_id)
        if not self.passwords.verify(user.password_hash, current):
            raise InvalidInput("current_password", "is not your current password")
        user.change_password(self._checked_password(new, user.email), actor=user_actor(user.id), at=self.now())
        self.save(user)
        return user

    def rehash_password_if_needed(self, user: User, password: str) -> None:
        """After a good login: upgrade a hash made with weaker parameters."""
        if user.password_hash and self.passwords.needs_rehash(user.password_hash):
            user.change_password(self.passwords.hash(password), actor=user_actor(user.id), at=self.now())
            self.save(user)

    # --- API tokens -------------------------------------------------------------------

    def issue_api_token(self, user_id: UUID, name: str) -> tuple[User, str]:
        """A new API token for the user; the token itself is returned once, never stored."""
        user = self.user(user_id)
        token = new_secret("csp")
        token_hash = secret_hash(token)
        actor = user_actor(user.id)
        now = self.now()
        user.issue_token(uuid4(), name, token_hash, actor=actor, at=now)
        key = UniqueKey(namespace=TOKEN_KEYS, key=token_hash, owner_id=user.id, actor=actor, at=now)
        self.save(user, key)
        return user, token

    def revoke_api_token(self, user_id: UUID, token_id: UUID) -> User:
        user = self.user(user_id)
        user.revoke_token(token_id, actor=user_actor(user.id), at=self.now())
        self.save(user)
        return user


def identity_key_name(key: str) -> str:
    """The unique key of an outside identity: a digest, since unique keys are compared
    without case and a provider's ``sub`` is case-sensitive."""
    return hashlib.sha256(key.encode()).hexdigest()


def identity_unique_key(directory: Directory, key: str) -> UniqueKey | None:
    """The unique key binding an outside identity to its user, if there is one."""
    return directory.unique_key(IDENTITY_KEYS, identity_key_name(key), "identity")
