"""GDAP commands: a reseller's request and termination, and what the GDAP saga reads back."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from csp.aggregates.base import SYSTEM_PROVISIONING, SYSTEM_SCHEDULER, Actor
from csp.aggregates.errors import InvalidInput, TenantNotReady
from csp.aggregates.gdap import GdapRelationship, default_roles
from csp.aggregates.tenant import Tenant
from csp.application.base import CspApplicationBase


class GdapCommands(CspApplicationBase):
    def request_gdap(
        self,
        tenant_id: UUID,
        roles: list[str] | None,
        duration_days: int,
        auto_extend: bool,
        actor: Actor,
        gdap_id: UUID | None = None,
        security_group_ids: list[str] | None = None,
    ) -> GdapRelationship:
        """Ask a customer tenant for granular delegated admin rights (least privilege by
        default). A tenant being linked may ask too: the link waits for the approval."""
        tenant = self.load(Tenant, tenant_id, "tenant")
        if not (tenant.is_usable or (tenant.mode == "link" and tenant.status in ("requested", "verifying"))):
            raise TenantNotReady(
                f"tenant {tenant.domain} is {tenant.status}: no relationship can be asked of it",
                tenant_id=tenant.id,
                status=tenant.status,
            )
        rel = GdapRelationship.request(
            gdap_id or uuid4(),
            tenant.id,
            tenant.organization_id,
            tenant.reseller_id,
            list(roles) if roles else list(default_roles()),
            duration_days,
            auto_extend,
            actor=actor,
            at=self.now(),
            security_group_ids=tuple(security_group_ids or ()),
        )
        self.save(rel)
        return rel

    def terminate_gdap(
        self, gdap_id: UUID, actor: Actor, expected_version: int | None = None, reason: str = ""
    ) -> GdapRelationship:
        rel = self.load_for_update(GdapRelationship, gdap_id, "GDAP relationship", expected_version)
        rel.terminate(actor=actor, at=self.now(), reason=reason)
        self.save(rel)
        return rel

    # --- the saga's records (each idempotent) -------------------------------------------

    def _changed(self, rel: GdapRelationship, before: int) -> GdapRelationship:
        if rel.version != before:
            self.save(rel)
        return rel

    def record_gdap_sent(
        self, gdap_id: UUID, vendor_relationship_id: str, approval_url: str, actor: Actor = SYSTEM_PROVISIONING
    ) -> GdapRelationship:
        rel = self.load(GdapRelationship, gdap_id, "GDAP relationship")
        before = rel.version
        rel.record_sent(vendor_relationship_id, approval_url, actor=actor, at=self.now())
        return self._changed(rel, before)

    def record_gdap_approved(
        self, gdap_id: UUID, starts_at: datetime, ends_at: datetime, actor: Actor = SYSTEM_PROVISIONING
    ) -> GdapRelationship:
        rel = self.load(GdapRelationship, gdap_id, "GDAP relationship")
        before = rel.version
        rel.record_approved(starts_at, ends_at, actor=actor, at=self.now())
        return self._changed(rel, before)

    def record_gdap_extended(
        self, gdap_id: UUID, ends_at: datetime, actor: Actor = SYSTEM_PROVISIONING
    ) -> GdapRelationship:
        rel = self.load(GdapRelationship, gdap_id, "GDAP relationship")
        before = rel.version
        rel.record_extended(ends_at, actor=actor, at=self.now())
        return self._changed(rel, before)

    def record_gdap_expired(self, gdap_id: UUID, actor: Actor = SYSTEM_PROVISIONING) -> GdapRelationship:
        rel = self.load(GdapRelationship, gdap_id, "GDAP relationship")
        before = rel.version
        rel.record_expired(actor=actor, at=self.now())
        return self._changed(rel, before)

    def record_gdap_approval_expired(self, gdap_id: UUID, actor: Actor = SYSTEM_PROVISIONING) -> GdapRelationship:
        rel = self.load(GdapRelationship, gdap_id, "GDAP relationship")
        before = rel.version
        rel.record_approval_expired(actor=actor, at=self.now())
        return self._changed(rel, before)

    def record_gdap_access_assigned(
        self, gdap_id: UUID, security_group_id: str, vendor_assignment_id: str, actor: Actor = SYSTEM_PROVISIONING
    ) -> GdapRelationship:
        rel = self.load(GdapRelationship, gdap_id, "GDAP relationship")
        before = rel.version
        rel.record_access_assigned(security_group_id, vendor_assignment_id, actor=actor, at=self.now())
        return self._changed(rel, before)

    def confirm_gdap_termination(self, gdap_id: UUID, actor: Actor = SYSTEM_PROVISIONING) -> GdapRelationship:
        rel = self.load(GdapRelationship, gdap_id, "GDAP relationship")
        before = rel.version
        rel.confirm_termination(actor=actor, at=self.now())
        return self._changed(rel, before)

    def mark_gdap_expiring(self, gdap_id: UUID, now: datetime | None = None) -> GdapRelationship:
        """The scheduler's reminder point (30 days before the end of one that will expire)."""
        rel = self.load(GdapRelationship, gdap_id, "GDAP relationship")
        before = rel.version
        rel.mark_expiring(actor=SYSTEM_SCHEDULER, at=now or self.now())
        return self._changed(rel, before)

    def link_tenant_through_gdap(
        self, tenant_id: UUID, gdap_id: UUID, vendor_customer_id: str, actor: Actor = SYSTEM_PROVISIONING
    ) -> Tenant:
        """A tenant being linked is linked once one of its GDAP relationships is active (a
        relationship not yet approved, expired or terminated gives no access)."""
        rel = self.read(GdapRelationship, gdap_id, "GDAP relationship")
        tenant = self.load(Tenant, tenant_id, "tenant")
        if rel.tenant_id != tenant.id:
            raise InvalidInput("gdap_id", "is a relationship of another tenant", value=gdap_id)
        rel.require_usable()
        tenant.record_linked(vendor_customer_id, actor=actor, at=self.now())
        self.save(tenant)
        return tenant
