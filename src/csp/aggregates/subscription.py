"""Subscriptions and the vendor's commerce rules, decided here at once.

    trial ──convert──▶ active ◀──reactivate── suspended
                        │ └────suspend──────────▲
                        ├──change quantity / billing cycle / price / add-ons (stays active)
                        ├──renew (at term end, when auto-renew is on)
                        └──cancel (only inside the cancellation window) ─▶ cancelled
    trial ──expire──▶ expired;  active, auto-renew off ──term end──▶ expired
    suspended ──term end──▶ disabled
    active ──transition (all seats to an upgrade, done at the vendor)──▶ transitioned

A transition (Partner Center's upgrade) moves seats mid-term to an offer the catalog
marks as an upgrade of this one: requested here, done by the vendor (a saga), then the
seats leave this subscription for a new one with the same term end; all of them (full:
this one ends, ``transitioned``) or some (partial: this one keeps the rest).
What is scheduled for the next term (quantity, term, billing cycle, offer) applies at
the renewal and is deleted by any immediate change, as the vendor does.

Seats are bought in tranches; each purchase, increase and renewal opens its own
168-hour cancellation window. Seats can be removed only from tranches whose window
is still open (newest first); the reduction is refunded pro rata by the billing side.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.azure import (
    Entitlement,
    UsageRow,
    check_budget,
    check_entitlement_name,
    thresholds_crossed,
)
from csp.aggregates.base import Actor, CspAggregate, Value
from csp.aggregates.catalog import LicenceType, Offer
from csp.aggregates.errors import (
    AddonRequiresBase,
    InvalidInput,
    InvalidSubscriptionTransition,
    LicencesAssigned,
    NoFreeLicence,
    NotATrial,
    NotDue,
    NotFound,
    OutsideCancellationWindow,
    SubscriptionNotActive,
    SubscriptionSuspended,
    TermCannotShrink,
    TransitionNotAllowed,
    TrialQuantityFixed,
)
from csp.aggregates.pricing import PriceBasis, PriceQuote, customer_price, markup_for_target, money
from csp.aggregates.terms import (
    CANCELLATION_WINDOW,
    TRIAL_DAYS,
    TRIAL_QUANTITY,
    BillingCycle,
    BillingDates,
    Term,
    billing_boundaries,
    check_cycle_allowed,
    next_billing_boundary,
    term_end,
    term_rank,
)

SubscriptionStatus = Literal["trial", "active", "suspended", "expired", "disabled", "cancelled", "transitioned"]
SUBSCRIPTION_STATUSES: tuple[SubscriptionStatus, ...] = (
    "trial",
    "active",
    "suspended",
    "expired",
    "disabled",
    "cancelled",
    "transitioned",
)
TrancheKind = Literal["purchase", "increase", "renewal", "conversion", "trial"]
TERMINAL: tuple[SubscriptionStatus, ...] = ("expired", "disabled", "cancelled", "transitioned")


def is_billed(status: SubscriptionStatus) -> bool:
    """Whether the seats cost money now: an active or suspended subscription (suspending
    does not stop billing); a trial is free and an ended one no longer billed, so their
    monthly and yearly costs are nothing."""
    return status in ("active", "suspended")


NextTermClearReason = Literal["quantity_changed", "billing_cycle_changed", "offer_changed", "transitioned"]
TransitionKind = Literal["full", "partial"]


@dataclass(frozen=True)
class Tranche(Value):
    """Seats bought together, with their own cancellation window and locked partner price."""

    number: int
    quantity: int
    kind: TrancheKind
    purchased_at: datetime
    window_ends_at: datetime
    unit_partner_price: Decimal

    def window_open(self, at: datetime) -> bool:
        return at < self.window_ends_at


@dataclass(frozen=True)
class SeatRemoval(Value):
    """Seats taken from one tranche (refunded pro rata from ``at`` by the billing side)."""

    tranche_number: int
    quantity: int


LicenceAction = Literal["assign", "unassign"]


@dataclass(frozen=True)
class LicenceRequest(Value):
    """A licence assignment decided here and not yet answered by the vendor: the request
    event's version is the push's key (``push_change(subscription_id, version)``)."""

    version: int
    tenant_user_id: str
    action: LicenceAction


@dataclass(frozen=True)
class UnusedSeats(Value):
    """Unassigned seats still inside their cancellation window: cheap to cut until
    ``until`` (all ``count`` of them; fewer after)."""

    count: int
    until: datetime | None


@dataclass(frozen=True)
class SubscriptionTerms(Value):
    """What a new subscription is provisioned with (from an order line or an add-on)."""

    organization_id: UUID
    reseller_id: UUID
    tenant_id: UUID
    tenant_domain: str
    order_id: UUID | None
    line_no: int | None
    offer_id: UUID
    offer_name: str
    product_group_id: UUID
    vendor: str
    type: LicenceType
    term: Term
    billing_cycle: BillingCycle
    billing_cycles_allowed: tuple[BillingCycle, ...]
    terms_allowed: tuple[Term, ...]
    quantity: int
    min_quantity: int
    max_quantity: int
    unit: str
    is_trial: bool
    trial_converts_to: UUID | None
    addon_offer_ids_allowed: tuple[UUID, ...]
    unit_partner_price: Decimal
    erp_price: Decimal | None
    unit_customer_price: Decimal
    markup_percent: Decimal
    default_markup_percent: Decimal
    parent_id: UUID | None = None
    vendor_subscription_id: str | None = None
    price_basis: PriceBasis = "explicit"  # terms stored before it was recorded: as given
    billing_dates: BillingDates | None = None  # an add-on's: its base's billing calendar
    transitioned_from: UUID | None = None  # the subscription whose seats moved to this one


@dataclass(frozen=True)
class TransitionRequest(Value):
    """Seats asked to move to an upgrade offer, waiting for the vendor to do it."""

    transition_id: UUID
    offer_id: UUID
    offer_name: str
    quantity: int
    kind: TransitionKind
    requested_at: datetime


def subscription_terms_from_offer(
    offer: Offer,
    *,
    organization_id: UUID,
    reseller_id: UUID,
    tenant_id: UUID,
    tenant_domain: str,
    order_id: UUID | None,
    line_no: int | None,
    term: Term,
    billing_cycle: BillingCycle,
    quantity: int,
    price: PriceQuote,
    parent_id: UUID | None = None,
    vendor_subscription_id: str | None = None,
) -> SubscriptionTerms:
    return SubscriptionTerms(
        organization_id=organization_id,
        reseller_id=reseller_id,
        tenant_id=tenant_id,
        tenant_domain=tenant_domain,
        order_id=order_id,
        line_no=line_no,
        offer_id=offer.id,
        offer_name=offer.name,
        product_group_id=offer.product_group_id,
        vendor=offer.vendor,
        type=offer.type,
        term=term,
        billing_cycle=billing_cycle,
        billing_cycles_allowed=offer.billing_cycles,
        terms_allowed=offer.terms,
        quantity=quantity,
        min_quantity=offer.min_quantity,
        max_quantity=offer.max_quantity,
        unit=offer.unit,
        is_trial=offer.is_trial,
        trial_converts_to=offer.trial_converts_to,
        addon_offer_ids_allowed=offer.addon_offer_ids,
        unit_partner_price=price.partner_price,
        erp_price=price.erp_price,
        unit_customer_price=price.customer_price,
        markup_percent=price.markup_percent,
        default_markup_percent=price.default_markup_percent,
        parent_id=parent_id,
        vendor_subscription_id=vendor_subscription_id,
        price_basis=price.basis,
    )


class Subscription(CspAggregate):
    class Provisioned(CspAggregate.Created):
        terms: SubscriptionTerms
        status: SubscriptionStatus
        starts_at: datetime
        ends_at: datetime
        tranche: Tranche

    @event(Provisioned)
    def __init__(
        self,
        terms: SubscriptionTerms,
        status: SubscriptionStatus,
        starts_at: datetime,
        ends_at: datetime,
        tranche: Tranche,
        actor: Actor,
        at: datetime,
    ) -> None:
        t = terms
        self.organization_id = t.organization_id
        self.reseller_id = t.reseller_id
        self.tenant_id = t.tenant_id
        self.tenant_domain = t.tenant_domain
        self.order_id = t.order_id
        self.line_no = t.line_no
        self.vendor = t.vendor
        self.type = t.type
        self.parent_id = t.parent_id
        self.vendor_subscription_id = t.vendor_subscription_id
        self.status: SubscriptionStatus = status
        self._assign_offer_terms(t, starts_at, ends_at, tranche)
        self.pending_billing_cycle: BillingCycle | None = None
        self.pending_billing_cycle_at: datetime | None = None
        self.renewal_quantity: int | None = None
        self.renewal_term: Term | None = None
        self.addon_ids: tuple[UUID, ...] = ()
        self.assigned = 0
        self.assigned_synced_at: datetime | None = None
        self.licence_requests: tuple[LicenceRequest, ...] = ()
        self.suspended_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.renewal_count = 0
        self.closed_window_numbers: tuple[int, ...] = ()
        self.unacknowledged_versions: tuple[int, ...] = ()
        self.last_vendor_refusal: str | None = None
        self.adopted = False
        self.last_reconciliation: str | None = None
        self.transitioned_from: UUID | None = t.transitioned_from
        self.transitioned_to: UUID | None = None
        self.pending_transition: TransitionRequest | None = None
        self.renewal_offer_id: UUID | None = None
        self.renewal_offer_name: str | None = None

    def _assign_offer_terms(
        self, t: SubscriptionTerms, starts_at: datetime, ends_at: datetime, tranche: Tranche
    ) -> None:
        """The offer, prices and first term, as a new subscription or a converted trial
        takes them (called only from those two events' methods: assignments only)."""
        self.offer_id = t.offer_id
        self.offer_name = t.offer_name
        self.product_group_id = t.product_group_id
        self.term = t.term
        self.billing_cycle = t.billing_cycle
        self.billing_cycles_allowed = t.billing_cycles_allowed
        self.terms_allowed = t.terms_allowed
        self.min_quantity = t.min_quantity
        self.max_quantity = t.max_quantity
        self.unit = t.unit
        self.is_trial = t.is_trial
        self.trial_converts_to = t.trial_converts_to
        self.addon_offer_ids_allowed = t.addon_offer_ids_allowed
        self.unit_partner_price = t.unit_partner_price
        self.erp_price = t.erp_price
        self.unit_customer_price = t.unit_customer_price
        self.markup_percent = t.markup_percent
        self.default_markup_percent = t.default_markup_percent
        self.price_basis: PriceBasis = t.price_basis
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.tranches: tuple[Tranche, ...] = (tranche,)
        self.quantity = tranche.quantity
        self.auto_renew = not t.is_trial

    @classmethod
    def provision(
        cls, id: UUID, terms: SubscriptionTerms, actor: Actor, at: datetime, ends_at: datetime | None = None
    ) -> Subscription:
        """A new subscription from a provisioned order line (or an add-on attached to a base).

        ``ends_at`` is given for an add-on: its term ends with the base's (coterminous).
        """
        if terms.is_trial:
            if terms.quantity != TRIAL_QUANTITY:
                raise TrialQuantityFixed(f"a trial has exactly {TRIAL_QUANTITY} licences")
            status: SubscriptionStatus = "trial"
            end = at + timedelta(days=TRIAL_DAYS)
            kind: TrancheKind = "trial"
        else:
            if not terms.min_quantity <= terms.quantity <= terms.max_quantity:
                raise InvalidInput("quantity", f"must be between {terms.min_quantity} and {terms.max_quantity}")
            check_cycle_allowed(terms.term, terms.billing_cycle)
            status = "active"
            end = ends_at if ends_at is not None else term_end(at, terms.term)
            kind = "purchase"
        if end <= at:
            raise InvalidInput("ends_at", "the term must end after it starts")
        if terms.billing_dates is not None:
            terms.billing_dates.check_start(at, end)
        tranche = Tranche(
            number=1,
            quantity=terms.quantity,
            kind=kind,
            purchased_at=at,
            window_ends_at=at + CANCELLATION_WINDOW,
            unit_partner_price=terms.unit_partner_price,
        )
        return cls._create(
            cls.Provisioned,
            id=id,
            terms=terms,
            status=status,
            starts_at=at,
            ends_at=end,
            tranche=tranche,
            actor=actor,
            at=at,
        )

    # --- queries -----------------------------------------------------------

    @property
    def is_addon(self) -> bool:
        return self.parent_id is not None

    @property
    def renews_at(self) -> datetime | None:
        if self.status in ("active", "suspended") and self.auto_renew:
            return self.ends_at
        return None

    def refundable_quantity(self, at: datetime) -> int:
        """Seats still inside their cancellation window."""
        return sum(t.quantity for t in self.open_windows(at))

    def open_windows(self, at: datetime) -> tuple[Tranche, ...]:
        return tuple(t for t in self.tranches if t.quantity > 0 and t.window_open(at))

    @property
    def pending_assignments(self) -> int:
        """Assignments decided here that the vendor has not answered yet."""
        return sum(1 for r in self.licence_requests if r.action == "assign")

    @property
    def unassigned(self) -> int:
        return max(0, self.quantity - self.assigned)

    def unused_in_window(self, at: datetime) -> UnusedSeats:
        if self.status not in ("active", "suspended"):
            return UnusedSeats(0, None)
        return unused_seats(self.unassigned, [(t.quantity, t.window_ends_at) for t in self.tranches], at)

    def billing_boundaries(self) -> list[datetime]:
        return billing_boundaries(self.starts_at, self.ends_at, self.billing_cycle, self.term)

    def monthly_partner_cost(self) -> Decimal:
        return money(self.unit_partner_price * self.quantity)

    def _require_changeable(self, what: str) -> None:
        if self.status == "suspended":
            raise SubscriptionSuspended(f"a suspended subscription cannot {what}", subscription_id=self.id)
        if self.status == "trial":
            raise TrialQuantityFixed(f"a trial cannot {what}; convert it first", subscription_id=self.id)
        if self.status != "active":
            raise SubscriptionNotActive(f"the subscription is {self.status}", subscription_id=self.id)

    def _require_live(self) -> None:
        if self.status in TERMINAL:
            raise SubscriptionNotActive(f"the subscription is {self.status}", subscription_id=self.id)

    def _check_bounds(self, quantity: int) -> None:
        if quantity < self.min_quantity:
            raise InvalidInput(
                "quantity",
                f"must be at least {self.min_quantity}; to end the subscription, cancel it",
                quantity=quantity,
            )
        if quantity > self.max_quantity:
            raise InvalidInput("quantity", f"must be at most {self.max_quantity}", quantity=quantity)

    def check_quantity_change(self, quantity: int, at: datetime) -> None:
        """Raise if an immediate change to ``quantity`` breaks a rule."""
        self._require_changeable("change quantity")
        self._check_bounds(quantity)
        reduction = self.quantity - quantity
        held = self.assigned + self.pending_assignments
        if reduction > 0 and quantity < held:
            # As Microsoft 365's admin centre: assigned licences cannot be removed; the
            # vendor (and its simulator) refuses the same.
            raise LicencesAssigned(
                f"{held} licence(s) are assigned to users; unassign {held - quantity} first",
                subscription_id=self.id,
                assigned=held,
                requested_quantity=quantity,
            )
        if reduction > 0 and reduction > self.refundable_quantity(at):
            raise OutsideCancellationWindow(
                f"only {self.refundable_quantity(at)} seat(s) are inside their cancellation window; "
                "schedule the reduction for the renewal instead",
                subscription_id=self.id,
                refundable=self.refundable_quantity(at),
                requested_reduction=reduction,
            )

    # --- quantity -----------------------------------------------------------

    class SeatsAdded(CspAggregate.Event):
        tranche: Tranche
        quantity: int  # the new total

    class SeatsRemoved(CspAggregate.Event):
        removals: tuple[SeatRemoval, ...]
        quantity: int  # the new total

    def change_quantity(self, quantity: int, actor: Actor, at: datetime) -> None:
        """Raise seats now (a new tranche), or remove seats still inside their window."""
        self.check_quantity_change(quantity, at)
        if quantity > self.quantity:
            tranche = Tranche(
                number=self._next_tranche_number(),
                quantity=quantity - self.quantity,
                kind="increase",
                purchased_at=at,
                window_ends_at=at + CANCELLATION_WINDOW,
                unit_partner_price=self.unit_partner_price,
            )
            self._add_seats(tranche=tranche, quantity=quantity, actor=actor, at=at)
        elif quantity < self.quantity:
            self._remove_seats(
                removals=self._take_refundable(self.quantity - quantity, at), quantity=quantity, actor=actor, at=at
            )
        else:
            return
        self._clear_next_term("quantity_changed", actor, at)

    def _next_tranche_number(self) -> int:
        return max((t.number for t in self.tranches), default=0) + 1

    def _take_refundable(self, count: int, at: datetime) -> tuple[SeatRemoval, ...]:
        removals = []
        for t in sorted(self.open_windows(at), key=lambda t: (t.purchased_at, t.number), reverse=True):
            if count == 0:
                break
            n = min(count, t.quantity)
            removals.append(SeatRemoval(tranche_number=t.number, quantity=n))
            count -= n
        return tuple(removals)

    @event(SeatsAdded)
    def _add_seats(self, tranche: Tranche, quantity: int, actor: Actor, at: datetime) -> None:
        self.tranches = (*self.tranches, tranche)
        self.quantity = quantity

    @event(SeatsRemoved)
    def _remove_seats(self, removals: tuple[SeatRemoval, ...], quantity: int, actor: Actor, at: datetime) -> None:
        self.tranches = _apply_removals(self.tranches, removals)
        self.quantity = quantity

    class RenewalQuantityScheduled(CspAggregate.Event):
        quantity: int | None

    def schedule_quantity_for_renewal(self, quantity: int | None, actor: Actor, at: datetime) -> None:
        """Set (or with None, clear) the quantity the subscription renews with."""
        if quantity is None and self.renewal_quantity is None:
            return  # nothing to withdraw
        self._require_changeable("schedule a quantity change")
        if quantity is not None:
            self._check_bounds(quantity)
        if quantity == self.renewal_quantity:
            return
        self._schedule_renewal_quantity(quantity=quantity, actor=actor, at=at)

    @event(RenewalQuantityScheduled)
    def _schedule_renewal_quantity(self, quantity: int | None, actor: Actor, at: datetime) -> None:
        self.renewal_quantity = quantity

    class NextTermCleared(CspAggregate.Event):
        """An immediate change deleted every change scheduled for the next term, as the
        vendor does; it names the change and what was scheduled."""

        reason: NextTermClearReason
        renewal_quantity: int | None
        renewal_term: Term | None
        billing_cycle: BillingCycle | None  # a billing-cycle change due only at the renewal
        renewal_offer_id: UUID | None = None  # recorded since next-term offers exist

    @property
    def has_next_term_changes(self) -> bool:
        return (
            self.renewal_quantity is not None
            or self.renewal_term is not None
            or self._cycle_at_renewal is not None
            or self.renewal_offer_id is not None
        )

    @property
    def renewal_billing_cycle(self) -> BillingCycle | None:
        """The billing cycle scheduled for the next term (None: the current one goes on)."""
        return self._cycle_at_renewal

    @property
    def _cycle_at_renewal(self) -> BillingCycle | None:
        """A scheduled billing-cycle change that falls at the renewal, not inside the term."""
        if self.pending_billing_cycle is not None and self.billing_cycle_change_due is None:
            return self.pending_billing_cycle
        return None

    def _clear_next_term(
        self, reason: NextTermClearReason, actor: Actor, at: datetime, keep_billing_cycle: bool = False
    ) -> None:
        """After an immediate change (quantity, offer, billing cycle): nothing scheduled
        for the next term survives it (Partner Center deletes it too)."""
        cycle = None if keep_billing_cycle else self._cycle_at_renewal
        if (self.renewal_quantity, self.renewal_term, cycle, self.renewal_offer_id) == (None, None, None, None):
            return
        self._next_term_cleared(
            reason=reason,
            renewal_quantity=self.renewal_quantity,
            renewal_term=self.renewal_term,
            billing_cycle=cycle,
            renewal_offer_id=self.renewal_offer_id,
            actor=actor,
            at=at,
        )

    @event(NextTermCleared)
    def _next_term_cleared(
        self,
        reason: NextTermClearReason,
        renewal_quantity: int | None,
        renewal_term: Term | None,
        billing_cycle: BillingCycle | None,
        actor: Actor,
        at: datetime,
        renewal_offer_id: UUID | None = None,
    ) -> None:
        self.renewal_quantity = None
        self.renewal_term = None
        self.renewal_offer_id = None
        self.renewal_offer_name = None
        if billing_cycle is not None:
            self.pending_billing_cycle = None
            self.pending_billing_cycle_at = None

    # --- the next term's offer and billing cycle (Partner Center's scheduled next-term
    # instructions; quantity and term are scheduled above and below) ----------------

    class RenewalOfferScheduled(CspAggregate.Event):
        offer_id: UUID | None  # None: the scheduled offer withdrawn
        offer_name: str | None

    def check_family(self, offer: Offer, upgrades: tuple[UUID, ...]) -> Literal["upgrade", "downgrade"]:
        """Whether ``offer`` is an upgrade or a downgrade of this one (``upgrades``: the
        catalog's upgrades of this subscription's offer); else a TransitionNotAllowed."""
        if offer.is_trial or offer.is_addon or offer.id == self.offer_id:
            raise TransitionNotAllowed(
                f"{offer.name} is not another base offer of the family of {self.offer_name}",
                reason="not_an_upgrade",
                field="offer_id",
                offer_id=offer.id,
            )
        if offer.id in upgrades:
            return "upgrade"
        if self.offer_id in offer.upgrade_offer_ids:
            return "downgrade"
        raise TransitionNotAllowed(
            f"{offer.name} is not in the family of {self.offer_name}",
            reason="not_an_upgrade",
            field="offer_id",
            offer_id=offer.id,
        )

    def schedule_offer_for_renewal(
        self, offer: Offer | None, upgrades: tuple[UUID, ...], actor: Actor, at: datetime
    ) -> None:
        """The offer the subscription renews as (an upgrade or a downgrade of the same
        family: a downgrade is possible only here, never mid-term); None withdraws it."""
        if offer is None and self.renewal_offer_id is None:
            return  # nothing to withdraw
        self._require_changeable("schedule another offer")
        if self.is_addon:
            raise TransitionNotAllowed("an add-on follows its base", reason="addon")
        if offer is None:
            if self.renewal_offer_id is not None:
                self._schedule_renewal_offer(offer_id=None, offer_name=None, actor=actor, at=at)
            return
        if offer.id == self.offer_id:
            self.schedule_offer_for_renewal(None, upgrades, actor, at)
            return
        self.check_family(offer, upgrades)
        term = self.renewal_term or self.term
        if term not in offer.terms:
            raise InvalidInput("offer_id", f"{offer.name} is not sold with a {term} term", offer_id=offer.id)
        cycle = self.pending_billing_cycle or self.billing_cycle
        if cycle not in offer.billing_cycles:
            raise InvalidInput("offer_id", f"{offer.name} cannot be billed {cycle}", offer_id=offer.id)
        if offer.id == self.renewal_offer_id:
            return
        self._schedule_renewal_offer(offer_id=offer.id, offer_name=offer.name, actor=actor, at=at)

    @event(RenewalOfferScheduled)
    def _schedule_renewal_offer(
        self, offer_id: UUID | None, offer_name: str | None, actor: Actor, at: datetime
    ) -> None:
        self.renewal_offer_id = offer_id
        self.renewal_offer_name = offer_name

    def schedule_billing_cycle_for_renewal(
        self, billing_cycle: BillingCycle | None, actor: Actor, at: datetime
    ) -> None:
        """A billing cycle for the next term (not the next period: that is
        ``change_billing_cycle``); None, or the current cycle, withdraws it."""
        if (billing_cycle is None or billing_cycle == self.billing_cycle) and self._cycle_at_renewal is None:
            return  # nothing to withdraw
        self._require_changeable("change its billing cycle")
        if self.is_addon:
            raise InvalidInput("billing_cycle", "an add-on is billed on its base's cycle; change the base's instead")
        if billing_cycle is None or billing_cycle == self.billing_cycle:
            if self._cycle_at_renewal is not None:
                self._schedule_billing_cycle(billing_cycle=None, effective_at=None, actor=actor, at=at)
            return
        if self.billing_cycle_change_due is not None:
            raise InvalidInput(
                "billing_cycle",
                f"a change to {self.pending_billing_cycle} billing is due inside this term; withdraw it first",
            )
        if billing_cycle not in self.billing_cycles_allowed:
            raise InvalidInput("billing_cycle", f"{self.offer_name} allows: {', '.join(self.billing_cycles_allowed)}")
        check_cycle_allowed(self.renewal_term or self.term, billing_cycle)
        if billing_cycle == self.pending_billing_cycle:
            return
        self._schedule_billing_cycle(billing_cycle=billing_cycle, effective_at=self.ends_at, actor=actor, at=at)

    # --- billing cycle and term -------------------------------------------

    class BillingCycleChangeScheduled(CspAggregate.Event):
        billing_cycle: BillingCycle | None  # None: a scheduled change withdrawn
        effective_at: datetime | None

    class BillingCycleChanged(CspAggregate.Event):
        billing_cycle: BillingCycle
        effective_at: datetime

    def change_billing_cycle(self, billing_cycle: BillingCycle, actor: Actor, at: datetime) -> None:
        """Schedule a billing-cycle change for the next billing period (never mid-period)."""
        self._require_changeable("change its billing cycle")
        if self.is_addon:
            raise InvalidInput("billing_cycle", "an add-on is billed on its base's cycle; change the base's instead")
        if billing_cycle not in self.billing_cycles_allowed:
            raise InvalidInput("billing_cycle", f"{self.offer_name} allows: {', '.join(self.billing_cycles_allowed)}")
        check_cycle_allowed(self.renewal_term or self.term, billing_cycle)
        if billing_cycle == self.billing_cycle:
            if self.pending_billing_cycle is not None:
                self._schedule_billing_cycle(billing_cycle=None, effective_at=None, actor=actor, at=at)
            return
        if billing_cycle == self.pending_billing_cycle:
            return
        effective_at = next_billing_boundary(self.starts_at, self.ends_at, self.billing_cycle, self.term, at)
        self._schedule_billing_cycle(billing_cycle=billing_cycle, effective_at=effective_at, actor=actor, at=at)
        if self.billing_cycle_change_due is not None:
            # a change inside the term is an immediate change; one that falls at the
            # renewal is itself a next-term change and leaves the others be
            self._clear_next_term("billing_cycle_changed", actor, at, keep_billing_cycle=True)

    def follow_billing_cycle(self, base: Subscription, actor: Actor, at: datetime) -> bool:
        """An add-on takes its base's scheduled billing-cycle change, for the same date (where
        its offer allows that cycle), or withdraws its own with the base's; True if it changed."""
        if self.parent_id != base.id or self.status not in ("active", "suspended"):
            return False
        cycle = base.pending_billing_cycle
        if cycle is None or cycle == self.billing_cycle:
            if self.pending_billing_cycle is None:
                return False
            self._schedule_billing_cycle(billing_cycle=None, effective_at=None, actor=actor, at=at)
            return True
        term = self.renewal_term or self.term
        if cycle not in self.billing_cycles_allowed or (term == "monthly" and cycle == "yearly"):
            return False
        if (cycle, base.pending_billing_cycle_at) == (self.pending_billing_cycle, self.pending_billing_cycle_at):
            return False
        self._schedule_billing_cycle(
            billing_cycle=cycle, effective_at=base.pending_billing_cycle_at, actor=actor, at=at
        )
        return True

    @event(BillingCycleChangeScheduled)
    def _schedule_billing_cycle(
        self, billing_cycle: BillingCycle | None, effective_at: datetime | None, actor: Actor, at: datetime
    ) -> None:
        self.pending_billing_cycle = billing_cycle
        self.pending_billing_cycle_at = effective_at

    @property
    def billing_cycle_change_due(self) -> datetime | None:
        """When a scheduled change falls inside the term (else it applies at renewal)."""
        if self.pending_billing_cycle is None or self.pending_billing_cycle_at is None:
            return None
        if self.pending_billing_cycle_at >= self.ends_at:
            return None
        return self.pending_billing_cycle_at

    def apply_due_billing_cycle(self, actor: Actor, at: datetime) -> bool:
        """Apply a scheduled billing-cycle change once its period has begun."""
        due = self.billing_cycle_change_due
        if due is None or at < due or self.status in TERMINAL or self.pending_billing_cycle is None:
            return False
        self._change_billing_cycle(billing_cycle=self.pending_billing_cycle, effective_at=due, actor=actor, at=at)
        return True

    @event(BillingCycleChanged)
    def _change_billing_cycle(
        self, billing_cycle: BillingCycle, effective_at: datetime, actor: Actor, at: datetime
    ) -> None:
        self.billing_cycle = billing_cycle
        self.pending_billing_cycle = None
        self.pending_billing_cycle_at = None

    class RenewalTermScheduled(CspAggregate.Event):
        term: Term

    def schedule_term_for_renewal(self, term: Term, actor: Actor, at: datetime) -> None:
        """The term can only grow (monthly → annual); it changes at renewal."""
        self._require_changeable("change its term")
        if term not in self.terms_allowed:
            raise InvalidInput("term", f"{self.offer_name} allows terms: {', '.join(self.terms_allowed)}")
        current = self.renewal_term or self.term
        if term_rank(term) < term_rank(self.term):
            raise TermCannotShrink("the term can only grow (monthly → annual)", subscription_id=self.id)
        if term == current:
            return
        self._schedule_term(term=term, actor=actor, at=at)

    @event(RenewalTermScheduled)
    def _schedule_term(self, term: Term, actor: Actor, at: datetime) -> None:
        self.renewal_term = None if term == self.term else term  # the current term: none scheduled

    def withdraw_renewal_term(self, actor: Actor, at: datetime) -> None:
        """Renew with the current term again (the scheduled one withdrawn)."""
        if self.renewal_term is None:
            return
        self._require_changeable("change its term")
        self._schedule_term(term=self.term, actor=actor, at=at)

    # --- status ------------------------------------------------------------

    class Suspended(CspAggregate.Event):
        pass

    class Reactivated(CspAggregate.Event):
        pass

    def suspend(self, actor: Actor, at: datetime) -> None:
        """Suspending does not stop billing."""
        if self.status != "active":
            raise InvalidSubscriptionTransition(
                f"only an active subscription can be suspended; it is {self.status}", subscription_id=self.id
            )
        self._suspend(actor=actor, at=at)

    @event(Suspended)
    def _suspend(self, actor: Actor, at: datetime) -> None:
        self.status = "suspended"
        self.suspended_at = at

    def reactivate(self, actor: Actor, at: datetime) -> None:
        if self.status != "suspended":
            raise InvalidSubscriptionTransition(
                f"only a suspended subscription can be reactivated; it is {self.status}", subscription_id=self.id
            )
        if at >= self.ends_at:
            raise InvalidSubscriptionTransition("the term has ended; the subscription is being disabled")
        self._reactivate(actor=actor, at=at)

    @event(Reactivated)
    def _reactivate(self, actor: Actor, at: datetime) -> None:
        self.status = "active"
        self.suspended_at = None

    class Cancelled(CspAggregate.Event):
        removals: tuple[SeatRemoval, ...]

    def check_cancellable(self, at: datetime) -> None:
        if self.status == "trial":
            return
        if self.status not in ("active", "suspended"):
            raise InvalidSubscriptionTransition(f"the subscription is {self.status}", subscription_id=self.id)
        if self.refundable_quantity(at) < self.quantity:
            raise OutsideCancellationWindow(
                f"{self.quantity - self.refundable_quantity(at)} seat(s) are outside their cancellation window; "
                "turn auto-renew off or schedule a reduction for the renewal instead",
                subscription_id=self.id,
                refundable=self.refundable_quantity(at),
                quantity=self.quantity,
            )

    def cancel(self, actor: Actor, at: datetime) -> None:
        """Cancel now: every seat must still be inside its window (a trial may always end)."""
        self.check_cancellable(at)
        removals = () if self.status == "trial" else self._take_refundable(self.quantity, at)
        self._cancel(removals=removals, actor=actor, at=at)

    @event(Cancelled)
    def _cancel(self, removals: tuple[SeatRemoval, ...], actor: Actor, at: datetime) -> None:
        self.tranches = _apply_removals(self.tranches, removals)
        self.quantity = sum(t.quantity for t in self.tranches)
        self.status = "cancelled"
        self.ended_at = at

    # --- prices and auto-renew -------------------------------------------

    class CustomerPriceChanged(CspAggregate.Event):
        unit_customer_price: Decimal
        markup_percent: Decimal

    def change_customer_price(
        self,
        actor: Actor,
        at: datetime,
        unit_customer_price: Decimal | None = None,
        markup_percent: Decimal | None = None,
    ) -> None:
        """The reseller's own customer price, from now on (the partner price stays locked)."""
        self._require_live()
        if self.status == "trial":
            raise TrialQuantityFixed("a trial has no price; convert it first", subscription_id=self.id)
        if (unit_customer_price is None) == (markup_percent is None):
            raise InvalidInput("unit_customer_price", "give either unit_customer_price or markup_percent")
        if unit_customer_price is not None:
            price = money(unit_customer_price)
            if price < 0:
                raise InvalidInput("unit_customer_price", "must not be negative")
            markup = markup_for_target(self.unit_partner_price, price, self.default_markup_percent)
        else:
            assert markup_percent is not None
            markup = markup_percent
            price = customer_price(self.unit_partner_price, markup, self.default_markup_percent)
        if price == self.unit_customer_price and markup == self.markup_percent:
            return
        self._change_customer_price(unit_customer_price=price, markup_percent=markup, actor=actor, at=at)

    @event(CustomerPriceChanged)
    def _change_customer_price(
        self, unit_customer_price: Decimal, markup_percent: Decimal, actor: Actor, at: datetime
    ) -> None:
        self.unit_customer_price = unit_customer_price
        self.markup_percent = markup_percent
        self.price_basis = "explicit"

    class AutoRenewChanged(CspAggregate.Event):
        auto_renew: bool

    def set_auto_renew(self, auto_renew: bool, actor: Actor, at: datetime) -> None:
        self._require_live()
        if self.status == "trial":
            raise NotATrial("a trial does not renew; convert it to a paid subscription", subscription_id=self.id)
        if auto_renew == self.auto_renew:
            return
        self._set_auto_renew(auto_renew=auto_renew, actor=actor, at=at)

    @event(AutoRenewChanged)
    def _set_auto_renew(self, auto_renew: bool, actor: Actor, at: datetime) -> None:
        self.auto_renew = auto_renew

    # --- term end: renew, expire, disable ----------------------------------

    class Renewed(CspAggregate.Event):
        starts_at: datetime
        ends_at: datetime
        term: Term
        billing_cycle: BillingCycle
        tranche: Tranche
        unit_partner_price: Decimal
        erp_price: Decimal | None
        unit_customer_price: Decimal
        # Since version 2 the renewal records the markups and the basis it was priced on
        # (None in a version-1 event: the subscription kept its own).
        markup_percent: Decimal | None
        default_markup_percent: Decimal | None
        price_basis: PriceBasis | None
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["markup_percent"] = None
            state["default_markup_percent"] = None
            state["price_basis"] = None

    class Expired(CspAggregate.Event):
        pass

    class Disabled(CspAggregate.Event):
        pass

    @property
    def term_end_due(self) -> datetime:
        return self.ends_at

    def end_term(
        self,
        actor: Actor,
        at: datetime,
        price: PriceQuote | None = None,
        base_ends_at: datetime | None = None,
        allow_renewal: bool = True,
        next_offer: Offer | None = None,
    ) -> SubscriptionStatus:
        """What happens at term end: renew (auto-renew on), expire, or disable (suspended).

        ``price`` is the customer's price for the new term, decided as a new order line's
        is, on the catalog price in force at renewal (the lock ends with the term); without
        it the subscription renews at its own prices;
        ``base_ends_at`` is the base's new term end for an add-on (coterminous), and
        ``allow_renewal`` is False for an add-on whose base did not renew;
        ``next_offer`` is the catalog's offer scheduled for the next term (the subscription
        renews as it; without it, a scheduled offer the catalog no longer sells is dropped).
        """
        if self.status in TERMINAL:
            return self.status
        if at < self.ends_at:
            raise NotDue(f"the term ends at {self.ends_at.isoformat()}", subscription_id=self.id)
        if self.status == "trial":
            self._expire(actor=actor, at=at)
        elif self.status == "suspended":
            self._disable(actor=actor, at=at)
        elif not self.auto_renew or not allow_renewal:
            self._expire(actor=actor, at=at)
        else:
            if self.renewal_offer_id is not None:
                self._apply_renewal_offer(next_offer, actor, at)
            self._renew_now(actor, at, price, base_ends_at)
        return self.status

    class RenewalOfferApplied(CspAggregate.Event):
        """The next term's offer takes over at the renewal (its rules; its prices come with
        the ``Renewed`` event that follows)."""

        offer_id: UUID
        offer_name: str
        product_group_id: UUID
        terms_allowed: tuple[Term, ...]
        billing_cycles_allowed: tuple[BillingCycle, ...]
        min_quantity: int
        max_quantity: int
        addon_offer_ids_allowed: tuple[UUID, ...]

    def _apply_renewal_offer(self, offer: Offer | None, actor: Actor, at: datetime) -> None:
        if offer is None or offer.id != self.renewal_offer_id:
            self._schedule_renewal_offer(offer_id=None, offer_name=None, actor=actor, at=at)
            return
        self._renewal_offer_applied(
            offer_id=offer.id,
            offer_name=offer.name,
            product_group_id=offer.product_group_id,
            terms_allowed=offer.terms,
            billing_cycles_allowed=offer.billing_cycles,
            min_quantity=offer.min_quantity,
            max_quantity=offer.max_quantity,
            addon_offer_ids_allowed=offer.addon_offer_ids,
            actor=actor,
            at=at,
        )

    @event(RenewalOfferApplied)
    def _renewal_offer_applied(
        self,
        offer_id: UUID,
        offer_name: str,
        product_group_id: UUID,
        terms_allowed: tuple[Term, ...],
        billing_cycles_allowed: tuple[BillingCycle, ...],
        min_quantity: int,
        max_quantity: int,
        addon_offer_ids_allowed: tuple[UUID, ...],
        actor: Actor,
        at: datetime,
    ) -> None:
        self.offer_id = offer_id
        self.offer_name = offer_name
        self.product_group_id = product_group_id
        self.terms_allowed = terms_allowed
        self.billing_cycles_allowed = billing_cycles_allowed
        self.min_quantity = min_quantity
        self.max_quantity = max_quantity
        self.addon_offer_ids_allowed = addon_offer_ids_allowed
        self.renewal_offer_id = None
        self.renewal_offer_name = None

    def _renew_now(self, actor: Actor, at: datetime, price: PriceQuote | None, base_ends_at: datetime | None) -> None:
        term = self.renewal_term or self.term
        cycle = self.pending_billing_cycle or self.billing_cycle
        if term == "monthly" and cycle == "yearly":
            cycle = "monthly"
        quantity = self.renewal_quantity or self.quantity
        starts = self.ends_at
        ends = base_ends_at if base_ends_at is not None else term_end(starts, term)
        if ends <= starts:
            raise InvalidInput("base_ends_at", "an add-on renews to its base's new term end")
        if price is not None:
            partner, erp, customer = price.partner_price, price.erp_price, price.customer_price
            markup, default, basis = price.markup_percent, price.default_markup_percent, price.basis
        else:
            partner, erp, basis = self.unit_partner_price, self.erp_price, self.price_basis
            markup, default = self.markup_percent, self.default_markup_percent
            customer = customer_price(partner, markup, default)
        tranche = Tranche(
            number=self._next_tranche_number(),
            quantity=quantity,
            kind="renewal",
            purchased_at=starts,
            window_ends_at=starts + CANCELLATION_WINDOW,
            unit_partner_price=partner,
        )
        self._renew(
            starts_at=starts,
            ends_at=ends,
            term=term,
            billing_cycle=cycle,
            tranche=tranche,
            unit_partner_price=partner,
            erp_price=erp,
            unit_customer_price=customer,
            markup_percent=markup,
            default_markup_percent=default,
            price_basis=basis,
            actor=actor,
            at=at,
        )

    @event(Renewed)
    def _renew(
        self,
        starts_at: datetime,
        ends_at: datetime,
        term: Term,
        billing_cycle: BillingCycle,
        tranche: Tranche,
        unit_partner_price: Decimal,
        erp_price: Decimal | None,
        unit_customer_price: Decimal,
        markup_percent: Decimal | None,
        default_markup_percent: Decimal | None,
        price_basis: PriceBasis | None,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.term = term
        self.billing_cycle = billing_cycle
        self.tranches = (tranche,)
        self.quantity = tranche.quantity
        self.unit_partner_price = unit_partner_price
        self.erp_price = erp_price
        self.unit_customer_price = unit_customer_price
        if markup_percent is not None and default_markup_percent is not None and price_basis is not None:
            self.markup_percent = markup_percent
            self.default_markup_percent = default_markup_percent
            self.price_basis = price_basis
        self.pending_billing_cycle = None
        self.pending_billing_cycle_at = None
        self.renewal_quantity = None
        self.renewal_term = None
        self.renewal_count = self.renewal_count + 1
        self.closed_window_numbers = ()

    @event(Expired)
    def _expire(self, actor: Actor, at: datetime) -> None:
        self.status = "expired"
        self.ended_at = at

    @event(Disabled)
    def _disable(self, actor: Actor, at: datetime) -> None:
        self.status = "disabled"
        self.ended_at = at

    # --- trials ------------------------------------------------------------

    class TrialConverted(CspAggregate.Event):
        terms: SubscriptionTerms
        starts_at: datetime
        ends_at: datetime
        tranche: Tranche

    def convert_trial(self, terms: SubscriptionTerms, actor: Actor, at: datetime) -> None:
        """A paid subscription from this moment: a new term starts now."""
        if not self.is_trial or self.status != "trial":
            raise NotATrial(f"only a running trial can be converted; it is {self.status}", subscription_id=self.id)
        if at >= self.ends_at:
            raise NotATrial("the trial has ended", subscription_id=self.id)
        if terms.is_trial:
            raise InvalidInput("offer_id", "a trial converts to a paid offer")
        if self.trial_converts_to is not None and terms.offer_id != self.trial_converts_to:
            raise InvalidInput(
                "offer_id", "this trial converts only to its paid offer", expected=self.trial_converts_to
            )
        if not terms.min_quantity <= terms.quantity <= terms.max_quantity:
            raise InvalidInput("quantity", f"must be between {terms.min_quantity} and {terms.max_quantity}")
        check_cycle_allowed(terms.term, terms.billing_cycle)
        tranche = Tranche(
            number=self._next_tranche_number(),
            quantity=terms.quantity,
            kind="conversion",
            purchased_at=at,
            window_ends_at=at + CANCELLATION_WINDOW,
            unit_partner_price=terms.unit_partner_price,
        )
        self._convert_trial(
            terms=terms, starts_at=at, ends_at=term_end(at, terms.term), tranche=tranche, actor=actor, at=at
        )
        self._clear_next_term("offer_changed", actor, at)

    @event(TrialConverted)
    def _convert_trial(
        self,
        terms: SubscriptionTerms,
        starts_at: datetime,
        ends_at: datetime,
        tranche: Tranche,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.status = "active"
        self._assign_offer_terms(terms, starts_at, ends_at, tranche)

    # --- add-ons -----------------------------------------------------------

    class AddonAttached(CspAggregate.Event):
        addon_id: UUID
        offer_id: UUID

    class AddonDetached(CspAggregate.Event):
        addon_id: UUID

    def check_accepts_addon(self, offer: Offer, quantity: int) -> None:
        """An add-on needs this base active and compatible (same tenant is implied)."""
        if self.status != "active":
            raise AddonRequiresBase(
                f"the base subscription is {self.status}; it must be active", subscription_id=self.id
            )
        if not offer.is_addon or offer.id not in self.addon_offer_ids_allowed:
            raise AddonRequiresBase(f"{offer.name} cannot be added to {self.offer_name}", offer_id=offer.id)
        if quantity > self.quantity:
            raise InvalidInput("quantity", f"at most {self.quantity}: one add-on licence per base licence")

    def attach_addon(self, addon: Subscription, actor: Actor, at: datetime) -> None:
        if addon.parent_id != self.id or addon.tenant_id != self.tenant_id:
            raise InvalidInput("addon_id", "the add-on does not belong to this subscription")
        if addon.id in self.addon_ids:
            return
        self._attach_addon(addon_id=addon.id, offer_id=addon.offer_id, actor=actor, at=at)

    @event(AddonAttached)
    def _attach_addon(self, addon_id: UUID, offer_id: UUID, actor: Actor, at: datetime) -> None:
        self.addon_ids = (*self.addon_ids, addon_id)

    def detach_addon(self, addon_id: UUID, actor: Actor, at: datetime) -> None:
        if addon_id not in self.addon_ids:
            raise InvalidInput("addon_id", "no such add-on on this subscription")
        self._detach_addon(addon_id=addon_id, actor=actor, at=at)

    @event(AddonDetached)
    def _detach_addon(self, addon_id: UUID, actor: Actor, at: datetime) -> None:
        self.addon_ids = tuple(a for a in self.addon_ids if a != addon_id)

    class AddonRefused(CspAggregate.Event):
        """The vendor refused to create one of this base's add-ons (the reseller is told here)."""

        addon_id: UUID
        offer_name: str
        reason: str
        detached: bool  # the add-on ended with the refusal, and left this base

    def record_addon_refusal(self, addon: Subscription, reason: str, actor: Actor, at: datetime) -> None:
        """Say on the base why its add-on is not there; detach the add-on if it has ended."""
        if addon.parent_id != self.id:
            raise InvalidInput("addon_id", "the add-on does not belong to this subscription")
        detached = addon.id in self.addon_ids and addon.status in TERMINAL
        self._refuse_addon(
            addon_id=addon.id, offer_name=addon.offer_name, reason=reason, detached=detached, actor=actor, at=at
        )

    @event(AddonRefused)
    def _refuse_addon(
        self, addon_id: UUID, offer_name: str, reason: str, detached: bool, actor: Actor, at: datetime
    ) -> None:
        if detached:
            self.addon_ids = tuple(a for a in self.addon_ids if a != addon_id)
        self.last_vendor_refusal = f"{offer_name} was not added: {reason}"

    # --- licence assignment (pushed to the vendor, which holds the tenant's users) ---

    class LicenceAssignmentRequested(CspAggregate.Event):
        tenant_user_id: str

    class LicenceUnassignmentRequested(CspAggregate.Event):
        tenant_user_id: str

    def request_licence_assignment(self, tenant_user_id: str, actor: Actor, at: datetime) -> bool:
        """Give one of this subscription's seats to a user of its tenant. Refused when every
        purchased seat is assigned or about to be (``no_free_licence``); False when the same
        request is already on its way to the vendor (nothing new to do)."""
        if self.status not in ("active", "trial"):
            raise SubscriptionNotActive(
                f"licences of a {self.status} subscription cannot be assigned", subscription_id=self.id
            )
        if not tenant_user_id.strip():
            raise InvalidInput("tenant_user_id", "must not be empty")
        last = self._last_licence_request(tenant_user_id)
        if last is not None and last.action == "assign":
            return False
        if self.assigned + self.pending_assignments >= self.quantity:
            raise NoFreeLicence(
                f"all {self.quantity} purchased licence(s) are assigned; buy more or unassign one first",
                subscription_id=self.id,
                purchased=self.quantity,
                assigned=self.assigned,
                pending=self.pending_assignments,
            )
        self._request_assignment(tenant_user_id=tenant_user_id, actor=actor, at=at)
        return True

    def request_licence_unassignment(self, tenant_user_id: str, actor: Actor, at: datetime) -> bool:
        """Take a user's licence back (the seat becomes free); False when already on its way."""
        self._require_live()
        if not tenant_user_id.strip():
            raise InvalidInput("tenant_user_id", "must not be empty")
        last = self._last_licence_request(tenant_user_id)
        if last is not None and last.action == "unassign":
            return False
        self._request_unassignment(tenant_user_id=tenant_user_id, actor=actor, at=at)
        return True

    def _last_licence_request(self, tenant_user_id: str) -> LicenceRequest | None:
        mine = [r for r in self.licence_requests if r.tenant_user_id == tenant_user_id]
        return mine[-1] if mine else None

    # The applying method runs before the version moves on: this event's version is the next.
    @event(LicenceAssignmentRequested)
    def _request_assignment(self, tenant_user_id: str, actor: Actor, at: datetime) -> None:
        self.licence_requests = (*self.licence_requests, LicenceRequest(self.version + 1, tenant_user_id, "assign"))

    @event(LicenceUnassignmentRequested)
    def _request_unassignment(self, tenant_user_id: str, actor: Actor, at: datetime) -> None:
        self.licence_requests = (*self.licence_requests, LicenceRequest(self.version + 1, tenant_user_id, "unassign"))

    # --- transitions (upgrades mid-term) --------------------------------------

    class TransitionRequested(CspAggregate.Event):
        request: TransitionRequest

    class TransitionCompleted(CspAggregate.Event):
        """The vendor moved the seats: they leave this subscription (credited from now by
        the billing side) for ``new_subscription_id``; a full transition ends this one."""

        transition_id: UUID
        new_subscription_id: UUID
        removals: tuple[SeatRemoval, ...]
        quantity: int  # what this one keeps
        kind: TransitionKind

    def check_transition(
        self, offer: Offer, upgrades: tuple[UUID, ...], quantity: int | None, at: datetime | None = None
    ) -> int:
        """Raise unless ``quantity`` seats (default: all) may move at ``at`` to ``offer``: this
        one active (not a trial, not suspended) and inside its term (a term that has ended
        waits for its renewal), not an add-on, the offer one of ``upgrades`` (the catalog's
        upgrades of this offer; a downgrade waits for the renewal) selling this term and
        billing cycle. Returns the quantity."""
        if self.status == "trial" or self.is_trial:
            raise TransitionNotAllowed("a trial cannot be upgraded; convert it first", reason="trial")
        if self.status == "suspended":
            raise TransitionNotAllowed("a suspended subscription cannot be upgraded", reason="suspended")
        if self.status != "active":
            raise TransitionNotAllowed(f"the subscription is {self.status}", reason="not_active")
        if at is not None and at >= self.ends_at:
            raise TransitionNotAllowed(
                "the term has ended; the subscription can be upgraded once it has renewed", reason="term_ended"
            )
        if self.is_addon:
            raise TransitionNotAllowed("an add-on cannot be upgraded on its own", reason="addon")
        if self.pending_transition is not None:
            raise TransitionNotAllowed(
                f"a move to {self.pending_transition.offer_name} is already under way", reason="transition_pending"
            )
        if self.check_family(offer, upgrades) == "downgrade":
            raise TransitionNotAllowed(
                f"{offer.name} is a downgrade of {self.offer_name}: possible only at the renewal "
                "(schedule it as the next term's offer)",
                reason="downgrade",
                field="offer_id",
                offer_id=offer.id,
            )
        if self.term not in offer.terms:
            raise TransitionNotAllowed(
                f"{offer.name} is not sold with a {self.term} term",
                reason="term_not_sold",
                field="offer_id",
                offer_id=offer.id,
            )
        if self.billing_cycle not in offer.billing_cycles:
            raise TransitionNotAllowed(
                f"{offer.name} cannot be billed {self.billing_cycle}",
                reason="billing_cycle_not_sold",
                field="offer_id",
                offer_id=offer.id,
            )
        qty = self.quantity if quantity is None else quantity
        if not 1 <= qty <= self.quantity:
            raise InvalidInput("quantity", f"must be between 1 and the {self.quantity} seat(s) purchased")
        if qty < self.quantity and self.quantity - qty < self.min_quantity:
            raise InvalidInput("quantity", f"{self.offer_name} must keep at least {self.min_quantity} seat(s)")
        offer.check_quantity(qty)
        return qty

    def request_transition(
        self,
        transition_id: UUID,
        offer: Offer,
        upgrades: tuple[UUID, ...],
        quantity: int | None,
        actor: Actor,
        at: datetime,
    ) -> TransitionRequest:
        qty = self.check_transition(offer, upgrades, quantity, at)
        request = TransitionRequest(
            transition_id=transition_id,
            offer_id=offer.id,
            offer_name=offer.name,
            quantity=qty,
            kind="full" if qty == self.quantity else "partial",
            requested_at=at,
        )
        self._request_transition(request=request, actor=actor, at=at)
        return request

    @event(TransitionRequested)
    def _request_transition(self, request: TransitionRequest, actor: Actor, at: datetime) -> None:
        self.pending_transition = request

    def complete_transition(self, transition_id: UUID, new_subscription_id: UUID, actor: Actor, at: datetime) -> None:
        """The vendor did it: the seats leave (newest first, whatever their window: they
        move, they are not cancelled); all of them end this subscription."""
        request = self.pending_transition
        if request is None or request.transition_id != transition_id:
            raise TransitionNotAllowed("no such transition is under way", reason="not_pending")
        count = min(request.quantity, self.quantity)
        full = count >= self.quantity
        removals = []
        for t in sorted(self.tranches, key=lambda t: (t.purchased_at, t.number), reverse=True):
            if count == 0:
                break
            n = min(count, t.quantity)
            if n:
                removals.append(SeatRemoval(tranche_number=t.number, quantity=n))
                count -= n
        self._clear_next_term("transitioned", actor, at)
        self._complete_transition(
            transition_id=transition_id,
            new_subscription_id=new_subscription_id,
            removals=tuple(removals),
            quantity=self.quantity - sum(r.quantity for r in removals),
            kind="full" if full else "partial",
            actor=actor,
            at=at,
        )

    @event(TransitionCompleted)
    def _complete_transition(
        self,
        transition_id: UUID,
        new_subscription_id: UUID,
        removals: tuple[SeatRemoval, ...],
        quantity: int,
        kind: TransitionKind,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.tranches = _apply_removals(self.tranches, removals)
        self.quantity = quantity
        self.pending_transition = None
        self.transitioned_to = new_subscription_id
        if kind == "full":
            self.status = "transitioned"
            self.ended_at = at
            self.renewal_quantity = None
            self.renewal_term = None
            self.renewal_offer_id = None
            self.renewal_offer_name = None
            self.pending_billing_cycle = None
            self.pending_billing_cycle_at = None

    class MovedToBase(CspAggregate.Event):
        """An add-on carried to the subscription its base was upgraded to."""

        parent_id: UUID

    def move_to_base(self, base: Subscription, actor: Actor, at: datetime) -> None:
        if not self.is_addon or base.tenant_id != self.tenant_id:
            raise InvalidInput("addon_id", "only an add-on of the same tenant moves to another base")
        if self.offer_id not in base.addon_offer_ids_allowed:
            raise TransitionNotAllowed(
                f"{self.offer_name} cannot be added to {base.offer_name}", reason="addon_not_allowed"
            )
        if self.parent_id == base.id:
            return
        self._move_to_base(parent_id=base.id, actor=actor, at=at)

    @event(MovedToBase)
    def _move_to_base(self, parent_id: UUID, actor: Actor, at: datetime) -> None:
        self.parent_id = parent_id

    # --- facts from the vendor and the clock --------------------------------

    class AssignedLicencesSynced(CspAggregate.Event):
        assigned: int

    def sync_assigned(self, assigned: int, actor: Actor, at: datetime) -> None:
        """Assigned licences are the vendor's figure, synced on a schedule."""
        if assigned < 0:
            raise InvalidInput("assigned", "must not be negative")
        if assigned == self.assigned:
            return
        self._sync_assigned(assigned=assigned, actor=actor, at=at)

    @event(AssignedLicencesSynced)
    def _sync_assigned(self, assigned: int, actor: Actor, at: datetime) -> None:
        self.assigned = assigned
        self.assigned_synced_at = at

    class UsageReported(CspAggregate.Event):
        day: str  # ISO date, UTC
        meter: str
        quantity: Decimal
        amount: Decimal

    def report_usage(
        self, day: str, meter: str, quantity: Decimal, amount: Decimal, actor: Actor, at: datetime
    ) -> None:
        """Consumption of a usage-based (Azure) subscription, as rated by the vendor."""
        if self.type != "usage":
            raise InvalidInput("subscription_id", "only usage-based subscriptions report consumption")
        if quantity < 0 or amount < 0:
            raise InvalidInput("amount", "usage must not be negative")
        self._report_usage(day=day, meter=meter, quantity=quantity, amount=money(amount), actor=actor, at=at)

    @event(UsageReported)
    def _report_usage(
        self, day: str, meter: str, quantity: Decimal, amount: Decimal, actor: Actor, at: datetime
    ) -> None:
        pass

    # --- Azure plans: entitlements, daily rated usage, budgets (csp.aggregates.azure) ---
    # Class-level defaults: subscriptions recorded before these events existed have none.
    entitlements: tuple[Entitlement, ...] = ()
    usage_imported: frozenset[tuple[UUID, str]] = frozenset()  # (entitlement id, day) recorded
    month_to_date: tuple[tuple[UUID, str, Decimal], ...] = ()  # (entitlement, month, customer price)
    budget_alerts: frozenset[tuple[UUID, str, int]] = frozenset()  # (entitlement, month, threshold)

    class EntitlementAdded(CspAggregate.Event):
        entitlement: Entitlement

    def entitlement(self, entitlement_id: UUID) -> Entitlement:
        for e in self.entitlements:
            if e.id == entitlement_id:
                return e
        raise NotFound("entitlement", entitlement_id)

    def add_entitlement(
        self,
        entitlement_id: UUID,
        name: str,
        monthly_budget: Decimal | None,
        actor: Actor,
        at: datetime,
        vendor_entitlement_id: str | None = None,
    ) -> Entitlement:
        """An Azure subscription under this plan: asked for here (then created at the vendor),
        or found at the vendor (the one the plan came with). Adding the same id twice is one."""
        if self.type != "usage":
            raise InvalidInput("subscription_id", "only an Azure plan has Azure subscriptions")
        for e in self.entitlements:
            if e.id == entitlement_id or (vendor_entitlement_id and e.vendor_entitlement_id == vendor_entitlement_id):
                return e
        if self.status in TERMINAL:
            raise SubscriptionNotActive(f"the Azure plan is {self.status}", status=self.status)
        name = check_entitlement_name(name)
        if any(e.name.lower() == name.lower() for e in self.entitlements):
            raise InvalidInput("name", "another Azure subscription of this plan has that name", value=name)
        ent = Entitlement(entitlement_id, name, check_budget(monthly_budget), vendor_entitlement_id, at)
        self._add_entitlement(entitlement=ent, actor=actor, at=at)
        return ent

    @event(EntitlementAdded)
    def _add_entitlement(self, entitlement: Entitlement, actor: Actor, at: datetime) -> None:
        self.entitlements = (*self.entitlements, entitlement)

    class EntitlementLinked(CspAggregate.Event):
        entitlement_id: UUID
        vendor_entitlement_id: str

    def link_entitlement(self, entitlement_id: UUID, vendor_entitlement_id: str, actor: Actor, at: datetime) -> None:
        """The vendor created the Azure subscription asked for here: its id there."""
        if self.entitlement(entitlement_id).vendor_entitlement_id == vendor_entitlement_id:
            return
        self._link_entitlement(
            entitlement_id=entitlement_id, vendor_entitlement_id=vendor_entitlement_id, actor=actor, at=at
        )

    @event(EntitlementLinked)
    def _link_entitlement(self, entitlement_id: UUID, vendor_entitlement_id: str, actor: Actor, at: datetime) -> None:
        self.entitlements = tuple(
            e.replace(vendor_entitlement_id=vendor_entitlement_id) if e.id == entitlement_id else e
            for e in self.entitlements
        )

    class UsageRecorded(CspAggregate.Event):
        day: str  # ISO date (UTC): the vendor's usage day
        entitlement_id: UUID
        entitlement_name: str  # as named when recorded (the line items carry it, as the vendor's do)
        rows: tuple[UsageRow, ...]  # one per meter, rated (csp.aggregates.azure.rate)

    class BudgetThresholdReached(CspAggregate.Event):
        entitlement_id: UUID
        month: str  # YYYY-MM
        threshold: int  # percent of the monthly budget
        monthly_budget: Decimal
        month_to_date: Decimal  # the customer price of the month so far
        # Since version 2: the usage day (YYYY-MM-DD) whose rows crossed it, which the
        # notice is dated at (``at`` is when it was imported; None: recorded before).
        day: str | None
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            state["day"] = None

    def record_usage(
        self, day: str, entitlement_id: UUID, rows: tuple[UsageRow, ...], actor: Actor, at: datetime
    ) -> bool:
        """A closed day's rated usage of one entitlement, once (False: already recorded).
        Crossing a budget threshold with it records that too, once per month."""
        if self.type != "usage":
            raise InvalidInput("subscription_id", "only usage-based subscriptions report consumption")
        ent = self.entitlement(entitlement_id)
        try:
            d = date.fromisoformat(day)
        except ValueError:
            raise InvalidInput("day", "not an ISO date", value=day) from None
        if d >= at.date():
            raise InvalidInput("day", "a day's usage is recorded once the day is over", value=day)
        if (entitlement_id, day) in self.usage_imported:
            return False
        self._record_usage(
            day=day, entitlement_id=entitlement_id, entitlement_name=ent.name, rows=rows, actor=actor, at=at
        )
        month = day[:7]
        after = self.month_cost(entitlement_id, month)
        before = after - sum((r.customer_price for r in rows), Decimal(0))
        done = {t for e, m, t in self.budget_alerts if e == entitlement_id and m == month}
        for pct in thresholds_crossed(ent.monthly_budget, before, after, done):
            assert ent.monthly_budget is not None
            self._reach_threshold(
                entitlement_id=entitlement_id,
                month=month,
                threshold=pct,
                monthly_budget=ent.monthly_budget,
                month_to_date=after,
                day=day,
                actor=actor,
                at=at,
            )
        return True

    def month_cost(self, entitlement_id: UUID, month: str) -> Decimal:
        """An entitlement's customer price for the month, of the days recorded so far."""
        for e, m, total in self.month_to_date:
            if e == entitlement_id and m == month:
                return total
        return Decimal(0)

    @event(UsageRecorded)
    def _record_usage(
        self,
        day: str,
        entitlement_id: UUID,
        entitlement_name: str,
        rows: tuple[UsageRow, ...],
        actor: Actor,
        at: datetime,
    ) -> None:
        self.usage_imported = self.usage_imported | {(entitlement_id, day)}
        month = day[:7]
        total = self.month_cost(entitlement_id, month) + sum((r.customer_price for r in rows), Decimal(0))
        # only the current months are kept: older ones are never asked again
        kept = tuple(x for x in self.month_to_date if not (x[0] == entitlement_id and x[1] == month) and x[1] >= month)
        self.month_to_date = (*kept, (entitlement_id, month, total))

    @event(BudgetThresholdReached)
    def _reach_threshold(
        self,
        entitlement_id: UUID,
        month: str,
        threshold: int,
        monthly_budget: Decimal,
        month_to_date: Decimal,
        day: str | None,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.budget_alerts = self.budget_alerts | {(entitlement_id, month, threshold)}

    class CancellationWindowsClosed(CspAggregate.Event):
        tranche_numbers: tuple[int, ...]

    def close_windows(self, actor: Actor, at: datetime) -> bool:
        """Record the windows that have closed (informational: rules compare times)."""
        closed = tuple(
            t.number for t in self.tranches if not t.window_open(at) and t.number not in self.closed_window_numbers
        )
        if not closed or self.status in TERMINAL:
            return False
        self._close_windows(tranche_numbers=closed, actor=actor, at=at)
        return True

    @event(CancellationWindowsClosed)
    def _close_windows(self, tranche_numbers: tuple[int, ...], actor: Actor, at: datetime) -> None:
        self.closed_window_numbers = (*self.closed_window_numbers, *tranche_numbers)

    # --- the vendor's answer to a pushed change ----------------------------

    class VendorSubscriptionLinked(CspAggregate.Event):
        vendor_subscription_id: str

    def link_vendor_subscription(self, vendor_subscription_id: str, actor: Actor, at: datetime) -> None:
        if self.vendor_subscription_id == vendor_subscription_id:
            return
        self._link_vendor(vendor_subscription_id=vendor_subscription_id, actor=actor, at=at)

    @event(VendorSubscriptionLinked)
    def _link_vendor(self, vendor_subscription_id: str, actor: Actor, at: datetime) -> None:
        self.vendor_subscription_id = vendor_subscription_id

    # --- reconciliation with the vendor (the vendor is the truth for what it bills) ---

    class AdoptedFromVendor(CspAggregate.Event):
        """A subscription found at the vendor and unknown here (an orphan), taken on."""

        vendor_subscription_id: str
        reason: str

    def record_adoption(self, reason: str, actor: Actor, at: datetime) -> None:
        if self.vendor_subscription_id is None:
            raise InvalidInput("vendor_subscription_id", "an adopted subscription is linked to the vendor's")
        self._adopt(vendor_subscription_id=self.vendor_subscription_id, reason=reason, actor=actor, at=at)

    @event(AdoptedFromVendor)
    def _adopt(self, vendor_subscription_id: str, reason: str, actor: Actor, at: datetime) -> None:
        self.adopted = True
        self.last_reconciliation = reason

    class CorrectedFromVendor(CspAggregate.Event):
        """The platform's record set to what the vendor holds (quantity, status, term)."""

        quantity: int
        status: SubscriptionStatus
        term: Term
        tranches: tuple[Tranche, ...]
        reason: str

    def correct_from_vendor(
        self, quantity: int, status: SubscriptionStatus, term: Term, reason: str, actor: Actor, at: datetime
    ) -> None:
        """Seats the vendor has and we lack are a tranche bought now (its window closed: the
        vendor's seats are not ours to refund); seats we have and it lacks go, newest first."""
        if (quantity, status, term) == (self.quantity, self.status, self.term):
            return
        if quantity < 0:
            raise InvalidInput("quantity", "must not be negative")
        tranches = self.tranches
        if quantity > self.quantity:
            tranches = (
                *tranches,
                Tranche(
                    number=self._next_tranche_number(),
                    quantity=quantity - self.quantity,
                    kind="increase",
                    purchased_at=at,
                    window_ends_at=at,
                    unit_partner_price=self.unit_partner_price,
                ),
            )
        elif quantity < self.quantity:
            extra = self.quantity - quantity
            kept: list[Tranche] = []
            for t in reversed(tranches):
                take = min(extra, t.quantity)
                extra -= take
                if t.quantity - take > 0:
                    kept.append(replace(t, quantity=t.quantity - take))
            tranches = tuple(reversed(kept))
        self._correct(quantity=quantity, status=status, term=term, tranches=tranches, reason=reason, actor=actor, at=at)

    @event(CorrectedFromVendor)
    def _correct(
        self,
        quantity: int,
        status: SubscriptionStatus,
        term: Term,
        tranches: tuple[Tranche, ...],
        reason: str,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.quantity = quantity
        self.status = status
        self.term = term
        self.tranches = tranches
        self.last_reconciliation = reason
        if status in TERMINAL and self.ended_at is None:
            self.ended_at = at

    class VendorChangeAcknowledged(CspAggregate.Event):
        change_version: int

    def acknowledge_vendor_change(self, change_version: int, actor: Actor, at: datetime) -> None:
        self._acknowledge(change_version=change_version, actor=actor, at=at)

    @event(VendorChangeAcknowledged)
    def _acknowledge(self, change_version: int, actor: Actor, at: datetime) -> None:
        self.last_vendor_refusal = None
        self.licence_requests = tuple(r for r in self.licence_requests if r.version != change_version)

    class VendorChangeRefused(CspAggregate.Event):
        """The vendor refused a change: the compensation restores the vendor's state."""

        change_version: int
        change_type: str
        reason: str
        status: SubscriptionStatus
        tranches: tuple[Tranche, ...]
        quantity: int
        pending_billing_cycle: BillingCycle | None
        pending_billing_cycle_at: datetime | None
        auto_renew: bool
        renewal_quantity: int | None

    def record_vendor_refusal(self, change: CspAggregate.Event, reason: str, actor: Actor, at: datetime) -> None:
        """Compensate a change the vendor refused, restoring what the vendor still has."""
        status, tranches = self.status, self.tranches
        pending, pending_at = self.pending_billing_cycle, self.pending_billing_cycle_at
        auto_renew, renewal_quantity = self.auto_renew, self.renewal_quantity
        if isinstance(change, Subscription.SeatsAdded):
            tranches = tuple(t for t in tranches if t.number != change.tranche.number)
        elif isinstance(change, (Subscription.SeatsRemoved, Subscription.Cancelled)):
            tranches = _restore_removals(tranches, change.removals)
            if isinstance(change, Subscription.Cancelled) and status == "cancelled":
                status = "active"
        elif isinstance(change, Subscription.Suspended) and status == "suspended":
            status = "active"
        elif isinstance(change, Subscription.Reactivated) and status == "active":
            status = "suspended"
        elif isinstance(change, Subscription.BillingCycleChangeScheduled):
            pending, pending_at = None, None
        elif isinstance(change, Subscription.AutoRenewChanged):
            auto_renew = not change.auto_renew
        elif isinstance(change, Subscription.RenewalQuantityScheduled):
            renewal_quantity = None
        quantity = sum(t.quantity for t in tranches)
        if quantity < 1 and status not in TERMINAL and status != "trial":
            raise InvalidSubscriptionTransition("the compensation would leave no seats", subscription_id=self.id)
        self._refuse(
            change_version=change.originator_version,
            change_type=type(change).__name__,
            reason=reason,
            status=status,
            tranches=tranches,
            quantity=quantity,
            pending_billing_cycle=pending,
            pending_billing_cycle_at=pending_at,
            auto_renew=auto_renew,
            renewal_quantity=renewal_quantity,
            actor=actor,
            at=at,
        )

    @event(VendorChangeRefused)
    def _refuse(
        self,
        change_version: int,
        change_type: str,
        reason: str,
        status: SubscriptionStatus,
        tranches: tuple[Tranche, ...],
        quantity: int,
        pending_billing_cycle: BillingCycle | None,
        pending_billing_cycle_at: datetime | None,
        auto_renew: bool,
        renewal_quantity: int | None,
        actor: Actor,
        at: datetime,
    ) -> None:
        self.status = status
        self.tranches = tranches
        self.quantity = quantity
        self.pending_billing_cycle = pending_billing_cycle
        self.pending_billing_cycle_at = pending_billing_cycle_at
        self.auto_renew = auto_renew
        self.renewal_quantity = renewal_quantity
        self.last_vendor_refusal = reason
        self.licence_requests = tuple(r for r in self.licence_requests if r.version != change_version)

        if change_type == "TransitionRequested":
            self.pending_transition = None
        elif change_type == "RenewalOfferScheduled":
            self.renewal_offer_id = None
            self.renewal_offer_name = None
        if status != "cancelled":
            self.ended_at = None


def unused_seats(unassigned: int, tranches: list[tuple[int, datetime]], at: datetime) -> UnusedSeats:
    """How many of ``unassigned`` seats can still be cut inside their window at ``at``, and
    until when all of them can: seats go newest first (as a reduction takes them), so the
    instant is the earliest window close among the tranches that cover them."""
    open_ = sorted(((q, end) for q, end in tranches if q > 0 and at < end), key=lambda t: t[1], reverse=True)
    count = min(unassigned, sum(q for q, _ in open_))
    if count <= 0:
        return UnusedSeats(0, None)
    needed, until = count, None
    for q, end in open_:
        until = end
        needed -= q
        if needed <= 0:
            break
    return UnusedSeats(count, until)


def _apply_removals(tranches: tuple[Tranche, ...], removals: tuple[SeatRemoval, ...]) -> tuple[Tranche, ...]:
    """Take seats out of their tranches (an emptied tranche stays, with 0 seats)."""
    taken = {r.tranche_number: r.quantity for r in removals}
    return tuple(t.replace(quantity=t.quantity - taken[t.number]) if t.number in taken else t for t in tranches)


def _restore_removals(tranches: tuple[Tranche, ...], removals: tuple[SeatRemoval, ...]) -> tuple[Tranche, ...]:
    """Put removed seats back into their tranches."""
    given = {r.tranche_number: r.quantity for r in removals}
    return tuple(t.replace(quantity=t.quantity + given[t.number]) if t.number in given else t for t in tranches)
