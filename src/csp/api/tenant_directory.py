"""A customer tenant's users, asked of the vendor at request time (a port of the web layer).

The vendor holds the tenant's users and which licences each holds: there is nothing of
ours to project, and what a reseller looks at (who has a licence now) is best read from
the source. The vendor's refusals become the domain's errors (422 with the field, 409,
404); an unreachable vendor is 503 ``vendor_unavailable``.
"""

from __future__ import annotations

from typing import Protocol

from csp.aggregates.errors import AlreadyExists, Conflict, InvalidInput, NotFound, TenantNotReady
from csp.aggregates.tenant import Tenant
from csp.api.errors import Unavailable
from csp.vendor.gateway import TenantUser, VendorGateway, VendorNotFound, VendorRefused, VendorUnavailable


class VendorRefusedRequest(Conflict):
    code = "vendor_refused"


class _Gateways(Protocol):
    def gateway(self) -> VendorGateway: ...


class TenantDirectory:
    def __init__(self, sagas: _Gateways | None) -> None:
        self._sagas = sagas

    def _vendor(self) -> VendorGateway:
        if self._sagas is None:
            raise Unavailable("the vendor is not reachable from this process", code="vendor_unavailable")
        return self._sagas.gateway()

    @staticmethod
    def _customer_id(tenant: Tenant) -> str:
        if tenant.vendor_customer_id is None or tenant.status not in ("created", "linked"):
            raise TenantNotReady(f"the tenant {tenant.domain} is {tenant.status}", tenant_id=tenant.id)
        return tenant.vendor_customer_id

    def users(self, tenant: Tenant) -> list[TenantUser]:
        customer_id = self._customer_id(tenant)
        try:
            return self._vendor().list_users(customer_id)
        except VendorUnavailable as e:
            raise Unavailable(f"the vendor did not answer: {e}", code="vendor_unavailable") from None
        except VendorRefused as e:
            raise VendorRefusedRequest(f"{e.message} [{e.code}]") from None

    def user(self, tenant: Tenant, user_id: str) -> TenantUser:
        for u in self.users(tenant):
            if u.id == user_id:
                return u
        raise NotFound("tenant user", user_id)

    def create_user(self, tenant: Tenant, user_principal_name: str, display_name: str) -> TenantUser:
        customer_id = self._customer_id(tenant)
        upn = user_principal_name.strip().lower()
        try:
            # keyed by the name: a repeated request (a lost answer, a double submit) is one user
            return self._vendor().create_user(customer_id, upn, display_name.strip(), f"user:{tenant.id}:{upn}")
        except VendorUnavailable as e:
            raise Unavailable(f"the vendor did not answer: {e}", code="vendor_unavailable") from None
        except VendorNotFound:
            raise NotFound("tenant", tenant.id) from None
        except VendorRefused as e:
            if e.code == "InvalidUserPrincipalName":
                raise InvalidInput("user_principal_name", e.message) from None
            if e.code == "InvalidDisplayName":
                raise InvalidInput("display_name", e.message) from None
            if e.code == "UserAlreadyExists":
                raise AlreadyExists(e.message, user_principal_name=upn) from None
            raise VendorRefusedRequest(f"{e.message} [{e.code}]") from None
