"""Which invoices has this reseller made out to its customers, and where is each?
(the Customer invoices screen, its CSV export, and what a customer sees of its own)

A row per customer invoice (draft, issued, paid or void) with its totals and tax
decision, its lines, and the credit notes that reference it.
"""

from __future__ import annotations

from typing import Any, get_args
from uuid import UUID

from csp.aggregates.currency import zero
from csp.aggregates.customer_invoice import (
    CreditNote,
    CustomerInvoice,
    CustomerInvoiceLine,
    CustomerInvoiceStatus,
    totals,
)
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, check_choice, csv_text, db_params, select_page, select_rows
from csp.projections.rows import Rows
from csp.projections.sql import Row, Table, cols
from csp.projections.store import ReadView

STATUSES: tuple[str, ...] = get_args(CustomerInvoiceStatus)

CUSTOMER_INVOICES = Table(
    "read_customer_invoices",
    cols(
        "id uuid!, reseller_id uuid!, organization_id uuid!, number text, period text!, currency text!, "
        "status text!, net money!, tax money!, gross money!, tax_kind text, tax_mention text, "
        "drafted_at time!, issued_at time, paid_at time, voided_at time, line_count int!, credited money!, "
        "exchange_rate decimal, exchange_rate_month text"
    ),
    key=("id",),
    indexes=(("reseller_id", "period"), ("organization_id", "period")),
)
CUSTOMER_INVOICE_LINES = Table(
    "read_customer_invoice_lines",
    cols(
        "invoice_id uuid!, line_no int!, subscription_id uuid, description text!, quantity decimal!, "
        "unit_price money, days int!, net money!, tax_rate decimal!, tax money!, gross money!"
    ),
    key=("invoice_id", "line_no"),
)
CREDIT_NOTES = Table(
    "read_credit_notes",
    cols(
        "id uuid!, invoice_id uuid!, reseller_id uuid!, organization_id uuid!, number text!, issued_at time!, "
        "net money!, tax money!, gross money!, reason text!, lines json!"
    ),
    key=("id",),
    indexes=(("invoice_id",),),
)

LINE_FIELDS = ("description", "quantity", "unit_price", "days", "net", "tax_rate", "tax", "gross")
RATE_FIELDS = ("exchange_rate", "exchange_rate_month")  # EUR→currency, and the month it was set for
CSV_COLUMNS = ("number", "period", "status", "currency", "line_no", *LINE_FIELDS, *RATE_FIELDS)
LIST_CSV_COLUMNS = ("number", "period", "status", "organization_id", "currency", "net", "tax", "gross", "id")


def _line_json(x: CustomerInvoiceLine) -> dict[str, Any]:
    return {"line_no": x.line_no, **{f: str(getattr(x, f)) if f != "days" else x.days for f in LINE_FIELDS}}


class CustomerInvoices(ReadModel):
    name = "customer_invoices"
    tables = (CUSTOMER_INVOICES, CUSTOMER_INVOICE_LINES, CREDIT_NOTES)

    def _put_lines(self, invoice_id: UUID, lines: tuple[CustomerInvoiceLine, ...], rows: Rows) -> None:
        for x in lines:
            rows.put(
                CUSTOMER_INVOICE_LINES,
                {
                    "invoice_id": invoice_id,
                    "line_no": x.line_no,
                    "subscription_id": x.subscription_id,
                    **{f: getattr(x, f) for f in LINE_FIELDS},
                },
            )

    @handles(CustomerInvoice.Drafted)
    def drafted(self, e: CustomerInvoice.Drafted, rows: Rows) -> None:
        net, tax, gross = totals(e.lines, e.currency)
        rows.put(
            CUSTOMER_INVOICES,
            {
                "id": e.originator_id,
                "reseller_id": e.reseller_id,
                "organization_id": e.organization_id,
                "number": None,
                "period": e.period,
                "currency": e.currency,
                "status": "draft",
                "net": net,
                "tax": tax,
                "gross": gross,
                "tax_kind": e.tax_preview.kind if e.tax_preview is not None else None,
                "tax_mention": e.tax_preview.mention if e.tax_preview is not None else None,
                "drafted_at": e.at,
                "issued_at": None,
                "paid_at": None,
                "voided_at": None,
                "line_count": len(e.lines),
                "credited": zero(e.currency),
                "exchange_rate": e.exchange_rate,
                "exchange_rate_month": e.exchange_rate_month,
            },
        )
        self._put_lines(e.originator_id, e.lines, rows)

    @handles(CustomerInvoice.Issued)
    def issued(self, e: CustomerInvoice.Issued, rows: Rows) -> None:
        row = rows.get(CUSTOMER_INVOICES, (e.originator_id,))
        if row is None:
            return
        row.update(
            number=e.number,
            status="issued",
            net=e.net,
            tax=e.tax,
            gross=e.gross,
            tax_kind=e.decision.kind,
            tax_mention=e.decision.mention,
            issued_at=e.at,
        )
        rows.put(CUSTOMER_INVOICES, row)
        self._put_lines(e.originator_id, e.lines, rows)

    @handles(CustomerInvoice.Paid)
    def paid(self, e: CustomerInvoice.Paid, rows: Rows) -> None:
        row = rows.get(CUSTOMER_INVOICES, (e.originator_id,))
        if row is not None:
            row.update(status="paid", paid_at=e.paid_at)
            rows.put(CUSTOMER_INVOICES, row)

    @handles(CustomerInvoice.Voided)
    def voided(self, e: CustomerInvoice.Voided, rows: Rows) -> None:
        row = rows.get(CUSTOMER_INVOICES, (e.originator_id,))
        if row is not None:
            row.update(status="void", voided_at=e.at)
            rows.put(CUSTOMER_INVOICES, row)

    @handles(CreditNote.Issued)
    def credited(self, e: CreditNote.Issued, rows: Rows) -> None:
        rows.put(
            CREDIT_NOTES,
            {
                "id": e.originator_id,
                "invoice_id": e.invoice_id,
                "reseller_id": e.reseller_id,
                "organization_id": e.organization_id,
                "number": e.number,
                "issued_at": e.at,
                "net": e.net,
                "tax": e.tax,
                "gross": e.gross,
                "reason": e.reason,
                "lines": [_line_json(x) for x in e.lines],
            },
        )
        row = rows.get(CUSTOMER_INVOICES, (e.invoice_id,))
        if row is not None:
            row.update(credited=row["credited"] - e.gross)
            rows.put(CUSTOMER_INVOICES, row)


def item(row: Row) -> dict[str, Any]:
    return {
        k: row[k]
        for k in (
            "id",
            "number",
            "reseller_id",
            "organization_id",
            "period",
            "currency",
            "status",
            "net",
            "tax",
            "gross",
            "tax_kind",
            "tax_mention",
            "drafted_at",
            "issued_at",
            "paid_at",
            "voided_at",
            "line_count",
            "credited",
            "exchange_rate",
            "exchange_rate_month",
        )
    }


def _where(
    view: ReadView,
    reseller_id: UUID,
    organization_id: UUID | None,
    period: str | None,
    status: str | None,
    issued_only: bool,
) -> tuple[str, list[Any]]:
    check_choice("status", status, STATUSES)
    t = CUSTOMER_INVOICES
    where, params = '"reseller_id" = ?', db_params(view, t, reseller_id=reseller_id)
    if organization_id is not None:
        where += ' AND "organization_id" = ?'
        params += db_params(view, t, organization_id=organization_id)
    if period is not None:
        where += ' AND "period" = ?'
        params += db_params(view, t, period=period)
    if status is not None:
        where += ' AND "status" = ?'
        params += db_params(view, t, status=status)
    if issued_only:  # a customer never sees a draft
        where += " AND \"status\" <> 'draft'"
    return where, params


def customer_invoices(
    view: ReadView,
    reseller_id: UUID,
    organization_id: UUID | None = None,
    period: str | None = None,
    status: str | None = None,
    issued_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """A reseller's customer invoices (of one customer, month, status), newest first."""
    where, params = _where(view, reseller_id, organization_id, period, status, issued_only)
    found, total = select_page(
        view, CUSTOMER_INVOICES, where, params, '"period" DESC, "number" DESC, "organization_id"', limit, offset
    )
    return Page([item(r) for r in found], total)


def customer_invoices_csv(
    view: ReadView,
    reseller_id: UUID,
    organization_id: UUID | None = None,
    period: str | None = None,
    status: str | None = None,
    issued_only: bool = False,
) -> str:
    where, params = _where(view, reseller_id, organization_id, period, status, issued_only)
    rows = select_rows(view, CUSTOMER_INVOICES, where, params, '"period" DESC, "number" DESC, "organization_id"')
    return csv_text(LIST_CSV_COLUMNS, (item(r) for r in rows))


def customer_invoice(view: ReadView, invoice_id: UUID) -> dict[str, Any] | None:
    """One invoice with its lines and credit notes, or None."""
    found = select_rows(view, CUSTOMER_INVOICES, '"id" = ?', db_params(view, CUSTOMER_INVOICES, id=invoice_id))
    if not found:
        return None
    out = item(found[0])
    lines = select_rows(
        view,
        CUSTOMER_INVOICE_LINES,
        '"invoice_id" = ?',
        db_params(view, CUSTOMER_INVOICE_LINES, invoice_id=invoice_id),
        '"line_no"',
    )
    out["lines"] = [
        {"line_no": x["line_no"], "subscription_id": x["subscription_id"], **{f: x[f] for f in LINE_FIELDS}}
        for x in lines
    ]
    notes = select_rows(
        view, CREDIT_NOTES, '"invoice_id" = ?', db_params(view, CREDIT_NOTES, invoice_id=invoice_id), '"number"'
    )
    out["credit_notes"] = [
        {k: n[k] for k in ("id", "number", "issued_at", "net", "tax", "gross", "reason", "lines")} for n in notes
    ]
    return out


def customer_invoice_ids_by_number(view: ReadView, reseller_id: UUID, numbers: list[str]) -> dict[str, UUID]:
    """The reseller's invoices with these numbers: number → id."""
    out: dict[str, UUID] = {}
    for n in dict.fromkeys(numbers):
        for r in select_rows(
            view,
            CUSTOMER_INVOICES,
            '"reseller_id" = ? AND "number" = ?',
            db_params(view, CUSTOMER_INVOICES, reseller_id=reseller_id, number=n),
        ):
            out[n] = r["id"]
    return out


def customer_invoice_csv(view: ReadView, invoice_id: UUID) -> str | None:
    """The invoice's lines as CSV (the invoice's number on each row), or None."""
    inv = customer_invoice(view, invoice_id)
    if inv is None:
        return None
    head = {k: inv[k] for k in ("number", "period", "status", "currency", *RATE_FIELDS)}
    return csv_text(CSV_COLUMNS, ({**head, **line} for line in inv["lines"]))
