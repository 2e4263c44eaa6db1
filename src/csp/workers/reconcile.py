"""Reconciling with the vendor, the truth for what it bills: a saga step that asks before
it gives up, and what a vendor answer the platform cannot accept is turned into.

A saga never records a failure without asking the vendor what became of the step: by
the step's idempotency key (the customer's orders) and the customer's subscriptions. Work
the vendor did is recorded as usual; work it did that the platform cannot accept is
cancelled at the vendor (the seats are still inside their window) and recorded so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal
from uuid import UUID

from csp.aggregates.errors import CspError
from csp.aggregates.order import ChangeLine, NewSubscriptionLine, Order
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.application import CspApplication
from csp.vendor import VendorGateway, VendorOrder, VendorRefused

log = logging.getLogger("csp.sagas")

LineState = Literal["provisioned", "pending", "not_at_vendor"]


class LineNotAccepted(Exception):
    """The vendor did the work, the platform cannot record it: undone at the vendor."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def line_key(order_id: object, line_no: int) -> str:
    """The idempotency key of an order line's vendor call."""
    return f"{order_id}:{line_no}"


class OrderLines:
    """Records what the vendor did for an order line, or undoes it at the vendor."""

    def __init__(self, app: CspApplication, vendor: Callable[[], VendorGateway]) -> None:
        self.app = app
        self._vendor = vendor

    @property
    def vendor(self) -> VendorGateway:
        return self._vendor()

    def customer_id(self, order: Order, line_no: int) -> str | None:
        tenant = self.app.load(Tenant, order.line(line_no).tenant_id, "tenant")
        return tenant.vendor_customer_id

    # --- accepting what the vendor did ---------------------------------------------

    def accept_order(self, order: Order, line_no: int, customer_id: str, vo: VendorOrder) -> None:
        """The vendor completed the line's order: create its subscriptions here, or, when the
        platform refuses them, cancel them at the vendor and raise ``LineNotAccepted``."""
        line = order.line(line_no)
        assert isinstance(line, NewSubscriptionLine)
        by_number = {li.line_number: li.subscription_id for li in vo.line_items}
        mapping: dict[UUID | None, str] = {}
        if by_number.get(1):
            mapping[None] = str(by_number[1])
        for i, choice in enumerate(line.addons, start=2):
            if by_number.get(i):
                mapping[choice.offer_id] = str(by_number[i])
        try:
            self.app.provision_line(order.id, line_no, vo.id, mapping)
        except CspError as e:
            if e.code == "version_conflict":
                raise
            held = [str(s) for s in by_number.values() if s]
            raise LineNotAccepted(self._cancel(customer_id, held, line_key(order.id, line_no), e)) from e

    def accept_change(self, order: Order, line_no: int, customer_id: str, vendor_id: str, before: int) -> None:
        """The vendor changed the quantity: apply it here, or set it back at the vendor."""
        try:
            self.app.provision_line(order.id, line_no, f"subscription:{vendor_id}", {None: vendor_id})
        except CspError as e:
            if e.code == "version_conflict":
                raise
            key = f"{line_key(order.id, line_no)}:revert"
            try:
                self.vendor.update_subscription(customer_id, vendor_id, {"quantity": before}, key)
                undone = f"set back to {before} at the vendor"
            except VendorRefused as r:
                undone = f"could not be set back at the vendor: {r.message} [{r.code}]"
            raise LineNotAccepted(f"the platform refused the change ({e.message} [{e.code}]); {undone}") from e

    def _cancel(self, customer_id: str, vendor_ids: list[str], key: str, cause: CspError) -> str:
        cancelled, held = [], []
        for vid in reversed(vendor_ids):  # add-ons before their base
            try:
                self.vendor.update_subscription(customer_id, vid, {"status": "cancelled"}, f"{key}:cancel:{vid}")
                cancelled.append(vid)
            except VendorRefused as r:
                if r.code == "SubscriptionNotActive":  # cancelled already
                    cancelled.append(vid)
                else:
                    held.append(f"{vid} ({r.message} [{r.code}])")
        reason = f"the platform could not accept the vendor's subscriptions ({cause.message} [{cause.code}])"
        if cancelled:
            reason += f"; cancelled at the vendor: {', '.join(reversed(cancelled))}"
        if held:
            reason += f"; still held at the vendor: {', '.join(held)}"
        log.warning("order line %s: %s", key, reason)
        return reason

    # --- asking what became of a line ---------------------------------------------

    def settle(self, order: Order, line_no: int) -> LineState:
        """Ask the vendor whether the line's work happened, and record it if it did.

        Raises ``VendorUnavailable`` when the vendor cannot be asked (the caller asks again
        later: nothing may be concluded then) and ``LineNotAccepted`` as ``accept_*`` do."""
        customer_id = self.customer_id(order, line_no)
        if customer_id is None:
            return "not_at_vendor"  # no vendor customer: no vendor call could have been made
        line = order.line(line_no)
        if isinstance(line, ChangeLine):
            sub = self.app.load(Subscription, line.subscription_id, "subscription")
            if sub.vendor_subscription_id is None:
                return "not_at_vendor"
            vs = self.vendor.get_subscription(customer_id, sub.vendor_subscription_id)
            if vs.quantity != sub.quantity + line.quantity_delta:
                return "not_at_vendor"
            self.accept_change(order, line_no, customer_id, vs.id, sub.quantity)
            return "provisioned"
        vo = self.vendor.find_order(customer_id, line_key(order.id, line_no))
        if vo is None:
            return "not_at_vendor"
        if not vo.is_completed:
            vo = self.vendor.get_order(customer_id, vo.id)
            if not vo.is_completed:
                return "pending"
        self.accept_order(order, line_no, customer_id, vo)
        return "provisioned"
