"""Request and answer bodies of GDAP relationships and the customer agreement (issue 16)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from csp.aggregates.agreement import CustomerAgreement
from csp.aggregates.gdap import MAX_DURATION_DAYS, GdapRelationship, GdapStatus
from csp.api.schemas import In, Page, Row


class GdapCreate(In):
    roles: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list,
        max_length=30,
        description="Entra role names from the vendor's list; empty: Directory Readers (least privilege)",
    )
    duration_days: int = Field(default=MAX_DURATION_DAYS, description=f"1 to {MAX_DURATION_DAYS} days")
    auto_extend: bool = Field(default=False, description="by 180 days at the end; never with Global Administrator")
    security_group_ids: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=20, description="the reseller's security groups given the roles once active"
    )


class GdapPublic(BaseModel):
    id: UUID
    tenant_id: UUID
    status: GdapStatus
    roles: list[str]
    duration_days: int
    auto_extend: bool
    approval_url: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    security_group_ids: list[str]
    access_groups: list[str]
    termination_reason: str | None
    version: int


class GdapRow(Row):
    id: UUID
    status: GdapStatus
    roles: list[str]
    starts_at: datetime | None
    ends_at: datetime | None
    auto_extend: bool


class GdapsPublic(Page[GdapRow]):
    pass


class EntraRolePublic(BaseModel):
    name: str
    id: str
    least_privilege: bool


class EntraRolesPublic(Page[EntraRolePublic]):
    pass


class AgreementCreate(In):
    first_name: Annotated[str, Field(max_length=200)]
    last_name: Annotated[str, Field(max_length=200)]
    email: Annotated[str, Field(max_length=254)]
    phone: Annotated[str, Field(max_length=64)]
    accepted_at: AwareDatetime
    agreement_version: Annotated[str, Field(max_length=50)]


class AgreementPublic(BaseModel):
    organization_id: UUID
    first_name: str
    last_name: str
    email: str
    phone: str
    accepted_at: datetime
    agreement_version: str
    template_id: str
    recorded_by: str
    recorded_at: datetime
    version: int


def gdap_public(r: GdapRelationship) -> GdapPublic:
    return GdapPublic(
        id=r.id,
        tenant_id=r.tenant_id,
        status=r.status,
        roles=list(r.roles),
        duration_days=r.duration_days,
        auto_extend=r.auto_extend,
        approval_url=r.approval_url,
        starts_at=r.starts_at,
        ends_at=r.ends_at,
        security_group_ids=list(r.security_group_ids),
        access_groups=list(r.access_groups),
        termination_reason=r.termination_reason or None,
        version=r.version,
    )


def agreement_public(a: CustomerAgreement) -> AgreementPublic:
    t = a.attestation
    return AgreementPublic(
        organization_id=a.organization_id,
        first_name=t.first_name,
        last_name=t.last_name,
        email=t.email,
        phone=t.phone,
        accepted_at=t.accepted_at,
        agreement_version=t.agreement_version,
        template_id=t.template_id,
        recorded_by=a.recorded_by,
        recorded_at=a.recorded_at,
        version=a.version,
    )
