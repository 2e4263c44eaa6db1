"""Look-ups by unique key (an email, a portal address, any namespaced key → its owner),
shared by the account, sign-in and organization commands. Composed into the
application (``app.directory``), not inherited."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from csp.aggregates.base import CspAggregate
from csp.aggregates.errors import OrganizationError
from csp.aggregates.index import UniqueKey
from csp.aggregates.organization import Organization
from csp.aggregates.user import User

SLUG_KEYS = "reseller-slug"
EMAIL_KEYS = "user-email"


class Directory:
    """Who owns a unique key; users and resellers found by their keys."""

    def __init__(self, load: Callable[..., CspAggregate], exists: Callable[[UUID], bool]) -> None:
        self._load = load
        self._exists = exists

    def unique_key(self, namespace: str, key: str, kind: str | None = None) -> UniqueKey | None:
        key_id = UniqueKey.id_for(namespace, key)
        if not self._exists(key_id):
            return None
        found = self._load(UniqueKey, key_id, kind or namespace)
        assert isinstance(found, UniqueKey)
        return found

    def owner_of(self, namespace: str, key: str) -> UUID | None:
        found = self.unique_key(namespace, key)
        return found.owner_id if found is not None else None

    def user(self, user_id: UUID) -> User:
        user = self._load(User, user_id, "user")
        assert isinstance(user, User)
        return user

    def user_by_email(self, email: str) -> User | None:
        owner = self.owner_of(EMAIL_KEYS, email.strip().lower())
        return self.user(owner) if owner is not None else None

    def reseller_by_slug(self, slug: str) -> Organization:
        key = self._load(UniqueKey, UniqueKey.id_for(SLUG_KEYS, slug), "reseller")
        assert isinstance(key, UniqueKey)
        if key.owner_id is None:
            raise OrganizationError("this portal address is no longer in use", slug=slug)
        org = self._load(Organization, key.owner_id, "reseller")
        assert isinstance(org, Organization)
        return org
