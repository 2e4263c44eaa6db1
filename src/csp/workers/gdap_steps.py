"""The GDAP saga and the customer agreement's pushes: what the steps do, by ids, idempotently.

``sync_gdap(id)`` does whatever a relationship needs next: send a new one to the vendor
(created, then locked for approval: the approval link comes back), learn its approval by
asking the vendor again (a delayed message, a bounded number of times; then the
scheduler's ``gdap`` job asks periodically) or its expiry unapproved after 90 days, give its roles to the reseller's security
groups once active, link the tenant that waited for it, read back an extension or the
expiry at its end, and carry a termination to the vendor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from csp.aggregates.agreement import agreement_versions, latest_agreement_version
from csp.aggregates.base import SYSTEM_PROVISIONING, actor_user_id
from csp.aggregates.errors import CspError, InvalidGdapTransition
from csp.aggregates.gdap import GdapRelationship, entra_roles
from csp.aggregates.organization import Organization
from csp.aggregates.tenant import Tenant
from csp.application import CspApplication
from csp.vendor import AgreementAttestation, VendorGateway, VendorGdapRelationship, VendorRefused
from csp.workers.store import SagaStore

log = logging.getLogger("csp.sagas")

Send = Callable[..., None]
MAX_POLLS = 6  # a few quick looks (an admin approving at once), then the scheduler's gdap job asks, every ASK_SECONDS
ASK_SECONDS = 300.0


def _time(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value)


class GdapSteps:
    def __init__(
        self, app: CspApplication, store: SagaStore, gateway: Callable[[], VendorGateway], send: Send, poll_ms: int
    ) -> None:
        self.app = app
        self.store = store
        self._gateway = gateway
        self.send = send
        self.poll_ms = poll_ms

    @property
    def vendor(self) -> VendorGateway:
        return self._gateway()

    def _customer_id(self, tenant: Tenant) -> str | None:
        if tenant.vendor_customer_id is not None:
            return tenant.vendor_customer_id
        found = self.vendor.find_customer(tenant.domain)  # a tenant being linked
        return None if found is None else found.id

    def _end(self, gid: UUID, reason: str) -> None:
        log.warning("GDAP relationship %s ended: %s", gid, reason)
        rel = self.app.load(GdapRelationship, gid, "GDAP relationship")
        if rel.status not in ("terminated", "expired"):
            self.app.terminate_gdap(gid, actor=SYSTEM_PROVISIONING, reason=reason)
        self.app.confirm_gdap_termination(gid)
        self.store.complete("gdap", gid)

    def sync_gdap(self, gdap_id: str, attempt: int = 0) -> None:
        gid = UUID(gdap_id)
        rel = self.app.load(GdapRelationship, gid, "GDAP relationship")
        if rel.status == "terminated":
            if not rel.terminated_at_vendor and rel.vendor_relationship_id is not None:
                try:
                    self.vendor.terminate_gdap_relationship(rel.vendor_relationship_id, f"gdap:{gid}:terminate")
                except VendorRefused as e:  # already ended there (expired): nothing more to end
                    log.info("GDAP relationship %s: the vendor did not terminate it (%s)", gid, e)
            self.app.confirm_gdap_termination(gid)
            self.store.complete("gdap", gid)
            return
        if rel.status == "expired":
            self.store.complete("gdap", gid)
            return
        if rel.status == "created":
            tenant = self.app.load(Tenant, rel.tenant_id, "tenant")
            customer_id = self._customer_id(tenant)
            if customer_id is None:
                self._end(gid, f"no tenant {tenant.domain} at the vendor")
                return
            roles = entra_roles()
            try:
                sent = self.vendor.create_gdap_relationship(
                    customer_id,
                    f"{tenant.domain} {rel.id.hex[:8]}",
                    tuple(roles[r].id for r in rel.roles),
                    rel.duration_days,
                    rel.auto_extend,
                    f"gdap:{gid}",
                )
            except VendorRefused as e:
                self._end(gid, f"the vendor refused it: {e.message} [{e.code}]")
                return
            try:
                rel = self.app.record_gdap_sent(gid, sent.id, sent.approval_url)
            except InvalidGdapTransition:  # terminated while it was being sent: end it there too
                self.vendor.terminate_gdap_relationship(sent.id, f"gdap:{gid}:terminate")
                self.app.confirm_gdap_termination(gid)
                self.store.complete("gdap", gid)
                return
        assert rel.vendor_relationship_id is not None
        at_vendor = self.vendor.get_gdap_relationship(rel.vendor_relationship_id)
        if at_vendor.status in ("terminated", "terminationRequested"):
            self._end(gid, "terminated at the vendor")
            return
        if rel.status == "approval_pending":
            if at_vendor.status == "expired":  # not approved within 90 days: it never will be
                self.app.record_gdap_approval_expired(gid)
                self.store.complete("gdap", gid)
                return
            if at_vendor.status != "active":
                if attempt < MAX_POLLS:
                    delay = self.poll_ms * min(2**attempt, 4)
                    self.send("sync_gdap", gdap_id, attempt + 1, delay_ms=delay)
                return
            starts, ends = _time(at_vendor.activated_at), _time(at_vendor.ends_at)
            if starts is None or ends is None:
                return
            rel = self.app.record_gdap_approved(gid, starts, ends)
        self._follow(rel, at_vendor)

    def _follow(self, rel: GdapRelationship, at_vendor: VendorGdapRelationship) -> None:
        """An active relationship: read back its end, assign access, link its tenant."""
        if at_vendor.status == "expired":
            self.app.record_gdap_expired(rel.id)
            self.store.complete("gdap", rel.id)
            return
        ends = _time(at_vendor.ends_at)
        if at_vendor.is_active and ends is not None and rel.ends_at is not None and ends > rel.ends_at:
            rel = self.app.record_gdap_extended(rel.id, ends)
        if not rel.is_usable:
            return
        assert rel.vendor_relationship_id is not None
        roles = entra_roles()
        for group in rel.security_group_ids:
            if group in rel.access_groups:
                continue
            try:
                assignment = self.vendor.assign_gdap_access(
                    rel.vendor_relationship_id, group, tuple(roles[r].id for r in rel.roles), f"gdap:{rel.id}:{group}"
                )
            except VendorRefused as e:
                log.warning("GDAP relationship %s: access for group %s refused: %s", rel.id, group, e)
                continue
            rel = self.app.record_gdap_access_assigned(rel.id, group, assignment)
        tenant = self.app.load(Tenant, rel.tenant_id, "tenant")
        if tenant.mode == "link" and tenant.status == "verifying":
            customer_id = self._customer_id(tenant)
            if customer_id is not None:
                self.app.link_tenant_through_gdap(tenant.id, rel.id, customer_id)
                self.store.complete("tenant", tenant.id)

    # --- the customer agreement -----------------------------------------------------

    def attestation_for(self, organization_id: UUID, tenant: Tenant | None = None) -> AgreementAttestation | None:
        """The attestation to send for an organization's tenant: the customer's recorded one;
        for the reseller's own tenant, its own acceptance by the user who asked for the tenant."""
        agreement = self.app.customer_agreement(organization_id)
        if agreement is not None:
            a = agreement.attestation
            return AgreementAttestation(
                a.first_name, a.last_name, a.email, a.phone, a.accepted_on.isoformat(), a.template_id
            )
        org = self.app.load(Organization, organization_id, "organization")
        if org.kind != "reseller" or tenant is None:
            return None
        first = next(iter(self.app.repository.event_store.get(tenant.id, lte=1)), None)
        uid = actor_user_id(str(getattr(first, "actor", "")))
        if uid is None:
            return None
        try:
            user = self.app.user(uid)
        except CspError:
            return None
        version = agreement_versions()[latest_agreement_version()]
        return AgreementAttestation(
            user.first_name,
            user.last_name,
            user.email,
            org.profile.contact_phone,
            tenant.requested_at.date().isoformat(),
            version.template_id,
        )

    def send_agreement(self, organization_id: UUID, customer_id: str, key: str) -> bool:
        """Before the first order for a customer tenant: its agreement at the vendor (once per
        attestation: the key names it). False when there is none to send."""
        agreement = self.app.customer_agreement(organization_id)
        attestation = self.attestation_for(organization_id)
        if agreement is None or attestation is None:
            return False
        self.vendor.accept_agreement(customer_id, attestation, f"{key}:{agreement.id}:{agreement.version}")
        return True


def rederive_gdap(app: CspApplication, agg: UUID) -> tuple[str, tuple[Any, ...]] | None:
    rel = app.load(GdapRelationship, agg, "GDAP relationship")
    if rel.status == "expired" or (rel.status == "terminated" and rel.terminated_at_vendor):
        return None
    return ("sync_gdap", (str(agg),))


class GdapJob:
    """The scheduler's part: the reminder point (``expiring``, 30 days before the end of one
    that will not extend), the vendor asked at each relationship's end (expired, or
    extended), and approvals still pending (and links waiting for admin rights) asked every
    five minutes."""

    name = "gdap"

    def __init__(
        self, app: CspApplication, store: SagaStore, send: Send, interval_seconds: float = ASK_SECONDS
    ) -> None:
        self.app = app
        self.store = store
        self.send = send
        self.interval = interval_seconds

    def _link_waits(self, tenant_id: UUID) -> bool:
        try:
            tenant = self.app.load(Tenant, tenant_id, "tenant")
        except CspError:
            return False
        return tenant.mode == "link" and tenant.status == "verifying"

    def run(self, now: datetime) -> dict[str, Any]:
        period = str(int(now.timestamp() // self.interval))
        ask_pending = not self.store.job_done(self.name, period)
        changes = asked = 0
        for kind, agg, _ in self.store.pending():
            if kind == "tenant" and ask_pending and self._link_waits(agg):
                self.send("create_tenant", str(agg))  # admin rights may have been granted at the vendor
                asked += 1
            if kind != "gdap":
                continue
            try:
                rel = self.app.load(GdapRelationship, agg, "GDAP relationship")
                if rel.status == "active" and self.app.mark_gdap_expiring(agg, now).status == "expiring":
                    changes += 1
                    rel = self.app.load(GdapRelationship, agg, "GDAP relationship")
            except CspError as e:
                log.warning("GDAP relationship %s: %s", agg, e)
                continue
            ended = rel.is_usable and rel.ends_at is not None and rel.ends_at <= now
            if ended or (ask_pending and rel.status == "approval_pending"):
                self.send("sync_gdap", str(agg), MAX_POLLS)
                asked += 1
        if ask_pending:
            self.store.record_job(self.name, period, now)
        return {"changes": changes, "asked": asked}
