"""Which orders has this organization, and where is each? (the portal's Orders screen)

A row per order: number and item count, the requested change of each line, who created
it and when, and its status, newest first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from csp.aggregates.order import ORDER_STATUSES, ChangeLine, Order, OrderLine
from csp.aggregates.pricing import money
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, check_choice, db_params, select_page
from csp.projections.rows import Rows
from csp.projections.sql import Table, cols
from csp.projections.store import ReadView

ORDERS = Table(
    "read_orders",
    cols(
        "id uuid!, organization_id uuid!, reseller_id uuid!, number text!, item_count int!, lines json!, "
        "total money!, created_by text!, created_at time!, placed_at time, status text!, updated_at time!"
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
    }


class OrdersList(ReadModel):
    name = "orders_list"
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

    def _status(self, e: Any, rows: Rows, status: str, **more: Any) -> None:
        row = rows.get(ORDERS, (e.originator_id,))
        if row is None:
            return
        row.update(status=status, updated_at=e.at, **more)
        rows.put(ORDERS, row)

    @handles(Order.Placed)
    def placed(self, e: Order.Placed, rows: Rows) -> None:
        self._status(e, rows, "placed", placed_at=e.at)

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
        self._status(e, rows, "provision_failed")


def item(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "number": row["number"],
        "item_count": row["item_count"],
        "lines": [{"offer_name": x["offer_name"], "requested_change": x["requested_change"]} for x in row["lines"]],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "status": row["status"],
        "organization_id": row["organization_id"],
        "total": row["total"],
        "placed_at": row["placed_at"],
    }


def orders(view: ReadView, organization_id: UUID, status: str | None = None, limit: int = 50, offset: int = 0) -> Page:
    check_choice("status", status, ORDER_STATUSES)
    where = '"organization_id" = ?'
    params = db_params(view, ORDERS, organization_id=organization_id)
    if status is not None:
        where += ' AND "status" = ?'
        params += db_params(view, ORDERS, status=status)
    found, total = select_page(view, ORDERS, where, params, '"created_at" DESC, "number" DESC', limit, offset)
    return Page([item(r) for r in found], total)
