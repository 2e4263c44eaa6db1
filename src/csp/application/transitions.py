"""Upgrades mid-term (Partner Center's transitions) and the next term's changes.

A transition is decided here (``request_transition``: only to an upgrade the catalog
names, never a trial or a suspended subscription) and done by the vendor (a saga step
that then calls ``complete_transition``). The new subscription keeps the term, its end
date and the billing calendar of the old one, at the new offer's price from the
transition on; the old one's seats are credited from that instant by the billing side.
Add-ons: a full transition carries every live add-on to the new subscription, and is
refused (``addon_not_allowed``) when the new offer does not take one of them; a partial
one leaves them on the old subscription, which must keep a seat for each add-on licence.

The next term (``next_term``/``set_next_term``) is the one place that holds every change
scheduled for the renewal: offer (an upgrade or a downgrade of the same family), quantity,
term and billing cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from csp.aggregates.base import SYSTEM_PROVISIONING, Actor, deterministic_id
from csp.aggregates.billing import addon_billing_dates
from csp.aggregates.catalog import Offer
from csp.aggregates.errors import CspError, TransitionNotAllowed
from csp.aggregates.organization import Organization
from csp.aggregates.pricing import PriceQuote
from csp.aggregates.subscription import (
    TERMINAL,
    Subscription,
    TransitionRequest,
    subscription_terms_from_offer,
)
from csp.aggregates.terms import BillingCycle, Term, parse_billing_cycle, parse_term
from csp.application.base import CspApplicationBase


def transition_subscription_id(transition_id: UUID) -> UUID:
    """The new subscription of a transition: deterministic, so a replayed step finds it."""
    return deterministic_id("transition", transition_id)


@dataclass(frozen=True)
class TransitionOption:
    """An offer a subscription may move to now, at the price it would have."""

    offer: Offer
    partial_allowed: bool
    price: PriceQuote


@dataclass(frozen=True)
class NextTerm:
    """What the subscription renews with, where it differs from the current term."""

    subscription: Subscription
    offer_id: UUID | None
    offer_name: str | None
    quantity: int | None
    term: Term | None
    billing_cycle: BillingCycle | None

    @property
    def applies_at(self) -> datetime | None:
        return self.subscription.renews_at

    @property
    def scheduled(self) -> bool:
        return self.subscription.has_next_term_changes


def next_term_of(sub: Subscription) -> NextTerm:
    return NextTerm(
        subscription=sub,
        offer_id=sub.renewal_offer_id,
        offer_name=sub.renewal_offer_name,
        quantity=sub.renewal_quantity,
        term=sub.renewal_term,
        billing_cycle=sub.renewal_billing_cycle,
    )


class TransitionCommands(CspApplicationBase):
    # --- upgrades -------------------------------------------------------------

    def _upgrades(self, sub: Subscription) -> tuple[UUID, ...]:
        offer = self.catalog().offers.get(sub.offer_id)
        return offer.upgrade_offer_ids if offer is not None else ()

    def _live_addons(self, sub: Subscription) -> list[Subscription]:
        addons = (self.load(Subscription, a, "subscription") for a in sub.addon_ids)
        return [a for a in addons if a.status not in TERMINAL]

    def _check_addons_follow(self, sub: Subscription, offer: Offer, quantity: int) -> None:
        """A full move carries the add-ons (the new offer must take them); a partial one
        leaves them on ``sub``, which keeps one seat per add-on licence."""
        for a in self._live_addons(sub):
            if quantity >= sub.quantity and a.offer_id not in offer.addon_offer_ids:
                raise TransitionNotAllowed(
                    f"{a.offer_name} cannot be added to {offer.name}; remove the add-on first",
                    reason="addon_not_allowed",
                    addon_id=a.id,
                )
            if quantity < sub.quantity and a.quantity > sub.quantity - quantity:
                raise TransitionNotAllowed(
                    f"{a.offer_name} has {a.quantity} licences and {sub.offer_name} would keep "
                    f"{sub.quantity - quantity}; reduce the add-on or move every seat",
                    reason="addon_exceeds_seats",
                    addon_id=a.id,
                )

    def _transition_price(self, sub: Subscription, offer: Offer, quantity: int, at: datetime) -> PriceQuote:
        """The new offer's price from the transition on: a customer price set explicitly
        keeps its markup, any other is the segment's or the default's of the day."""
        org = self.load(Organization, sub.organization_id, "organization")
        markup = sub.markup_percent if sub.price_basis == "explicit" else None
        return self.pricing.price(org, offer, sub.term, max(quantity, 1), at, markup_percent=markup)

    def transition_options(self, subscription_id: UUID) -> list[TransitionOption]:
        """The upgrades this subscription may move to now (none for a trial, a suspended or
        ended one, an add-on, or while a transition is under way)."""
        sub = self.load(Subscription, subscription_id, "subscription")
        upgrades = self._upgrades(sub)
        catalog = self.catalog()
        now = self.now()
        out = []
        for offer_id in upgrades:
            offer = catalog.offers.get(offer_id)
            if offer is None:
                continue
            try:
                sub.check_transition(offer, upgrades, None, now)
                self._check_addons_follow(sub, offer, sub.quantity)
            except CspError:
                continue
            partial = sub.quantity - 1 >= sub.min_quantity and all(
                a.quantity <= sub.quantity - 1 for a in self._live_addons(sub)
            )
            out.append(TransitionOption(offer, partial, self._transition_price(sub, offer, sub.quantity, now)))
        return out

    def request_transition(
        self,
        subscription_id: UUID,
        offer_id: UUID,
        actor: Actor,
        quantity: int | None = None,
        expected_version: int | None = None,
    ) -> tuple[Subscription, TransitionRequest]:
        """Ask for ``quantity`` seats (default: all) to move to ``offer_id``; the vendor
        does it (a saga), then ``complete_transition`` records it."""
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        offer = self.catalog().offer(offer_id)
        request = sub.request_transition(uuid4(), offer, self._upgrades(sub), quantity, actor=actor, at=self.now())
        self._check_addons_follow(sub, offer, request.quantity)
        self.save(sub)
        return sub, request

    def complete_transition(
        self,
        subscription_id: UUID,
        transition_id: UUID,
        vendor_subscription_id: str,
        actor: Actor = SYSTEM_PROVISIONING,
    ) -> Subscription:
        """The vendor moved the seats: the new subscription (same term end, billed on the old
        one's calendar from now on, at the new price), the old one's seats taken (ended when
        all moved), its add-ons carried on a full move. Idempotent: returns the new one."""
        new_id = transition_subscription_id(transition_id)

        def attempt() -> Subscription:
            src = self.load(Subscription, subscription_id, "subscription")
            request = src.pending_transition
            if request is None or request.transition_id != transition_id:
                return self.load(Subscription, new_id, "subscription")  # recorded already
            now = self.now()
            offer = self.catalog().offer(request.offer_id)
            qty = min(request.quantity, src.quantity)
            terms = subscription_terms_from_offer(
                offer,
                organization_id=src.organization_id,
                reseller_id=src.reseller_id,
                tenant_id=src.tenant_id,
                tenant_domain=src.tenant_domain,
                order_id=None,
                line_no=None,
                term=src.term,
                billing_cycle=src.billing_cycle,
                quantity=qty,
                price=self._transition_price(src, offer, qty, now),
                vendor_subscription_id=vendor_subscription_id,
            )
            dates = addon_billing_dates(src.id, list(self.events.get(src.id)), src.billing_cycle, now)
            terms = terms.replace(billing_dates=dates, transitioned_from=src.id)
            new = Subscription.provision(new_id, terms, actor=actor, at=now, ends_at=src.ends_at)
            if not src.auto_renew:
                new.set_auto_renew(False, actor=actor, at=now)
            full = qty >= src.quantity
            addons = self._live_addons(src) if full else []
            src.complete_transition(transition_id, new.id, actor=actor, at=now)
            for a in addons:
                a.move_to_base(new, actor=actor, at=now)
                src.detach_addon(a.id, actor=actor, at=now)
                new.attach_addon(a, actor=actor, at=now)
            self.save(src, new, *addons)
            return new

        return self.retrying(attempt)

    # --- the next term ------------------------------------------------------------

    def next_term(self, subscription_id: UUID) -> NextTerm:
        return next_term_of(self.load(Subscription, subscription_id, "subscription"))

    def set_next_term(
        self,
        subscription_id: UUID,
        actor: Actor,
        offer_id: UUID | None = None,
        quantity: int | None = None,
        term: str | None = None,
        billing_cycle: str | None = None,
        expected_version: int | None = None,
    ) -> NextTerm:
        """Replace what is scheduled for the renewal by exactly these changes (a field left
        out renews as it is now; nothing at all withdraws every scheduled change)."""
        sub = self.load_for_update(Subscription, subscription_id, "subscription", expected_version)
        now = self.now()
        addons = self._live_addons(sub)
        if term is not None:
            sub.schedule_term_for_renewal(parse_term(term), actor=actor, at=now)
        else:
            sub.withdraw_renewal_term(actor=actor, at=now)
        cycle = parse_billing_cycle(billing_cycle) if billing_cycle is not None else None
        sub.schedule_billing_cycle_for_renewal(cycle, actor=actor, at=now)
        offer = self.catalog().offer(offer_id) if offer_id is not None else None
        if offer is not None:
            for a in addons:
                if a.offer_id not in offer.addon_offer_ids:
                    raise TransitionNotAllowed(
                        f"{a.offer_name} cannot be added to {offer.name}; remove the add-on first",
                        reason="addon_not_allowed",
                        addon_id=a.id,
                    )
            if quantity is not None:
                offer.check_quantity(quantity)
        sub.schedule_offer_for_renewal(offer, self._upgrades(sub), actor=actor, at=now)
        sub.schedule_quantity_for_renewal(quantity, actor=actor, at=now)
        followed = [a for a in addons if a.follow_billing_cycle(sub, actor=actor, at=now)]
        self.save(sub, *followed)
        return next_term_of(sub)

    def cancel_next_term(self, subscription_id: UUID, actor: Actor, expected_version: int | None = None) -> NextTerm:
        """Withdraw every change scheduled for the renewal."""
        return self.set_next_term(subscription_id, actor, expected_version=expected_version)
