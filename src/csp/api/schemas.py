"""Request and answer bodies (``XCreate`` / ``XUpdate`` in, ``XPublic`` / ``XsPublic`` out).

Field names follow API.md (the contract). Money and percentages are decimal strings in
answers; in requests a decimal string or an integer, never a float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from csp.aggregates.catalog import LicenceType, Segment
from csp.aggregates.order import ApprovalStatus, LineOutcome, OrderStatus
from csp.aggregates.organization import Industry, OrganizationKind, SignInMethod
from csp.aggregates.quote import QuoteStatus
from csp.aggregates.subscription import LicenceAction, SubscriptionStatus
from csp.aggregates.tenant import TenantMode, TenantStatus
from csp.aggregates.terms import BillingCycle, Term
from csp.aggregates.user import Role, UserStatus

T = TypeVar("T")


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError('must be a decimal string such as "15.58", not a float')
    return value


DecimalIn = Annotated[Decimal, BeforeValidator(_no_float), Field(allow_inf_nan=False, max_digits=18, decimal_places=4)]
# An exchange rate: a decimal string, its decimals (at most 6) checked by the domain
RateIn = Annotated[Decimal, BeforeValidator(_no_float), Field(allow_inf_nan=False, max_digits=18)]
Text = Annotated[str, Field(max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Quantity = Annotated[int, Field(ge=1, le=100000)]

# The fixed lists are the domain's (one source): the API's fields take the same Literals.


class In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int


# --- errors -------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorPublic(BaseModel):
    error: ErrorBody


# --- accounts -----------------------------------------------------------------------


class AddressIn(In):
    line1: Annotated[str, Field(max_length=200)] = ""
    city: Annotated[str, Field(max_length=100)] = ""
    postal_code: Annotated[str, Field(max_length=20)] = ""
    line2: Annotated[str, Field(max_length=200)] = ""
    region: Annotated[str, Field(max_length=100)] = ""


class AddressPublic(BaseModel):
    line1: str
    line2: str
    city: str
    postal_code: str
    region: str


class EligibilityModel(In):
    academic: bool = False
    government: bool = False
    nonprofit: bool = False


class ContactCreate(In):
    email: Annotated[str, Field(max_length=254)]
    password: Annotated[str, Field(max_length=256)]
    first_name: Annotated[str, Field(max_length=100)]
    last_name: Annotated[str, Field(max_length=100)]


class ResellerCreate(In):
    company_name: Name
    country: Annotated[str, Field(max_length=2)]
    primary_contact: ContactCreate
    slug: Annotated[str, Field(max_length=48)] | None = None
    address: AddressIn | None = None
    contact_phone: Annotated[str, Field(max_length=32)] = ""
    industry: Industry = "it_services"


class UserPublic(BaseModel):
    id: UUID
    email: str
    role: Role
    organization_id: UUID
    reseller_id: UUID
    status: UserStatus
    first_name: str
    last_name: str
    sign_in_method: SignInMethod
    identity_linked: bool = Field(
        default=False, description="a Microsoft sign-in user whose Microsoft account is bound (first sign-in done)"
    )
    primary_contact: bool
    created_at: datetime
    activated_at: datetime | None
    terms_accepted_at: datetime | None
    invitation_expires_at: datetime | None
    version: int


class UsersPublic(Page[UserPublic]):
    pass


class ResellerPublic(BaseModel):
    id: UUID
    slug: str
    name: str
    country: str
    portal_url: str
    primary_contact: UserPublic = Field(
        description="status `invited` until the link emailed to the address confirms it; then it signs in"
    )
    version: int
    confirm_token: str | None = Field(
        default=None, description="test mode only (tests have no mailbox): the confirming link's token"
    )


class LoginRequest(In):
    email: Annotated[str, Field(max_length=254)]
    password: Annotated[str, Field(max_length=256)]


class LoginPublic(BaseModel):
    user: UserPublic
    csrf_token: str


class SignInMethodsPublic(BaseModel):
    email: str
    methods: list[SignInMethod]


class TokenCreate(In):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    expires_at: AwareDatetime | None = Field(
        default=None, description="when the token stops working (ISO 8601 with an offset); default: until revoked"
    )


class TokenPublic(BaseModel):
    id: UUID
    name: str
    token: str
    created_at: datetime
    expires_at: datetime | None = None


class TokenRow(BaseModel):
    """An API token as listed: never the token itself (only its hash is kept)."""

    id: UUID
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    status: Literal["active", "expired", "revoked"]


class TokensPublic(Page[TokenRow]):
    pass


Password = Annotated[str, Field(max_length=256)]


class PasswordChange(In):
    current_password: Password
    new_password: Password


class PasswordChangedPublic(BaseModel):
    user: UserPublic
    other_sessions_ended: int = Field(description="the user's other sessions, ended (this one goes on)")


class PasswordResetAsk(In):
    email: Annotated[str, Field(max_length=254)]


class PasswordResetAsked(BaseModel):
    message: str = Field(description="the same answer whether or not the address has an account here")


class PasswordResetSet(In):
    password: Password


class InvitationCreate(In):
    email: Annotated[str, Field(max_length=254)]
    role: Role
    organization_id: UUID
    sign_in_method: SignInMethod = "local"


class InvitationPublic(BaseModel):
    user: UserPublic
    expires_at: datetime
    email_sent: bool
    accept_token: str | None = Field(
        default=None, description="only with CSP_TEST_MODE: the one-time token the email carries"
    )


class InvitationAccept(In):
    first_name: Annotated[str, Field(max_length=100)]
    last_name: Annotated[str, Field(max_length=100)]
    password: Annotated[str, Field(max_length=256)] | None = None
    accept_terms: bool = False


class UserUpdate(In):
    role: Role | None = None
    disabled: bool | None = None
    sign_in_method: SignInMethod | None = Field(
        default=None, description="another of the account's allowed methods; unbinds the user's Microsoft account"
    )


class SettingsPublic(BaseModel):
    customer_self_registration: bool
    sign_in_methods: list[SignInMethod]
    require_terms_acceptance: bool
    terms_text: str
    default_markup_percent: Decimal
    customer_self_service: bool
    currency: str
    version: int
    available_sign_in_methods: list[SignInMethod] = Field(
        default_factory=lambda: ["local"],
        description="the methods this platform is set up for: sign_in_methods may allow these",
    )


class SettingsUpdate(In):
    customer_self_registration: bool | None = None
    sign_in_methods: Annotated[list[SignInMethod], Field(max_length=3)] | None = None
    require_terms_acceptance: bool | None = None
    terms_text: Annotated[str, Field(max_length=20000)] | None = None
    default_markup_percent: DecimalIn | None = None
    customer_self_service: bool | None = None
    # the account's currency (ISO 4217, 422 unknown_currency): its price list and invoices
    # are converted from EUR with the distributor's monthly rate (docs/currencies.md)
    currency: Annotated[str, Field(max_length=3)] | None = None


# --- organizations and tenants ------------------------------------------------------------


class OrganizationCreate(In):
    name: Name
    country: Annotated[str, Field(max_length=2)]
    address: AddressIn
    contact_email: Annotated[str, Field(max_length=254)]
    contact_phone: Annotated[str, Field(max_length=32)]
    industry: Industry
    eligibility: EligibilityModel = EligibilityModel()
    # customer billing (issue 18)
    vat_number: Annotated[str, Field(max_length=32)] = ""
    billing_email: Annotated[str, Field(max_length=254)] = ""
    currency: Annotated[str, Field(max_length=3)] = ""  # "": the reseller's currency


class OrganizationUpdate(In):
    name: Name | None = None
    country: Annotated[str, Field(max_length=2)] | None = None
    address: AddressIn | None = None
    contact_email: Annotated[str, Field(max_length=254)] | None = None
    contact_phone: Annotated[str, Field(max_length=32)] | None = None
    industry: Industry | None = None
    eligibility: EligibilityModel | None = None
    # customer billing (issue 18)
    vat_number: Annotated[str, Field(max_length=32)] | None = None
    billing_email: Annotated[str, Field(max_length=254)] | None = None
    currency: Annotated[str, Field(max_length=3)] | None = None


class OrganizationPublic(BaseModel):
    id: UUID
    kind: OrganizationKind
    name: str
    slug: str | None
    country: str
    address: AddressPublic
    contact_email: str
    contact_phone: str
    industry: Industry
    eligibility: EligibilityModel
    reseller_id: UUID
    self_registered: bool
    created_at: datetime
    version: int
    # customer billing (issue 18)
    vat_number: str = ""
    billing_email: str = ""
    currency: str = "EUR"
    credit_limit: Decimal | None = None  # monthly, at customer prices (issue 18); None: no limit


class CustomerRegistration(OrganizationCreate):
    admin: ContactCreate
    accept_terms: bool = False


class CustomerRegistrationPublic(BaseModel):
    organization: OrganizationPublic
    user: UserPublic = Field(description="status `invited` until the link emailed to the address confirms it")
    confirm_token: str | None = Field(
        default=None, description="test mode only (tests have no mailbox): the confirming link's token"
    )


class TenantCreate(In):
    domain: Annotated[str, Field(min_length=1, max_length=253)]
    mode: TenantMode = "create"


class RelationshipRequestPublic(BaseModel):
    url: str = Field(description="send it to the customer's global admin; once accepted, link the tenant")


class TenantPublic(BaseModel):
    id: UUID
    organization_id: UUID
    domain: str
    mode: TenantMode
    status: TenantStatus
    vendor_customer_id: str | None
    admin_username: str | None
    rejection_reason: str | None
    rejection_code: str | None
    requested_at: datetime
    ready_at: datetime | None
    version: int


# --- catalog ------------------------------------------------------------------------------


class ProductGroupPublic(BaseModel):
    id: UUID
    slug: str
    name: str


class CategoryPublic(BaseModel):
    id: UUID
    slug: str
    name: str
    product_groups: list[ProductGroupPublic]


class CategoriesPublic(Page[CategoryPublic]):
    pass


class OfferPublic(BaseModel):
    id: UUID
    name: str
    description: str
    vendor: str
    category: UUID
    category_name: str
    product_group: UUID
    product_group_name: str
    segment: Segment
    type: LicenceType
    billing_cycles: list[BillingCycle]
    terms: list[Term]
    is_trial: bool
    trial_converts_to: UUID | None
    is_addon: bool
    addon_offer_ids: list[UUID]
    upgrade_offer_ids: list[UUID] = []  # the offers a subscription of this one may be upgraded to mid-term
    min_quantity: int
    max_quantity: int
    unit: str
    currency: str
    erp_price: Decimal | None
    partner_price: Decimal | None = None
    customer_price: Decimal | None = None
    # Prices in the signed-in account's currency (issue 18): converted from EUR per unit
    # price with this rate EUR→currency, set for this month (None: in EUR)
    exchange_rate: Decimal | None = None
    exchange_rate_month: str | None = None
    visible: bool | None = Field(default=None, description="for a reseller user: whether its customers see it")


class OffersPublic(Page[OfferPublic]):
    pass


class VisibilityUpdate(In):
    visible: bool


class VisibilityPublic(BaseModel):
    offer_id: UUID
    visible: bool
    version: int


class SegmentCreate(In):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    offer_ids: Annotated[list[UUID], Field(max_length=500)] = []
    organization_ids: Annotated[list[UUID], Field(max_length=5000)] = []


class SegmentPricePublic(BaseModel):
    offer_id: UUID
    markup_percent: Decimal | None
    customer_price: Decimal | None


class SegmentPublic(BaseModel):
    id: UUID
    name: str
    offer_ids: list[UUID]
    organization_ids: list[UUID]
    prices: list[SegmentPricePublic]
    version: int


class SegmentsPublic(Page[SegmentPublic]):
    pass


class SegmentPriceUpdate(In):
    markup_percent: DecimalIn | None = None
    customer_price: DecimalIn | None = None


class PricePreviewPublic(BaseModel):
    offer_id: UUID
    quantity: int
    term: Term
    partner_price: Decimal
    erp_price: Decimal | None
    customer_price: Decimal
    margin: Decimal
    markup_percent: Decimal
    default_markup_percent: Decimal
    total: Decimal
    partner_total: Decimal
    margin_total: Decimal
    currency: str = "EUR"  # the preview is in the catalog's currency


# --- orders -----------------------------------------------------------------------------------


class AddonIn(In):
    offer_id: UUID
    quantity: Quantity


class OrderLineCreate(In):
    """A new-subscription line (``offer_id``…) or a change line (``subscription_id``, ``quantity_delta``)."""

    offer_id: UUID | None = None
    tenant_id: UUID | None = None
    quantity: Quantity | None = None
    billing_cycle: BillingCycle = "monthly"
    term: Term | None = None
    markup_percent: DecimalIn | None = None
    target_price: DecimalIn | None = None
    addons: Annotated[list[AddonIn], Field(max_length=20)] = []
    parent_subscription_id: UUID | None = None
    subscription_id: UUID | None = None
    quantity_delta: Annotated[int, Field(ge=-100000, le=100000)] | None = None


class OrderLineUpdate(In):
    quantity: Quantity | None = None
    billing_cycle: BillingCycle | None = None
    term: Term | None = None
    markup_percent: DecimalIn | None = None
    target_price: DecimalIn | None = None
    addons: Annotated[list[AddonIn], Field(max_length=20)] | None = None
    quantity_delta: Annotated[int, Field(ge=-100000, le=100000)] | None = None


class AddonChoicePublic(BaseModel):
    offer_id: UUID
    offer_name: str
    quantity: int
    unit_partner_price: Decimal | None
    erp_price: Decimal | None
    unit_customer_price: Decimal
    total: Decimal
    margin: Decimal | None = None  # per licence per month; hidden from customer users


class OrderLinePublic(BaseModel):
    line_no: int
    kind: Literal["new_subscription", "change"]
    offer_id: UUID
    offer_name: str
    tenant_id: UUID
    tenant_domain: str
    quantity: int | None
    quantity_delta: int | None
    billing_cycle: BillingCycle | None
    term: Term | None
    is_trial: bool
    unit_partner_price: Decimal | None
    erp_price: Decimal | None
    unit_customer_price: Decimal
    markup_percent: Decimal | None
    margin: Decimal | None
    requested_change: str
    total: Decimal
    addons: list[AddonChoicePublic]
    subscription_id: UUID | None
    parent_subscription_id: UUID | None
    parent_line_no: int | None
    provisioned: bool
    outcome: LineOutcome = "pending"
    failure_reason: str | None = None  # a failed line: the vendor's reason


class OrderLineCreated(OrderLinePublic):
    order_id: UUID
    order_total: Decimal
    version: int


class OrderApprovalPublic(BaseModel):
    id: UUID
    status: ApprovalStatus
    amount: Decimal
    limit: Decimal
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class OrderPublic(BaseModel):
    id: UUID
    number: str
    organization_id: UUID
    reseller_id: UUID
    status: OrderStatus
    lines: list[OrderLinePublic]
    item_count: int
    total: Decimal
    partner_total: Decimal | None
    created_by: str
    created_at: datetime
    placed_at: datetime | None
    terms_accepted_at: datetime | None
    finished_at: datetime | None
    failure_reason: str | None
    subscription_ids: list[UUID]
    version: int
    outcome: str | None = None  # "2 of 3 lines provisioned · 1 failed: reason" once provisioning began
    attempt: int = 1  # provisioning attempt: each retry of the failed lines is the next one
    approval: OrderApprovalPublic | None = None  # over the credit limit: the request and its decision
    currency: str = "EUR"  # the amounts' currency: the catalog's (the portal shows them in the account's, converted)


class OrderPlace(In):
    accept_terms: bool = False


class ApprovalPublic(BaseModel):
    """A customer user's order above its organization's monthly credit limit, waiting for
    (or decided by) the reseller."""

    id: UUID
    order_id: UUID
    order_number: str
    organization_id: UUID
    organization_name: str
    amount: Decimal = Field(description="the monthly spend with the order: live subscriptions + the order")
    limit: Decimal
    current_spend: Decimal
    order_total: Decimal
    requested_by: str
    requested_at: datetime
    status: ApprovalStatus
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class ApprovalsPublic(Page[ApprovalPublic]):
    pass


class ApprovalReject(In):
    reason: Annotated[str, Field(max_length=1000)] = ""


def _limit_number(value: Any) -> Any:
    # A JSON number is accepted as the decimal it is written as (never float arithmetic).
    return Decimal(repr(value)) if isinstance(value, float) else value


class CreditLimitUpdate(In):
    monthly_limit: Annotated[Decimal, BeforeValidator(_limit_number), Field(allow_inf_nan=False)] | None = None


class CreditLimitPublic(BaseModel):
    organization_id: UUID
    monthly_limit: Decimal | None
    version: int


# --- subscriptions --------------------------------------------------------------------------------


class AddonSummary(BaseModel):
    id: UUID
    offer_id: UUID
    offer_name: str
    quantity: int
    status: str


# --- licence assignment: a tenant's users (the vendor's) and their licences ----------


class LicenceRequestPublic(BaseModel):
    """An assignment decided here, on its way to the vendor."""

    tenant_user_id: str
    action: LicenceAction


class TenantUserPublic(BaseModel):
    id: str  # the vendor's user id
    user_principal_name: str
    display_name: str
    licences: list[UUID]  # subscription ids whose licence the user holds


class TenantUsersPublic(Page[TenantUserPublic]):
    pass


class TenantUserCreate(In):
    user_principal_name: Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    display_name: Annotated[str, Field(min_length=1, max_length=256)]


class PendingTransition(BaseModel):
    transition_id: UUID
    offer_id: UUID
    offer_name: str
    quantity: int
    kind: Literal["full", "partial"]
    requested_at: datetime


class SubscriptionPublic(BaseModel):
    id: UUID
    organization_id: UUID
    offer_id: UUID
    offer_name: str
    product_group: UUID
    tenant_id: UUID
    tenant_domain: str
    status: SubscriptionStatus
    starts_at: datetime
    ends_at: datetime
    renews_at: datetime | None
    auto_renew: bool
    billing_cycle: BillingCycle
    pending_billing_cycle: BillingCycle | None
    pending_billing_cycle_at: datetime | None
    term: Term
    renewal_term: Term | None
    renewal_quantity: int | None
    assigned: int
    purchased: int
    refundable: int
    addons: list[AddonSummary]
    parent_id: UUID | None
    vendor: str
    type: LicenceType
    is_trial: bool
    trial_converts_to: UUID | None
    unit_cost: Decimal | None
    monthly_cost: Decimal | None
    yearly_cost: Decimal | None
    monthly_reseller_price: Decimal | None
    yearly_reseller_price: Decimal | None
    unit_partner_price: Decimal | None = None  # per licence per month; null for customer users and trials
    markup_percent: Decimal | None
    order_id: UUID | None
    last_vendor_refusal: str | None
    version: int
    # licence assignment: purchased − assigned, and the unassigned seats still inside their
    # 7-day window (cheap to cut) with the instant until which all of them can go
    unassigned: int = 0
    unused_in_window: int = 0
    unused_in_window_until: datetime | None = None
    licence_requests: list[LicenceRequestPublic] = []
    transitioned_from: UUID | None = None  # the subscription upgraded to this one
    transitioned_to: UUID | None = None  # the subscription this one's seats were upgraded to
    pending_transition: PendingTransition | None = None  # asked of the vendor, not done yet
    renewal_offer_id: UUID | None = None  # the offer scheduled for the next term (GET …/next-term has it all)
    renewal_offer_name: str | None = None
    currency: str = "EUR"  # the amounts' currency: the catalog's (the portal shows them in the account's, converted)


class TransitionOptionPublic(BaseModel):
    offer_id: UUID
    offer_name: str
    kind: Literal["upgrade"] = "upgrade"
    partial_allowed: bool
    unit_partner_price: Decimal | None  # null for customer users
    unit_customer_price: Decimal
    terms: list[Term]
    billing_cycles: list[BillingCycle]


class TransitionOptionsPublic(BaseModel):
    items: list[TransitionOptionPublic]
    total: int


class TransitionCreate(In):
    offer_id: UUID
    quantity: Quantity | None = None  # fewer than purchased: a partial transition


class TransitionAccepted(BaseModel):
    transition_id: UUID
    status: Literal["requested"] = "requested"
    subscription_id: UUID
    new_subscription_id: UUID  # where the seats will be once the vendor has moved them
    offer_id: UUID
    quantity: int
    kind: Literal["full", "partial"]


class NextTermPublic(BaseModel):
    subscription_id: UUID
    scheduled: bool  # anything scheduled at all
    applies_at: datetime | None  # the renewal (null: the subscription does not renew)
    offer_id: UUID | None
    offer_name: str | None
    quantity: int | None
    term: Term | None
    billing_cycle: BillingCycle | None
    version: int


class NextTermChange(In):
    """The next term's changes; a field left out (or null) renews as it is now."""

    offer_id: UUID | None = None
    quantity: Quantity | None = None
    term: Term | None = None
    billing_cycle: BillingCycle | None = None


class QuantityChange(In):
    quantity: Quantity
    at_renewal: bool = False


class BillingCycleChange(In):
    billing_cycle: BillingCycle


class TrialConversion(In):
    offer_id: UUID | None = None
    quantity: Quantity | None = None
    billing_cycle: BillingCycle | None = None
    term: Term | None = None
    markup_percent: DecimalIn | None = None


class PriceChange(In):
    unit_customer_price: DecimalIn | None = None
    markup_percent: DecimalIn | None = None


class AutoRenewChange(In):
    auto_renew: bool


class AddonCreate(In):
    offer_id: UUID
    quantity: Quantity


# --- quotes --------------------------------------------------------------------------------------------


class QuoteLineIn(In):
    offer_id: UUID
    quantity: Quantity
    billing_cycle: BillingCycle = "monthly"
    term: Term | None = None
    tenant_id: UUID | None = None
    markup_percent: DecimalIn | None = None
    target_price: DecimalIn | None = None


class QuoteCreate(In):
    lines: Annotated[list[QuoteLineIn], Field(min_length=1, max_length=50)]
    valid_days: Annotated[int, Field(ge=1, le=365)] | None = None
    note: Text = ""


class QuoteLinePublic(BaseModel):
    line_no: int
    offer_id: UUID
    offer_name: str
    quantity: int
    billing_cycle: BillingCycle
    term: Term
    tenant_id: UUID | None
    unit_partner_price: Decimal | None
    erp_price: Decimal | None
    unit_customer_price: Decimal
    markup_percent: Decimal | None
    margin: Decimal | None
    total: Decimal


class QuotePublic(BaseModel):
    id: UUID
    organization_id: UUID
    status: QuoteStatus
    lines: list[QuoteLinePublic]
    total: Decimal
    valid_until: datetime
    note: str
    created_by: str
    created_at: datetime
    order_id: UUID | None
    version: int
    currency: str = "EUR"  # the amounts' currency: the catalog's (the portal shows them in the account's, converted)


class QuoteAccept(In):
    tenant_id: UUID | None = None


# --- history, operations, test clock ------------------------------------------------------------------


class HistoryEvent(BaseModel):
    version: int
    type: str
    at: datetime
    actor: str
    data: dict[str, Any]


class HistoryPublic(BaseModel):
    id: UUID
    type: str | None = None
    as_of: datetime | None = None
    events: list[HistoryEvent]
    state: dict[str, Any] | None = Field(description="the state after the last event (null before the first)")


class HealthPublic(BaseModel):
    status: Literal["ok"]


class ReadinessPublic(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Any]


class ClockPublic(BaseModel):
    now: datetime


class ClockSet(In):
    now: datetime


# --- list rows (read models) -------------------------------------------------------------------------


class Row(BaseModel):
    """A row of a read model: the contract's fields, and whatever else the read model adds."""

    model_config = ConfigDict(extra="allow")


class OrganizationRow(Row):
    id: UUID
    kind: OrganizationKind
    name: str


class OrganizationsPublic(Page[OrganizationRow]):
    pass


class TenantRow(Row):
    id: UUID
    domain: str
    status: TenantStatus


class TenantsPublic(Page[TenantRow]):
    pass


class OrderRowLine(Row):
    offer_name: str
    requested_change: str
    line_no: int | None = None
    outcome: LineOutcome = "pending"
    failure_reason: str | None = None


class OrderRow(Row):
    id: UUID
    number: str
    item_count: int
    lines: list[OrderRowLine]
    created_by: str
    created_at: datetime
    status: OrderStatus
    provisioned_count: int = 0
    failed_count: int = 0
    outcome: str | None = None  # "2 of 3 lines provisioned · 1 failed: reason"
    reason: str | None = None  # rejected over the credit limit: the reseller's reason


NEXT_AFTER = "keyset paging: give it as `after` for the page that follows (null: this is the last page)"


class OrdersPublic(Page[OrderRow]):
    next_after: str | None = Field(None, description=NEXT_AFTER)


class SubscriptionRow(Row):
    id: UUID
    unassigned: int = 0
    unused_in_window: int = 0
    unused_in_window_until: datetime | None = None
    offer_id: UUID
    offer_name: str
    product_group: UUID
    product_group_name: str
    tenant_domain: str
    status: SubscriptionStatus
    purchased: int
    renewal_quantity: int | None = None  # a quantity scheduled for the renewal
    transitioned_from: UUID | None = None  # the subscription upgraded to this one
    transitioned_to: UUID | None = None  # the subscription this one's seats were upgraded to
    unit_cost: Decimal | None
    monthly_cost: Decimal | None
    yearly_cost: Decimal | None
    monthly_reseller_price: Decimal | None = None
    yearly_reseller_price: Decimal | None = None
    currency: str = "EUR"  # the amounts' currency: the catalog's (the portal shows them in the account's, converted)


class SubscriptionsPublic(Page[SubscriptionRow]):
    next_after: str | None = Field(None, description=NEXT_AFTER)


class UserRow(Row):
    id: UUID
    email: str
    role: Role
    organization_id: UUID
    status: UserStatus


class UserRowsPublic(Page[UserRow]):
    pass


def _whole_as_int(value: Any) -> Any:
    """Licences count whole (``3``); a meter's usage may not (``"242.50"``)."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


class InvoiceLinePublic(Row):
    subscription_id: UUID | None
    organization_id: UUID | None
    description: str
    # licences, or a meter's usage over the month (no unit price: usage is rated per day)
    quantity: Annotated[int | Decimal, BeforeValidator(_whole_as_int)]
    unit_price: Decimal | None
    days: int | None
    amount: Decimal


class InvoicePublic(Row):
    id: UUID
    number: str
    period: str
    issued_at: datetime
    total: Decimal
    currency: str = "EUR"
    exchange_rate: Decimal | None = Field(default=None, description="EUR→currency the lines were converted with")
    exchange_rate_month: str | None = Field(default=None, description="the month that rate was set for")
    lines: list[InvoiceLinePublic]


class InvoiceRowPublic(Row):
    id: UUID
    number: str
    period: str
    issued_at: datetime
    total: Decimal
    currency: str = "EUR"
    exchange_rate: Decimal | None = Field(default=None, description="EUR→currency the lines were converted with")
    exchange_rate_month: str | None = Field(default=None, description="the month that rate was set for")
    line_count: int
    lines: list[InvoiceLinePublic] | None = Field(
        None, description="the invoice's lines with `?with_lines=true` (else null; always in GET /invoices/{id})"
    )


class InvoicesPublic(Page[InvoiceRowPublic]):
    pass


class ReportPublic(Page[Row]):
    pass


class QuoteRow(Row):
    id: UUID
    status: QuoteStatus
    total: Decimal
    valid_until: datetime
    order_id: UUID | None


class QuoteRowsPublic(Page[QuoteRow]):
    pass
