"""Licences by user: a tenant's page with its users (from the vendor) and a form to add
one, and a subscription's licences with an Assign / Unassign button per user. Plain forms
(no JavaScript); assignments go to the vendor through the saga, so the page says so."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.errors import CspError
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.api import access
from csp.api.deps import TenantDirectoryDep
from csp.api.errors import ApiError
from csp.api.pages.web import ORG_COOKIE, Page, page_for
from csp.api.presenters import subscription_public
from csp.api.tenant_directory import TenantDirectory
from csp.vendor.gateway import TenantUser

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]


def _users(page: Page, directory: TenantDirectory, tenant: Tenant) -> tuple[list[TenantUser], str | None]:
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


def _tenant_page(page: Page, directory: TenantDirectory, tenant: Tenant, status_code: int = 200) -> Response:
    org = access.organization(page.app, page.user(), tenant.organization_id)
    users, unavailable = _users(page, directory, tenant)
    names = _licence_names(page, tenant)
    return page.render(
        "tenant.html",
        status_code=status_code,
        title=f"Tenant · {tenant.domain}",
        tenant=tenant,
        org=org,
        users=[{"user": u, "licences": [names[v] for v in u.licences if v in names]} for u in users],
        unavailable=unavailable,
        can_add=page.may("tenants.write") and unavailable is None,
    )


@router.get("/tenants/{tenant_id}")
def tenant(tenant_id: UUID, page: PageDep, directory: TenantDirectoryDep) -> Response:
    caller = page.allow("tenants.read")
    found = access.tenant(page.app, caller, tenant_id)
    if not caller.is_customer:
        page.cookies[ORG_COOKIE] = str(found.organization_id)
    return _tenant_page(page, directory, found)


@router.post("/tenants/{tenant_id}/users")
def add_user(tenant_id: UUID, page: PageDep, directory: TenantDirectoryDep) -> Response:
    caller = page.allow("tenants.write")
    found = access.tenant(page.app, caller, tenant_id)
    name = page.required("user_name", "enter the user's name (before the @)")
    display_name = page.required("display_name", "enter the name shown for the user")
    if page.errors:
        return _tenant_page(page, directory, found, 422)
    upn = name if "@" in name else f"{name}@{found.domain}"
    try:
        user = directory.create_user(found, upn, display_name)
    except CspError as e:
        page.fail(e, {"user_principal_name": "user_name"})
        return _tenant_page(page, directory, found, 422 if e.code == "invalid_input" else 409)
    return page.redirect(f"/tenants/{tenant_id}", f"{user.user_principal_name} is created in the tenant.")


def _licences_page(page: Page, directory: TenantDirectory, sub: Subscription, status_code: int = 200) -> Response:
    caller = page.user()
    app = page.app
    found = access.tenant(app, caller, sub.tenant_id)
    users, unavailable = _users(page, directory, found)
    pending = {r.tenant_user_id: r.action for r in sub.licence_requests}
    rows = [
        {
            "user": u,
            "holds": sub.vendor_subscription_id is not None and sub.vendor_subscription_id in u.licences,
            "pending": pending.get(u.id),
        }
        for u in users
    ]
    return page.render(
        "subscription_licences.html",
        status_code=status_code,
        title=f"Licences · {sub.offer_name}",
        sub=subscription_public(sub, [], caller, app.now()),
        tenant=found,
        rows=rows,
        unavailable=unavailable,
        can_write=page.may("subscriptions.write") and sub.status in ("active", "trial"),
    )


@router.get("/subscriptions/{subscription_id}/licences")
def licences(subscription_id: UUID, page: PageDep, directory: TenantDirectoryDep) -> Response:
    caller = page.allow("subscriptions.read")
    return _licences_page(page, directory, access.subscription(page.app, caller, subscription_id))


def _assignment(page: Page, directory: TenantDirectory, subscription_id: UUID, user_id: str, assign: bool) -> Response:
    caller = page.allow("subscriptions.write")
    app = page.app
    sub = access.subscription(app, caller, subscription_id)
    command = app.assign_licence if assign else app.unassign_licence
    try:
        if assign:
            directory.user(access.tenant(app, caller, sub.tenant_id), user_id)  # the vendor has this user
        page.commands.run(lambda: command(sub.id, user_id, caller.actor))
    except CspError as e:
        page.fail(e)
        return _licences_page(page, directory, app.load(Subscription, subscription_id, "subscription"), 409)
    done = "given to the user" if assign else "taken back"
    return page.redirect(
        f"/subscriptions/{subscription_id}/licences",
        f"The licence is being {done} at the vendor; it shows in a moment.",
    )


@router.post("/subscriptions/{subscription_id}/licences/{user_id}/assign")
def assign(subscription_id: UUID, user_id: str, page: PageDep, directory: TenantDirectoryDep) -> Response:
    return _assignment(page, directory, subscription_id, user_id, assign=True)


@router.post("/subscriptions/{subscription_id}/licences/{user_id}/unassign")
def unassign(subscription_id: UUID, user_id: str, page: PageDep, directory: TenantDirectoryDep) -> Response:
    return _assignment(page, directory, subscription_id, user_id, assign=False)
