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
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from csp.aggregates.base import SYSTEM_VENDOR_SYNC, deterministic_id
from csp.aggregates.errors import CspError
from csp.aggregates.index import UniqueKey
from csp.aggregates.order import ChangeLine, NewSubscriptionLine, Order
from csp.aggregates.organization import Organization
from csp.aggregates.pricing import quote
from csp.aggregates.subscription import TERMINAL, Subscription, SubscriptionStatus, subscription_terms_from_offer
from csp.aggregates.tenant import Tenant
from csp.aggregates.terms import TERM_ISO, BillingCycle, Term
from csp.application import CspApplication
from csp.application.catalog import offer_id_for
from csp.application.tenants import DOMAIN_KEYS
from csp.vendor import (
    VendorCustomer,
    VendorGateway,
    VendorOrder,
    VendorRefused,
    VendorSubscription,
    VendorUnavailable,
)
from csp.workers.store import SagaStore

log = logging.getLogger("csp.sagas")

LineState = Literal["provisioned", "pending", "not_at_vendor"]


class LineNotAccepted(Exception):
    """The vendor did the work, the platform cannot record it: undone at the vendor."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def line_key(order_id: object, line_no: int, attempt: int = 1) -> str:
    """The idempotency key of an order line's vendor call: ``"{order_id}:{line_no}"``, and
    ``"{order_id}:{line_no}:{attempt}"`` for a retry of a failed line (attempt 2 on): a new
    attempt is a new request, whose answer is not the failed attempt's."""
    return f"{order_id}:{line_no}" if attempt <= 1 else f"{order_id}:{line_no}:{attempt}"


def parse_line_key(key: str) -> tuple[UUID, int, int] | None:
    """``(order_id, line_no, attempt)`` of an order line's key; None for any other key."""
    parts = key.split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts[1:]):
        return None
    try:
        order_id = UUID(parts[0])
    except ValueError:
        return None
    return order_id, int(parts[1]), int(parts[2]) if len(parts) == 3 else 1


def order_line_key(order: Order, line_no: int) -> str:
    """The key of the line's vendor call in the order's current attempt."""
    return line_key(order.id, line_no, order.attempt)


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
            raise LineNotAccepted(self._cancel(customer_id, held, order_line_key(order, line_no), e)) from e

    def accept_change(self, order: Order, line_no: int, customer_id: str, vendor_id: str, before: int) -> None:
        """The vendor changed the quantity: apply it here, or set it back at the vendor."""
        try:
            self.app.provision_line(order.id, line_no, f"subscription:{vendor_id}", {None: vendor_id})
        except CspError as e:
            if e.code == "version_conflict":
                raise
            key = f"{order_line_key(order, line_no)}:revert"
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
        vo = self.vendor.find_order(customer_id, order_line_key(order, line_no))
        if vo is None:
            return "not_at_vendor"
        if not vo.is_completed:
            vo = self.vendor.get_order(customer_id, vo.id)
            if not vo.is_completed:
                return "pending"
        self.accept_order(order, line_no, customer_id, vo)
        return "provisioned"


# --- the vendor reconciliation job ------------------------------------------------

DifferenceKind = Literal["orphan", "ghost", "quantity", "status", "term"]
ISO_TERM: dict[str, Term] = {iso: term for term, iso in TERM_ISO.items()}
SYSTEM_RECONCILIATION = SYSTEM_VENDOR_SYNC  # a platform actor: what it records is never pushed back


@dataclass(frozen=True)
class Difference:
    kind: DifferenceKind
    customer_id: str
    vendor_subscription_id: str
    subscription_id: UUID | None
    detail: str
    fixed: str | None = None

    def line(self) -> str:
        here = str(self.subscription_id) if self.subscription_id else "-"
        done = f"  fixed: {self.fixed}" if self.fixed else ""
        return f"{self.kind:8} customer {self.customer_id}  vendor {self.vendor_subscription_id}  here {here}  {self.detail}{done}"


@dataclass
class ReconciliationReport:
    customers: int = 0
    vendor_subscriptions: int = 0
    platform_subscriptions: int = 0
    in_flight: int = 0
    differences: list[Difference] = field(default_factory=list)

    def count(self, kind: DifferenceKind) -> int:
        return sum(1 for d in self.differences if d.kind == kind)

    @property
    def unresolved(self) -> list[Difference]:
        return [d for d in self.differences if d.fixed is None]

    def summary(self) -> str:
        o, g = self.count("orphan"), self.count("ghost")
        found = (
            f"{o} orphan{'s' if o != 1 else ''}, {g} ghost{'s' if g != 1 else ''}, differences in quantity "
            f"{self.count('quantity')}, status {self.count('status')}, term {self.count('term')}"
        )
        fixed = len(self.differences) - len(self.unresolved)
        return (
            f"{self.customers} customers, {self.vendor_subscriptions} subscriptions at the vendor, "
            f"{self.platform_subscriptions} here ({self.in_flight} in flight, skipped): {found}; {fixed} fixed"
        )


ENDED_STATUSES = frozenset({"cancelled", "expired", "transitioned"})


def _expected_vendor_status(sub: Subscription) -> str:
    # a subscription whose every seat moved to an upgrade has ended at the vendor
    return {"trial": "active", "disabled": "suspended", "transitioned": "expired"}.get(sub.status, sub.status)


class VendorReconciliation:
    """Every customer's subscriptions at the vendor compared with the platform's: orphans
    (at the vendor, unknown here), ghosts (here, not at the vendor), quantity, status and
    term differences. With ``fix``, orphans are adopted (``AdoptedFromVendor``) and the
    platform's record is corrected where the vendor is the truth (``CorrectedFromVendor``).

    Work in flight is skipped: a vendor order of an order still being provisioned, or a
    platform subscription with a change not yet answered by the vendor."""

    name = "vendor-reconcile"

    def __init__(
        self,
        app: CspApplication,
        store: SagaStore,
        vendor: Callable[[], VendorGateway],
        interval_seconds: float = 86400.0,
    ) -> None:
        self.app = app
        self.store = store
        self._vendor = vendor
        self.interval = max(60.0, interval_seconds)

    def run(self, now: datetime) -> dict[str, Any]:
        """The scheduled run: once per interval, a report (differences are logged)."""
        period = str(int(now.timestamp() // self.interval))
        if self.store.job_done(self.name, period):
            return {"differences": 0}
        try:
            report = self.reconcile(fix=False)
        except VendorUnavailable as e:
            log.warning("vendor reconciliation: the vendor is unavailable (%s); next tick", e)
            return {"differences": 0, "error": str(e)}
        for d in report.differences:
            log.warning("vendor reconciliation: %s", d.line())
        self.store.record_job(self.name, period, now)
        return {"differences": len(report.differences)}

    def reconcile(self, fix: bool = False) -> ReconciliationReport:
        vendor = self._vendor()
        report = ReconciliationReport()
        ours: dict[str, Subscription] = {}
        busy: set[UUID] = {agg for kind, agg, _ in self.store.pending() if kind in ("order", "push")}
        for sid in self.store.subscription_ids():
            sub = self.app.load(Subscription, sid, "subscription")
            report.platform_subscriptions += 1
            if sub.vendor_subscription_id is not None:
                ours[sub.vendor_subscription_id] = sub
        seen: set[str] = set()
        customers = vendor.list_customers()
        report.customers = len(customers)
        for customer in customers:
            tenant = self._tenant_of(customer)
            orders = {
                li.subscription_id: o
                for o in vendor.list_orders(customer.id)
                for li in o.line_items
                if li.subscription_id
            }
            vsubs = vendor.list_subscriptions(customer.id)
            report.vendor_subscriptions += len(vsubs)
            # bases before add-ons, so an adopted add-on finds its adopted base
            for vs in sorted(vsubs, key=lambda v: v.parent_subscription_id is not None):
                seen.add(vs.id)
                known = ours.get(vs.id)
                if known is None:
                    if vs.status not in ("active", "suspended"):
                        report.in_flight += vs.status == "pending"
                        continue  # an ended subscription unknown here bills nothing
                    d = self._orphan(vs, customer.id, tenant, orders.get(vs.id), busy, ours, fix)
                    if d is None:
                        report.in_flight += 1
                    else:
                        report.differences.append(d)
                    continue
                if known.id in busy or vs.status == "pending":
                    report.in_flight += 1
                    continue
                report.differences.extend(self._compare(known, vs, customer.id, fix))
        for vid, sub in ours.items():
            if vid in seen or sub.status in TERMINAL or sub.id in busy:
                continue
            tenant = self.app.load(Tenant, sub.tenant_id, "tenant")
            d = Difference("ghost", tenant.vendor_customer_id or "-", vid, sub.id, "live here, not at the vendor")
            if fix:
                self._correct(sub, sub.quantity, "cancelled", sub.term, "not at the vendor: ended here")
                d = replace(d, fixed="ended here (cancelled): the vendor holds nothing to bill")
            report.differences.append(d)
        return report

    def _tenant_of(self, customer: VendorCustomer) -> Tenant | None:
        key_id = UniqueKey.id_for(DOMAIN_KEYS, customer.domain)
        if not self.app.exists(key_id):
            return None
        key = self.app.load(UniqueKey, key_id, "tenant domain")
        if key.owner_id is None:
            return None
        tenant = self.app.load(Tenant, key.owner_id, "tenant")
        return tenant if tenant.vendor_customer_id == customer.id else None

    def _orphan(
        self,
        vs: VendorSubscription,
        customer_id: str,
        tenant: Tenant | None,
        order: VendorOrder | None,
        busy: set[UUID],
        ours: dict[str, Subscription],
        fix: bool,
    ) -> Difference | None:
        """The orphan (adopted with ``fix``), or None for work in flight."""
        origin = ""
        if order is not None and order.idempotency_key:
            head = order.idempotency_key.partition(":")[0]
            try:
                source: UUID | None = UUID(head)
            except ValueError:
                source = None
            if source is not None and source in busy:
                return None
            parsed = parse_line_key(order.idempotency_key)
            if parsed is not None and self.app.exists(parsed[0]):
                o = self.app.load(Order, parsed[0], "order")
                if o.status in ("placed", "provision_started"):
                    return None
                origin = f" (vendor order of order {o.number} line {parsed[1]}, which is {o.status})"
        d = Difference(
            "orphan", customer_id, vs.id, None, f"{vs.offer_id} × {vs.quantity} {vs.status} unknown here{origin}"
        )
        if not fix:
            return d
        if tenant is None:
            return replace(d, detail=d.detail + "; the customer is no tenant here: not adopted")
        sub = self._adopt(vs, tenant, ours, f"found at the vendor, unknown here{origin}")
        ours[vs.id] = sub
        return replace(d, subscription_id=sub.id, fixed=f"adopted as subscription {sub.id}")

    def _adopt(
        self, vs: VendorSubscription, tenant: Tenant, ours: dict[str, Subscription], reason: str
    ) -> Subscription:
        app = self.app
        sid = deterministic_id("adopted-subscription", vs.id)
        if app.exists(sid):
            return app.load(Subscription, sid, "subscription")
        now = app.now()
        offer = app.catalog().offer(offer_id_for(vs.offer_id))
        org = app.load(Organization, tenant.organization_id, "organization")
        term = ISO_TERM.get(vs.term_duration, offer.terms[0])
        cycle: BillingCycle = "yearly" if vs.billing_cycle == "yearly" else "monthly"
        if offer.is_trial:
            price = quote(Decimal(0), None, vs.quantity, markup_percent=Decimal(0), default_markup_percent=Decimal(0))
        else:
            price = app.pricing.pricer(org, now)(offer, term, vs.quantity)
        parent = ours.get(vs.parent_subscription_id) if vs.parent_subscription_id else None
        terms = subscription_terms_from_offer(
            offer,
            organization_id=org.id,
            reseller_id=tenant.reseller_id,
            tenant_id=tenant.id,
            tenant_domain=tenant.domain,
            order_id=None,
            line_no=None,
            term=term,
            billing_cycle=cycle,
            quantity=vs.quantity,
            price=price,
            parent_id=parent.id if parent is not None else None,
            vendor_subscription_id=vs.id,
        )
        sub = Subscription.provision(
            sid, terms, actor=SYSTEM_RECONCILIATION, at=now, ends_at=parent.ends_at if parent is not None else None
        )
        sub.record_adoption(reason, actor=SYSTEM_RECONCILIATION, at=now)
        changed: list[Any] = [sub]
        if vs.status == "suspended":
            sub.correct_from_vendor(
                sub.quantity, "suspended", sub.term, "suspended at the vendor", SYSTEM_RECONCILIATION, now
            )
        if parent is not None:
            parent = app.load(Subscription, parent.id, "subscription")
            parent.attach_addon(sub, actor=SYSTEM_RECONCILIATION, at=now)
            changed.append(parent)
        app.save(*changed)
        log.warning("vendor reconciliation: adopted vendor subscription %s as %s (%s)", vs.id, sid, reason)
        return sub

    def _compare(self, sub: Subscription, vs: VendorSubscription, customer_id: str, fix: bool) -> list[Difference]:
        out: list[Difference] = []
        status: SubscriptionStatus = sub.status
        if vs.status != _expected_vendor_status(sub):
            status = "trial" if vs.status == "active" and sub.is_trial else vs.status  # type: ignore[assignment]
            out.append(
                Difference("status", customer_id, vs.id, sub.id, f"here {sub.status}, at the vendor {vs.status}")
            )
        quantity = sub.quantity
        # an ended subscription keeps its last quantity at the vendor and has none here
        ended = sub.status in ENDED_STATUSES and vs.status == _expected_vendor_status(sub)
        if vs.quantity != sub.quantity and not ended:
            quantity = vs.quantity
            out.append(
                Difference("quantity", customer_id, vs.id, sub.id, f"here {sub.quantity}, at the vendor {vs.quantity}")
            )
        term = sub.term
        if vs.term_duration != TERM_ISO[sub.term] and vs.term_duration in ISO_TERM:
            term = ISO_TERM[vs.term_duration]
            out.append(
                Difference(
                    "term", customer_id, vs.id, sub.id, f"here {TERM_ISO[sub.term]}, at the vendor {vs.term_duration}"
                )
            )
        if out and fix:
            reason = "corrected from the vendor: " + "; ".join(d.detail for d in out)
            self._correct(sub, quantity, status, term, reason)
            out = [replace(d, fixed="set here to the vendor's") for d in out]
        return out

    def _correct(self, sub: Subscription, quantity: int, status: SubscriptionStatus, term: Term, reason: str) -> None:
        def attempt() -> None:
            fresh = self.app.load(Subscription, sub.id, "subscription")
            fresh.correct_from_vendor(quantity, status, term, reason, actor=SYSTEM_RECONCILIATION, at=self.app.now())
            self.app.save(fresh)

        self.app.retrying(attempt)


def run_reconciliation(system: Any, fix: bool, say: Callable[[str], None]) -> int:
    """``csp vendor reconcile [--fix]``: the report, one line per difference; exit status 1
    while a difference is left unresolved."""
    try:
        sagas = system.sagas
        assert sagas is not None
        report = VendorReconciliation(system.app, sagas.store, sagas.gateway).reconcile(fix=fix)
        for d in report.differences:
            say(d.line())
        say(report.summary())
        return 1 if report.unresolved else 0
    finally:
        system.close()
