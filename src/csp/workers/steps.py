"""The saga steps: what each actor does, by ids only, idempotently.

A step reads the aggregates' state, asks the vendor with an idempotency key derived
from what it is doing (``"{order_id}:{line_no}"`` for an order line), and records the
answer through the application's commands, which are themselves idempotent. Running a
step twice, or after a crash at any point, changes nothing more than running it once.
Waiting for the vendor (an order pending, a tenant being created) re-sends the step as a
delayed message; it is not a retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from csp.aggregates.base import SYSTEM_VENDOR_SYNC
from csp.aggregates.customer_invoice import CustomerInvoice
from csp.aggregates.errors import CspError
from csp.aggregates.order import ChangeLine, NewSubscriptionLine, Order
from csp.aggregates.organization import Organization
from csp.aggregates.subscription import TERMINAL, Subscription
from csp.aggregates.tenant import Tenant
from csp.aggregates.terms import TERM_ISO
from csp.application import CspApplication
from csp.application.orders import subscription_id_for
from csp.mail import (
    Mailer,
    Message,
    licences_provisioned_message,
    order_placed_message,
    partially_provisioned_message,
    provisioning_failed_message,
    tenant_created_message,
    vendor_refused_message,
)
from csp.mail.customer_invoices import customer_invoice_message
from csp.vendor import CompanyProfile, LineItem, VendorGateway, VendorRefused, VendorUnavailable
from csp.workers.gdap_steps import GdapSteps
from csp.workers.notices import CUSTOMER_COPIES, customer_copy, notice_message
from csp.workers.reconcile import LineNotAccepted, OrderLines, order_line_key
from csp.workers.store import SagaStore
from csp.workers.usage import AzureSync

log = logging.getLogger("csp.sagas")

Send = Callable[..., None]  # send(actor_name, *args, delay_ms=None)

# Pushed to the vendor when a user (not the platform itself) made them.
PUSHED_CHANGES: tuple[type, ...] = (
    Subscription.SeatsAdded,
    Subscription.SeatsRemoved,
    Subscription.Suspended,
    Subscription.Reactivated,
    Subscription.Cancelled,
    Subscription.BillingCycleChangeScheduled,
    Subscription.AutoRenewChanged,
    Subscription.TrialConverted,
    Subscription.RenewalQuantityScheduled,
    Subscription.RenewalTermScheduled,
    Subscription.Provisioned,
    # licence assignment: the vendor holds the tenant's users and their licences
    Subscription.LicenceAssignmentRequested,
    Subscription.LicenceUnassignmentRequested,
    # issue 16: upgrades and the next term's offer
    Subscription.TransitionRequested,
    Subscription.RenewalOfferScheduled,
)
PLATFORM_ACTORS = ("system:provisioning", "system:vendor-sync", "system:scheduler", "system:billing")


def needs_push(event: Any) -> bool:
    return isinstance(event, PUSHED_CHANGES) and not str(event.actor).startswith(PLATFORM_ACTORS)


class NotReady(Exception):
    """The vendor is still working on it: ask again later (a delayed message)."""


class PlatformNotReady(Exception):
    """The platform's own state does not allow the step (a subscription not linked to its
    vendor subscription, a change of a kind never pushed): a fault of ours, never shown as
    the vendor's refusal. Retried like a transient error; when the retries run out it is
    listed as failed for the operator (``csp sagas failed``), its lane waiting behind it."""


class SagaSteps:
    def __init__(
        self,
        app: CspApplication,
        store: SagaStore,
        gateway: Callable[[], VendorGateway],
        mailer: Mailer,
        send: Send,
        poll_ms: int = 500,
        reconcile_ms: int = 5000,
        settle_ms: int = 30_000,
        public_url: str = "",
    ) -> None:
        self.app = app
        self.public_url = public_url.rstrip("/")  # for links in emails
        self.reconcile_ms = reconcile_ms
        self.settle_ms = settle_ms
        self.lines = OrderLines(app, gateway)
        self.store = store
        self._gateway = gateway
        self.mailer = mailer
        self.send = send
        self.poll_ms = poll_ms
        # issue 16: GDAP relationships and the customer agreement (csp.workers.gdap_steps)
        self.gdap = GdapSteps(app, store, gateway, send, poll_ms)
        self.azure = AzureSync(app, gateway)  # Azure plans: entitlements, daily rated usage

    @property
    def vendor(self) -> VendorGateway:
        return self._gateway()

    # --- provisioning -----------------------------------------------------------

    def provision_order(self, order_id: str) -> None:
        oid = UUID(order_id)
        order = self.app.load(Order, oid, "order")
        if order.status == "placed":
            order = self.app.start_provisioning(oid)
        if order.status != "provision_started":
            self.store.complete("order", oid)
            return
        self._send_agreement(order)
        for line_no in sorted(order.pending_line_nos):
            try:
                done = self._provision_line(order, line_no)
            except VendorRefused as e:
                line = order.line(line_no)
                self.app.fail_order_line(oid, line_no, f"line {line_no} ({line.offer_name}): {e.message} [{e.code}]")
                done = True
            except LineNotAccepted as e:
                self.app.fail_order_line(oid, line_no, f"line {line_no}: {e.reason}")
                done = True
            except CspError as e:
                if e.code == "version_conflict":
                    raise
                self.app.fail_order_line(oid, line_no, f"line {line_no}: {e.message} [{e.code}]")
                done = True
            if not done:
                self.send("provision_order", order_id, delay_ms=self.poll_ms)
                return
            order = self.app.load(Order, oid, "order")
        # Every line has its outcome: finished, partially provisioned or failed.
        self.app.finish_provisioning(oid)
        self.store.complete("order", oid)

    def _send_agreement(self, order: Order) -> None:
        """The customer's agreement at the vendor before its first order there (a tenant
        created before the agreement was recorded, or linked, has none yet)."""
        for tenant_id in {order.line(n).tenant_id for n in order.pending_line_nos}:
            tenant = self.app.load(Tenant, tenant_id, "tenant")
            if tenant.vendor_customer_id is None:
                continue
            try:
                if self.vendor.get_customer(tenant.vendor_customer_id).agreement_accepted:
                    continue
                self.gdap.send_agreement(order.organization_id, tenant.vendor_customer_id, f"agreement:{tenant.id}")
            except VendorRefused as e:  # the lines then fail with the vendor's reason
                log.warning("order %s: the vendor refused the customer agreement: %s", order.id, e)

    def _customer_id(self, tenant_id: UUID) -> str:
        tenant = self.app.load(Tenant, tenant_id, "tenant")
        if tenant.vendor_customer_id is None:
            raise VendorRefused("TenantNotReady", f"tenant {tenant.domain} is {tenant.status} at the vendor")
        return tenant.vendor_customer_id

    def _provision_line(self, order: Order, line_no: int) -> bool:
        """True when the line is recorded as provisioned; False while the vendor works on it."""
        line = order.line(line_no)
        key = order_line_key(order, line_no)
        if isinstance(line, NewSubscriptionLine) and line.parent_line_no in order.failed_line_nos:
            base = order.line(line.parent_line_no)
            raise LineNotAccepted(f"its base line {base.line_no} ({base.offer_name}) failed")
        customer_id = self._customer_id(line.tenant_id)
        if isinstance(line, ChangeLine):
            sub = self.app.load(Subscription, line.subscription_id, "subscription")
            if sub.vendor_subscription_id is None:
                raise VendorRefused("SubscriptionNotFound", "the subscription is not known at the vendor")
            target = sub.quantity + line.quantity_delta
            vs = self.vendor.update_subscription(customer_id, sub.vendor_subscription_id, {"quantity": target}, key)
            self.lines.accept_change(order, line_no, customer_id, vs.id, sub.quantity)
            return True
        assert isinstance(line, NewSubscriptionLine)
        catalog = self.app.catalog()
        offer = catalog.offer(line.offer_id)
        parent_vendor_id = None
        parent_sub_id = line.parent_subscription_id
        if parent_sub_id is None and line.parent_line_no is not None:
            parent_sub_id = subscription_id_for(order.id, line.parent_line_no)
        if parent_sub_id is not None:
            parent = self.app.load(Subscription, parent_sub_id, "subscription")
            parent_vendor_id = parent.vendor_subscription_id
        items = [
            LineItem(1, offer.vendor_offer_id, line.quantity, line.billing_cycle, TERM_ISO[line.term], parent_vendor_id)
        ]
        for i, choice in enumerate(line.addons, start=2):
            addon = catalog.offer(choice.offer_id)
            term, cycle = choice.term_and_cycle(line, addon)
            items.append(LineItem(i, addon.vendor_offer_id, choice.quantity, cycle, TERM_ISO[term], None, 1))
        vo = self.vendor.place_order(customer_id, items, key)
        if not vo.is_completed:
            vo = self.vendor.get_order(customer_id, vo.id)
            if not vo.is_completed:
                return False
        self.lines.accept_order(order, line_no, customer_id, vo)
        return True

    def provisioning_gave_up(self, order_id: str, error: str) -> None:
        """Retries exhausted: before anything is failed, the vendor is asked what became of
        the line in progress (``reconcile_order``)."""
        self.send("reconcile_order", order_id, error)

    def reconcile_order(self, order_id: str, error: str, looks: int = 1) -> None:
        """Ask the vendor what became of the first pending line (by its idempotency key):
        done there, it is provisioned here and the saga goes on with a fresh attempt;
        still pending there, the saga waits for it; not there, the line failed, with the
        last error, and the saga goes on with the order's other lines. While the vendor cannot be asked, nothing is concluded: ask later.

        "Not there" is concluded only at the second look, ``settle_ms`` after the first: a
        request whose answer the saga gave up waiting for may still be queued or running at
        the vendor, and would otherwise create subscriptions for a line recorded failed."""
        oid = UUID(order_id)
        order = self.app.load(Order, oid, "order")
        if order.status == "placed":
            order = self.app.start_provisioning(oid)
        if order.status != "provision_started":
            self.store.complete("order", oid)
            return
        if not order.pending_line_nos:
            self.send("provision_order", order_id)
            return
        line_no = min(order.pending_line_nos)
        try:
            state = self.lines.settle(order, line_no)
        except VendorUnavailable as e:
            log.warning("order %s: the vendor cannot say what became of line %d (%s); asking later", oid, line_no, e)
            self.send("reconcile_order", order_id, error, looks, delay_ms=self.reconcile_ms)
            return
        except LineNotAccepted as e:
            self.app.fail_order_line(oid, line_no, f"line {line_no}: {e.reason}")
            self.send("provision_order", order_id)  # the other lines go on
            return
        if state == "provisioned":
            log.info("order %s: line %d was done at the vendor; provisioned, going on", oid, line_no)
            self.send("provision_order", order_id)
        elif state == "pending":
            self.send("provision_order", order_id, delay_ms=self.poll_ms)
        elif looks < 2:
            log.info("order %s: line %d not found at the vendor; looking again in %d ms", oid, line_no, self.settle_ms)
            self.send("reconcile_order", order_id, error, looks + 1, delay_ms=self.settle_ms)
        else:
            line = order.line(line_no)
            self.app.fail_order_line(
                oid,
                line_no,
                f"line {line_no} ({line.offer_name}): the vendor did not complete the order after repeated "
                f"attempts: {error}",
            )
            self.send("provision_order", order_id)  # the other lines go on

    # --- tenants ---------------------------------------------------------------

    def create_tenant(self, tenant_id: str) -> None:
        tid = UUID(tenant_id)
        tenant = self.app.load(Tenant, tid, "tenant")
        if tenant.status == "requested":
            tenant = self.app.start_tenant_verification(tid)
        if tenant.status != "verifying":
            self.store.complete("tenant", tid)
            return
        org = self.app.load(Organization, tenant.organization_id, "organization")
        if tenant.mode == "link":
            # Linking needs an active GDAP relationship (asked with POST /tenants/{id}/gdap,
            # approved by the customer's admin: the GDAP saga then links it), or one the
            # vendor already holds; the old yes/no delegated access (DAP) counts only where
            # the vendor still reports it (the simulator's legacy mode).
            found = self.vendor.find_customer(tenant.domain)
            if found is None:
                self.app.reject_tenant(tid, f"no tenant {tenant.domain} exists at the vendor", code="tenant_not_found")
            elif found.delegated_access or any(r.is_active for r in self.vendor.list_gdap_relationships(found.id)):
                self.app.record_tenant_linked(tid, found.id)
            else:  # still pending: asked again by the GDAP saga, or the scheduler's gdap job
                log.info("tenant %s: linking waits for an approved GDAP relationship", tenant.domain)
                return
            self.store.complete("tenant", tid)
            return
        key = f"tenant:{tid}"
        profile = org.profile
        if tenant.vendor_customer_id is None:
            # The domain check. A taken domain may be our own earlier attempt whose answer was
            # lost: creating with the same key then returns our customer, else the vendor
            # refuses with DomainAlreadyExists.
            taken = self.vendor.domain_exists(tenant.domain)
            try:
                customer = self.vendor.create_customer(
                    tenant.domain,
                    CompanyProfile(
                        company_name=profile.name,
                        email=profile.contact_email,
                        country=profile.country,
                        city=profile.address.city,
                        address_line1=profile.address.line1,
                        postal_code=profile.address.postal_code,
                        phone=profile.contact_phone,
                    ),
                    key,
                )
            except VendorRefused as e:
                if e.code == "DomainAlreadyExists" or taken:
                    self.app.reject_tenant(tid, f"the domain {tenant.domain} is already taken", code="domain_taken")
                else:
                    self.app.reject_tenant(tid, f"{e.message} [{e.code}]", code="vendor_refused")
                self.store.complete("tenant", tid)
                return
            tenant = self.app.record_tenant_vendor_customer(tid, customer.id, customer.admin_username)
        assert tenant.vendor_customer_id is not None
        try:
            customer = self.vendor.get_customer(tenant.vendor_customer_id)
            if not customer.is_active:
                self.send("create_tenant", tenant_id, delay_ms=self.poll_ms)
                return
            attestation = self.gdap.attestation_for(org.id, tenant)
            if not tenant.agreement_accepted and attestation is not None:
                # the customer's recorded acceptance (else it is sent before its first order)
                self.vendor.accept_agreement(customer.id, attestation, f"{key}:agreement")
                self.app.record_tenant_agreement_accepted(tid)
        except VendorRefused as e:  # the vendor's own refusal, never a transient failure
            self.app.reject_tenant(tid, f"{e.message} [{e.code}]", code="vendor_refused")
            self.store.complete("tenant", tid)
            return
        self.app.record_tenant_created(tid, customer.id, customer.admin_username)
        self.store.complete("tenant", tid)

    def tenant_gave_up(self, tenant_id: str, error: str) -> None:
        """Retries exhausted on transient failures: the vendor never refused, so the tenant
        is not rejected; the step resumes later, from the last vendor call recorded."""
        tid = UUID(tenant_id)
        tenant = self.app.load(Tenant, tid, "tenant")
        if tenant.status not in ("requested", "verifying"):
            self.store.complete("tenant", tid)
            return
        log.warning("tenant %s: the vendor did not answer (%s); resuming later", tenant.domain, error)
        self.send("create_tenant", tenant_id, delay_ms=self.reconcile_ms)

    # --- subscription changes pushed to the vendor ----------------------------------

    def push_change(self, subscription_id: str, version: int) -> None:
        """One change to the vendor, in its family's lane: the vendor sees a base's and its
        add-ons' changes in the order they were decided, whatever order the broker delivers
        (or redelivers) the steps in: a step waits, delayed, for every earlier one."""
        sid = UUID(subscription_id)
        if self.app.vendor_answer_recorded(sid, version):
            self.store.complete("push", sid, version)
            return
        if not self.store.is_pending("push", sid, version) or self.store.earlier_in_lane(sid, version):
            # not recorded by the relay yet (it enqueues, then records), or behind another
            self.send("push_change", subscription_id, version, delay_ms=self.poll_ms)
            return
        sub = self.app.load(Subscription, sid, "subscription")
        change = self.app.subscription_event(sid, version)
        key = f"{sid}:{version}"
        tenant = self.app.load(Tenant, sub.tenant_id, "tenant")
        if tenant.vendor_customer_id is None:
            raise PlatformNotReady(f"tenant {tenant.domain} has no vendor customer")
        customer_id = tenant.vendor_customer_id
        try:
            if isinstance(change, Subscription.Provisioned):
                done = self._create_addon(sub, customer_id, key)
                if not done:
                    self.send("push_change", subscription_id, version, delay_ms=self.poll_ms)
                    return
            else:
                if sub.vendor_subscription_id is None:
                    raise PlatformNotReady(f"subscription {sid} is not linked to a vendor subscription")
                self._push(sub, change, customer_id, sub.vendor_subscription_id, key)
        except VendorRefused as e:
            self.app.record_vendor_refusal(sid, version, f"{e.message} [{e.code}]")
            self.store.complete("push", sid, version)
            return
        self.app.acknowledge_vendor_change(sid, version)
        self.store.complete("push", sid, version)

    def _push(self, sub: Subscription, change: Any, customer_id: str, vendor_id: str, key: str) -> None:
        v = self.vendor
        if isinstance(change, (Subscription.SeatsAdded, Subscription.SeatsRemoved)):
            v.update_subscription(customer_id, vendor_id, {"quantity": change.quantity}, key)
        elif isinstance(change, Subscription.Suspended):
            v.update_subscription(customer_id, vendor_id, {"status": "suspended"}, key)
        elif isinstance(change, Subscription.Reactivated):
            v.update_subscription(customer_id, vendor_id, {"status": "active"}, key)
        elif isinstance(change, Subscription.Cancelled):
            v.update_subscription(customer_id, vendor_id, {"status": "cancelled"}, key)
        elif isinstance(change, Subscription.BillingCycleChangeScheduled):
            v.update_subscription(
                customer_id, vendor_id, {"billingCycle": change.billing_cycle or sub.billing_cycle}, key
            )
        elif isinstance(change, Subscription.AutoRenewChanged):
            v.update_subscription(customer_id, vendor_id, {"autoRenewEnabled": change.auto_renew}, key)
        elif isinstance(change, Subscription.RenewalQuantityScheduled):
            v.update_subscription(customer_id, vendor_id, {"renewalQuantity": change.quantity}, key)
        elif isinstance(change, Subscription.RenewalTermScheduled):
            v.update_subscription(customer_id, vendor_id, {"renewalTermDuration": TERM_ISO[change.term]}, key)
        elif isinstance(change, (Subscription.LicenceAssignmentRequested, Subscription.LicenceUnassignmentRequested)):
            self._push_licence(sub, change, customer_id, vendor_id, key)
        elif isinstance(change, Subscription.TrialConverted):
            offer = self.app.catalog().offer(change.terms.offer_id)
            v.convert_trial(
                customer_id,
                vendor_id,
                offer.vendor_offer_id,
                change.terms.quantity,
                change.terms.billing_cycle,
                TERM_ISO[change.terms.term],
                key,
            )
        elif isinstance(change, Subscription.RenewalOfferScheduled):
            next_offer = self.app.catalog().offer(change.offer_id) if change.offer_id is not None else None
            v.update_subscription(
                customer_id, vendor_id, {"renewalOfferId": next_offer.vendor_offer_id if next_offer else None}, key
            )
        elif isinstance(change, Subscription.TransitionRequested):
            self._transition(sub, change, customer_id, vendor_id, key)
        else:
            raise PlatformNotReady(f"{type(change).__name__} is not pushed to the vendor")

    def _push_licence(self, sub: Subscription, change: Any, customer_id: str, vendor_id: str, key: str) -> None:
        """One user's licence at the vendor; then the subscription's assigned figure is the
        vendor's again (its number of licensed users), before the change is acknowledged."""
        v = self.vendor
        if isinstance(change, Subscription.LicenceAssignmentRequested):
            v.assign_licence(customer_id, change.tenant_user_id, vendor_id, key)
        else:
            v.unassign_licence(customer_id, change.tenant_user_id, vendor_id, key)
        vs = v.get_subscription(customer_id, vendor_id)
        if vs.assigned_licences != sub.assigned:
            self.app.sync_assigned_licences(sub.id, vs.assigned_licences, actor=SYSTEM_VENDOR_SYNC)

    def _transition(
        self, sub: Subscription, change: Subscription.TransitionRequested, customer_id: str, vendor_id: str, key: str
    ) -> None:
        """Have the vendor do the upgrade (the same idempotency key on a replay answers the
        same new subscription; no eligibility pre-check, which a done move would fail), then
        record it here. A refusal is recorded with the vendor's reason by ``push_change``."""
        request = change.request
        if sub.pending_transition is None or sub.pending_transition.transition_id != request.transition_id:
            return  # recorded already (a replayed step)
        offer = self.app.catalog().offer(request.offer_id)
        done = self.vendor.transition(customer_id, vendor_id, offer.vendor_offer_id, request.quantity, key)
        self.app.complete_transition(sub.id, request.transition_id, done.to_subscription_id)

    def _create_addon(self, addon: Subscription, customer_id: str, key: str) -> bool:
        """An add-on a user attached to a live base: one vendor order, then link its id."""
        if addon.parent_id is None:
            raise PlatformNotReady("only add-ons are created outside an order")
        base = self.app.load(Subscription, addon.parent_id, "subscription")
        if base.vendor_subscription_id is None:
            raise PlatformNotReady(f"the base subscription {base.id} is not linked to a vendor subscription")
        offer = self.app.catalog().offer(addon.offer_id)
        item = LineItem(
            1,
            offer.vendor_offer_id,
            addon.quantity,
            addon.billing_cycle,
            TERM_ISO[addon.term],
            base.vendor_subscription_id,
        )
        vo = self.vendor.place_order(customer_id, [item], key)
        if not vo.is_completed:
            vo = self.vendor.get_order(customer_id, vo.id)
            if not vo.is_completed:
                return False
        vendor_id = vo.line_items[0].subscription_id
        if vendor_id:
            self.app.link_vendor_subscription(addon.id, vendor_id)
        return True

    # --- periodic sync from the vendor --------------------------------------------

    def sync_subscription(self, subscription_id: str) -> None:
        """Assigned licences (every subscription) and rated usage (usage-based ones)."""
        sid = UUID(subscription_id)
        sub = self.app.load(Subscription, sid, "subscription")
        if sub.status in TERMINAL or sub.vendor_subscription_id is None:
            return
        customer_id = self._customer_id(sub.tenant_id)
        vs = self.vendor.get_subscription(customer_id, sub.vendor_subscription_id)
        if vs.assigned_licences != sub.assigned:
            self.app.sync_assigned_licences(sid, vs.assigned_licences, actor=SYSTEM_VENDOR_SYNC)
        if sub.type == "usage":
            self.azure.import_usage(subscription_id)

    # --- email ------------------------------------------------------------------

    def send_mail(self, kind: str, aggregate_id: str, version: int) -> None:
        """The email an event calls for, once (a sent-mail record keyed by the event)."""
        agg_id = UUID(aggregate_id)
        key = f"{aggregate_id}:{version}"
        pending_kind = f"mail:{kind}"
        if self.store.mail_sent(key) and (kind not in CUSTOMER_COPIES or self.store.mail_sent(f"{key}:customer")):
            self.store.complete(pending_kind, agg_id, version)
            return
        message = self._message(kind, agg_id, version)
        if message is not None:
            if not self.store.mail_sent(key):
                self.mailer.send(message)
                self.store.record_mail(key, kind, message.to, self.app.now())
            # the customer's copy, when the reseller wants it (csp.workers.notices)
            copy = customer_copy(self.app, kind, agg_id, message)
            if copy is not None and not self.store.mail_sent(f"{key}:customer"):
                self.mailer.send(copy)
                self.store.record_mail(f"{key}:customer", copy.kind, copy.to, self.app.now())
        self.store.complete(pending_kind, agg_id, version)

    def _customer_invoice_message(self, invoice_id: UUID, version: int) -> Message | None:
        inv = self.app.load(CustomerInvoice, invoice_id, "customer invoice", version=version)
        if inv.number is None or inv.seller is None or inv.buyer is None or inv.issued_at is None:
            return None
        if not inv.email_to:
            return None
        return customer_invoice_message(
            inv.email_to,
            inv.seller.name,
            inv.buyer.name,
            inv.number,
            inv.period,
            inv.gross,
            inv.currency,
            inv.tax.mention if inv.tax is not None else "",
            f"{self.public_url}/api/v1/customer-invoices/{invoice_id}?format=pdf",
            inv.issued_at,
        )

    def _reseller_email(self, reseller_id: UUID) -> str:
        return self.app.load(Organization, reseller_id, "organization").profile.contact_email

    def _person(self, actor: str) -> str:
        """``user:<id>`` as the person's name and email; any other actor as it is."""
        kind, _, ident = actor.partition(":")
        if kind != "user":
            return actor
        try:
            user = self.app.user(UUID(ident))
        except (ValueError, CspError):
            return actor
        name = f"{user.first_name} {user.last_name}".strip()
        return f"{name} ({user.email})" if name else user.email

    def _message(self, kind: str, agg_id: UUID, version: int) -> Message | None:
        app = self.app
        if kind == "notice":  # a lifecycle notice (csp.workers.notices)
            return notice_message(app, agg_id)
        if kind == "customer_invoice_issued":
            return self._customer_invoice_message(agg_id, version)
        if kind == "tenant_created":
            t = app.load(Tenant, agg_id, "tenant", version=version)
            org = app.load(Organization, t.organization_id, "organization")
            return tenant_created_message(
                self._reseller_email(t.reseller_id),
                org.name,
                t.domain,
                t.admin_username or "",
                t.vendor_customer_id or "",
                t.ready_at or app.now(),
            )
        if kind == "vendor_refused":
            sub = app.load(Subscription, agg_id, "subscription", version=version)
            refusal = app.subscription_event(agg_id, version)
            return vendor_refused_message(
                self._reseller_email(sub.reseller_id),
                sub.offer_name,
                sub.tenant_domain,
                getattr(refusal, "change_type", "change"),
                sub.last_vendor_refusal or "",
                refusal.at,
            )
        order = app.load(Order, agg_id, "order", version=version)
        org = app.load(Organization, order.organization_id, "organization")
        lines: list[tuple[str, str]] = []
        for x in order.lines:
            lines.append((x.offer_name, x.requested_change))
            lines.extend((f"+ {a.offer_name} (add-on)", f"+{a.quantity} Users") for a in getattr(x, "addons", ()))
        to = self._reseller_email(order.reseller_id)
        if kind == "order_placed":
            placed_by = self._person(order.terms_accepted_by or order.created_by)
            return order_placed_message(
                to, order.number, org.name, placed_by, lines, f"{order.total} EUR", order.placed_at or app.now()
            )
        if kind == "licences_provisioned":
            return licences_provisioned_message(
                to,
                order.number,
                org.name,
                lines,
                [x.tenant_domain for x in order.lines],
                order.finished_at or app.now(),
            )
        if kind == "partially_provisioned":
            outcomes = [
                (x.offer_name, x.requested_change, order.line_failure(x.line_no) or order.line_outcome(x.line_no))
                for x in order.lines
            ]
            return partially_provisioned_message(
                to, order.number, org.name, order.outcome or "", outcomes, order.finished_at or app.now()
            )
        if kind == "provisioning_failed":
            failed = order.line(order.failed_line_no).offer_name if order.failed_line_no else None
            return provisioning_failed_message(
                to, order.number, org.name, order.failure_reason or "", failed, order.finished_at or app.now()
            )
        log.warning("no email for kind %s", kind)
        return None
