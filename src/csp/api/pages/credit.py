"""Credit limits on the portal (issue 18 item 6): the customer page's monthly limit form,
and the Approvals page where the reseller approves or rejects (with a reason) its
customer users' orders above their limit."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.credit import parse_credit_limit
from csp.aggregates.errors import CspError, InvalidInput, NotFound
from csp.aggregates.order import APPROVAL_STATUSES
from csp.api import access
from csp.api.pages.customers import organization_page
from csp.api.pages.web import Page, page_for

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]


@router.post("/o/{organization_id}/credit-limit")
def set_credit_limit(organization_id: UUID, page: PageDep) -> Response:
    """An empty field clears the limit."""
    caller = page.allow("credit.write")
    org = access.organization(page.app, caller, organization_id)
    try:
        limit = parse_credit_limit(page.value("monthly_limit"))
        saved = page.commands.run(lambda: page.app.set_credit_limit(org.id, limit, caller.actor, page.version()))
    except CspError as e:
        page.fail(e)
        return organization_page(page, page.app.load(type(org), org.id, "organization"), 422)
    notice = (
        f"The monthly credit limit of {saved.name} is {saved.credit_limit}."
        if saved.credit_limit is not None
        else f"{saved.name} has no credit limit."
    )
    return page.redirect(f"/o/{org.id}", notice)


def _approvals(page: Page, status: str | None, status_code: int = 200) -> Response:
    caller = page.allow("approvals.read")
    items = page.read_models().approvals(caller.reseller_id, status, 200, 0).items
    return page.render(
        "approvals.html",
        status_code=status_code,
        title="Approvals",
        approvals=items,
        status=status or "",
        statuses=APPROVAL_STATUSES,
        can_decide=page.may("approvals.write"),
    )


@router.get("/approvals")
def approvals(page: PageDep) -> Response:
    status = page.request.query_params.get("status", "pending") or None
    if status is not None and status not in APPROVAL_STATUSES:
        status = "pending"
    return _approvals(page, status)


def _decide(page: Page, approval_id: UUID, decision: str) -> Response:
    caller = page.allow("approvals.write")
    row = page.read_models().approval(approval_id)
    if row is None or row["reseller_id"] != caller.reseller_id:
        raise NotFound("approval", approval_id)
    order = access.order(page.app, caller, row["order_id"])
    reason = page.value("reason")
    try:
        if decision == "approve":
            page.commands.run(lambda: page.app.approve_order(order.id, caller.actor), order)
        else:
            if not reason.strip():
                raise InvalidInput("reason", "say why: the customer sees it on its order")
            page.commands.run(lambda: page.app.reject_order(order.id, reason, caller.actor), order)
    except CspError as e:
        page.fail(e, {"reason": f"reason-{approval_id}"})
        return _approvals(page, "pending", 409 if decision == "approve" else 422)
    done = "approved: it is being provisioned" if decision == "approve" else "rejected"
    return page.redirect("/approvals", f"Order {row['order_number']} is {done}.")


@router.post("/approvals/{approval_id}/approve")
def approve(approval_id: UUID, page: PageDep) -> Response:
    return _decide(page, approval_id, "approve")


@router.post("/approvals/{approval_id}/reject")
def reject(approval_id: UUID, page: PageDep) -> Response:
    return _decide(page, approval_id, "reject")
