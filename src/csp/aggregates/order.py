"""Orders: a cart of new-subscription and change lines, placed with the product terms.

draft ──place (terms accepted)──▶ placed ──▶ provision started ──▶ provision finished
  │  │                                 ▲          │    ▲        ├──────────▶ partially provisioned
  │  └─place, over the credit limit──▶ awaiting approval ──approve─┘    └─retry──┴──────────▶ provision failed
  │                                    └──reject (reason)──▶ rejected
  └──discard──▶ discarded             (partially provisioned ──discard failed lines──▶ finished)

A customer user's order that would take the customer's monthly spend above its credit
limit (``csp.aggregates.credit``) waits for the reseller: approved, it is placed as any
other order (``Placed`` follows ``ApprovalGranted``; the provisioning saga runs on it);
rejected, it ends ``rejected`` with the reason. Both decisions record who and when.

Each line has its own outcome: pending, provisioned, failed (with the vendor's reason) or
discarded. A line that fails does not stop the others; when none is pending any more the
order is finished (all provisioned), partially provisioned (some provisioned, some
failed) or failed (none provisioned). The failed lines can be retried (a new attempt:
their vendor calls carry the attempt in their idempotency key) or, on a partly
provisioned order, discarded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, get_args
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, Value, deterministic_id, utc
from csp.aggregates.catalog import Eligibility, Offer, check_eligible
from csp.aggregates.credit import CreditCheck
from csp.aggregates.errors import (
    AddonRequiresBase,
    EmptyOrder,
    InvalidInput,
    InvalidOrderTransition,
    OrderNotDraft,
    SubscriptionNotActive,
    SubscriptionSuspended,
    TermsNotAccepted,
    TrialQuantityFixed,
)
from csp.aggregates.pricing import PriceBasis, PriceQuote, SeatPricer, margin, money, quote
from csp.aggregates.terms import TRIAL_QUANTITY, BillingCycle, Term

if TYPE_CHECKING:
    from csp.aggregates.organization import Organization
    from csp.aggregates.subscription import Subscription
    from csp.aggregates.tenant import Tenant

OrderStatus = Literal[
    "draft",
    "placed",
    "provision_started",
    "provision_finished",
    "partially_provisioned",
    "provision_failed",
    "discarded",
    "awaiting_approval",
    "rejected",
]
ORDER_STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)
ApprovalStatus = Literal["pending", "approved", "rejected"]
APPROVAL_STATUSES: tuple[ApprovalStatus, ...] = get_args(ApprovalStatus)
LineOutcome = Literal["pending", "provisioned", "failed", "discarded"]
# Provisioning has ended; failed lines may still be retried.
PROVISION_ENDED: tuple[OrderStatus, ...] = ("provision_finished", "partially_provisioned", "provision_failed")


def outcome_summary(line_count: int, provisioned: int, failed: list[str], discarded: int = 0) -> str:
    """``2 of 3 lines provisioned · 1 failed: reason`` (the reasons of every failed line)."""
    noun = "line" if line_count == 1 else "lines"
    text = f"{provisioned} of {line_count} {noun} provisioned"
    if failed:
        text += f" · {len(failed)} failed: {'; '.join(failed)}"
    if discarded:
        text += f" · {discarded} discarded"
    return text


def format_order_number(at: datetime, sequence: int) -> str:
    """A human order number: ``#24-11-2026 27131`` (UTC date and a global sequence)."""
    return f"#{utc(at):%d-%m-%Y} {sequence}"


@dataclass(frozen=True)
class AddonChoice(Value):
    offer_id: UUID
    offer_name: str
    quantity: int
    unit_partner_price: Decimal
    erp_price: Decimal | None
    unit_customer_price: Decimal
    # How it was priced (None in choices stored before: the line's markups, as given).
    markup_percent: Decimal | None = None
    default_markup_percent: Decimal | None = None
    price_basis: PriceBasis = "explicit"
    # The add-on's own term and cycle, resolved when the line was built (None in choices
    # stored before: resolved again from the offer, by the same rule).
    term: Term | None = None
    billing_cycle: BillingCycle | None = None

    def term_and_cycle(self, line: NewSubscriptionLine, addon: Offer) -> tuple[Term, BillingCycle]:
        """The term and billing cycle this add-on is provisioned with, beside ``line``."""
        if self.term is not None and self.billing_cycle is not None:
            return self.term, self.billing_cycle
        return addon.addon_term_and_cycle(line.term, line.billing_cycle)

    @property
    def total(self) -> Decimal:
        return money(self.unit_customer_price * self.quantity)

    def price_quote(self, line: NewSubscriptionLine) -> PriceQuote:
        """The price the add-on was chosen at, as the subscription it provisions records it."""
        return PriceQuote(
            partner_price=self.unit_partner_price,
            erp_price=self.erp_price,
            customer_price=self.unit_customer_price,
            margin=margin(self.unit_customer_price, self.unit_partner_price),
            markup_percent=self.markup_percent if self.markup_percent is not None else line.markup_percent,
            default_markup_percent=self.default_markup_percent
            if self.default_markup_percent is not None
            else line.default_markup_percent,
            quantity=self.quantity,
            basis=self.price_basis,
        )


@dataclass(frozen=True)
class NewSubscriptionLine(Value):
    line_no: int
    offer_id: UUID
    offer_name: str
    tenant_id: UUID
    tenant_domain: str
    quantity: int
    billing_cycle: BillingCycle
    term: Term
    is_trial: bool
    unit_partner_price: Decimal
    erp_price: Decimal | None
    unit_customer_price: Decimal
    markup_percent: Decimal
    default_markup_percent: Decimal
    margin: Decimal
    addons: tuple[AddonChoice, ...] = ()
    parent_subscription_id: UUID | None = None  # an add-on line for an existing base
    parent_line_no: int | None = None  # an add-on line for a base in this cart
    unit: str = "Users"
    price_basis: PriceBasis = "explicit"  # lines stored before it was recorded: as given

    @property
    def requested_change(self) -> str:
        return f"+{self.quantity} {self.unit}"

    @property
    def price_quote(self) -> PriceQuote:
        """The price the line was placed at, as the subscription it provisions records it."""
        return PriceQuote(
            partner_price=self.unit_partner_price,
            erp_price=self.erp_price,
            customer_price=self.unit_customer_price,
            margin=self.margin,
            markup_percent=self.markup_percent,
            default_markup_percent=self.default_markup_percent,
            quantity=self.quantity,
            basis=self.price_basis,
        )

    @property
    def total(self) -> Decimal:
        return money(self.unit_customer_price * self.quantity + sum((a.total for a in self.addons), Decimal(0)))

    @property
    def partner_total(self) -> Decimal:
        return money(
            self.unit_partner_price * self.quantity
            + sum((a.unit_partner_price * a.quantity for a in self.addons), Decimal(0))
        )


@dataclass(frozen=True)
class ChangeLine(Value):
    """``+N Users`` (or ``-N``) on an existing subscription."""

    line_no: int
    subscription_id: UUID
    offer_id: UUID
    offer_name: str
    tenant_id: UUID
    tenant_domain: str
    quantity_delta: int
    unit_partner_price: Decimal
    unit_customer_price: Decimal
    unit: str = "Users"

    @property
    def requested_change(self) -> str:
        return f"{self.quantity_delta:+d} {self.unit}"

    @property
    def total(self) -> Decimal:
        return money(self.unit_customer_price * self.quantity_delta)

    @property
    def partner_total(self) -> Decimal:
        return money(self.unit_partner_price * self.quantity_delta)


OrderLine = NewSubscriptionLine | ChangeLine


@dataclass(frozen=True)
class ApprovalRequest(Value):
    """An order's request for the reseller's approval, and its decision."""

    id: UUID
    amount: Decimal  # the customer's monthly spend with the order
    monthly_limit: Decimal
    current_spend: Decimal
    order_total: Decimal
    requested_by: Actor
    requested_at: datetime
    status: ApprovalStatus = "pending"
    decided_by: Actor | None = None
    decided_at: datetime | None = None
    reason: str | None = None

    def decided(self, status: ApprovalStatus, actor: Actor, at: datetime, reason: str | None) -> ApprovalRequest:
        return ApprovalRequest(
            id=self.id,
            amount=self.amount,
            monthly_limit=self.monthly_limit,
            current_spend=self.current_spend,
            order_total=self.order_total,
            requested_by=self.requested_by,
            requested_at=self.requested_at,
            status=status,
            decided_by=actor,
            decided_at=at,
            reason=reason,
        )


def price_new_line(
    *,
    line_no: int,
    offer: Offer,
    tenant: Tenant,
    buyer: Organization,
    quantity: int | None,
    billing_cycle: BillingCycle | None,
    term: Term | None,
    markup_percent: Decimal | None,
    target_price: Decimal | None,
    price: SeatPricer,
    addons: list[tuple[Offer, int]],
    parent_subscription: Subscription | None = None,
    parent_line: NewSubscriptionLine | None = None,
    parent_offer: Offer | None = None,
) -> NewSubscriptionLine:
    """Check every rule for a new-subscription line and price it with ``price`` (the
    customer's one pricing decision). A term left out is the offer's first, a billing
    cycle left out monthly. Add-ons take the line's markup when the line's price was
    given explicitly, else their own price for this customer; their term and cycle
    (``Offer.addon_term_and_cycle``) and prices are recorded on the line."""
    term = term or offer.terms[0]
    billing_cycle = billing_cycle or "monthly"
    if tenant.organization_id != buyer.id:
        raise InvalidInput("tenant_id", "the tenant belongs to another organization")
    tenant.require_usable()
    check_eligible(offer, buyer.eligibility)
    offer.check_term_and_cycle(term, billing_cycle)
    if offer.is_trial:
        if quantity not in (None, TRIAL_QUANTITY):
            raise TrialQuantityFixed(f"a trial has exactly {TRIAL_QUANTITY} licences", quantity=quantity)
        if addons:
            raise InvalidInput("addons", "add-ons cannot be ordered with a trial")
        buyer.check_trial_available(offer.id)
        quantity = TRIAL_QUANTITY
    elif quantity is None:
        raise InvalidInput("quantity", "is required")
    else:
        offer.check_quantity(quantity)
    if offer.is_addon:
        _check_addon_base(offer, tenant, quantity, parent_subscription, parent_line, parent_offer)
    elif parent_subscription is not None or parent_line is not None:
        raise InvalidInput("parent_subscription_id", f"{offer.name} is not an add-on")
    if offer.is_trial:
        q = quote(Decimal(0), None, quantity, markup_percent=Decimal(0), default_markup_percent=Decimal(0))
    else:
        q = price(offer, term, quantity, markup_percent=markup_percent, target_price=target_price)
    choices: list[AddonChoice] = []
    seen: set[UUID] = set()
    for addon, addon_qty in addons:
        if not addon.is_addon or not offer.accepts_addon(addon.id):
            raise AddonRequiresBase(f"{addon.name} cannot be added to {offer.name}", offer_id=addon.id)
        if addon.id in seen:
            raise InvalidInput("addons", f"{addon.name} is chosen twice")
        seen.add(addon.id)
        check_eligible(addon, buyer.eligibility)
        addon.check_quantity(addon_qty, "addons.quantity")
        if addon_qty > quantity:
            raise InvalidInput("addons.quantity", f"{addon.name}: at most one add-on licence per base licence")
        addon_term, addon_cycle = addon.addon_term_and_cycle(term, billing_cycle)
        aq = price(
            addon,
            addon_term,
            addon_qty,
            markup_percent=q.markup_percent if q.basis == "explicit" else None,
        )
        choices.append(
            AddonChoice(
                offer_id=addon.id,
                offer_name=addon.name,
                quantity=addon_qty,
                unit_partner_price=aq.partner_price,
                erp_price=aq.erp_price,
                unit_customer_price=aq.customer_price,
                markup_percent=aq.markup_percent,
                default_markup_percent=aq.default_markup_percent,
                price_basis=aq.basis,
                term=addon_term,
                billing_cycle=addon_cycle,
            )
        )
    return NewSubscriptionLine(
        line_no=line_no,
        offer_id=offer.id,
        offer_name=offer.name,
        tenant_id=tenant.id,
        tenant_domain=tenant.domain,
        quantity=quantity,
        billing_cycle=billing_cycle,
        term=term,
        is_trial=offer.is_trial,
        unit_partner_price=q.partner_price,
        erp_price=q.erp_price,
        unit_customer_price=q.customer_price,
        markup_percent=q.markup_percent,
        default_markup_percent=q.default_markup_percent,
        margin=q.margin,
        addons=tuple(choices),
        parent_subscription_id=parent_subscription.id if parent_subscription is not None else None,
        parent_line_no=parent_line.line_no if parent_line is not None else None,
        unit=offer.unit,
        price_basis=q.basis,
    )


def _check_addon_base(
    addon: Offer,
    tenant: Tenant,
    quantity: int,
    parent_subscription: Subscription | None,
    parent_line: NewSubscriptionLine | None,
    parent_offer: Offer | None,
) -> None:
    """An add-on needs a compatible base on the same tenant, in the cart or active."""
    if parent_subscription is not None:
        base = parent_subscription
        if base.tenant_id != tenant.id:
            raise AddonRequiresBase("the base subscription is on another tenant", offer_id=addon.id)
        if base.status != "active":
            raise AddonRequiresBase(f"the base subscription is {base.status}; it must be active", offer_id=addon.id)
        if addon.id not in base.addon_offer_ids_allowed:
            raise AddonRequiresBase(f"{addon.name} cannot be added to {base.offer_name}", offer_id=addon.id)
        if quantity > base.quantity:
            raise InvalidInput("quantity", f"at most {base.quantity}: one add-on licence per base licence")
        return
    if parent_line is not None and parent_offer is not None:
        if parent_line.tenant_id != tenant.id:
            raise AddonRequiresBase("the base line is for another tenant", offer_id=addon.id)
        if not parent_offer.accepts_addon(addon.id):
            raise AddonRequiresBase(f"{addon.name} cannot be added to {parent_offer.name}", offer_id=addon.id)
        if quantity > parent_line.quantity:
            raise InvalidInput("quantity", f"at most {parent_line.quantity}: one add-on licence per base licence")
        return
    raise AddonRequiresBase(
        f"{addon.name} is an add-on: it needs a compatible base subscription on the same tenant, in the cart or active",
        offer_id=addon.id,
    )


def price_change_line(
    *, line_no: int, subscription: Subscription, buyer_id: UUID, quantity_delta: int, at: datetime
) -> ChangeLine:
    """Check the rules for a ``±N Users`` line on an existing subscription."""
    if subscription.organization_id != buyer_id:
        raise InvalidInput("subscription_id", "the subscription belongs to another organization")
    if quantity_delta == 0:
        raise InvalidInput("quantity_delta", "must not be zero")
    if subscription.status == "trial":
        raise TrialQuantityFixed("a trial's quantity is fixed; convert it first", subscription_id=subscription.id)
    if subscription.status == "suspended":
        raise SubscriptionSuspended("a suspended subscription cannot change quantity", subscription_id=subscription.id)
    if subscription.status != "active":
        raise SubscriptionNotActive(f"the subscription is {subscription.status}", subscription_id=subscription.id)
    subscription.check_quantity_change(subscription.quantity + quantity_delta, at)
    return ChangeLine(
        line_no=line_no,
        subscription_id=subscription.id,
        offer_id=subscription.offer_id,
        offer_name=subscription.offer_name,
        tenant_id=subscription.tenant_id,
        tenant_domain=subscription.tenant_domain,
        quantity_delta=quantity_delta,
        unit_partner_price=subscription.unit_partner_price,
        unit_customer_price=subscription.unit_customer_price,
        unit=subscription.unit,
    )


def approval_id_for(order_id: UUID) -> UUID:
    """An order waits for approval at most once: its approval's id derives from it."""
    return deterministic_id("approval", order_id)


class Order(CspAggregate):
    # Orders recorded before credit limits never asked for approval.
    approval: ApprovalRequest | None = None

    class Drafted(CspAggregate.Created):
        organization_id: UUID
        reseller_id: UUID
        number: str

    @event(Drafted)
    def __init__(self, organization_id: UUID, reseller_id: UUID, number: str, actor: Actor, at: datetime) -> None:
        self.organization_id = organization_id
        self.reseller_id = reseller_id
        self.number = number
        self.status: OrderStatus = "draft"
        self.lines: tuple[OrderLine, ...] = ()
        self.created_by = actor
        self.created_at = at
        self.terms_accepted_by: Actor | None = None
        self.terms_accepted_at: datetime | None = None
        self.placed_at: datetime | None = None
        self.provisioned_line_nos: tuple[int, ...] = ()
        self.subscription_ids: tuple[UUID, ...] = ()
        self.failure_reason: str | None = None
        self.failed_line_no: int | None = None
        self.finished_at: datetime | None = None
        self.next_line_no = 1
        self.failed_lines: tuple[tuple[int, str], ...] = ()  # (line_no, reason), in line order
        self.discarded_line_nos: tuple[int, ...] = ()
        self.attempt = 1  # provisioning attempt: a retry of the failed lines is the next one

    @classmethod
    def draft(
        cls, id: UUID, organization_id: UUID, reseller_id: UUID, number: str, actor: Actor, at: datetime
    ) -> Order:
        return cls._create(
            cls.Drafted,
            id=id,
            organization_id=organization_id,
            reseller_id=reseller_id,
            number=number,
            actor=actor,
            at=at,
        )

    # --- queries ----------------------------------------------------------

    @property
    def total(self) -> Decimal:
        """Customer total per month of the new-subscription and change lines."""
        return money(sum((line.total for line in self.lines), Decimal(0)))

    @property
    def partner_total(self) -> Decimal:
        return money(sum((line.partner_total for line in self.lines), Decimal(0)))

    def line(self, line_no: int) -> OrderLine:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        raise InvalidInput("line_no", f"the order has no line {line_no}", line_no=line_no)

    @property
    def failed_line_nos(self) -> tuple[int, ...]:
        return tuple(n for n, _ in self.failed_lines)

    def line_failure(self, line_no: int) -> str | None:
        return next((r for n, r in self.failed_lines if n == line_no), None)

    def line_outcome(self, line_no: int) -> LineOutcome:
        if line_no in self.provisioned_line_nos:
            return "provisioned"
        if line_no in self.discarded_line_nos:
            return "discarded"
        if line_no in self.failed_line_nos:
            return "failed"
        return "pending"

    @property
    def outcome(self) -> str | None:
        """``2 of 3 lines provisioned · 1 failed: reason`` once provisioning has begun."""
        if self.status in ("draft", "placed", "discarded", "awaiting_approval", "rejected"):
            return None
        return outcome_summary(
            len(self.lines),
            len(self.provisioned_line_nos),
            [r for _, r in self.failed_lines],
            len(self.discarded_line_nos),
        )

    def _require_draft(self) -> None:
        if self.status != "draft":
            raise OrderNotDraft(
                f"the order is {self.status}; only a draft can be edited", order_id=self.id, status=self.status
            )

    # --- cart -------------------------------------------------------------

    class LineAdded(CspAggregate.Event):
        line: OrderLine

    def add_line(self, line: OrderLine, actor: Actor, at: datetime) -> None:
        """Add a line built by ``price_new_line`` / ``price_change_line``."""
        self._require_draft()
        if line.line_no != self.next_line_no:
            raise InvalidInput("line_no", f"the next line is {self.next_line_no}")
        self._check_line_fits(line, replacing=None)
        self._add_line(line=line, actor=actor, at=at)

    def _check_line_fits(self, line: OrderLine, replacing: int | None) -> None:
        others = [x for x in self.lines if x.line_no != replacing]
        if isinstance(line, NewSubscriptionLine):
            # One trial per offer per customer: not a second one in the cart, on any tenant.
            if line.is_trial and any(
                isinstance(x, NewSubscriptionLine) and x.offer_id == line.offer_id for x in others
            ):
                raise InvalidInput("offer_id", "this trial is already in the cart")
            if line.parent_line_no is not None:
                base = next((x for x in others if x.line_no == line.parent_line_no), None)
                if not isinstance(base, NewSubscriptionLine):
                    raise AddonRequiresBase("the base line is not in the cart", line_no=line.parent_line_no)
        elif any(isinstance(x, ChangeLine) and x.subscription_id == line.subscription_id for x in others):
            raise InvalidInput("subscription_id", "this subscription already has a change line in the cart")

    @event(LineAdded)
    def _add_line(self, line: OrderLine, actor: Actor, at: datetime) -> None:
        self.lines = (*self.lines, line)
        self.next_line_no = line.line_no + 1

    class LineReplaced(CspAggregate.Event):
        line: OrderLine

    def replace_line(self, line: OrderLine, actor: Actor, at: datetime) -> None:
        self._require_draft()
        old = self.line(line.line_no)
        if type(old) is not type(line):
            raise InvalidInput("line_no", "a line keeps its kind (new subscription or change)")
        self._check_line_fits(line, replacing=line.line_no)
        self._replace_line(line=line, actor=actor, at=at)

    @event(LineReplaced)
    def _replace_line(self, line: OrderLine, actor: Actor, at: datetime) -> None:
        self.lines = tuple(line if x.line_no == line.line_no else x for x in self.lines)

    class LineRemoved(CspAggregate.Event):
        line_no: int

    def remove_line(self, line_no: int, actor: Actor, at: datetime) -> None:
        self._require_draft()
        self.line(line_no)
        dependants = [
            x.line_no for x in self.lines if isinstance(x, NewSubscriptionLine) and x.parent_line_no == line_no
        ]
        if dependants:
            raise AddonRequiresBase(
                f"line {line_no} is the base of add-on line(s) {dependants}; remove those first", line_no=line_no
            )
        self._remove_line(line_no=line_no, actor=actor, at=at)

    @event(LineRemoved)
    def _remove_line(self, line_no: int, actor: Actor, at: datetime) -> None:
        self.lines = tuple(x for x in self.lines if x.line_no != line_no)

    # --- placing ----------------------------------------------------------

    class TermsAccepted(CspAggregate.Event):
        pass

    class Placed(CspAggregate.Event):
        total: Decimal

    def place(self, accept_terms: bool, actor: Actor, at: datetime, credit: CreditCheck | None = None) -> None:
        """Place the cart; the orderer must accept the vendor's product terms. ``credit``:
        the customer's limit and spend, when the orderer is a customer user whose
        organization has a limit; an order above it waits for the reseller's approval."""
        self._require_draft()
        if not self.lines:
            raise EmptyOrder("the cart is empty", order_id=self.id)
        if not accept_terms:
            raise TermsNotAccepted(
                "placing an order requires accepting the Product Terms / Online Services Terms", order_id=self.id
            )
        self._accept_terms(actor=actor, at=at)
        if credit is not None and credit.exceeded_by(self.total):
            self._request_approval(
                approval_id=approval_id_for(self.id),
                amount=credit.spend_with(self.total),
                monthly_limit=credit.monthly_limit,
                current_spend=credit.current_spend,
                order_total=self.total,
                organization_id=self.organization_id,
                organization_name=credit.organization_name,
                reseller_id=self.reseller_id,
                order_number=self.number,
                actor=actor,
                at=at,
            )
            return
        self._place(total=self.total, actor=actor, at=at)

    @event(TermsAccepted)
    def _accept_terms(self, actor: Actor, at: datetime) -> None:
        self.terms_accepted_by = actor
        self.terms_accepted_at = at

    @event(Placed)
    def _place(self, total: Decimal, actor: Actor, at: datetime) -> None:
        self.status = "placed"
        self.placed_at = at

    # --- approval (an order above the customer's credit limit) ------------------

    class ApprovalRequested(CspAggregate.Event):
        approval_id: UUID
        amount: Decimal  # the monthly spend with this order
        monthly_limit: Decimal
        current_spend: Decimal
        order_total: Decimal
        # for the reseller's list of approvals (the read side has them without a join)
        organization_id: UUID
        organization_name: str
        reseller_id: UUID
        order_number: str

    @event(ApprovalRequested)
    def _request_approval(
        self,
        approval_id: UUID,
        amount: Decimal,
        monthly_limit: Decimal,
        current_spend: Decimal,
        order_total: Decimal,
        organization_id: UUID,
        organization_name: str,
        reseller_id: UUID,
        order_number: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.status = "awaiting_approval"
        self.approval = ApprovalRequest(
            id=approval_id,
            amount=amount,
            monthly_limit=monthly_limit,
            current_spend=current_spend,
            order_total=order_total,
            requested_by=actor,
            requested_at=at,
        )

    def _require_awaiting_approval(self) -> ApprovalRequest:
        if self.approval is None:
            raise InvalidOrderTransition("the order did not ask for approval", order_id=self.id, status=self.status)
        if self.status != "awaiting_approval":
            raise InvalidOrderTransition(
                f"the approval was already decided: {self.approval.status}",
                order_id=self.id,
                status=self.status,
                approval_status=self.approval.status,
            )
        return self.approval

    class ApprovalGranted(CspAggregate.Event):
        approval_id: UUID

    def approve(self, actor: Actor, at: datetime) -> None:
        """The reseller lets the order go over the limit: it is placed, as any other."""
        approval = self._require_awaiting_approval()
        self._grant_approval(approval_id=approval.id, actor=actor, at=at)
        self._place(total=self.total, actor=actor, at=at)

    @event(ApprovalGranted)
    def _grant_approval(self, approval_id: UUID, actor: Actor, at: datetime) -> None:
        if self.approval is not None:
            self.approval = self.approval.decided("approved", actor, at, None)

    class ApprovalRefused(CspAggregate.Event):
        approval_id: UUID
        reason: str

    def reject(self, reason: str, actor: Actor, at: datetime) -> None:
        """The reseller refuses the order, saying why: it ends rejected, never sent to the vendor."""
        approval = self._require_awaiting_approval()
        reason = (reason or "").strip()
        if not reason:
            raise InvalidInput("reason", "is required: the customer sees why its order was rejected")
        if len(reason) > 1000:
            raise InvalidInput("reason", "at most 1000 characters")
        self._refuse_approval(approval_id=approval.id, reason=reason, actor=actor, at=at)

    @event(ApprovalRefused)
    def _refuse_approval(self, approval_id: UUID, reason: str, actor: Actor, at: datetime) -> None:
        self.status = "rejected"
        self.failure_reason = reason
        self.finished_at = at
        if self.approval is not None:
            self.approval = self.approval.decided("rejected", actor, at, reason)

    class Discarded(CspAggregate.Event):
        pass

    def discard(self, actor: Actor, at: datetime) -> None:
        self._require_draft()
        self._discard(actor=actor, at=at)

    @event(Discarded)
    def _discard(self, actor: Actor, at: datetime) -> None:
        self.status = "discarded"

    # --- provisioning (driven by the saga; every step idempotent) ----------

    class ProvisionStarted(CspAggregate.Event):
        pass

    def start_provisioning(self, actor: Actor, at: datetime) -> None:
        if self.status == "provision_started" or self.status in PROVISION_ENDED:
            return
        if self.status != "placed":
            raise InvalidOrderTransition(f"an order is provisioned once placed; it is {self.status}", order_id=self.id)
        self._start_provisioning(actor=actor, at=at)

    @event(ProvisionStarted)
    def _start_provisioning(self, actor: Actor, at: datetime) -> None:
        self.status = "provision_started"

    class LineProvisioned(CspAggregate.Event):
        line_no: int
        subscription_ids: tuple[UUID, ...]
        vendor_order_id: str

    def record_line_provisioned(
        self, line_no: int, subscription_ids: tuple[UUID, ...], vendor_order_id: str, actor: Actor, at: datetime
    ) -> None:
        if line_no in self.provisioned_line_nos:
            return
        if self.status != "provision_started":
            raise InvalidOrderTransition(f"the order is {self.status}, not being provisioned", order_id=self.id)
        self.line(line_no)
        if line_no in self.failed_line_nos or line_no in self.discarded_line_nos:
            raise InvalidOrderTransition(
                f"line {line_no} is {self.line_outcome(line_no)} in this attempt", order_id=self.id, line_no=line_no
            )
        self._record_line_provisioned(
            line_no=line_no,
            subscription_ids=tuple(subscription_ids),
            vendor_order_id=vendor_order_id,
            actor=actor,
            at=at,
        )

    @event(LineProvisioned)
    def _record_line_provisioned(
        self, line_no: int, subscription_ids: tuple[UUID, ...], vendor_order_id: str, actor: Actor, at: datetime
    ) -> None:
        self.provisioned_line_nos = (*self.provisioned_line_nos, line_no)
        self.subscription_ids = (*self.subscription_ids, *subscription_ids)

    @property
    def pending_line_nos(self) -> tuple[int, ...]:
        done = {*self.provisioned_line_nos, *self.failed_line_nos, *self.discarded_line_nos}
        return tuple(x.line_no for x in self.lines if x.line_no not in done)

    class LineFailed(CspAggregate.Event):
        line_no: int
        reason: str

    def record_line_failed(self, line_no: int, reason: str, actor: Actor, at: datetime) -> None:
        """One line failed (the vendor's reason); the others go on."""
        if line_no in self.failed_line_nos or line_no in self.provisioned_line_nos:
            return
        if self.status != "provision_started":
            raise InvalidOrderTransition(f"the order is {self.status}, not being provisioned", order_id=self.id)
        self.line(line_no)
        if not reason.strip():
            raise InvalidInput("reason", "a failed line says why")
        self._record_line_failed(line_no=line_no, reason=reason, actor=actor, at=at)

    @event(LineFailed)
    def _record_line_failed(self, line_no: int, reason: str, actor: Actor, at: datetime) -> None:
        self.failed_lines = tuple(sorted((*self.failed_lines, (line_no, reason))))

    class ProvisionPartlyFinished(CspAggregate.Event):
        provisioned_line_nos: tuple[int, ...]
        failed_line_nos: tuple[int, ...]

    class ProvisionFinished(CspAggregate.Event):
        pass

    def finish_provisioning(self, actor: Actor, at: datetime) -> None:
        """No line pending any more: finished (all provisioned), partially provisioned (some
        failed) or failed (none provisioned)."""
        if self.status in PROVISION_ENDED:
            return
        if self.status != "provision_started":
            raise InvalidOrderTransition(f"the order is {self.status}, not being provisioned", order_id=self.id)
        if self.pending_line_nos:
            raise InvalidOrderTransition(
                f"lines {list(self.pending_line_nos)} are not provisioned yet", order_id=self.id
            )
        if not self.failed_lines:
            self._finish_provisioning(actor=actor, at=at)
        elif self.provisioned_line_nos:
            self._finish_partly(
                provisioned_line_nos=self.provisioned_line_nos,
                failed_line_nos=self.failed_line_nos,
                actor=actor,
                at=at,
            )
        else:
            line_no, reason = self.failed_lines[0]
            if len(self.failed_lines) > 1:
                reason = "; ".join(r for _, r in self.failed_lines)
            self._fail_provisioning(reason=reason, line_no=line_no, actor=actor, at=at)

    @event(ProvisionPartlyFinished)
    def _finish_partly(
        self, provisioned_line_nos: tuple[int, ...], failed_line_nos: tuple[int, ...], actor: Actor, at: datetime
    ) -> None:
        self.status = "partially_provisioned"
        self.failure_reason = "; ".join(r for _, r in self.failed_lines)
        self.failed_line_no = failed_line_nos[0]
        self.finished_at = at

    class FailedLinesRetried(CspAggregate.Event):
        line_nos: tuple[int, ...]
        attempt: int

    def retry_failed_lines(self, actor: Actor, at: datetime) -> None:
        """A new attempt at the failed lines (their vendor calls get new idempotency keys)."""
        if self.status not in ("partially_provisioned", "provision_failed"):
            raise InvalidOrderTransition(
                f"the order is {self.status}; only failed lines of a provisioned order can be retried",
                order_id=self.id,
                status=self.status,
            )
        if not self.failed_lines:
            raise InvalidOrderTransition("the order has no failed line to retry", order_id=self.id)
        self._retry_failed_lines(line_nos=self.failed_line_nos, attempt=self.attempt + 1, actor=actor, at=at)

    @event(FailedLinesRetried)
    def _retry_failed_lines(self, line_nos: tuple[int, ...], attempt: int, actor: Actor, at: datetime) -> None:
        self.status = "provision_started"
        self.failed_lines = ()
        self.failure_reason = None
        self.failed_line_no = None
        self.finished_at = None
        self.attempt = attempt

    class FailedLinesDiscarded(CspAggregate.Event):
        line_nos: tuple[int, ...]

    def discard_failed_lines(self, actor: Actor, at: datetime) -> None:
        """Give the failed lines of a partly provisioned order up: the order is finished
        with the lines it has."""
        if self.status != "partially_provisioned":
            raise InvalidOrderTransition(
                f"the order is {self.status}; only the failed lines of a partially provisioned order can be discarded",
                order_id=self.id,
                status=self.status,
            )
        self._discard_failed_lines(line_nos=self.failed_line_nos, actor=actor, at=at)

    @event(FailedLinesDiscarded)
    def _discard_failed_lines(self, line_nos: tuple[int, ...], actor: Actor, at: datetime) -> None:
        self.discarded_line_nos = tuple(sorted((*self.discarded_line_nos, *line_nos)))
        self.failed_lines = ()
        self.failure_reason = None
        self.failed_line_no = None
        self.status = "provision_finished"
        self.finished_at = at

    @event(ProvisionFinished)
    def _finish_provisioning(self, actor: Actor, at: datetime) -> None:
        self.status = "provision_finished"
        self.finished_at = at

    class ProvisionFailed(CspAggregate.Event):
        reason: str
        line_no: int | None

    def fail_provisioning(self, reason: str, line_no: int | None, actor: Actor, at: datetime) -> None:
        """The whole order failed (nothing of it can be provisioned)."""
        if self.status in PROVISION_ENDED:
            return
        if self.status not in ("placed", "provision_started"):
            raise InvalidOrderTransition(f"the order is {self.status}", order_id=self.id)
        self._fail_provisioning(reason=reason, line_no=line_no, actor=actor, at=at)

    @event(ProvisionFailed)
    def _fail_provisioning(self, reason: str, line_no: int | None, actor: Actor, at: datetime) -> None:
        self.status = "provision_failed"
        self.failure_reason = reason
        self.failed_line_no = line_no
        self.finished_at = at
        if line_no is not None and line_no not in self.failed_line_nos:  # recorded before lines had outcomes
            self.failed_lines = tuple(sorted((*self.failed_lines, (line_no, reason))))


__all__ = [
    "APPROVAL_STATUSES",
    "PROVISION_ENDED",
    "AddonChoice",
    "ApprovalRequest",
    "ChangeLine",
    "Eligibility",
    "LineOutcome",
    "NewSubscriptionLine",
    "Order",
    "OrderLine",
    "approval_id_for",
    "format_order_number",
    "outcome_summary",
    "price_change_line",
    "price_new_line",
]
