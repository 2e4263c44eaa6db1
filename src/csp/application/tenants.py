"""Tenant commands: requests from users, and the steps the tenant saga records."""

from __future__ import annotations

from uuid import UUID, uuid4

from csp.aggregates.base import SYSTEM_PROVISIONING, Actor
from csp.aggregates.errors import AlreadyExists
from csp.aggregates.index import UniqueKey
from csp.aggregates.organization import Organization
from csp.aggregates.tenant import RejectionCode, Tenant
from csp.application.base import CspApplicationBase

DOMAIN_KEYS = "tenant-domain"


class TenantCommands(CspApplicationBase):
    def request_tenant(
        self, organization_id: UUID, domain: str, mode: str, actor: Actor, tenant_id: UUID | None = None
    ) -> Tenant:
        """Ask for a new tenant (``create``) or to link an existing one (``link``).

        A domain is held by one tenant of this platform at a time; the vendor checks
        that it is free across its whole database, asynchronously.
        """
        org = self.load(Organization, organization_id, "organization")
        now = self.now()
        tenant = Tenant.request(
            tenant_id or uuid4(), organization_id, org.owner_reseller_id, domain, mode, actor=actor, at=now
        )
        key_id = UniqueKey.id_for(DOMAIN_KEYS, tenant.domain)
        if self.exists(key_id):
            key = self.load(UniqueKey, key_id, "tenant domain")
            if key.owner_id is not None and key.owner_id != tenant.id:
                raise AlreadyExists(
                    f"the domain {tenant.domain} is already used by a tenant on this platform",
                    field="domain",
                    value=tenant.domain,
                )
            key.reclaim(tenant.id, actor=actor, at=now)
        else:
            key = UniqueKey(namespace=DOMAIN_KEYS, key=tenant.domain, owner_id=tenant.id, actor=actor, at=now)
        self.save(tenant, key)
        return tenant

    def record_tenant_user_created(
        self, tenant_id: UUID, vendor_user_id: str, user_principal_name: str, display_name: str, actor: Actor
    ) -> Tenant:
        """A user the vendor created in the tenant at a user's request: who, which, when."""
        tenant = self.load(Tenant, tenant_id, "tenant")
        before = tenant.version
        tenant.record_user_created(vendor_user_id, user_principal_name, display_name, actor=actor, at=self.now())
        if tenant.version != before:
            self.save(tenant)
        return tenant

    def start_tenant_verification(self, tenant_id: UUID, actor: Actor = SYSTEM_PROVISIONING) -> Tenant:
        tenant = self.load(Tenant, tenant_id, "tenant")
        tenant.start_verification(actor=actor, at=self.now())
        self.save(tenant)
        return tenant

    def record_tenant_created(
        self, tenant_id: UUID, vendor_customer_id: str, admin_username: str, actor: Actor = SYSTEM_PROVISIONING
    ) -> Tenant:
        tenant = self.load(Tenant, tenant_id, "tenant")
        tenant.record_created(vendor_customer_id, admin_username, actor=actor, at=self.now())
        self.save(tenant)
        return tenant

    def record_tenant_vendor_customer(
        self, tenant_id: UUID, vendor_customer_id: str, admin_username: str, actor: Actor = SYSTEM_PROVISIONING
    ) -> Tenant:
        """The vendor created the customer: recorded, so a retried step does not ask again."""
        tenant = self.load(Tenant, tenant_id, "tenant")
        before = tenant.version
        tenant.record_vendor_customer(vendor_customer_id, admin_username, actor=actor, at=self.now())
        if tenant.version != before:
            self.save(tenant)
        return tenant

    def record_tenant_agreement_accepted(self, tenant_id: UUID, actor: Actor = SYSTEM_PROVISIONING) -> Tenant:
        tenant = self.load(Tenant, tenant_id, "tenant")
        before = tenant.version
        tenant.record_agreement_accepted(actor=actor, at=self.now())
        if tenant.version != before:
            self.save(tenant)
        return tenant

    def record_tenant_linked(
        self, tenant_id: UUID, vendor_customer_id: str, actor: Actor = SYSTEM_PROVISIONING
    ) -> Tenant:
        tenant = self.load(Tenant, tenant_id, "tenant")
        tenant.record_linked(vendor_customer_id, actor=actor, at=self.now())
        self.save(tenant)
        return tenant

    def reject_tenant(
        self, tenant_id: UUID, reason: str, code: RejectionCode = "vendor_refused", actor: Actor = SYSTEM_PROVISIONING
    ) -> Tenant:
        """The domain is taken (or the tenant cannot be linked): release it here too."""
        tenant = self.load(Tenant, tenant_id, "tenant")
        now = self.now()
        was_rejected = tenant.status == "rejected"
        tenant.reject(reason, code=code, actor=actor, at=now)
        if was_rejected:
            return tenant
        key = self.load(UniqueKey, UniqueKey.id_for(DOMAIN_KEYS, tenant.domain), "tenant domain")
        if key.owner_id == tenant.id:
            key.release(actor=actor, at=now)
        self.save(tenant, key)
        return tenant
