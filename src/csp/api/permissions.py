"""The permission table: which role may do what. The one place where roles are read.

A grant is ``ALLOW`` or ``SELF_SERVICE`` (a customer role, only when its reseller lets
customers order for themselves). Customer roles always act on their own organization
only; that scoping is done where ids are resolved (``access``), not here.
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from csp.aggregates.user import ROLES, Role


class Grant(Enum):
    ALLOW = "allow"
    SELF_SERVICE = "self_service"


Action = Literal[
    "users.read",
    "users.invite",
    "users.manage",
    "settings.read",
    "settings.write",
    "catalog.customize",
    "segments.read",
    "pricing.preview",
    "organizations.read",
    "organizations.write",
    "tenants.read",
    "tenants.write",
    "orders.read",
    "orders.write",
    "subscriptions.read",
    "subscriptions.write",
    "history.read",
    "invoices.read",
    "reports.read",
    "quotes.read",
    "quotes.write",
    "quotes.accept",
    "notifications.read",
    "notifications.write",
    "webhooks.read",
    "webhooks.write",
    "customer_invoices.read",
    "customer_invoices.write",
    "tax.read",
    "tax.write",
    "exchange_rates.read",
    "exchange_rates.write",
    "credit.write",
    "approvals.read",
    "approvals.write",
]

A, S = Grant.ALLOW, Grant.SELF_SERVICE
_RESELLER_READERS: dict[Role, Grant] = {"account_manager": A, "order_manager": A, "billing": A, "read_only": A}
_EVERYONE_READS: dict[Role, Grant] = {**_RESELLER_READERS, "customer_admin": A, "customer_user": A}
_MANAGERS: dict[Role, Grant] = {"account_manager": A, "order_manager": A}

PERMISSIONS: dict[Action, dict[Role, Grant]] = {
    # accounts
    "users.read": {"account_manager": A, "read_only": A, "customer_admin": A},
    "users.invite": {"account_manager": A, "customer_admin": A},
    "users.manage": {"account_manager": A, "customer_admin": A},
    "settings.read": {"account_manager": A, "read_only": A},
    "settings.write": {"account_manager": A},
    # catalog customisation and prices
    "catalog.customize": {"account_manager": A},
    "segments.read": _RESELLER_READERS,
    "pricing.preview": _RESELLER_READERS,
    # customers, tenants, orders, subscriptions
    "organizations.read": _EVERYONE_READS,
    "organizations.write": _MANAGERS,
    "tenants.read": _EVERYONE_READS,
    "tenants.write": {**_MANAGERS, "customer_admin": S},
    "orders.read": _EVERYONE_READS,
    "orders.write": {**_MANAGERS, "customer_admin": S, "customer_user": S},
    "subscriptions.read": _EVERYONE_READS,
    "subscriptions.write": _MANAGERS,
    "history.read": _RESELLER_READERS,
    # billing
    "invoices.read": {"account_manager": A, "billing": A, "read_only": A},
    "reports.read": _RESELLER_READERS,
    # quotes
    "quotes.read": _EVERYONE_READS,
    "quotes.write": _MANAGERS,
    "quotes.accept": {**_MANAGERS, "customer_admin": S},
    # notifications and webhooks (the reseller's own; no customer role)
    "notifications.read": _RESELLER_READERS,
    "notifications.write": _MANAGERS,  # mark a notice read
    "webhooks.read": {"account_manager": A, "read_only": A},
    "webhooks.write": {"account_manager": A},
    # customer invoices (issue 18): customers read their own issued ones (access scopes them)
    "customer_invoices.read": {
        "account_manager": A,
        "billing": A,
        "read_only": A,
        "customer_admin": A,
        "customer_user": A,
    },
    "customer_invoices.write": {"account_manager": A, "billing": A},
    "tax.read": {"account_manager": A, "billing": A, "read_only": A},
    "tax.write": {"account_manager": A, "billing": A},
    # the distributor's exchange rates (issue 18): no reseller or customer role; only the
    # operators (OPERATOR_ACTIONS)
    "exchange_rates.read": {},
    "exchange_rates.write": {},
    # credit limits and approvals (issue 18): the reseller's staff only
    "credit.write": _MANAGERS,
    "approvals.read": _RESELLER_READERS,
    "approvals.write": _MANAGERS,
}

# Actions of the distributor's operators (the users ``CSP_OPERATOR_EMAILS`` names, whatever
# their role in their own account): platform data, not an account's.
OPERATOR_ACTIONS: frozenset[Action] = frozenset({"exchange_rates.read", "exchange_rates.write"})


def grant_for(role: str, action: Action, operator: bool = False) -> Grant | None:
    """The role's grant for the action (an operator's for an operator's action), None when it has none."""
    if operator and action in OPERATOR_ACTIONS:
        return Grant.ALLOW
    if role not in ROLES:
        return None
    return PERMISSIONS[action].get(role)  # type: ignore[call-overload]
