"""Subscription commands: the edit screen's changes, add-ons, and time-driven work.

Changes are decided here at once by the ``Subscription`` aggregate and then pushed
to the vendor by a saga. Add-ons follow their base: suspended, reactivated, cancelled,
renewed or ended with it, always to the base's term end (coterminous), billed on the
base's billing dates and cycle (a cycle change of the base is the add-ons' too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID, uuid4

from csp.aggregates.azure import Entitlement, MeterReading, rate
from csp.aggregates.base import SYSTEM_SCHEDULER, Actor, deterministic_id
from csp.aggregates.billing import addon_billing_dates
from csp.aggregates.errors import AlreadyExists, CspError, InvalidInput, NotATrial
from csp.aggregates.organization import Organization
from csp.aggregates.pricing import PriceQuote
from csp.aggregates.subscription import TERMINAL, Subscription, SubscriptionStatus, subscription_terms_from_offer
from csp.aggregates.terms import BillingCycle, parse_billing_cycle, parse_term
from csp.application.base import CspApplicationBase


@dataclass
class DueWorkReport:
    """What time-driven work did to one subscription (and its add-ons)."""

    subscription_id: UUID
    billing_cycle_applied: bool = False
    windows_closed: bool = False
    term_ended: SubscriptionStatus | None = None
    addons: list[DueWorkReport] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.billing_cycle_applied or self.windows_closed or self.term_ended or any(a.changed for a in self.addons)
        )


@dataclass(frozen=True)
class SubscriptionEdit:
    """The edit screen's fields; ``None`` (or ``False``) leaves a field as it is."""

    reactivate: bool = False
    quantity: int | None = None
    at_renewal: bool = False
    billing_cycle: str | None = None
    auto_renew: bool | None = None
    suspend: bool = False


class SubscriptionCommands(CspApplicationBase):
    def _addons(self, base: Subscription) -> list[Subscription]:
        return [self.load(Subscription, a, "subscription") for a in base.addon_ids]

    def change_subscription_quantity(
        self,
        subscription_id: UUID,
        quantity: int,
        actor: Actor,
        at_renewal: bool = False,
        expected_version: int | None = None,
    ) -> Subscription:
        """An increase applies now; a decrease now only by seats inside their window,
        or at renewal when ``at_renewal``."""
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        self._decide_quantity(sub, quantity, at_renewal, actor, self.now())
        self.save(sub)
        return sub

    def _decide_quantity(self, sub: Subscription, quantity: int, at_renewal: bool, actor: Actor, now: datetime) -> None:
        if at_renewal:
            sub.schedule_quantity_for_renewal(quantity, actor=actor, at=now)
            return
        sub.change_quantity(quantity, actor=actor, at=now)
        # One add-on licence per base licence: a reduction below an add-on's count is refused.
        for addon in self._addons(sub):
            if addon.status not in TERMINAL and addon.quantity > quantity:
                raise InvalidInput(
                    "quantity",
                    f"{addon.offer_name} has {addon.quantity} licences; reduce the add-on first",
                    addon_id=addon.id,
                )

    def change_subscription_billing_cycle(
        self, subscription_id: UUID, billing_cycle: str, actor: Actor, expected_version: int | None = None
    ) -> Subscription:
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        addons = self._decide_billing_cycle(sub, parse_billing_cycle(billing_cycle), actor, self.now())
        self.save(sub, *addons)
        return sub

    def _decide_billing_cycle(
        self, sub: Subscription, cycle: BillingCycle, actor: Actor, now: datetime
    ) -> list[Subscription]:
        """Schedules the change on ``sub`` and on its live add-ons, for the same date (they
        are billed on the base's dates); returns the add-ons it changed."""
        sub.change_billing_cycle(cycle, actor=actor, at=now)
        return [a for a in self._addons(sub) if a.follow_billing_cycle(sub, actor=actor, at=now)]

    def schedule_subscription_term(
        self, subscription_id: UUID, term: str, actor: Actor, expected_version: int | None = None
    ) -> Subscription:
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        sub.schedule_term_for_renewal(parse_term(term), actor=actor, at=self.now())
        self.save(sub)
        return sub

    def suspend_subscription(
        self, subscription_id: UUID, actor: Actor, expected_version: int | None = None
    ) -> Subscription:
        """Suspend (billing continues); active add-ons are suspended with their base."""
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        self.save(sub, *self._decide_suspend(sub, actor, self.now()))
        return sub

    def _decide_suspend(self, sub: Subscription, actor: Actor, now: datetime) -> list[Subscription]:
        """Suspends ``sub`` and its active add-ons; returns the add-ons."""
        sub.suspend(actor=actor, at=now)
        addons = [a for a in self._addons(sub) if a.status == "active"]
        for a in addons:
            a.suspend(actor=actor, at=now)
        return addons

    def reactivate_subscription(
        self, subscription_id: UUID, actor: Actor, expected_version: int | None = None
    ) -> Subscription:
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        self.save(sub, *self._decide_reactivate(sub, actor, self.now()))
        return sub

    def _decide_reactivate(self, sub: Subscription, actor: Actor, now: datetime) -> list[Subscription]:
        """Reactivates ``sub`` and its suspended add-ons (an add-on only under an active
        base); returns the add-ons."""
        if sub.parent_id is not None:
            base = self.load(Subscription, sub.parent_id, "subscription")
            if base.status != "active":
                raise InvalidInput("subscription_id", f"the base subscription is {base.status}; reactivate it first")
        sub.reactivate(actor=actor, at=now)
        addons = [a for a in self._addons(sub) if a.status == "suspended"]
        for a in addons:
            a.reactivate(actor=actor, at=now)
        return addons

    def edit_subscription(
        self, subscription_id: UUID, edit: SubscriptionEdit, actor: Actor, expected_version: int | None = None
    ) -> tuple[Subscription, list[str]]:
        """The edit screen's **Save changes**: every changed field at once, all or nothing.

        Applied in an order that works (reactivate before the quantity, suspend last) and
        saved in one transaction; the first refusal raises with ``details["field"]`` naming
        the field it is about, and nothing is saved. Returns the subscription and what
        changed, in words."""
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        now = self.now()
        changed: dict[UUID, Subscription] = {}
        done: list[str] = []

        def step(field_name: str, what: str, decide: Callable[[], list[Subscription] | None]) -> None:
            try:
                for other in decide() or []:
                    changed[other.id] = other
            except CspError as e:
                e.details.setdefault("field", field_name)
                raise
            done.append(what)

        if edit.reactivate and sub.status == "suspended":
            step("status", "reactivated", lambda: self._decide_reactivate(sub, actor, now))

        def quantity() -> None:
            if edit.quantity is not None and edit.quantity != sub.quantity:
                q = edit.quantity
                when = "scheduled for the renewal" if edit.at_renewal else "changed"
                step(
                    "quantity",
                    f"quantity {when} to {q}",
                    lambda: self._decide_quantity(sub, q, edit.at_renewal, actor, now),
                )

        if not edit.at_renewal:
            quantity()
        if edit.billing_cycle is not None and edit.billing_cycle != (sub.pending_billing_cycle or sub.billing_cycle):
            cycle = parse_billing_cycle(edit.billing_cycle)
            step(
                "billing_cycle",
                f"billing cycle {cycle} from the next period",
                lambda: self._decide_billing_cycle(sub, cycle, actor, now),
            )
        if edit.at_renewal:
            # scheduled after the immediate changes of the same save, which would clear it
            quantity()
        if edit.auto_renew is not None and edit.auto_renew != sub.auto_renew:
            on = edit.auto_renew
            step(
                "auto_renew", f"auto-renew {'on' if on else 'off'}", lambda: sub.set_auto_renew(on, actor=actor, at=now)
            )
        if edit.suspend and sub.status == "active":
            step("status", "suspended", lambda: self._decide_suspend(sub, actor, now))
        if done:
            changed.pop(sub.id, None)
            self.save(sub, *changed.values())
        return sub, done

    def cancel_subscription(
        self, subscription_id: UUID, actor: Actor, expected_version: int | None = None
    ) -> Subscription:
        """Cancel now, with its add-ons: every seat must be inside its window (all or nothing)."""
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        now = self.now()
        # the base's own seats first: a refusal names what blocks it, not one of its add-ons
        sub.check_cancellable(now)
        addons = [a for a in self._addons(sub) if a.status not in TERMINAL]
        for a in addons:
            a.cancel(actor=actor, at=now)
        sub.cancel(actor=actor, at=now)
        changed = [sub, *addons]
        if sub.parent_id is not None:
            base = self.load(Subscription, sub.parent_id, "subscription")
            base.detach_addon(sub.id, actor=actor, at=now)
            changed.append(base)
        self.save(*changed)
        return sub

    def change_subscription_price(
        self,
        subscription_id: UUID,
        actor: Actor,
        unit_customer_price: Decimal | None = None,
        markup_percent: Decimal | None = None,
        expected_version: int | None = None,
    ) -> Subscription:
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        sub.change_customer_price(
            actor=actor, at=self.now(), unit_customer_price=unit_customer_price, markup_percent=markup_percent
        )
        self.save(sub)
        return sub

    def set_subscription_auto_renew(
        self, subscription_id: UUID, auto_renew: bool, actor: Actor, expected_version: int | None = None
    ) -> Subscription:
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        sub.set_auto_renew(auto_renew, actor=actor, at=self.now())
        self.save(sub)
        return sub

    def convert_trial(
        self,
        subscription_id: UUID,
        actor: Actor,
        offer_id: UUID | None = None,
        quantity: int | None = None,
        billing_cycle: str | None = None,
        term: str | None = None,
        markup_percent: Decimal | None = None,
        expected_version: int | None = None,
    ) -> Subscription:
        """Make a trial paid from now on (a new term starts), by default to its paid offer."""
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        if not sub.is_trial:
            raise NotATrial("only a trial can be converted", subscription_id=sub.id)
        target = offer_id or sub.trial_converts_to
        if target is None:
            raise InvalidInput("offer_id", "this trial names no paid offer; choose one")
        offer = self.catalog().offer(target)
        t = parse_term(term) if term else offer.terms[0]
        cycle = parse_billing_cycle(billing_cycle) if billing_cycle else offer.billing_cycles[0]
        offer.check_term_and_cycle(t, cycle)
        qty = quantity if quantity is not None else sub.quantity
        offer.check_quantity(qty)
        now = self.now()
        org = self.load(Organization, sub.organization_id, "organization")
        price = self.pricing.price(org, offer, t, qty, now, markup_percent=markup_percent)
        terms = subscription_terms_from_offer(
            offer,
            organization_id=sub.organization_id,
            reseller_id=sub.reseller_id,
            tenant_id=sub.tenant_id,
            tenant_domain=sub.tenant_domain,
            order_id=sub.order_id,
            line_no=sub.line_no,
            term=t,
            billing_cycle=cycle,
            quantity=qty,
            price=price,
            vendor_subscription_id=sub.vendor_subscription_id,
        )
        sub.convert_trial(terms, actor=actor, at=now)
        self.save(sub)
        return sub

    def add_subscription_addon(
        self, subscription_id: UUID, offer_id: UUID, quantity: int, actor: Actor, expected_version: int | None = None
    ) -> Subscription:
        """A new add-on subscription on this base, coterminous with it; returns the add-on."""
        base = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        offer = self.catalog().offer(offer_id)
        base.check_accepts_addon(offer, quantity)
        offer.check_quantity(quantity)
        for existing in self._addons(base):
            if existing.offer_id == offer_id and existing.status not in TERMINAL:
                raise AlreadyExists(
                    f"{offer.name} is already on this subscription; change its quantity instead", addon_id=existing.id
                )
        now = self.now()
        term, cycle = offer.addon_term_and_cycle(base.term, base.billing_cycle)
        org = self.load(Organization, base.organization_id, "organization")
        price = self.pricing.price(org, offer, term, quantity, now)
        terms = subscription_terms_from_offer(
            offer,
            organization_id=base.organization_id,
            reseller_id=base.reseller_id,
            tenant_id=base.tenant_id,
            tenant_domain=base.tenant_domain,
            order_id=None,
            line_no=None,
            term=term,
            billing_cycle=cycle,
            quantity=quantity,
            price=price,
            parent_id=base.id,
        )
        # billed on the base's dates: its first charge runs to the base's next billing date
        dates = addon_billing_dates(base.id, list(self.events.get(base.id)), cycle, now)
        terms = terms.replace(billing_dates=dates)
        addon = Subscription.provision(uuid4(), terms, actor=actor, at=now, ends_at=base.ends_at)
        addon.follow_billing_cycle(base, actor=actor, at=now)  # a change the base has scheduled
        base.attach_addon(addon, actor=actor, at=now)
        self.save(base, addon)
        return addon

    def remove_subscription_addon(
        self, subscription_id: UUID, addon_id: UUID, actor: Actor, expected_version: int | None = None
    ) -> Subscription:
        """Remove an add-on now: its seats must be inside their window."""
        base = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        if addon_id not in base.addon_ids:
            raise InvalidInput("addon_id", "no such add-on on this subscription")
        addon = self.load(Subscription, addon_id, "subscription")
        now = self.now()
        if addon.status not in TERMINAL:
            addon.cancel(actor=actor, at=now)
        base.detach_addon(addon_id, actor=actor, at=now)
        self.save(base, addon)
        return base

    # --- facts from the vendor ------------------------------------------------

    def sync_assigned_licences(self, subscription_id: UUID, assigned: int, actor: Actor) -> Subscription:
        sub = self.load(Subscription, subscription_id, "subscription")
        sub.sync_assigned(assigned, actor=actor, at=self.now())
        self.save(sub)
        return sub

    def report_usage(
        self, subscription_id: UUID, day: str, meter: str, quantity: Decimal, amount: Decimal, actor: Actor
    ) -> Subscription:
        sub = self.load(Subscription, subscription_id, "subscription")
        sub.report_usage(day, meter, quantity, amount, actor=actor, at=self.now())
        self.save(sub)
        return sub

    # --- Azure plans: entitlements and daily rated usage (csp.aggregates.azure) ---------

    def add_entitlement(
        self, subscription_id: UUID, name: str, monthly_budget: Decimal | None, actor: Actor
    ) -> Entitlement:
        """Another Azure subscription under the plan (created at the vendor by the sagas)."""
        sub = self.load(Subscription, subscription_id, "subscription")
        ent = sub.add_entitlement(uuid4(), name, monthly_budget, actor=actor, at=self.now())
        self.save(sub)
        return ent

    def adopt_entitlement(
        self, subscription_id: UUID, vendor_entitlement_id: str, name: str, actor: Actor
    ) -> Entitlement:
        """An Azure subscription the vendor has and the platform does not (the one the plan
        came with): recorded with a deterministic id, so adopting it twice is once."""
        sub = self.load(Subscription, subscription_id, "subscription")
        ent_id = deterministic_id("entitlement", subscription_id, vendor_entitlement_id)
        known = [e for e in sub.entitlements if e.name.lower() == (name or "").lower()]
        label = name if name and not known else f"{name or 'Azure subscription'} ({vendor_entitlement_id[:8]})"
        ent = sub.add_entitlement(
            ent_id, label, None, actor=actor, at=sub.starts_at, vendor_entitlement_id=vendor_entitlement_id
        )
        self.save(sub)
        return ent

    def link_entitlement(self, subscription_id: UUID, entitlement_id: UUID, vendor_id: str, actor: Actor) -> None:
        sub = self.load(Subscription, subscription_id, "subscription")
        sub.link_entitlement(entitlement_id, vendor_id, actor=actor, at=self.now())
        self.save(sub)

    def record_daily_usage(
        self, subscription_id: UUID, day: str, readings: Mapping[UUID, list[MeterReading]], actor: Actor
    ) -> int:
        """A closed day's rated usage of the plan's entitlements, rated here at the
        subscription's markups, in one transaction; the entitlements already recorded for
        that day are left alone (importing a day twice changes nothing). Returns how many
        entitlement-days were recorded."""
        sub = self.load(Subscription, subscription_id, "subscription")
        now = self.now()
        done = 0
        for ent_id in sorted(readings, key=str):
            rows = tuple(
                rate(
                    r.meter,
                    r.meter_category,
                    r.unit,
                    r.quantity,
                    r.unit_price,
                    sub.markup_percent,
                    sub.default_markup_percent,
                )
                for r in readings[ent_id]
            )
            done += sub.record_usage(day, ent_id, rows, actor=actor, at=now)
        if done:
            self.save(sub)
        return done

    # --- time-driven work -----------------------------------------------------

    def run_due_work(
        self, subscription_id: UUID, actor: Actor = SYSTEM_SCHEDULER, now: datetime | None = None
    ) -> DueWorkReport:
        """Whatever became due for a base subscription and its add-ons: a billing-cycle
        change whose period began, closed windows, and the term end (renew, expire,
        disable). Idempotent: running it twice changes nothing the second time."""
        now = now or self.now()
        sub = self.load(Subscription, subscription_id, "subscription")
        if sub.parent_id is not None:
            # Add-ons are handled with their base.
            return self.run_due_work(sub.parent_id, actor=actor, now=now)
        report = DueWorkReport(sub.id)
        addons = self._addons(sub)
        changed: list[Subscription] = []
        report.billing_cycle_applied = sub.apply_due_billing_cycle(actor=actor, at=now)
        report.windows_closed = sub.close_windows(actor=actor, at=now)
        if sub.status not in TERMINAL and now >= sub.ends_at:
            price = self._renewal_price(sub)
            # a scheduled offer renews only at its own price; without one it is dropped
            next_offer = self.catalog().offers.get(sub.renewal_offer_id) if sub.renewal_offer_id and price else None
            report.term_ended = sub.end_term(actor=actor, at=now, price=price, next_offer=next_offer)
        for a in addons:
            ar = DueWorkReport(a.id)
            ar.billing_cycle_applied = a.apply_due_billing_cycle(actor=actor, at=now)
            ar.windows_closed = a.close_windows(actor=actor, at=now)
            if a.status not in TERMINAL and now >= a.ends_at:
                renewed = sub.status in ("active", "suspended") and sub.ends_at > a.ends_at
                ar.term_ended = a.end_term(
                    actor=actor,
                    at=now,
                    price=self._renewal_price(a),
                    base_ends_at=sub.ends_at if renewed else None,
                    allow_renewal=renewed,
                )
            if ar.changed:
                changed.append(a)
            report.addons.append(ar)
        if report.billing_cycle_applied or report.windows_closed or report.term_ended:
            changed.insert(0, sub)
        if changed:
            self.save(*changed)
        return report

    def _renewal_price(self, sub: Subscription) -> PriceQuote | None:
        """The customer's price for the new term, on the catalog price in force at the
        renewal (the term's price lock ends), decided as a new order line's is: a price
        set explicitly keeps its markup, any other is the segment's or the default's
        of the day. None when the catalog no longer sells it: it renews at its own."""
        catalog = self.catalog()
        offer = catalog.offers.get(sub.renewal_offer_id or sub.offer_id)  # the next term's offer, if scheduled
        if offer is None:
            return None
        term = sub.renewal_term or sub.term
        if term not in offer.terms:
            return None
        org = self.load(Organization, sub.organization_id, "organization")
        markup = sub.markup_percent if sub.price_basis == "explicit" else None
        quantity = sub.renewal_quantity or sub.quantity
        return self.pricing.price(org, offer, term, max(quantity, 1), sub.ends_at, markup_percent=markup)
