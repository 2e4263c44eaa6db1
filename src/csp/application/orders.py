"""Order commands: the cart, placing, and the provisioning steps the saga records."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID, uuid4

from csp.aggregates.base import SYSTEM_PROVISIONING, Actor, deterministic_id
from csp.aggregates.errors import InvalidInput
from csp.aggregates.order import (
    ChangeLine,
    NewSubscriptionLine,
    Order,
    price_change_line,
)
from csp.aggregates.organization import Organization
from csp.aggregates.subscription import Subscription, subscription_terms_from_offer
from csp.application.agreements import require_agreement
from csp.application.base import CspApplicationBase
from csp.application.carts import NewLineRequest
from csp.application.credit import credit_check_for


def subscription_id_for(order_id: UUID, line_no: int) -> UUID:
    """Deterministic, so a replayed provisioning step finds instead of duplicating."""
    return deterministic_id("subscription", order_id, line_no)


def addon_subscription_id_for(order_id: UUID, line_no: int, addon_offer_id: UUID) -> UUID:
    return deterministic_id("subscription", order_id, line_no, addon_offer_id)


class OrderCommands(CspApplicationBase):
    # --- the cart -----------------------------------------------------------

    def create_order(self, organization_id: UUID, actor: Actor, order_id: UUID | None = None) -> Order:
        """A new draft (cart) for a customer organization, with the next order number."""
        org = self.read(Organization, organization_id, "organization")
        number = self.order_numbers.next(actor)
        order = Order.draft(order_id or uuid4(), org.id, org.owner_reseller_id, number, actor=actor, at=self.now())
        self.save(order)
        return order

    def create_order_with_line(self, organization_id: UUID, req: NewLineRequest, actor: Actor) -> Order:
        """A new cart holding its first line, saved as one: a line the domain refuses (a
        quantity above the offer's limit, say) records nothing, and leaves no empty draft."""
        org = self.read(Organization, organization_id, "organization")
        number = self.order_numbers.next(actor)
        order = Order.draft(uuid4(), org.id, org.owner_reseller_id, number, actor=actor, at=self.now())
        order.add_line(self.carts.new_line(order, order.next_line_no, req), actor=actor, at=self.now())
        self.save(order)
        return order

    def add_new_subscription_line(
        self, order_id: UUID, req: NewLineRequest, actor: Actor, expected_version: int | None = None
    ) -> Order:
        order = self.load_for_update(Order, order_id, "order", expected_version)
        line = self.carts.new_line(order, order.next_line_no, req)
        order.add_line(line, actor=actor, at=self.now())
        self.save(order)
        return order

    def add_change_line(
        self,
        order_id: UUID,
        subscription_id: UUID,
        quantity_delta: int,
        actor: Actor,
        expected_version: int | None = None,
    ) -> Order:
        """A ``+N Users`` line on an existing subscription of the same organization."""
        order = self.load_for_update(Order, order_id, "order", expected_version)
        sub = self.read(Subscription, subscription_id, "subscription")
        line = price_change_line(
            line_no=order.next_line_no,
            subscription=sub,
            buyer_id=order.organization_id,
            quantity_delta=quantity_delta,
            at=self.now(),
        )
        order.add_line(line, actor=actor, at=self.now())
        self.save(order)
        return order

    def replace_new_subscription_line(
        self, order_id: UUID, line_no: int, req: NewLineRequest, actor: Actor, expected_version: int | None = None
    ) -> Order:
        order = self.load_for_update(Order, order_id, "order", expected_version)
        order.line(line_no)
        line = self.carts.new_line(order, line_no, req)
        order.replace_line(line, actor=actor, at=self.now())
        self.save(order)
        return order

    def replace_change_line(
        self, order_id: UUID, line_no: int, quantity_delta: int, actor: Actor, expected_version: int | None = None
    ) -> Order:
        order = self.load_for_update(Order, order_id, "order", expected_version)
        old = order.line(line_no)
        if not isinstance(old, ChangeLine):
            raise InvalidInput("line_no", "this line is a new subscription, not a change")
        sub = self.read(Subscription, old.subscription_id, "subscription")
        line = price_change_line(
            line_no=line_no,
            subscription=sub,
            buyer_id=order.organization_id,
            quantity_delta=quantity_delta,
            at=self.now(),
        )
        order.replace_line(line, actor=actor, at=self.now())
        self.save(order)
        return order

    def remove_order_line(
        self, order_id: UUID, line_no: int, actor: Actor, expected_version: int | None = None
    ) -> Order:
        order = self.load_for_update(Order, order_id, "order", expected_version)
        order.remove_line(line_no, actor=actor, at=self.now())
        self.save(order)
        return order

    def place_order(
        self,
        order_id: UUID,
        accept_terms: bool,
        actor: Actor,
        expected_version: int | None = None,
        *,
        live_subscription_ids: Iterable[UUID] = (),
    ) -> Order:
        """Place the cart: the product terms must be accepted; provisioning follows. A
        customer user's order above its organization's credit limit waits for the
        reseller's approval instead (``live_subscription_ids``: the organization's
        subscriptions, whose monthly cost counts against the limit)."""
        order = self.load_for_update(Order, order_id, "order", expected_version)
        credit = None
        if order.status == "draft" and accept_terms:  # the vendor sells only after the customer agreement
            org = self.read(Organization, order.organization_id, "organization")
            require_agreement(self, org)
            credit = credit_check_for(self.find, org, actor, live_subscription_ids)
        order.place(accept_terms, actor=actor, at=self.now(), credit=credit)
        self.save(order)
        return order

    def discard_order(self, order_id: UUID, actor: Actor, expected_version: int | None = None) -> Order:
        order = self.load_for_update(Order, order_id, "order", expected_version)
        order.discard(actor=actor, at=self.now())
        self.save(order)
        return order

    # --- provisioning steps (each idempotent) ---------------------------------

    def start_provisioning(self, order_id: UUID, actor: Actor = SYSTEM_PROVISIONING) -> Order:
        order = self.load(Order, order_id, "order")
        before = order.version
        order.start_provisioning(actor=actor, at=self.now())
        if order.version != before:
            self.save(order)
        return order

    def provision_line(
        self,
        order_id: UUID,
        line_no: int,
        vendor_order_id: str,
        vendor_subscription_ids: dict[UUID | None, str] | None = None,
        actor: Actor = SYSTEM_PROVISIONING,
    ) -> Order:
        """Record a line the vendor fulfilled: create its subscriptions (deterministic ids)
        or apply its change, atomically with the order's progress. Replays change nothing.

        ``vendor_subscription_ids`` maps None (the line's own offer) and each add-on
        offer id to the vendor's subscription id.
        """
        order = self.load(Order, order_id, "order")
        if line_no in order.provisioned_line_nos:
            return order
        line = order.line(line_no)
        vendor_ids = vendor_subscription_ids or {}
        now = self.now()
        changed: list[object] = [order]
        if isinstance(line, NewSubscriptionLine):
            created, others = self._subscriptions_for_line(order, line, vendor_ids, actor)
            changed.extend(created)
            changed.extend(others)
            sub_ids = tuple(s.id for s in created)
        else:
            sub = self.load(Subscription, line.subscription_id, "subscription")
            sub.change_quantity(sub.quantity + line.quantity_delta, actor=actor, at=now)
            changed.append(sub)
            sub_ids = (sub.id,)
        order.record_line_provisioned(line_no, sub_ids, vendor_order_id, actor=actor, at=now)
        self.save(*changed)
        return order

    def _subscriptions_for_line(
        self, order: Order, line: NewSubscriptionLine, vendor_ids: dict[UUID | None, str], actor: Actor
    ) -> tuple[list[Subscription], list[object]]:
        """The line's new subscriptions, and the other aggregates they change."""
        now = self.now()
        catalog = self.catalog()
        offer = catalog.offer(line.offer_id)
        line_quote = line.price_quote
        out: list[Subscription] = []
        others: list[object] = []
        parent: Subscription | None = None
        base_ends_at = None
        if line.parent_subscription_id is not None:
            parent = self.load(Subscription, line.parent_subscription_id, "subscription")
        elif line.parent_line_no is not None:
            pid = subscription_id_for(order.id, line.parent_line_no)
            parent = self.load(Subscription, pid, "subscription") if self.exists(pid) else None
        if parent is not None:
            base_ends_at = parent.ends_at
        base_id = subscription_id_for(order.id, line.line_no)
        terms = subscription_terms_from_offer(
            offer,
            organization_id=order.organization_id,
            reseller_id=order.reseller_id,
            tenant_id=line.tenant_id,
            tenant_domain=line.tenant_domain,
            order_id=order.id,
            line_no=line.line_no,
            term=line.term,
            billing_cycle=line.billing_cycle,
            quantity=line.quantity,
            price=line_quote,
            parent_id=parent.id if parent is not None else None,
            vendor_subscription_id=vendor_ids.get(None),
        )
        base = Subscription.provision(base_id, terms, actor=actor, at=now, ends_at=base_ends_at)
        out.append(base)
        if line.is_trial:
            org = self.load(Organization, order.organization_id, "organization")
            org.start_trial(line.offer_id, actor=actor, at=now)
            others.append(org)
        if parent is not None:
            parent.attach_addon(base, actor=actor, at=now)
            others.append(parent)
        for choice in line.addons:
            addon_offer = catalog.offer(choice.offer_id)
            addon_quote = choice.price_quote(line)
            addon_term, addon_cycle = choice.term_and_cycle(line, addon_offer)
            addon_terms = subscription_terms_from_offer(
                addon_offer,
                organization_id=order.organization_id,
                reseller_id=order.reseller_id,
                tenant_id=line.tenant_id,
                tenant_domain=line.tenant_domain,
                order_id=order.id,
                line_no=line.line_no,
                term=addon_term,
                billing_cycle=addon_cycle,
                quantity=choice.quantity,
                price=addon_quote,
                parent_id=base_id,
                vendor_subscription_id=vendor_ids.get(choice.offer_id),
            )
            addon = Subscription.provision(
                addon_subscription_id_for(order.id, line.line_no, choice.offer_id),
                addon_terms,
                actor=actor,
                at=now,
                ends_at=base.ends_at,
            )
            base.attach_addon(addon, actor=actor, at=now)
            out.append(addon)
        return out, others

    def finish_provisioning(self, order_id: UUID, actor: Actor = SYSTEM_PROVISIONING) -> Order:
        order = self.load(Order, order_id, "order")
        before = order.version
        order.finish_provisioning(actor=actor, at=self.now())
        if order.version != before:
            self.save(order)
        return order

    def fail_order_line(self, order_id: UUID, line_no: int, reason: str, actor: Actor = SYSTEM_PROVISIONING) -> Order:
        """One line failed with the vendor's reason; the order's other lines go on."""
        order = self.load(Order, order_id, "order")
        before = order.version
        order.record_line_failed(line_no, reason, actor=actor, at=self.now())
        if order.version != before:
            self.save(order)
        return order

    def retry_failed_lines(self, order_id: UUID, actor: Actor, expected_version: int | None = None) -> Order:
        """A new attempt at an order's failed lines (new idempotency keys at the vendor)."""
        order = self.load_for_update(Order, order_id, "order", expected_version)
        order.retry_failed_lines(actor=actor, at=self.now())
        self.save(order)
        return order

    def discard_failed_lines(self, order_id: UUID, actor: Actor, expected_version: int | None = None) -> Order:
        """Give up a partly provisioned order's failed lines: it is finished with the rest."""
        order = self.load_for_update(Order, order_id, "order", expected_version)
        order.discard_failed_lines(actor=actor, at=self.now())
        self.save(order)
        return order

    def fail_provisioning(
        self, order_id: UUID, reason: str, line_no: int | None = None, actor: Actor = SYSTEM_PROVISIONING
    ) -> Order:
        order = self.load(Order, order_id, "order")
        before = order.version
        order.fail_provisioning(reason, line_no, actor=actor, at=self.now())
        if order.version != before:
            self.save(order)
        return order
