"""Select Organization: the reseller's organizations (itself included), creating one
(industry and eligibility), acting for a customer, its tenants (Create new / link)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.errors import ConcurrentModification, CspError
from csp.aggregates.organization import INDUSTRIES, OrganizationProfile
from csp.api import access
from csp.api.deps import VendorLinksDep
from csp.api.errors import ApiError
from csp.api.pages.agreement_view import agreement_context
from csp.api.pages.public import profile_from_form
from csp.api.pages.web import ORG_COOKIE, Page, page_for, safe_next
from csp.api.ports import VendorLinks

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]


@router.get("/organizations")
def organizations(page: PageDep) -> Response:
    caller = page.allow("organizations.read")
    if caller.is_customer:
        return page.redirect(f"/o/{caller.organization_id}")
    q = (page.request.query_params.get("q") or "").strip()[:100] or None
    paging = page.paging()
    found = page.read_models().organizations(caller.reseller_id, q, paging.limit, paging.offset)
    return page.render(
        "organizations.html",
        title="Organizations",
        organizations=found.items,
        total=found.total,
        paging=paging.of(found.total),
        q=q or "",
        can_create=page.may("organizations.write"),
    )


@router.get("/orders")
@router.get("/subscriptions")
@router.get("/quotes")
@router.get("/tenants")
def section(page: PageDep) -> Response:
    """A section's short address (``/orders``…): the selected organization's, or the list to
    choose one from; a visitor is asked to log in first, as on every other page."""
    page.user()
    org = page.current_org()
    name = page.request.url.path.strip("/")
    if name == "tenants":
        return page.redirect(f"/o/{org}" if org else "/organizations")
    return page.redirect(f"/o/{org}/{name}" if org else "/organizations")


def _new_form(page: Page, status_code: int = 200) -> Response:
    return page.render(
        "organization_new.html", status_code=status_code, title="New organization", industries=INDUSTRIES
    )


@router.get("/organizations/new")
def new_organization_form(page: PageDep) -> Response:
    page.allow("organizations.write")
    return _new_form(page)


@router.post("/organizations/new")
def create_organization(page: PageDep) -> Response:
    caller = page.allow("organizations.write")
    profile = profile_from_form(page)
    if page.errors:
        return _new_form(page, 422)
    try:
        org = page.commands.run(lambda: page.app.register_customer(caller.reseller_id, profile, caller.actor))
    except CspError as e:
        page.fail(e)
        return _new_form(page, 422)
    page.cookies[ORG_COOKIE] = str(org.id)
    return page.redirect(f"/o/{org.id}", f"{org.name} is created: you now act for it.")


@router.post("/o/{organization_id}/select")
def select_organization(organization_id: UUID, page: PageDep) -> Response:
    """Act for this organization: the portal's sections show its orders, subscriptions…"""
    caller = page.allow("organizations.read")
    org = access.organization(page.app, caller, organization_id)
    page.cookies[ORG_COOKIE] = str(org.id)
    return page.redirect(safe_next(page.value("next"), f"/o/{org.id}/catalog"), f"You now act for {org.name}.")


def _edit_form(page: Page, org: Any, status_code: int = 200) -> Response:
    return page.render(
        "organization_edit.html", status_code=status_code, title=f"Edit · {org.name}", org=org, industries=INDUSTRIES
    )


@router.get("/o/{organization_id}/edit")
def edit_organization_form(organization_id: UUID, page: PageDep) -> Response:
    caller = page.allow("organizations.write")
    return _edit_form(page, access.organization(page.app, caller, organization_id))


@router.post("/o/{organization_id}/edit")
def edit_organization(organization_id: UUID, page: PageDep) -> Response:
    """The profile page's fields (industry and eligibility decide what the customer may
    buy), saved in one event; a concurrent change is refused, not overwritten."""
    caller = page.allow("organizations.write")
    app = page.app
    org = access.organization(app, caller, organization_id)
    profile = profile_from_form(page)
    version = page.version()
    if page.errors:
        return _edit_form(page, org, 422)
    fields = {f: getattr(profile, f) for f in OrganizationProfile.__dataclass_fields__}
    try:
        saved = page.commands.run(lambda: app.change_organization(org.id, caller.actor, version, **fields))
    except CspError as e:
        page.fail(e)
        status = 409 if isinstance(e, ConcurrentModification) else 422
        return _edit_form(page, app.load(type(org), org.id, "organization"), status)
    return page.redirect(f"/o/{org.id}", f"{saved.name} is saved.")


def tenant_rows(page: Page, organization_id: UUID) -> list[dict[str, Any]]:
    return list(page.read_models().tenants(organization_id, 200, 0).items)


@router.get("/o/{organization_id}")
def organization(organization_id: UUID, page: PageDep) -> Response:
    caller = page.allow("organizations.read")
    org = access.organization(page.app, caller, organization_id)
    if not caller.is_customer:
        page.cookies[ORG_COOKIE] = str(org.id)
    return _organization(page, org)


def organization_page(page: Page, org: Any, status_code: int = 200) -> Response:
    return _organization(page, org, status_code)


def _organization(page: Page, org: Any, status_code: int = 200) -> Response:
    users = page.read_models().users(org.owner_reseller_id, org.id, 200, 0).items if page.may("users.read") else []
    return page.render(
        "organization.html",
        status_code=status_code,
        title=org.name,
        org=org,
        tenants=tenant_rows(page, org.id),
        users=users,
        can_request_tenant=page.may("tenants.write"),
        can_history=page.may("history.read"),
        can_edit=page.may("organizations.write"),
        can_set_credit=page.may("credit.write"),
        **agreement_context(page, org),
    )


def _tenant_form(page: Page, vendor: VendorLinks, org: Any, status_code: int = 200) -> Response:
    try:
        link: str | None = vendor.relationship_request_url()
    except ApiError:
        link = None
    return page.render(
        "tenant_new.html",
        status_code=status_code,
        title="Create new tenant",
        org=org,
        relationship_url=link,
        next=safe_next(page.request.query_params.get("next") or page.value("next"), f"/o/{org.id}"),
    )


@router.get("/o/{organization_id}/tenants/new")
def new_tenant_form(organization_id: UUID, page: PageDep, vendor: VendorLinksDep) -> Response:
    caller = page.allow("tenants.write")
    return _tenant_form(page, vendor, access.organization(page.app, caller, organization_id))


@router.post("/o/{organization_id}/tenants/new")
def request_tenant(organization_id: UUID, page: PageDep, vendor: VendorLinksDep) -> Response:
    """A new tenant (its domain verified and created at the vendor, minutes) or a link to
    an existing one: both asynchronous, so the page says so and the lists show progress."""
    caller = page.allow("tenants.write")
    org = access.organization(page.app, caller, organization_id)
    domain = page.required("domain", "enter the domain name")
    mode = page.value("mode", "create")
    if mode not in ("create", "link"):
        page.errors["mode"] = "choose Create new or Link existing"
    if page.errors:
        return _tenant_form(page, vendor, org, 422)
    try:
        tenant = page.commands.run(lambda: page.app.request_tenant(org.id, domain, mode, caller.actor))  # type: ignore[arg-type]
    except CspError as e:
        page.fail(e)
        return _tenant_form(page, vendor, org, 422)
    what = "verified and created" if mode == "create" else "checked"
    if mode == "link":  # issue 16: linking needs a GDAP relationship, asked on the tenant's page
        return page.redirect(
            f"/o/{org.id}/tenants/{tenant.id}",
            f"{tenant.domain} is being checked at the vendor. It links once a GDAP relationship is approved: "
            "ask for one below and send its approval link to the customer's global admin.",
        )
    back = safe_next(page.value("next"), f"/o/{org.id}")
    if back.startswith(f"/o/{org.id}/buy/"):  # the order page it came from: with this tenant chosen
        back += ("&" if "?" in back else "?") + urlencode({"tenant_id": str(tenant.id)})
    return page.redirect(
        back,
        f"{tenant.domain} is being {what} at the vendor: this can take several minutes. "
        "It is available for orders once created, and you get its details by email.",
    )
