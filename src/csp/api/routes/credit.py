"""Credit limits and approvals (issue 18 item 6): a customer's monthly limit, and the
reseller's decisions on its customer users' orders above it (docs/credit-limits.md)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from csp.aggregates.credit import parse_credit_limit
from csp.aggregates.errors import NotFound
from csp.aggregates.order import ApprovalStatus
from csp.api import access
from csp.api import schemas as s
from csp.api.auth import Caller
from csp.api.deps import (
    AppDep,
    ApprovalsReader,
    ApprovalsWriter,
    CommandsDep,
    CreditWriter,
    IfMatch,
    Limit,
    Offset,
    ReadModelsDep,
)
from csp.api.presenters import approval_public
from csp.api.routes.organizations import etag
from csp.projections import ReadModels

router = APIRouter(tags=["credit limits"])


@router.put("/organizations/{organization_id}/credit-limit", response_model=s.CreditLimitPublic)
def set_credit_limit(
    organization_id: UUID,
    body: s.CreditLimitUpdate,
    caller: CreditWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.CreditLimitPublic:
    """The customer's monthly credit limit at customer prices (``null`` or absent clears
    it). A customer user's order that would take its monthly spend above it waits for
    approval (``GET /approvals``)."""
    checked = access.organization(app, caller, organization_id)
    limit = parse_credit_limit(body.monthly_limit)
    org = commands.run(lambda: app.set_credit_limit(organization_id, limit, caller.actor, version), checked)
    etag(response, org.version)
    return s.CreditLimitPublic(organization_id=org.id, monthly_limit=org.credit_limit, version=org.version)


def _approval(read: ReadModels, caller: Caller, approval_id: UUID) -> dict[str, object]:
    row = read.approval(approval_id)
    if row is None or row["reseller_id"] != caller.reseller_id:
        raise NotFound("approval", approval_id)
    return row


@router.get("/approvals", response_model=s.ApprovalsPublic)
def approvals(
    caller: ApprovalsReader,
    read: ReadModelsDep,
    status_: Annotated[ApprovalStatus | None, Query(alias="status")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> s.ApprovalsPublic:
    """The reseller's approval requests, newest first (``?status=pending`` for those waiting)."""
    found = read.approvals(caller.reseller_id, status_, limit, offset)
    return s.ApprovalsPublic(items=[approval_public(r) for r in found.items], total=found.total)


@router.get("/approvals/{approval_id}", response_model=s.ApprovalPublic)
def get_approval(approval_id: UUID, caller: ApprovalsReader, read: ReadModelsDep) -> s.ApprovalPublic:
    return approval_public(_approval(read, caller, approval_id))


def _decided(read: ReadModels, caller: Caller, approval_id: UUID) -> s.ApprovalPublic:
    return approval_public(_approval(read, caller, approval_id))


@router.post("/approvals/{approval_id}/approve", response_model=s.ApprovalPublic)
def approve(
    approval_id: UUID, caller: ApprovalsWriter, app: AppDep, commands: CommandsDep, read: ReadModelsDep
) -> s.ApprovalPublic:
    """Let the order go over the limit: it is placed and provisioned as any other (409
    when the approval was already decided)."""
    order_id = _approval(read, caller, approval_id)["order_id"]
    order = access.order(app, caller, order_id)  # type: ignore[arg-type]
    commands.run(lambda: app.approve_order(order.id, caller.actor), order)
    return _decided(read, caller, approval_id)


@router.post("/approvals/{approval_id}/reject", response_model=s.ApprovalPublic)
def reject(
    approval_id: UUID,
    body: s.ApprovalReject,
    caller: ApprovalsWriter,
    app: AppDep,
    commands: CommandsDep,
    read: ReadModelsDep,
) -> s.ApprovalPublic:
    """Refuse the order, saying why (``reason`` required, 422 without): the order ends
    ``rejected`` and the customer sees the reason on it (409 when already decided)."""
    order_id = _approval(read, caller, approval_id)["order_id"]
    order = access.order(app, caller, order_id)  # type: ignore[arg-type]
    commands.run(lambda: app.reject_order(order.id, body.reason, caller.actor), order)
    return _decided(read, caller, approval_id)
