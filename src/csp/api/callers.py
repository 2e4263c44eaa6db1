"""Who a signed-in user is, read once per user and kept in this process while it is
still true.

A request's caller comes from the ``User`` aggregate (email, role, organization, status,
API tokens) and, for a customer user, from its reseller's ``Organization`` (whether
customers may order for themselves). Loading both on every request costs two event-store
reads and two deep copies; instead each user's are kept here with the versions they were
read at, and every request asks the events' table for those aggregates' current versions
(one indexed query). Any event on either aggregate, recorded by any process on the same
database, changes a version: the next request of that user, in every process, reads them
again. So a role removed or a user disabled through one API process is refused at once
by all of them; no time-to-live is involved.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from uuid import UUID

from csp.aggregates.organization import Organization
from csp.aggregates.secrets import secret_hash
from csp.aggregates.user import User
from csp.application import CspApplication
from csp.application.accounts import TOKEN_KEYS
from csp.persistence.versions import aggregate_versions

MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Resolved:
    """A user as read at ``versions`` (its own and, for a customer user, its reseller's).
    ``user`` is this cache's own copy, only read."""

    user: User
    self_service_allowed: bool | None
    versions: dict[UUID, int]


class CallerCache:
    """Resolved users of one application, checked against the events' table on each use."""

    def __init__(self, app: CspApplication, max_entries: int = MAX_ENTRIES) -> None:
        self.app = app
        self.max_entries = max_entries
        self._users: dict[UUID, Resolved] = {}
        # An API token's hash names its owner for good (a fresh secret's hash is never
        # claimed again); whether the token is still live is read from the owner's events.
        self._token_owners: dict[str, UUID] = {}
        self._lock = threading.Lock()

    def user(self, user_id: UUID) -> Resolved:
        """The user as it is now (``NotFound`` as ``CspApplication.user``)."""
        found = self._users.get(user_id)
        if found is not None and aggregate_versions(self.app.recorder, found.versions) == found.versions:
            return found
        resolved = self._read(user_id)
        with self._lock:
            self._users.pop(user_id, None)
            if len(self._users) >= self.max_entries:
                self._users.pop(next(iter(self._users)))  # the oldest read
            self._users[user_id] = resolved
        return resolved

    def by_token(self, token: str) -> Resolved | None:
        """The active user an API token belongs to, while the token is live."""
        token_hash = secret_hash(token)
        owner = self._token_owners.get(token_hash)
        if owner is None:
            owner = self.app.directory.owner_of(TOKEN_KEYS, token_hash)
            if owner is None:
                return None
            with self._lock:
                if len(self._token_owners) >= self.max_entries:
                    self._token_owners.pop(next(iter(self._token_owners)))
                self._token_owners[token_hash] = owner
        resolved = self.user(owner)
        user = resolved.user
        return resolved if user.is_active and user.has_live_token(token_hash, self.app.now()) else None

    def _read(self, user_id: UUID) -> Resolved:
        user = self.app.user(user_id)
        versions = {user.id: user.version}
        allowed = None
        if user.is_customer_user:
            reseller = self.app.load(Organization, user.reseller_id, "organization")
            versions[reseller.id] = reseller.version
            allowed = reseller.reseller_settings().customer_self_service
        return Resolved(user, allowed, versions)
