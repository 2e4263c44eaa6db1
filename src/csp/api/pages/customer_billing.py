"""Customer invoices (list with filters, detail with its lines, tax, totals and the
buttons issue / pay / void / credit note, links to its PDF and CSV) and the tax settings
form: over the same commands, permissions and read model as the JSON API (issue 18).
A customer user sees its own organization's issued invoices only."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.customer_invoice import CreditRequest, CustomerInvoice
from csp.aggregates.errors import CspError, InvalidInput, NotFound
from csp.aggregates.invoice import parse_period
from csp.aggregates.tax import TaxRate
from csp.api import access
from csp.api.auth import Caller
from csp.api.pages.web import Page, page_for
from csp.projections.customer_invoices import STATUSES

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]


def _invoice(page: Page, caller: Caller, invoice_id: UUID) -> CustomerInvoice:
    try:
        inv = page.app.customer_invoice(invoice_id)
    except NotFound:
        raise NotFound("customer invoice", invoice_id) from None
    visible = inv.reseller_id == caller.reseller_id and (
        not caller.is_customer or (inv.organization_id == caller.organization_id and inv.status != "draft")
    )
    if not visible:
        raise NotFound("customer invoice", invoice_id)
    return inv


def _names(page: Page, caller: Caller) -> dict[Any, str]:
    if caller.is_customer:
        return {caller.organization_id: access.organization(page.app, caller, caller.organization_id).name}
    return {r["id"]: r["name"] for r in page.read_models().organizations(caller.reseller_id, None, 200, 0).items}


@router.get("/customer-invoices")
def customer_invoices(page: PageDep) -> Response:
    caller = page.allow("customer_invoices.read")
    q = page.request.query_params
    organization_id: UUID | None = None
    period = q.get("period") or None
    status = q.get("status") or None
    try:
        if q.get("organization_id"):
            organization_id = UUID(q["organization_id"])
            access.check_organization(page.app, caller, organization_id)
        if period:
            parse_period(period)
    except ValueError:
        raise InvalidInput("organization_id", "is not an id") from None
    if caller.is_customer:
        organization_id = caller.organization_id
    paging = page.paging()
    found = page.read_models().customer_invoices(
        caller.reseller_id, organization_id, period, status, caller.is_customer, paging.limit, paging.offset
    )
    return page.render(
        "customer_invoices.html",
        title="Customer invoices",
        invoices=found.items,
        total=found.total,
        paging=paging.of(found.total),
        names=_names(page, caller),
        statuses=STATUSES,
        filters={
            "organization_id": "" if caller.is_customer else str(organization_id or ""),
            "period": period or "",
            "status": status or "",
        },
    )


def _detail(page: Page, caller: Caller, inv: CustomerInvoice, status_code: int = 200) -> Response:
    row = page.read_models().customer_invoice(inv.id) or {}
    return page.render(
        "customer_invoice.html",
        status_code=status_code,
        title=f"Invoice {inv.number}" if inv.number else f"Draft invoice {inv.period}",
        inv=inv,
        credit_notes=row.get("credit_notes", []),
        credited=row.get("credited", Decimal(0)),
        org_name=_names(page, caller).get(inv.organization_id, ""),
        can_write=page.may("customer_invoices.write"),
    )


@router.get("/customer-invoices/{invoice_id}")
def customer_invoice(invoice_id: UUID, page: PageDep) -> Response:
    caller = page.allow("customer_invoices.read")
    return _detail(page, caller, _invoice(page, caller, invoice_id))


def _command(page: Page, invoice_id: UUID, run: Any, done: str) -> Response:
    caller = page.allow("customer_invoices.write")
    inv = _invoice(page, caller, invoice_id)
    if page.errors:
        return _detail(page, caller, inv, 422)
    try:
        page.commands.run(lambda: run(caller, inv))
    except CspError as e:
        page.fail(e)
        return _detail(
            page, caller, page.app.customer_invoice(invoice_id), 409 if not isinstance(e, InvalidInput) else 422
        )
    return page.redirect(f"/customer-invoices/{invoice_id}", done)


@router.post("/customer-invoices/{invoice_id}/issue")
def issue(invoice_id: UUID, page: PageDep) -> Response:
    version = page.version()
    return _command(
        page,
        invoice_id,
        lambda caller, inv: page.app.issue_customer_invoice(inv.id, caller.actor, expected_version=version),
        "The invoice is issued.",
    )


@router.post("/customer-invoices/{invoice_id}/pay")
def pay(invoice_id: UUID, page: PageDep) -> Response:
    reference = page.value("reference")
    return _command(
        page,
        invoice_id,
        lambda caller, inv: page.app.pay_customer_invoice(inv.id, caller.actor, reference=reference),
        "The payment is recorded.",
    )


@router.post("/customer-invoices/{invoice_id}/void")
def void(invoice_id: UUID, page: PageDep) -> Response:
    reason = page.value("reason")
    return _command(
        page,
        invoice_id,
        lambda caller, inv: page.app.void_customer_invoice(inv.id, reason, caller.actor),
        "The invoice is void.",
    )


@router.post("/customer-invoices/{invoice_id}/credit-notes")
def credit(invoice_id: UUID, page: PageDep) -> Response:
    description = page.required("description")
    quantity = page.decimal("quantity") or Decimal(1)
    unit_price = page.decimal("unit_price")
    if unit_price is None and "unit_price" not in page.errors:
        page.errors["unit_price"] = "is required"
    reason = page.value("reason")
    lines = (CreditRequest(description, quantity, unit_price or Decimal(0)),)
    return _command(
        page,
        invoice_id,
        lambda caller, inv: page.app.credit_customer_invoice(inv.id, lines, reason, caller.actor),
        "The credit note is issued.",
    )


# --- tax settings ---------------------------------------------------------------------------


def _tax_form(page: Page, caller: Caller, status_code: int = 200) -> Response:
    settings = page.app.tax_settings(caller.reseller_id)
    customers = [
        r for r in page.read_models().organizations(caller.reseller_id, None, 200, 0).items if r["kind"] == "customer"
    ]
    rates = "\n".join(f"{r.country} {r.rate_percent}" for r in settings.rates)
    return page.render(
        "tax_settings.html",
        status_code=status_code,
        title="Tax settings",
        tax=settings,
        rates=page.value("rates", rates) if page.form else rates,
        customers=customers,
        can_write=page.may("tax.write"),
    )


@router.get("/settings/tax")
def tax_settings(page: PageDep) -> Response:
    return _tax_form(page, page.allow("tax.read"))


def _rates(page: Page) -> tuple[TaxRate, ...]:
    out = []
    for n, raw in enumerate(page.value("rates").splitlines(), start=1):
        parts = raw.replace("%", " ").replace(":", " ").split()
        if not parts:
            continue
        try:
            if len(parts) != 2:
                raise ValueError(raw)
            out.append(TaxRate(parts[0].upper(), Decimal(parts[1].replace(",", "."))))
        except (ValueError, ArithmeticError):
            page.errors["rates"] = f"line {n}: write a country and a rate, e.g. RO 19"
    return tuple(out)


@router.post("/settings/tax")
def save_tax_settings(page: PageDep) -> Response:
    caller = page.allow("tax.write")
    rates = _rates(page)
    exempt = tuple(UUID(v) for v in page.values("exempt") if _is_uuid(v))
    if page.errors:
        return _tax_form(page, caller, 422)
    try:
        page.commands.run(
            lambda: page.app.change_tax_settings(
                caller.reseller_id,
                rates,
                page.checked("reverse_charge_eu"),
                exempt,
                page.checked("email_customer_invoices"),
                caller.actor,
            )
        )
    except CspError as e:
        page.fail(e, {f"rates[{n}].{f}": "rates" for n in range(len(rates)) for f in ("country", "rate_percent")})
        return _tax_form(page, caller, 422)
    return page.redirect("/settings/tax", "The tax settings are saved.")


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
