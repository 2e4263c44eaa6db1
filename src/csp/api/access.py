"""Ids resolved for a caller: another account's id (or, for a customer user, another
organization's) is "not found" — never "forbidden", never data. Every route and page
that takes an id goes through here."""

from __future__ import annotations

from uuid import UUID
from weakref import WeakKeyDictionary

from csp.aggregates.customization import CustomerSegment
from csp.aggregates.errors import NotFound
from csp.aggregates.order import Order
from csp.aggregates.organization import Organization
from csp.aggregates.quote import Quote
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.aggregates.user import User
from csp.api.auth import Caller
from csp.application import CspApplication


def _visible(caller: Caller, reseller_id: UUID, organization_id: UUID) -> bool:
    if reseller_id != caller.reseller_id:
        return False
    return not caller.is_customer or organization_id == caller.organization_id


def organization(app: CspApplication, caller: Caller, organization_id: UUID) -> Organization:
    org = app.load(Organization, organization_id, "organization")
    if not _visible(caller, org.owner_reseller_id, org.id):
        raise NotFound("organization", organization_id)
    return org


# An organization's owner never changes (``Organization.owner_reseller_id``): once read,
# whom it belongs to is known for good, in any process.
_owners: WeakKeyDictionary[CspApplication, dict[UUID, UUID]] = WeakKeyDictionary()


def check_organization(app: CspApplication, caller: Caller, organization_id: UUID) -> None:
    """``organization`` without the aggregate: a list route needs only the check."""
    owners = _owners.setdefault(app, {})
    owner = owners.get(organization_id)
    if owner is None:
        owners[organization_id] = organization(app, caller, organization_id).owner_reseller_id
    elif not _visible(caller, owner, organization_id):
        raise NotFound("organization", organization_id)


def reseller(app: CspApplication, caller: Caller) -> Organization:
    return app.load(Organization, caller.reseller_id, "organization")


def tenant(app: CspApplication, caller: Caller, tenant_id: UUID) -> Tenant:
    t = app.load(Tenant, tenant_id, "tenant")
    if not _visible(caller, t.reseller_id, t.organization_id):
        raise NotFound("tenant", tenant_id)
    return t


def order(app: CspApplication, caller: Caller, order_id: UUID) -> Order:
    o = app.load(Order, order_id, "order")
    if not _visible(caller, o.reseller_id, o.organization_id):
        raise NotFound("order", order_id)
    return o


def subscription(app: CspApplication, caller: Caller, subscription_id: UUID) -> Subscription:
    s = app.load(Subscription, subscription_id, "subscription")
    if not _visible(caller, s.reseller_id, s.organization_id):
        raise NotFound("subscription", subscription_id)
    return s


def quote(app: CspApplication, caller: Caller, quote_id: UUID) -> Quote:
    q = app.load(Quote, quote_id, "quote")
    if not _visible(caller, q.reseller_id, q.organization_id):
        raise NotFound("quote", quote_id)
    return q


def segment(app: CspApplication, caller: Caller, segment_id: UUID) -> CustomerSegment:
    s = app.load(CustomerSegment, segment_id, "segment")
    if s.reseller_id != caller.reseller_id or caller.is_customer:
        raise NotFound("segment", segment_id)
    return s


def user(app: CspApplication, caller: Caller, user_id: UUID) -> User:
    u = app.load(User, user_id, "user")
    if not _visible(caller, u.reseller_id, u.organization_id):
        raise NotFound("user", user_id)
    return u
