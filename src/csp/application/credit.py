"""Credit limits (issue 18 item 6): a customer's monthly limit, the check when a
customer user places an order, and the reseller's approval or rejection of an order
above it. The rule itself is ``csp.aggregates.credit``; the order records the outcome."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from uuid import UUID

from csp.aggregates.base import Actor, actor_user_id
from csp.aggregates.credit import CreditCheck, monthly_spend
from csp.aggregates.order import Order
from csp.aggregates.organization import Organization
from csp.aggregates.subscription import Subscription
from csp.aggregates.user import CUSTOMER_ROLES, User
from csp.application.base import CspApplicationBase
from csp.application.pricing import Find


def credit_check_for(
    find: Find, organization: Organization, actor: Actor, live_subscription_ids: Iterable[UUID]
) -> CreditCheck | None:
    """The credit check an order placed by ``actor`` for ``organization`` must pass: None
    when the organization has no limit or the orderer is not one of its customer users
    (reseller staff and the system are never limited). ``live_subscription_ids``: the
    organization's subscriptions (from the read side); each is read here, on the command
    side, and only those of this organization that are billed count."""
    if organization.kind != "customer" or organization.credit_limit is None:
        return None
    user_id = actor_user_id(actor)
    user = find(User, user_id, "user", readonly=True) if user_id is not None else None
    if user is None or user.role not in CUSTOMER_ROLES or user.organization_id != organization.id:
        return None
    subs = [find(Subscription, sid, "subscription", readonly=True) for sid in dict.fromkeys(live_subscription_ids)]
    own = [s for s in subs if s is not None and s.organization_id == organization.id]
    return CreditCheck(
        monthly_limit=organization.credit_limit,
        current_spend=monthly_spend(own),
        organization_name=organization.profile.name,
    )


class CreditCommands(CspApplicationBase):
    def set_credit_limit(
        self, organization_id: UUID, monthly_limit: Decimal | None, actor: Actor, expected_version: int | None = None
    ) -> Organization:
        org = self.load_for_update(Organization, organization_id, "organization", expected_version)
        org.set_credit_limit(monthly_limit, actor=actor, at=self.now())
        self.save(org)
        return org

    def approve_order(self, order_id: UUID, actor: Actor) -> Order:
        """The reseller approves an order above the limit: it is placed (provisioning follows)."""
        order = self.load(Order, order_id, "order")
        order.approve(actor=actor, at=self.now())
        self.save(order)
        return order

    def reject_order(self, order_id: UUID, reason: str, actor: Actor) -> Order:
        order = self.load(Order, order_id, "order")
        order.reject(reason, actor=actor, at=self.now())
        self.save(order)
        return order
