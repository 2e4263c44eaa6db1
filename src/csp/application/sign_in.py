"""Signing in with an outside identity (Microsoft): find the user, check, bind on first use.

The identity arrives already verified (``csp.api.oidc_provider`` checked the ID token);
what is decided here is whether that identity may act as a user of the platform. The
first sign-in binds the identity to the user whose email the token carries, atomically
with the unique key that keeps one identity to one user; later sign-ins match the
identity only, whatever email the token carries then.
"""

from __future__ import annotations

from collections.abc import Sequence

from csp.aggregates.base import user_actor
from csp.aggregates.errors import InvalidInput, WrongAccount
from csp.aggregates.index import UniqueKey
from csp.aggregates.organization import Organization, check_email
from csp.aggregates.user import SIGN_IN_METHOD_LABELS, ExternalIdentity, User
from csp.application.accounts import IDENTITY_KEYS, identity_key_name, identity_unique_key
from csp.application.base import CspApplicationBase


class SignInCommands(CspApplicationBase):
    def user_by_identity(self, identity: ExternalIdentity) -> User | None:
        """The user this identity is bound to, if any."""
        owner = self.directory.owner_of(IDENTITY_KEYS, identity_key_name(identity.key))
        return self.directory.user(owner) if owner is not None else None

    def sign_in_with_identity(self, identity: ExternalIdentity, claimed_emails: Sequence[str]) -> User:
        """The user signing in with this (verified) outside identity.

        Refused (``SignInRefused``: 403) when no user has the identity nor one of its
        emails, when the account does not allow the method, when the user's own method is
        another, when the user is disabled or has not accepted its invitation, or when the
        user is bound to another identity. Nothing is saved unless it is the first sign-in.
        """
        emails = tuple(dict.fromkeys(e.strip().lower() for e in claimed_emails if e and e.strip()))
        user = self.user_by_identity(identity)
        if user is None:
            for email in emails:
                try:
                    user = self.directory.user_by_email(check_email(email, "email"))
                except InvalidInput:
                    continue
                if user is not None:
                    break
        if user is None:
            label = SIGN_IN_METHOD_LABELS[identity.method].removeprefix("a ")
            raise WrongAccount(
                f"no user of this platform has the email of this {label} "
                f"({', '.join(emails) or 'the token carries no email'}); ask your account manager for an invitation",
                method=identity.method,
            )
        reseller = self.load(Organization, user.reseller_id, "organization")
        actor = user_actor(user.id)
        now = self.now()
        if user.sign_in_with(identity, emails, reseller.reseller_settings().sign_in_methods, actor=actor, at=now):
            self.save(user, self._claim_identity(identity, user, actor))
        return user

    def _claim_identity(self, identity: ExternalIdentity, user: User, actor: str) -> UniqueKey:
        name = identity_key_name(identity.key)
        key = identity_unique_key(self.directory, identity.key)
        if key is None:
            return UniqueKey(namespace=IDENTITY_KEYS, key=name, owner_id=user.id, actor=actor, at=self.now())
        if key.owner_id is not None and key.owner_id != user.id:
            raise WrongAccount("this Microsoft account is already linked to another user", method=identity.method)
        key.reclaim(user.id, actor=actor, at=self.now())
        return key
