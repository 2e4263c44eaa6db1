"""Which orders has this organization, and where is each? (the portal's Orders screen)

A row per order: number and item count, the requested change of each line and its
outcome (pending, provisioned, failed with the vendor's reason, discarded), who created it
and when, its status and the outcome in words (``2 of 3 lines provisioned · 1 failed:
reason``), newest first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from csp.aggregates.order import ORDER_STATUSES, ChangeLine, Order, OrderLine, outcome_summary
from csp.aggregates.pricing import money
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, check_choice, cursor_of, db_params, select_window, values_of_cursor
from csp.projections.rows import Rows
from csp.projections.sql import Table, cols
from csp.projections.store import ReadView

ORDERS = Table(
    "read_orders",
    cols(
        "id uuid!, organization_id uuid!, reseller_id uuid!, number text!, item_count int!, lines json!, "
        "total money!, created_by text!, created_at time!, placed_at time, status text!, updated_at time!, "
        "provisioned_count int!, failed_count int!, outcome text, reason text"
    ),
    key=("id",),
    indexes=(("organization_id", "created_at"), ("organization_id", "status", "created_at")),
)


def _line(line: OrderLine) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "offer_name": line.offer_name,
        "requested_change": line.requested_change,
        "kind": "change" if isinstance(line, ChangeLine) else "new",
        "total": str(line.total),
        "outcome": "pending",
        "failure_reason": None,
    }


def _with_outcome(row: dict[str, Any]) -> dict[str, Any]:
    """The counts and the words of the row's outcome, from its lines."""
    lines = row["lines"]
    provisioned = sum(1 for x in lines if x.get("outcome") == "provisioned")
    failed = [x.get("failure_reason") or "" for x in lines if x.get("outcome") == "failed"]
    discarded = sum(1 for x in lines if x.get("outcome") == "discarded")
    started = row["status"] not in ("draft", "placed", "discarded", "awaiting_approval", "rejected")
    row.update(
        provisioned_count=provisioned,
        failed_count=len(failed),
        outcome=outcome_summary(len(lines), provisioned, failed, discarded) if started else None,
    )
    return row


class OrdersList(ReadModel):
    name = "orders_list"
    version = 3  # 2: each line's outcome, the counts and the outcome in words; 3: approvals (credit limits)
    tables = (ORDERS,)

    @handles(Order.Drafted)
    def drafted(self, e: Order.Drafted, rows: Rows) -> None:
        rows.put(
            ORDERS,
            {
                "id": e.originator_id,
                "organization_id": e.organization_id,
                "reseller_id": e.reseller_id,
                "number": e.number,
                "item_count": 0,
                "lines": [],
                "total": Decimal("0.00"),
                "created_by": e.actor,
                "created_at": e.at,
                "placed_at": None,
                "status": "draft",
                "updated_at": e.at,
                "provisioned_count": 0,
                "failed_count": 0,
                "outcome": None,
                "reason": None,
            },
        )

    def _lines(self, e: Any, rows: Rows, change: Any) -> None:
        row = rows.get(ORDERS, (e.originator_id,))
        if row is None:
            return
        lines = sorted(change(row["lines"]), key=lambda x: x["line_no"])
        row.update(
            lines=lines,
            item_count=len(lines),
            total=money(sum((Decimal(x["total"]) for x in lines), Decimal(0))),
            updated_at=e.at,
        )
        rows.put(ORDERS, row)

    @handles(Order.LineAdded, Order.LineReplaced)
    def line_set(self, e: Order.LineAdded, rows: Rows) -> None:
        new = _line(e.line)
        self._lines(e, rows, lambda lines: [x for x in lines if x["line_no"] != new["line_no"]] + [new])

    @handles(Order.LineRemoved)
    def line_removed(self, e: Order.LineRemoved, rows: Rows) -> None:
        self._lines(e, rows, lambda lines: [x for x in lines if x["line_no"] != e.line_no])

    def _status(
        self,
        e: Any,
        rows: Rows,
        status: str | None,
        outcomes: dict[int, tuple[str, str | None]] | None = None,
        **more: Any,
    ) -> None:
        """Set the status (None: keep it) and the outcome of some lines (line_no → outcome, reason)."""
        row = rows.get(ORDERS, (e.originator_id,))
        if row is None:
            return
        if outcomes:
            row["lines"] = [
                {**x, "outcome": outcomes[x["line_no"]][0], "failure_reason": outcomes[x["line_no"]][1]}
                if x["line_no"] in outcomes
                else x
                for x in row["lines"]
            ]
        row.update(status=status or row["status"], updated_at=e.at, **more)
        rows.put(ORDERS, _with_outcome(row))

    @handles(Order.Placed)
    def placed(self, e: Order.Placed, rows: Rows) -> None:
        self._status(e, rows, "placed", placed_at=e.at)

    @handles(Order.ApprovalRequested)
    def approval_requested(self, e: Order.ApprovalRequested, rows: Rows) -> None:
        self._status(e, rows, "awaiting_approval")

    @handles(Order.ApprovalRefused)
    def approval_refused(self, e: Order.ApprovalRefused, rows: Rows) -> None:
        self._status(e, rows, "rejected", reason=e.reason)

    @handles(Order.Discarded)
    def discarded(self, e: Order.Discarded, rows: Rows) -> None:
        self._status(e, rows, "discarded")

    @handles(Order.ProvisionStarted)
    def provision_started(self, e: Order.ProvisionStarted, rows: Rows) -> None:
        self._status(e, rows, "provision_started")

    @handles(Order.ProvisionFinished)
    def provision_finished(self, e: Order.ProvisionFinished, rows: Rows) -> None:
        self._status(e, rows, "provision_finished")

    @handles(Order.ProvisionFailed)
    def provision_failed(self, e: Order.ProvisionFailed, rows: Rows) -> None:
        row = rows.get(ORDERS, (e.originator_id,))
        failed_already = row is not None and any(x.get("outcome") == "failed" for x in row["lines"])
        # An order failed before lines had their own outcome: its failed line says why.
        outcomes = {e.line_no: ("failed", e.reason)} if e.line_no is not None and not failed_already else None
        self._status(e, rows, "provision_failed", outcomes)

    @handles(Order.LineProvisioned)
    def line_provisioned(self, e: Order.LineProvisioned, rows: Rows) -> None:
        self._status(e, rows, None, {e.line_no: ("provisioned", None)})

    @handles(Order.LineFailed)
    def line_failed(self, e: Order.LineFailed, rows: Rows) -> None:
        self._status(e, rows, None, {e.line_no: ("failed", e.reason)})

    @handles(Order.ProvisionPartlyFinished)
    def partly_finished(self, e: Order.ProvisionPartlyFinished, rows: Rows) -> None:
        self._status(e, rows, "partially_provisioned")

    @handles(Order.FailedLinesRetried)
    def retried(self, e: Order.FailedLinesRetried, rows: Rows) -> None:
        self._status(e, rows, "provision_started", dict.fromkeys(e.line_nos, ("pending", None)))

    @handles(Order.FailedLinesDiscarded)
    def failed_discarded(self, e: Order.FailedLinesDiscarded, rows: Rows) -> None:
        self._status(e, rows, "provision_finished", dict.fromkeys(e.line_nos, ("discarded", None)))


def item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "number": row["number"],
        "item_count": row["item_count"],
        "lines": [
            {
                "line_no": x["line_no"],
                "offer_name": x["offer_name"],
                "requested_change": x["requested_change"],
                "outcome": x.get("outcome", "pending"),
                "failure_reason": x.get("failure_reason"),
            }
            for x in row["lines"]
        ],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "status": row["status"],
        "organization_id": row["organization_id"],
        "total": row["total"],
        "placed_at": row["placed_at"],
        "provisioned_count": row["provisioned_count"],
        "failed_count": row["failed_count"],
        "outcome": row["outcome"],
        "reason": row.get("reason"),  # why the reseller rejected it (over the credit limit)
    }


ORDER_KEY = ("created_at", "number")  # newest first: both descending


def orders(
    view: ReadView,
    organization_id: UUID,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
) -> Page:
    """A page of the organization's orders, newest first: ``offset`` rows in, or (keyset
    paging) after the order whose cursor is ``after``; ``total`` counts them all."""
    check_choice("status", status, ORDER_STATUSES)
    where = '"organization_id" = ?'
    params = db_params(view, ORDERS, organization_id=organization_id)
    if status is not None:
        where += ' AND "status" = ?'
        params += db_params(view, ORDERS, status=status)
    keyset = None
    if after is not None:
        keyset = ('("created_at", "number") < (?, ?)', values_of_cursor(view, after, ("time", "text")))
    found, total, more = select_window(
        view, ORDERS, where, params, '"created_at" DESC, "number" DESC', limit, offset, keyset
    )
    last = found[-1] if found and more else None
    return Page([item(r) for r in found], total, cursor_of([last[k] for k in ORDER_KEY]) if last else None)
