"""A tenant's page, in one place: its facts, its GDAP relationships (request, approval
link, terminate) and its users from the vendor with the licences they hold (add a user).
The routes that change either part (``csp.api.pages.gdap``, ``csp.api.pages.licences``)
render it again with their errors."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.responses import Response

from csp.aggregates.errors import CspError, NotFound
from csp.aggregates.gdap import MAX_DURATION_DAYS, default_roles, entra_roles
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.api import access
from csp.api.errors import ApiError
from csp.api.pages.web import Page
from csp.api.tenant_directory import TenantDirectory
from csp.vendor.gateway import TenantUser


def tenant_url(tenant: Tenant) -> str:
    return f"/o/{tenant.organization_id}/tenants/{tenant.id}"


def tenant_users(page: Page, directory: TenantDirectory, tenant: Tenant) -> tuple[list[TenantUser], str | None]:
    """The tenant's users, or why they cannot be shown now (not created yet, vendor away)."""
    try:
        return directory.users(tenant), None
    except (CspError, ApiError) as e:
        return [], e.message


def _licence_names(page: Page, tenant: Tenant) -> dict[str, dict[str, Any]]:
    """The tenant's subscriptions by the vendor's id: what a user's licence is called here."""
    out = {}
    for vendor_id, sid in page.read_models().subscriptions_by_vendor_id(tenant.id).items():
        sub = page.app.load(Subscription, sid, "subscription")
        out[vendor_id] = {"id": sid, "name": sub.offer_name}
    return out


def tenant_page(
    page: Page, org_id: UUID, tenant_id: UUID, directory: TenantDirectory, status_code: int = 200
) -> Response:
    caller = page.allow("tenants.read")
    tenant = access.tenant(page.app, caller, tenant_id)
    if tenant.organization_id != org_id:
        raise NotFound("tenant", tenant_id)
    org = access.organization(page.app, caller, org_id)
    rows = page.read_models().gdap_relationships(tenant.id, 200, 0).items
    chosen = page.values("roles") if page.form is not None and "roles" in page.form else list(default_roles())
    users, unavailable = tenant_users(page, directory, tenant)
    names = _licence_names(page, tenant)
    return page.render(
        "tenant.html",
        status_code=status_code,
        title=f"Tenant · {tenant.domain}",
        org=org,
        tenant=tenant,
        relationships=rows,
        roles=list(entra_roles().values()),
        chosen_roles=chosen,
        max_days=MAX_DURATION_DAYS,
        can_request=page.may("tenants.write")
        and (tenant.is_usable or tenant.mode == "link")
        and tenant.status != "rejected",
        can_terminate=page.may("tenants.write"),
        users=[{"user": u, "licences": [names[v] for v in u.licences if v in names]} for u in users],
        unavailable=unavailable,
        can_add=page.may("tenants.write") and unavailable is None,
    )
