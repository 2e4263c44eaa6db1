"""What did this reseller buy, month by month? (the Invoices screen, and its CSV export)"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from csp.aggregates.invoice import Invoice
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, csv_text, db_params, select_page, select_rows
from csp.projections.rows import Rows
from csp.projections.sql import Row, Table, cols
from csp.projections.store import ReadView

INVOICES = Table(
    "read_invoices",
    cols(
        "id uuid!, reseller_id uuid!, number text!, period text!, issued_at time!, total money!, currency text!, "
        "line_count int!, exchange_rate decimal, exchange_rate_month text"
    ),
    key=("id",),
    indexes=(("reseller_id", "period"),),
)
INVOICE_LINES = Table(
    "read_invoice_lines",
    cols(
        "invoice_id uuid!, line_no int!, subscription_id uuid!, organization_id uuid!, description text!, "
        "quantity decimal!, unit_price money, days int!, amount money!, charge_ids json!"
    ),
    key=("invoice_id", "line_no"),
)
INVOICE_CHARGES = Table("read_invoice_charges", cols("charge_id uuid!, invoice_id uuid!"), key=("charge_id",))

LINE_FIELDS = ("subscription_id", "organization_id", "description", "quantity", "unit_price", "days", "amount")
RATE_FIELDS = ("exchange_rate", "exchange_rate_month")  # EUR→currency, and the month it was set for
CSV_COLUMNS = ("number", "period", "issued_at", "currency", "line_no", *LINE_FIELDS, *RATE_FIELDS)


class InvoiceHistory(ReadModel):
    name = "invoice_history"
    tables = (INVOICES, INVOICE_LINES, INVOICE_CHARGES)

    @handles(Invoice.Issued)
    def issued(self, e: Invoice.Issued, rows: Rows) -> None:
        rows.put(
            INVOICES,
            {
                "id": e.originator_id,
                "reseller_id": e.reseller_id,
                "number": e.number,
                "period": e.period,
                "issued_at": e.at,
                "total": e.total,
                "currency": e.currency,
                "line_count": len(e.lines),
                "exchange_rate": e.exchange_rate,
                "exchange_rate_month": e.exchange_rate_month,
            },
        )
        for line in e.lines:
            rows.put(
                INVOICE_LINES,
                {
                    "invoice_id": e.originator_id,
                    "line_no": line.line_no,
                    "subscription_id": line.subscription_id,
                    "organization_id": line.organization_id,
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "days": line.days,
                    "amount": line.amount,
                    "charge_ids": [str(c) for c in line.charge_ids],
                },
            )
            for charge_id in line.charge_ids:
                rows.put(INVOICE_CHARGES, {"charge_id": charge_id, "invoice_id": e.originator_id})


def item(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "number": row["number"],
        "period": row["period"],
        "issued_at": row["issued_at"],
        "total": row["total"],
        "currency": row["currency"],
        "line_count": row["line_count"],
        "reseller_id": row["reseller_id"],
        "exchange_rate": row["exchange_rate"],
        "exchange_rate_month": row["exchange_rate_month"],
    }


LIST_CSV_COLUMNS = ("number", "period", "issued_at", "total", "currency", "line_count", "id", *RATE_FIELDS)


def invoices(view: ReadView, reseller_id: UUID, limit: int = 50, offset: int = 0, with_lines: bool = False) -> Page:
    """A reseller's invoices, newest first; their lines too if asked (else ``lines`` is None:
    an invoice can have a line per subscription)."""
    found, total = select_page(
        view,
        INVOICES,
        '"reseller_id" = ?',
        db_params(view, INVOICES, reseller_id=reseller_id),
        '"period" DESC, "number" DESC',
        limit,
        offset,
    )
    items = [item(r) for r in found]
    for x in items:
        x["lines"] = _lines(view, x["id"]) if with_lines else None
    return Page(items, total)


def invoices_csv(view: ReadView, reseller_id: UUID) -> str:
    """Every invoice of a reseller, one row each (no lines), newest first."""
    rows = select_rows(
        view,
        INVOICES,
        '"reseller_id" = ?',
        db_params(view, INVOICES, reseller_id=reseller_id),
        '"period" DESC, "number" DESC',
    )
    return csv_text(LIST_CSV_COLUMNS, (item(r) for r in rows))


def _lines(view: ReadView, invoice_id: UUID) -> list[dict[str, Any]]:
    lines = select_rows(
        view, INVOICE_LINES, '"invoice_id" = ?', db_params(view, INVOICE_LINES, invoice_id=invoice_id), '"line_no"'
    )
    return [{"line_no": x["line_no"], **{f: x[f] for f in LINE_FIELDS}} for x in lines]


def invoice(view: ReadView, invoice_id: UUID) -> dict[str, Any] | None:
    """One invoice with its lines, or None."""
    found = select_rows(view, INVOICES, '"id" = ?', db_params(view, INVOICES, id=invoice_id))
    if not found:
        return None
    out = item(found[0])
    out["lines"] = _lines(view, invoice_id)
    return out


def invoice_csv(view: ReadView, invoice_id: UUID) -> str | None:
    """The invoice's lines as CSV (one row per line, the invoice's number on each), or None."""
    inv = invoice(view, invoice_id)
    if inv is None:
        return None
    head = {k: inv[k] for k in ("number", "period", "issued_at", "currency", *RATE_FIELDS)}
    return csv_text(CSV_COLUMNS, ({**head, **line} for line in inv["lines"]))


def period_invoices(view: ReadView, period: str, reseller_id: UUID | None = None) -> list[dict[str, Any]]:
    """Every invoice of a month (of one reseller, or all), with lines (for exports)."""
    where, params = '"period" = ?', db_params(view, INVOICES, period=period)
    if reseller_id is not None:
        where += ' AND "reseller_id" = ?'
        params += db_params(view, INVOICES, reseller_id=reseller_id)
    out = []
    for row in select_rows(view, INVOICES, where, params, '"reseller_id", "number"'):
        found = invoice(view, row["id"])
        if found is not None:
            out.append(found)
    return out
