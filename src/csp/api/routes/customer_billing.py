"""Customer invoices (the reseller's invoices to its customers), their credit notes, and
the reseller's tax settings (issue 18). A customer user sees its own organization's
issued invoices only: never a draft, never another organization's (404)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, UploadFile, status
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from csp.aggregates.customer_invoice import CreditNote, CreditRequest, CustomerInvoice
from csp.aggregates.errors import InvalidInput, NotFound
from csp.aggregates.invoice import parse_period
from csp.aggregates.tax import TaxRate, TaxSettings
from csp.api import access, payments_import
from csp.api import customer_invoice_schemas as cs
from csp.api.auth import Caller
from csp.api.deps import (
    AppDep,
    CommandsDep,
    CustomerInvoicesReader,
    CustomerInvoicesWriter,
    IfMatch,
    Limit,
    Offset,
    ReadModelsDep,
    TaxReader,
    TaxWriter,
)
from csp.api.documents import invoice_html, invoice_pdf
from csp.api.readside import page
from csp.application import CspApplication
from csp.application.customer_invoicing import invoice_party
from csp.projections import ReadModels

router = APIRouter(tags=["customer billing"])
MAX_UPLOAD = 2_000_000
Format = Annotated[cs.CustomerInvoiceFormat, Query(alias="format")]
CSV = {"text/csv": {"schema": {"type": "string"}}}
PDF = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}


def _invoice(app: CspApplication, caller: Caller, invoice_id: UUID) -> CustomerInvoice:
    """The caller's invoice: another reseller's, another organization's, or (for a
    customer) a draft is not found."""
    try:
        found = app.customer_invoice(invoice_id)
    except NotFound:
        raise NotFound("customer invoice", invoice_id) from None
    visible = found.reseller_id == caller.reseller_id and (
        not caller.is_customer or (found.organization_id == caller.organization_id and found.status != "draft")
    )
    if not visible:
        raise NotFound("customer invoice", invoice_id)
    return found


def _line(x: Any) -> cs.CustomerInvoiceLinePublic:
    return cs.CustomerInvoiceLinePublic(
        line_no=x.line_no,
        subscription_id=x.subscription_id,
        description=x.description,
        quantity=x.quantity,
        unit_price=x.unit_price,
        days=x.days,
        net=x.net,
        tax_rate=x.tax_rate,
        tax=x.tax,
        gross=x.gross,
    )


def invoice_public(inv: CustomerInvoice, read: ReadModels | None) -> cs.CustomerInvoicePublic:
    row = read.customer_invoice(inv.id) if read is not None else None
    notes = [
        cs.CreditNoteRef(**{k: n[k] for k in cs.CreditNoteRef.model_fields})
        for n in (row or {}).get("credit_notes", [])
    ]
    return cs.CustomerInvoicePublic(
        id=inv.id,
        number=inv.number,
        organization_id=inv.organization_id,
        period=inv.period,
        currency=inv.currency,
        exchange_rate=getattr(inv, "exchange_rate", None),
        exchange_rate_month=getattr(inv, "exchange_rate_month", None),
        status=inv.status,
        net=inv.net,
        tax=inv.tax_total,
        gross=inv.gross,
        tax_kind=inv.tax.kind if inv.tax is not None else None,
        tax_mention=inv.tax.mention if inv.tax is not None else "",
        lines=[_line(x) for x in inv.lines],
        drafted_at=inv.drafted_at,
        issued_at=inv.issued_at,
        paid_at=inv.paid_at,
        voided_at=inv.voided_at,
        credit_notes=notes,
        version=inv.version,
    )


def credit_note_public(note: CreditNote) -> cs.CreditNotePublic:
    return cs.CreditNotePublic(
        id=note.id,
        number=note.number,
        invoice_id=note.invoice_id,
        invoice_number=note.invoice_number,
        organization_id=note.organization_id,
        currency=note.currency,
        issued_at=note.issued_at,
        net=note.net,
        tax=note.tax,
        gross=note.gross,
        reason=note.reason,
        lines=[_line(x) for x in note.lines],
    )


def _attachment(body: str | bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/customer-invoices", response_model=cs.CustomerInvoicesPublic, responses={200: {"content": CSV}})
def customer_invoices(
    caller: CustomerInvoicesReader,
    app: AppDep,
    read: ReadModelsDep,
    organization_id: UUID | None = None,
    period: Annotated[str | None, Query(max_length=7)] = None,
    status: Annotated[str | None, Query(max_length=10, alias="status")] = None,
    fmt: Annotated[str, Query(alias="format", pattern="^(json|csv)$")] = "json",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """The reseller's customer invoices, newest first; a customer's own issued ones."""
    if period is not None:
        parse_period(period)
    if caller.is_customer:
        if organization_id is not None and organization_id != caller.organization_id:
            raise NotFound("organization", organization_id)
        organization_id = caller.organization_id
    elif organization_id is not None:
        access.check_organization(app, caller, organization_id)
    issued_only = caller.is_customer
    if fmt == "csv":
        body = read.customer_invoices_csv(caller.reseller_id, organization_id, period, status, issued_only)
        return PlainTextResponse(
            body, media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="customer-invoices.csv"'}
        )
    return page(read.customer_invoices(caller.reseller_id, organization_id, period, status, issued_only, limit, offset))


@router.get(
    "/customer-invoices/{invoice_id}",
    response_model=cs.CustomerInvoicePublic,
    responses={200: {"content": {**CSV, **PDF}}},
)
def customer_invoice(
    invoice_id: UUID, caller: CustomerInvoicesReader, app: AppDep, read: ReadModelsDep, fmt: Format = "json"
) -> Any:
    """One invoice with its lines; as CSV (one row per line) or as the printable PDF."""
    inv = _invoice(app, caller, invoice_id)
    name = inv.number or f"draft-{inv.period}-{inv.id}"
    if fmt == "csv":
        return _attachment(read.customer_invoice_csv(invoice_id), "text/csv", f"{name}.csv")
    if fmt == "pdf":
        return _attachment(invoice_pdf(_html(app, inv)), "application/pdf", f"{name}.pdf")
    return invoice_public(inv, read)


def _html(app: CspApplication, inv: CustomerInvoice) -> str:
    from csp.aggregates.organization import Organization

    seller, buyer = inv.seller, inv.buyer
    if seller is None or buyer is None:  # a draft: the organizations as they are now
        seller = invoice_party(app.read(Organization, inv.reseller_id, "organization"))
        buyer = invoice_party(app.read(Organization, inv.organization_id, "organization"))
    return invoice_html(inv, seller, buyer)


@router.post("/customer-invoices/{invoice_id}/issue", response_model=cs.CustomerInvoicePublic)
def issue(
    invoice_id: UUID,
    caller: CustomerInvoicesWriter,
    app: AppDep,
    read: ReadModelsDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> cs.CustomerInvoicePublic:
    """Number (gap-free per reseller), tax and freeze a draft: 409 `invoice_not_draft`
    otherwise; 409 `tax_rate_missing` when the customer's country has no rate."""
    _invoice(app, caller, invoice_id)
    inv = commands.run(lambda: app.issue_customer_invoice(invoice_id, caller.actor, expected_version=version))
    response.headers["ETag"] = f'"{inv.version}"'
    return invoice_public(inv, read)


@router.post("/customer-invoices/{invoice_id}/pay", response_model=cs.CustomerInvoicePublic)
def pay(
    invoice_id: UUID,
    body: cs.PaymentIn,
    caller: CustomerInvoicesWriter,
    app: AppDep,
    read: ReadModelsDep,
    commands: CommandsDep,
    version: IfMatch,
) -> cs.CustomerInvoicePublic:
    """Record the payment of an issued invoice (its gross total)."""
    _invoice(app, caller, invoice_id)
    inv = commands.run(
        lambda: app.pay_customer_invoice(
            invoice_id, caller.actor, body.paid_at, body.amount, body.reference, expected_version=version
        )
    )
    return invoice_public(inv, read)


@router.post("/customer-invoices/{invoice_id}/void", response_model=cs.CustomerInvoicePublic)
def void(
    invoice_id: UUID,
    body: cs.VoidIn,
    caller: CustomerInvoicesWriter,
    app: AppDep,
    read: ReadModelsDep,
    commands: CommandsDep,
    version: IfMatch,
) -> cs.CustomerInvoicePublic:
    """Void a draft, or an issued invoice not paid (it keeps its number)."""
    _invoice(app, caller, invoice_id)
    inv = commands.run(
        lambda: app.void_customer_invoice(invoice_id, body.reason, caller.actor, expected_version=version)
    )
    return invoice_public(inv, read)


@router.post(
    "/customer-invoices/{invoice_id}/credit-notes",
    status_code=status.HTTP_201_CREATED,
    response_model=cs.CreditNotePublic,
)
def credit(
    invoice_id: UUID, body: cs.CreditNoteIn, caller: CustomerInvoicesWriter, app: AppDep, commands: CommandsDep
) -> cs.CreditNotePublic:
    """A credit note referencing an issued invoice, at its tax rate (the invoice never changes)."""
    _invoice(app, caller, invoice_id)
    lines = tuple(CreditRequest(x.description, x.quantity, x.unit_price) for x in body.lines)
    note = commands.run(lambda: app.credit_customer_invoice(invoice_id, lines, body.reason, caller.actor))
    return credit_note_public(note)


@router.post("/customer-invoices/payments", response_model=cs.PaymentsImportPublic)
async def import_payments(
    file: UploadFile, caller: CustomerInvoicesWriter, app: AppDep, read: ReadModelsDep, commands: CommandsDep
) -> Any:
    """Mark issued invoices paid from a CSV file (columns number, paid_at, amount): a row
    per invoice; each row not matched, not issued or of another amount is reported with
    its status code and error, and writes nothing."""
    raw = await file.read(MAX_UPLOAD + 1)
    if len(raw) > MAX_UPLOAD:
        raise InvalidInput("file", f"must be at most {MAX_UPLOAD // 1_000_000} MB")
    return await run_in_threadpool(payments_import.import_payments, app, read, commands, caller, raw)


# --- tax settings -------------------------------------------------------------------------


def tax_public(t: TaxSettings) -> cs.TaxSettingsPublic:
    return cs.TaxSettingsPublic(
        rates=[cs.TaxRateModel(country=r.country, rate_percent=r.rate_percent) for r in t.rates],
        reverse_charge_eu=t.reverse_charge_eu,
        exempt_organization_ids=list(t.exempt_organization_ids),
        email_customer_invoices=t.email_customer_invoices,
        version=t.version,
    )


@router.get("/settings/tax", response_model=cs.TaxSettingsPublic)
def get_tax(caller: TaxReader, app: AppDep) -> cs.TaxSettingsPublic:
    return tax_public(app.tax_settings(caller.reseller_id))


@router.put("/settings/tax", response_model=cs.TaxSettingsPublic)
def put_tax(body: cs.TaxSettingsModel, caller: TaxWriter, app: AppDep, commands: CommandsDep) -> cs.TaxSettingsPublic:
    """The rates per country (the customer's billing country), EU reverse charge, exempt
    customers, and whether issued invoices are emailed."""
    settings = commands.run(
        lambda: app.change_tax_settings(
            caller.reseller_id,
            tuple(TaxRate(r.country, r.rate_percent) for r in body.rates),
            body.reverse_charge_eu,
            tuple(body.exempt_organization_ids),
            body.email_customer_invoices,
            caller.actor,
        )
    )
    return tax_public(settings)
