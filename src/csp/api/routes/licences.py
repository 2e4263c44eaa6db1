"""Licence assignment: a customer tenant's users (the vendor's) and which of a
subscription's licences each holds. Assigning is decided here (``no_free_licence``) and
pushed to the vendor by the subscription's saga: 202, the vendor's answer follows."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from csp.api import access
from csp.api import schemas as s
from csp.api.deps import (
    AppDep,
    CommandsDep,
    IfMatch,
    ReadModelsDep,
    SubscriptionsWriter,
    TenantDirectoryDep,
    TenantsReader,
    TenantsWriter,
)
from csp.api.routes.subscriptions import answer
from csp.projections import ReadModels
from csp.vendor.gateway import TenantUser

router = APIRouter(tags=["licences"])


def _user(u: TenantUser, by_vendor_id: dict[str, UUID]) -> s.TenantUserPublic:
    return s.TenantUserPublic(
        id=u.id,
        user_principal_name=u.user_principal_name,
        display_name=u.display_name,
        licences=[by_vendor_id[v] for v in u.licences if v in by_vendor_id],
    )


def _names(read: ReadModels, tenant_id: UUID) -> dict[str, UUID]:
    return read.subscriptions_by_vendor_id(tenant_id)


@router.get("/tenants/{tenant_id}/users", response_model=s.TenantUsersPublic)
def tenant_users(
    tenant_id: UUID, caller: TenantsReader, app: AppDep, read: ReadModelsDep, directory: TenantDirectoryDep
) -> s.TenantUsersPublic:
    """The tenant's users, from the vendor (the truth), with the subscriptions whose licence
    each holds."""
    tenant = access.tenant(app, caller, tenant_id)
    names = _names(read, tenant_id)
    items = [_user(u, names) for u in directory.users(tenant)]
    return s.TenantUsersPublic(items=items, total=len(items))


@router.post("/tenants/{tenant_id}/users", status_code=status.HTTP_201_CREATED, response_model=s.TenantUserPublic)
def create_tenant_user(
    tenant_id: UUID,
    body: s.TenantUserCreate,
    caller: TenantsWriter,
    app: AppDep,
    commands: CommandsDep,
    read: ReadModelsDep,
    directory: TenantDirectoryDep,
) -> s.TenantUserPublic:
    """A new user in the tenant, created at the vendor (its name in the tenant's domain),
    then recorded on the tenant's history (``UserCreated``: who created it, when); nothing
    is recorded when the vendor refuses."""
    tenant = access.tenant(app, caller, tenant_id)
    user = directory.create_user(tenant, body.user_principal_name, body.display_name)
    commands.run(
        lambda: app.record_tenant_user_created(
            tenant_id, user.id, user.user_principal_name, user.display_name, caller.actor
        )
    )
    return _user(user, _names(read, tenant_id))


@router.put(
    "/subscriptions/{subscription_id}/assignments/{tenant_user_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=s.SubscriptionPublic,
)
def assign_licence(
    subscription_id: UUID,
    tenant_user_id: str,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    directory: TenantDirectoryDep,
    version: IfMatch,
    response: Response,
) -> s.SubscriptionPublic:
    """One licence to one user of the subscription's tenant (404 if the vendor has no such
    user there); 409 ``no_free_licence`` when every purchased seat is assigned or pending."""
    sub = access.subscription(app, caller, subscription_id)
    directory.user(access.tenant(app, caller, sub.tenant_id), tenant_user_id)
    sub = commands.run(lambda: app.assign_licence(subscription_id, tenant_user_id, caller.actor, version), sub)
    return answer(app, sub, caller, response)


@router.delete(
    "/subscriptions/{subscription_id}/assignments/{tenant_user_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=s.SubscriptionPublic,
)
def unassign_licence(
    subscription_id: UUID,
    tenant_user_id: str,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.SubscriptionPublic:
    """Take the user's licence back: the seat is free once the vendor has done it."""
    sub = access.subscription(app, caller, subscription_id)
    sub = commands.run(lambda: app.unassign_licence(subscription_id, tenant_user_id, caller.actor, version), sub)
    return answer(app, sub, caller, response)
