"""The vendor gateway port: what the sagas ask of the vendor (Microsoft Partner Center's shape).

Every mutating call carries an idempotency key chosen by the caller, so a call repeated
after a lost answer returns the first answer instead of doing the work twice.
``VendorRefused`` is the vendor saying no (permanent); ``VendorUnavailable`` is a
transient failure (5xx, timeout, connection), worth retrying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol


class VendorError(Exception):
    """Any failure talking to the vendor."""


class VendorRefused(VendorError):
    """The vendor refused the request (4xx): retrying the same request changes nothing."""

    def __init__(self, code: str, message: str, status: int = 400, data: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.data = data or {}


class VendorNotFound(VendorRefused):
    """The vendor has no such customer, order or subscription (404)."""


class VendorUnavailable(VendorError):
    """A transient failure: 5xx, a timeout, a dropped connection. Worth retrying."""


@dataclass(frozen=True)
class CompanyProfile:
    company_name: str
    email: str
    country: str
    city: str = ""
    address_line1: str = ""
    postal_code: str = ""
    phone: str = ""


@dataclass(frozen=True)
class VendorCustomer:
    id: str
    domain: str
    status: str  # "pending" while the tenant is being created, then "active"
    admin_username: str
    delegated_access: bool
    agreement_accepted: bool

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class AgreementAttestation:
    """Partner Center's agreement body: who signed for the customer, when, which template."""

    first_name: str
    last_name: str
    email: str
    phone: str
    date_agreed: str  # ISO date
    template_id: str


@dataclass(frozen=True)
class LineItem:
    line_number: int
    offer_id: str  # the vendor's offer id, e.g. "CFQ7TTC0LCHC:0002"
    quantity: int
    billing_cycle: str  # "monthly" | "yearly"
    term_duration: str  # "P1M" | "P1Y"
    parent_subscription_id: str | None = None
    parent_line_number: int | None = None  # an add-on of another line of the same order


@dataclass(frozen=True)
class VendorOrderLine:
    line_number: int
    offer_id: str
    quantity: int
    subscription_id: str | None  # known once the order is completed


@dataclass(frozen=True)
class VendorOrder:
    id: str
    customer_id: str
    status: str  # "pending" | "completed"
    line_items: tuple[VendorOrderLine, ...] = ()
    idempotency_key: str | None = None  # the key it was placed with (the request that made it)

    @property
    def is_completed(self) -> bool:
        return self.status == "completed"


@dataclass(frozen=True)
class VendorSubscription:
    id: str
    customer_id: str
    offer_id: str
    quantity: int
    status: str  # "active" | "suspended" | "cancelled" | "expired"
    billing_cycle: str
    term_duration: str
    auto_renew: bool
    assigned_licences: int
    parent_subscription_id: str | None = None
    is_trial: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantUser:
    """A user of a customer's tenant (Microsoft Graph / Partner Center ``/users``), with the
    subscriptions whose licences it holds."""

    id: str
    user_principal_name: str
    display_name: str
    licences: tuple[str, ...] = ()  # vendor subscription ids


@dataclass(frozen=True)
class TransitionEligibility:
    """One offer a subscription may transition to (Partner Center's transitionEligibilities)."""

    offer_id: str
    title: str
    eligible: bool
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class VendorTransition:
    """A transition done by the vendor: ``quantity`` seats moved to ``to_subscription_id``."""

    id: str
    from_subscription_id: str
    to_subscription_id: str
    to_offer_id: str
    quantity: int
    status: str


@dataclass(frozen=True)
class VendorGdapRelationship:
    id: str
    customer_id: str
    status: str  # created | approvalPending | active | expired | terminationRequested | terminated
    role_ids: tuple[str, ...]
    duration_days: int
    auto_extend: bool
    approval_url: str
    activated_at: str | None = None  # ISO 8601, once active
    ends_at: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class VendorEntitlement:
    """An Azure subscription under an Azure plan (Partner Center's Azure entitlement)."""

    id: str
    name: str
    status: str


@dataclass(frozen=True)
class RatedUsageLine:
    """One line of the vendor's daily rated usage: a day × entitlement × meter."""

    usage_date: str  # ISO date
    subscription_id: str  # the Azure plan's
    entitlement_id: str
    entitlement_name: str
    meter_id: str
    meter_name: str
    meter_category: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    currency: str


class VendorGateway(Protocol):
    """The operations the sagas need from the vendor."""

    def domain_exists(self, domain: str) -> bool: ...

    def create_customer(self, domain: str, profile: CompanyProfile, idempotency_key: str) -> VendorCustomer: ...

    def get_customer(self, customer_id: str) -> VendorCustomer: ...

    def find_customer(self, domain: str) -> VendorCustomer | None: ...

    def accept_agreement(self, customer_id: str, attestation: AgreementAttestation, idempotency_key: str) -> None:
        """The customer's Microsoft Customer Agreement acceptance, as its signatory attested it."""
        ...

    def place_order(self, customer_id: str, line_items: list[LineItem], idempotency_key: str) -> VendorOrder: ...

    def get_order(self, customer_id: str, order_id: str) -> VendorOrder: ...

    def find_order(self, customer_id: str, idempotency_key: str) -> VendorOrder | None:
        """The customer's order placed with that idempotency key, if the vendor holds one:
        how a saga learns what became of a request whose answer it never got."""
        ...

    def list_orders(self, customer_id: str) -> list[VendorOrder]: ...

    def list_customers(self) -> list[VendorCustomer]:
        """Every customer this partner is the reseller of."""
        ...

    def list_subscriptions(self, customer_id: str) -> list[VendorSubscription]: ...

    def get_subscription(self, customer_id: str, subscription_id: str) -> VendorSubscription: ...

    def update_subscription(
        self, customer_id: str, subscription_id: str, changes: dict[str, Any], idempotency_key: str
    ) -> VendorSubscription: ...

    def convert_trial(
        self,
        customer_id: str,
        subscription_id: str,
        offer_id: str,
        quantity: int,
        billing_cycle: str,
        term_duration: str,
        idempotency_key: str,
    ) -> VendorSubscription: ...

    # --- Azure plans --------------------------------------------------------------

    def list_entitlements(self, customer_id: str, subscription_id: str) -> list[VendorEntitlement]: ...

    def create_entitlement(
        self, customer_id: str, subscription_id: str, name: str, idempotency_key: str
    ) -> VendorEntitlement: ...

    def rated_usage(self, customer_id: str, subscription_id: str, day: str) -> list[RatedUsageLine]:
        """The plan's rated usage of one day, once the day is over (else none)."""
        ...

    # --- a customer tenant's users and their licences ---------------------------

    def list_users(self, customer_id: str) -> list[TenantUser]: ...

    def create_user(
        self, customer_id: str, user_principal_name: str, display_name: str, idempotency_key: str
    ) -> TenantUser: ...

    def assign_licence(
        self, customer_id: str, user_id: str, subscription_id: str, idempotency_key: str
    ) -> TenantUser: ...

    def unassign_licence(
        self, customer_id: str, user_id: str, subscription_id: str, idempotency_key: str
    ) -> TenantUser: ...

    def transition_eligibilities(self, customer_id: str, subscription_id: str) -> list[TransitionEligibility]:
        """The offers the subscription may move to now, and why not where it may not."""
        ...

    def transition(
        self, customer_id: str, subscription_id: str, offer_id: str, quantity: int, idempotency_key: str
    ) -> VendorTransition:
        """Move ``quantity`` seats to a new subscription of the upgrade ``offer_id``."""
        ...

    def relationship_request_url(self) -> str:
        """The link a customer's global admin opens to make this partner its reseller and
        grant it delegated admin rights (then its tenant can be linked)."""
        ...

    # --- GDAP (granular delegated admin) relationships --------------------------------

    def create_gdap_relationship(
        self,
        customer_id: str,
        display_name: str,
        role_ids: tuple[str, ...],
        duration_days: int,
        auto_extend: bool,
        idempotency_key: str,
    ) -> VendorGdapRelationship:
        """Created, then locked for approval: the answer carries the approval link."""
        ...

    def get_gdap_relationship(self, relationship_id: str) -> VendorGdapRelationship: ...

    def list_gdap_relationships(self, customer_id: str) -> list[VendorGdapRelationship]: ...

    def terminate_gdap_relationship(self, relationship_id: str, idempotency_key: str) -> VendorGdapRelationship: ...

    def assign_gdap_access(
        self, relationship_id: str, security_group_id: str, role_ids: tuple[str, ...], idempotency_key: str
    ) -> str:
        """The relationship's roles given to one of the partner's security groups: the assignment's id."""
        ...

    def close(self) -> None: ...
