"""Organizations (the reseller and its customers) and their tenants."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from csp.aggregates.organization import Address
from csp.api import access
from csp.api import schemas as s
from csp.api.deps import (
    AppDep,
    CommandsDep,
    IfMatch,
    Limit,
    Offset,
    OrganizationsReader,
    OrganizationsWriter,
    ReadModelsDep,
    TenantsReader,
    TenantsWriter,
    UsersReader,
    VendorLinksDep,
)
from csp.api.lists import NOT_MODIFIED, list_response
from csp.api.presenters import organization_public, tenant_public
from csp.api.routes.accounts import profile_of

router = APIRouter(tags=["organizations"])


def etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


@router.get("/organizations", response_model=s.OrganizationsPublic, responses=NOT_MODIFIED)
def organizations(
    caller: OrganizationsReader,
    app: AppDep,
    read: ReadModelsDep,
    request: Request,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """The reseller's customers, and the reseller itself (``kind``); a customer user sees its own."""
    if caller.is_customer:
        org = access.organization(app, caller, caller.organization_id)
        items = [organization_public(org).model_dump()] if not q or q.lower() in org.name.lower() else []
        return list_response(request, {"items": items[offset : offset + limit], "total": len(items)})
    return list_response(request, read.organizations(caller.reseller_id, q, limit, offset))


@router.post("/organizations", status_code=status.HTTP_201_CREATED, response_model=s.OrganizationPublic)
def create_organization(
    body: s.OrganizationCreate, caller: OrganizationsWriter, app: AppDep, commands: CommandsDep, response: Response
) -> s.OrganizationPublic:
    org = commands.run(lambda: app.register_customer(caller.reseller_id, profile_of(body), caller.actor))
    etag(response, org.version)
    return organization_public(org)


@router.get("/organizations/{organization_id}", response_model=s.OrganizationPublic)
def get_organization(
    organization_id: UUID, caller: OrganizationsReader, app: AppDep, response: Response
) -> s.OrganizationPublic:
    org = access.organization(app, caller, organization_id)
    etag(response, org.version)
    return organization_public(org)


@router.patch("/organizations/{organization_id}", response_model=s.OrganizationPublic)
def change_organization(
    organization_id: UUID,
    body: s.OrganizationUpdate,
    caller: OrganizationsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.OrganizationPublic:
    checked = access.organization(app, caller, organization_id)
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    if body.address is not None:
        changes["address"] = Address(**body.address.model_dump())
    org = commands.run(
        lambda: app.change_organization(organization_id, caller.actor, expected_version=version, **changes),
        checked,
    )
    etag(response, org.version)
    return organization_public(org)


@router.get("/organizations/{organization_id}/users", response_model=s.UserRowsPublic, responses=NOT_MODIFIED)
def organization_users(
    organization_id: UUID,
    caller: UsersReader,
    app: AppDep,
    read: ReadModelsDep,
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """The users with access to this organization."""
    access.check_organization(app, caller, organization_id)
    return list_response(request, read.users(caller.reseller_id, organization_id, limit, offset))


@router.get("/organizations/{organization_id}/tenants", response_model=s.TenantsPublic, responses=NOT_MODIFIED)
def tenants(
    organization_id: UUID,
    caller: TenantsReader,
    app: AppDep,
    read: ReadModelsDep,
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    access.check_organization(app, caller, organization_id)
    return list_response(request, read.tenants(organization_id, limit, offset))


@router.post(
    "/organizations/{organization_id}/tenants", status_code=status.HTTP_202_ACCEPTED, response_model=s.TenantPublic
)
def request_tenant(
    organization_id: UUID,
    body: s.TenantCreate,
    caller: TenantsWriter,
    app: AppDep,
    commands: CommandsDep,
    response: Response,
) -> s.TenantPublic:
    """Create a new tenant (its domain verified, then created at the vendor) or link an
    existing one; both run asynchronously, so the answer is 202 with the status."""
    org = access.organization(app, caller, organization_id)
    tenant = commands.run(lambda: app.request_tenant(organization_id, body.domain, body.mode, caller.actor), org)
    etag(response, tenant.version)
    return tenant_public(tenant)


@router.get("/vendor/relationship-request", response_model=s.RelationshipRequestPublic)
def relationship_request(caller: TenantsWriter, vendor: VendorLinksDep) -> s.RelationshipRequestPublic:
    """The vendor's link for a customer's global admin: accepting it makes this platform the
    customer's reseller with delegated admin rights; then its tenant can be linked
    (``POST /organizations/{id}/tenants`` with ``mode: "link"``)."""
    return s.RelationshipRequestPublic(url=vendor.relationship_request_url())


@router.get("/tenants/{tenant_id}", response_model=s.TenantPublic)
def get_tenant(tenant_id: UUID, caller: TenantsReader, app: AppDep, response: Response) -> s.TenantPublic:
    tenant = access.tenant(app, caller, tenant_id)
    etag(response, tenant.version)
    return tenant_public(tenant)
