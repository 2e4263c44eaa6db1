"""GDAP relationships of tenants, and the customer agreement (issue 16)."""

from __future__ import annotations

import time
from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from csp.aggregates.errors import GdapApprovalExpired, InvalidGdapTransition, NotFound
from csp.aggregates.gdap import GdapRelationship, entra_roles
from csp.api import access
from csp.api import gdap_schemas as g
from csp.api.auth import Caller
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
    VendorLinksDep,
)
from csp.api.lists import NOT_MODIFIED, list_response
from csp.application import CspApplication

router = APIRouter(tags=["gdap"])
test_router = APIRouter(tags=["test clock"])
SENT_WAIT_SECONDS = 5.0  # for the saga to bring back the approval link (bounded; then answers anyway)


def _relationship(app: CspApplication, caller: Caller, gdap_id: UUID) -> GdapRelationship:
    rel = app.load(GdapRelationship, gdap_id, "GDAP relationship")
    try:
        access.tenant(app, caller, rel.tenant_id)
    except NotFound:
        raise NotFound("GDAP relationship", gdap_id) from None
    return rel


def _sent(app: CspApplication, gdap_id: UUID, timeout: float = SENT_WAIT_SECONDS) -> GdapRelationship:
    """The relationship once the saga sent it to the vendor (or as it is, after the wait)."""
    deadline = time.monotonic() + timeout
    while True:
        rel = app.load(GdapRelationship, gdap_id, "GDAP relationship")
        if rel.status != "created" or time.monotonic() >= deadline:
            return rel
        time.sleep(0.05)


@router.get("/gdap/roles", response_model=g.EntraRolesPublic)
def roles(caller: TenantsReader) -> g.EntraRolesPublic:
    """The Entra roles a relationship may ask for (the vendor's list)."""
    items = [g.EntraRolePublic(name=r.name, id=r.id, least_privilege=r.least_privilege) for r in entra_roles().values()]
    return g.EntraRolesPublic(items=items, total=len(items))


@router.post("/tenants/{tenant_id}/gdap", status_code=status.HTTP_202_ACCEPTED, response_model=g.GdapPublic)
def request_gdap(
    tenant_id: UUID, body: g.GdapCreate, caller: TenantsWriter, app: AppDep, commands: CommandsDep
) -> g.GdapPublic:
    """Ask the customer tenant for granular delegated admin rights: the vendor's approval
    link comes back (``approval_url``) for the customer's global admin."""
    tenant = access.tenant(app, caller, tenant_id)
    rel = commands.run(
        lambda: app.request_gdap(
            tenant_id,
            body.roles,
            body.duration_days,
            body.auto_extend,
            caller.actor,
            security_group_ids=body.security_group_ids,
        ),
        tenant,
    )
    return g.gdap_public(_sent(app, rel.id))


@router.get("/tenants/{tenant_id}/gdap", response_model=g.GdapsPublic, responses=NOT_MODIFIED)
def tenant_gdap(
    tenant_id: UUID,
    caller: TenantsReader,
    app: AppDep,
    read: ReadModelsDep,
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    access.tenant(app, caller, tenant_id)
    return list_response(request, read.gdap_relationships(tenant_id, limit, offset))


@router.get("/gdap/{gdap_id}", response_model=g.GdapPublic)
def get_gdap(gdap_id: UUID, caller: TenantsReader, app: AppDep) -> g.GdapPublic:
    return g.gdap_public(_relationship(app, caller, gdap_id))


@router.delete("/gdap/{gdap_id}", status_code=status.HTTP_202_ACCEPTED, response_model=g.GdapPublic)
def terminate_gdap(
    gdap_id: UUID, caller: TenantsWriter, app: AppDep, commands: CommandsDep, version: IfMatch
) -> g.GdapPublic:
    """End it now; the vendor is told by the saga (202)."""
    rel = _relationship(app, caller, gdap_id)
    done = commands.run(lambda: app.terminate_gdap(gdap_id, caller.actor, expected_version=version), rel)
    return g.gdap_public(done)


@router.post(
    "/organizations/{organization_id}/agreement", status_code=status.HTTP_201_CREATED, response_model=g.AgreementPublic
)
def record_agreement(
    organization_id: UUID, body: g.AgreementCreate, caller: OrganizationsWriter, app: AppDep, commands: CommandsDep
) -> g.AgreementPublic:
    """The customer's Microsoft Customer Agreement acceptance (needed before its first order)."""
    org = access.organization(app, caller, organization_id)
    agreement = commands.run(
        lambda: app.record_agreement(
            organization_id,
            body.first_name,
            body.last_name,
            body.email,
            body.phone,
            body.accepted_at,
            body.agreement_version,
            caller.actor,
        ),
        org,
    )
    return g.agreement_public(agreement)


@router.get("/organizations/{organization_id}/agreement", response_model=g.AgreementPublic)
def get_agreement(organization_id: UUID, caller: OrganizationsReader, app: AppDep) -> g.AgreementPublic:
    access.check_organization(app, caller, organization_id)
    agreement = app.customer_agreement(organization_id)
    if agreement is None:
        raise NotFound("agreement", organization_id)
    return g.agreement_public(agreement)


@test_router.post("/test/gdap/{gdap_id}/approve", response_model=g.GdapPublic)
def approve_gdap(gdap_id: UUID, caller: TenantsWriter, app: AppDep, vendor: VendorLinksDep) -> g.GdapPublic:
    """Test mode only: the customer's global admin approves at ``approval_url`` (as the
    vendor's page does); answers once the relationship is active."""
    _relationship(app, caller, gdap_id)
    rel = _sent(app, gdap_id)
    if rel.status == "expired" and rel.starts_at is None:
        raise GdapApprovalExpired(
            "the customer did not approve this GDAP request within 90 days: it expired; ask again",
            gdap_id=gdap_id,
            status=rel.status,
        )
    if rel.status != "approval_pending" or rel.approval_url is None:
        raise InvalidGdapTransition(
            f"the GDAP relationship is {rel.status}; only one pending approval can be approved",
            gdap_id=gdap_id,
            status=rel.status,
        )
    vendor.approve_gdap_as_customer(str(gdap_id), rel.approval_url)
    return g.gdap_public(app.load(GdapRelationship, gdap_id, "GDAP relationship"))
