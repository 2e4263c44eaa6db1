"""Which orders wait for this reseller's approval, and what was decided? (the Approvals page)

A row per approval request: a customer user's order above its organization's monthly
credit limit (``csp.aggregates.credit``), with the spend it would reach, the limit, who
asked and when, and the decision (approved or rejected with the reason, by whom, when).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from csp.aggregates.order import APPROVAL_STATUSES, Order
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, check_choice, db_params, select_page
from csp.projections.rows import Rows
from csp.projections.sql import Row, Table, cols

APPROVALS = Table(
    "read_approvals",
    cols(
        "id uuid!, order_id uuid!, order_number text!, organization_id uuid!, organization_name text!, "
        "reseller_id uuid!, amount money!, monthly_limit money!, current_spend money!, order_total money!, "
        "requested_by text!, requested_at time!, status text!, decided_by text, decided_at time, reason text"
    ),
    key=("id",),
    indexes=(("reseller_id", "status", "requested_at"), ("order_id",)),
)


class ApprovalsList(ReadModel):
    name = "approvals_list"
    tables = (APPROVALS,)

    @handles(Order.ApprovalRequested)
    def requested(self, e: Order.ApprovalRequested, rows: Rows) -> None:
        rows.put(
            APPROVALS,
            {
                "id": e.approval_id,
                "order_id": e.originator_id,
                "order_number": e.order_number,
                "organization_id": e.organization_id,
                "organization_name": e.organization_name,
                "reseller_id": e.reseller_id,
                "amount": e.amount,
                "monthly_limit": e.monthly_limit,
                "current_spend": e.current_spend,
                "order_total": e.order_total,
                "requested_by": e.actor,
                "requested_at": e.at,
                "status": "pending",
                "decided_by": None,
                "decided_at": None,
                "reason": None,
            },
        )

    def _decide(self, e: Any, rows: Rows, status: str, reason: str | None) -> None:
        row = rows.get(APPROVALS, (e.approval_id,))
        if row is None:
            return
        row.update(status=status, decided_by=e.actor, decided_at=e.at, reason=reason)
        rows.put(APPROVALS, row)

    @handles(Order.ApprovalGranted)
    def granted(self, e: Order.ApprovalGranted, rows: Rows) -> None:
        self._decide(e, rows, "approved", None)

    @handles(Order.ApprovalRefused)
    def refused(self, e: Order.ApprovalRefused, rows: Rows) -> None:
        self._decide(e, rows, "rejected", e.reason)


def item(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in APPROVALS.column_names}


def approvals(view: Any, reseller_id: UUID, status: str | None = None, limit: int = 50, offset: int = 0) -> Page:
    """The reseller's approval requests, newest first (``status``: pending, approved, rejected)."""
    check_choice("status", status, APPROVAL_STATUSES)
    where = '"reseller_id" = ?'
    params = db_params(view, APPROVALS, reseller_id=reseller_id)
    if status is not None:
        where += ' AND "status" = ?'
        params += db_params(view, APPROVALS, status=status)
    found, total = select_page(view, APPROVALS, where, params, '"requested_at" DESC, "id"', limit, offset)
    return Page([item(r) for r in found], total)


def approval(view: Any, approval_id: UUID) -> dict[str, Any] | None:
    found, _ = select_page(view, APPROVALS, '"id" = ?', db_params(view, APPROVALS, id=approval_id), '"id"', 1, 0)
    return item(found[0]) if found else None
