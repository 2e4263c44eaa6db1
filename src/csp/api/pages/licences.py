"""Licences by user: a tenant's page with its users (from the vendor) and a form to add
one, and a subscription's licences with an Assign / Unassign button per user. Plain forms
(no JavaScript); assignments go to the vendor through the saga, so the page says so."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.errors import CspError
from csp.aggregates.subscription import Subscription
from csp.api import access
from csp.api.deps import TenantDirectoryDep
from csp.api.pages.tenant_page import tenant_page, tenant_url, tenant_users
from csp.api.pages.web import ORG_COOKIE, Page, page_for
from csp.api.presenters import subscription_public
from csp.api.tenant_directory import TenantDirectory

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]


@router.get("/tenants/{tenant_id}")
def tenant(tenant_id: UUID, page: PageDep) -> Response:
    """The tenant's page lives under its organization (``csp.api.pages.tenant_page``)."""
    caller = page.allow("tenants.read")
    found = access.tenant(page.app, caller, tenant_id)
    if not caller.is_customer:
        page.cookies[ORG_COOKIE] = str(found.organization_id)
    return page.redirect(tenant_url(found))


@router.post("/tenants/{tenant_id}/users")
def add_user(tenant_id: UUID, page: PageDep, directory: TenantDirectoryDep) -> Response:
    caller = page.allow("tenants.write")
    found = access.tenant(page.app, caller, tenant_id)
    name = page.required("user_name", "enter the user's name (before the @)")
    display_name = page.required("display_name", "enter the name shown for the user")
    if page.errors:
        return tenant_page(page, found.organization_id, found.id, directory, 422)
    upn = name if "@" in name else f"{name}@{found.domain}"
    try:
        user = directory.create_user(found, upn, display_name)
        page.commands.run(  # on the tenant's history: who created which user, when
            lambda: page.app.record_tenant_user_created(
                found.id, user.id, user.user_principal_name, user.display_name, caller.actor
            )
        )
    except CspError as e:
        page.fail(e, {"user_principal_name": "user_name"})
        return tenant_page(page, found.organization_id, found.id, directory, 422 if e.code == "invalid_input" else 409)
    return page.redirect(tenant_url(found), f"{user.user_principal_name} is created in the tenant.")


def _licences_page(page: Page, directory: TenantDirectory, sub: Subscription, status_code: int = 200) -> Response:
    caller = page.user()
    app = page.app
    found = access.tenant(app, caller, sub.tenant_id)
    users, unavailable = tenant_users(page, directory, found)
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
