"""Invoices (the reseller's purchase history) and reports, as JSON or CSV."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from csp.api import access
from csp.api import schemas as s
from csp.api.deps import AppDep, InvoicesReader, Limit, Offset, ReadModelsDep, ReportsReader
from csp.api.lists import NOT_MODIFIED, list_response
from csp.api.queries import invoice_of
from csp.api.readside import page
from csp.projections import report_columns

router = APIRouter(tags=["billing"])
Format = Annotated[Literal["json", "csv"], Query(alias="format")]
ReportName = Literal["customers", "subscriptions", "licenses", "consumption", "evolution"]
CSV = {"text/csv": {"schema": {"type": "string"}}}


def _csv(body: str, filename: str) -> PlainTextResponse:
    return PlainTextResponse(
        body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("/invoices", response_model=s.InvoicesPublic, responses={200: {"content": CSV}})
def invoices(
    caller: InvoicesReader,
    read: ReadModelsDep,
    limit: Limit = 50,
    offset: Offset = 0,
    fmt: Format = "json",
    with_lines: Annotated[bool, Query(description="each invoice's lines too (else `lines` is null)")] = False,
) -> Any:
    """The reseller's invoices, newest first; as CSV, every invoice, one row each."""
    if fmt == "csv":
        return _csv(read.invoices_csv(caller.reseller_id), "invoices.csv")
    return page(read.invoices(caller.reseller_id, limit, offset, with_lines))


@router.get("/invoices/{invoice_id}", response_model=s.InvoicePublic, responses={200: {"content": CSV}})
def invoice(invoice_id: UUID, caller: InvoicesReader, read: ReadModelsDep, fmt: Format = "json") -> Any:
    found = invoice_of(read, caller, invoice_id)
    if fmt == "csv":
        return _csv(read.invoice_csv(invoice_id), f"invoice-{found.get('number', invoice_id)}.csv")
    return found


@router.get("/reports/{name}", response_model=s.ReportPublic, responses={200: {"content": CSV}, **NOT_MODIFIED})
def report(
    request: Request,
    name: ReportName,
    caller: ReportsReader,
    app: AppDep,
    read: ReadModelsDep,
    organization_id: UUID | None = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    fmt: Format = "json",
    limit: Limit = 50,
    offset: Offset = 0,
    columns: Annotated[
        str | None, Query(description="the columns to give, comma-separated, in this order (default: all)")
    ] = None,
    sort: Annotated[str | None, Query(description="sort by this column (default: the report's order)")] = None,
    direction: Annotated[Literal["asc", "desc"], Query(alias="dir")] = "asc",
) -> Any:
    """A report's rows (JSON, a page of them), or all of them as CSV; sorted by a column
    and cut to the chosen columns if asked (an unknown column: 422, field `columns`/`sort`)."""
    if organization_id is not None:
        access.organization(app, caller, organization_id)
    chosen = report_columns(name, [c.strip() for c in columns.split(",") if c.strip()] if columns else None)
    descending = direction == "desc"
    if fmt == "csv":
        return _csv(
            read.report_csv(name, caller.reseller_id, organization_id, date_from, date_to, chosen, sort, descending),
            f"{name}-report.csv",
        )
    found = read.report_page(
        name, caller.reseller_id, organization_id, date_from, date_to, sort, descending, limit, offset
    )
    items = found.items
    if columns:
        items = [{c: r.get(c) for c in chosen} for r in items]
    return list_response(request, {"items": list(items), "total": int(found.total)})
