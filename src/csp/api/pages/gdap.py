"""A tenant's page with its GDAP relationships (request, approval link, terminate), and the
customer agreement form on the customer's page (issue 16). Plain forms: no JavaScript needed."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.errors import CspError
from csp.aggregates.gdap import MAX_DURATION_DAYS, GdapRelationship
from csp.api import access
from csp.api.deps import TenantDirectoryDep
from csp.api.pages.customers import organization_page
from csp.api.pages.tenant_page import tenant_page
from csp.api.pages.web import Page, page_for

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]


@router.get("/o/{organization_id}/tenants/{tenant_id}")
def tenant(organization_id: UUID, tenant_id: UUID, page: PageDep, directory: TenantDirectoryDep) -> Response:
    return tenant_page(page, organization_id, tenant_id, directory)


@router.post("/o/{organization_id}/tenants/{tenant_id}/gdap")
def request_gdap(organization_id: UUID, tenant_id: UUID, page: PageDep, directory: TenantDirectoryDep) -> Response:
    caller = page.allow("tenants.write")
    t = access.tenant(page.app, caller, tenant_id)
    days = page.integer("duration_days", MAX_DURATION_DAYS, minimum=1, maximum=MAX_DURATION_DAYS)
    if not page.values("roles"):
        page.errors["roles"] = "choose at least one role"
    if page.errors:
        return tenant_page(page, organization_id, tenant_id, directory, 422)
    try:
        rel = page.commands.run(
            lambda: page.app.request_gdap(
                t.id, page.values("roles"), days or MAX_DURATION_DAYS, page.checked("auto_extend"), caller.actor
            ),
            t,
        )
    except CspError as e:
        page.fail(e)
        return tenant_page(page, organization_id, tenant_id, directory, 422)
    return page.redirect(
        f"/o/{organization_id}/tenants/{tenant_id}",
        f"The GDAP relationship is asked of {t.domain}: send the approval link to the customer's global admin "
        f"(it appears below once the vendor has it). {len(rel.roles)} role(s), {rel.duration_days} days.",
    )


@router.post("/o/{organization_id}/gdap/{gdap_id}/terminate")
def terminate_gdap(organization_id: UUID, gdap_id: UUID, page: PageDep, directory: TenantDirectoryDep) -> Response:
    caller = page.allow("tenants.write")
    rel = page.app.load(GdapRelationship, gdap_id, "GDAP relationship")
    t = access.tenant(page.app, caller, rel.tenant_id)
    back = f"/o/{organization_id}/tenants/{t.id}"
    try:
        page.commands.run(lambda: page.app.terminate_gdap(gdap_id, caller.actor), rel)
    except CspError as e:
        page.fail(e)
        return tenant_page(page, organization_id, t.id, directory, 409)
    return page.redirect(back, "The GDAP relationship is terminated; the vendor is told.")


def _accepted_at(page: Page) -> datetime | None:
    raw = page.value("accepted_on")
    if not raw:
        page.errors["accepted_on"] = "enter the date the customer accepted"
        return None
    try:
        day = datetime.fromisoformat(raw).date()
    except ValueError:
        page.errors["accepted_on"] = "must be a date (YYYY-MM-DD)"
        return None
    now = page.app.now()
    return now if day == now.date() else datetime.combine(day, time(0, 0), tzinfo=UTC)  # today: now


@router.post("/o/{organization_id}/agreement")
def record_agreement(organization_id: UUID, page: PageDep) -> Response:
    caller = page.allow("organizations.write")
    org = access.organization(page.app, caller, organization_id)
    accepted_at = _accepted_at(page)
    if page.errors or accepted_at is None:
        return organization_page(page, org, 422)
    try:
        page.commands.run(
            lambda: page.app.record_agreement(
                org.id,
                page.value("first_name"),
                page.value("last_name"),
                page.value("email"),
                page.value("phone"),
                accepted_at,
                page.value("agreement_version"),
                caller.actor,
            )
        )
    except CspError as e:
        page.fail(e, {"accepted_at": "accepted_on"})
        return organization_page(page, org, 422)
    return page.redirect(f"/o/{org.id}", f"The Microsoft Customer Agreement acceptance of {org.name} is recorded.")
