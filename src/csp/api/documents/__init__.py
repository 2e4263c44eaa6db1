"""Printable customer invoices and credit notes: an HTML template (Jinja2) rendered to PDF
with WeasyPrint, on request (never on the billing run's path). An issued invoice prints
the seller's and buyer's details recorded when it was issued, so its PDF never changes."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.numbers import get_currency_precision
from jinja2 import Environment, FileSystemLoader, select_autoescape

from csp.aggregates.currency import BASE_CURRENCY, zero
from csp.aggregates.customer_invoice import CustomerInvoice, InvoiceParty

HERE = Path(__file__).parent
_env = Environment(loader=FileSystemLoader(str(HERE)), autoescape=select_autoescape(["html"]))


def _money(value: Decimal | None, currency: str = BASE_CURRENCY) -> str:
    """A plain number with the currency's decimals (1,234.50 EUR, 1,235 JPY, 1.235 KWD)."""
    return "" if value is None else f"{value:,.{get_currency_precision(currency)}f}"


def _percent(value: Decimal) -> str:
    return f"{value.normalize():f} %"


def _qty(value: Decimal) -> str:
    return f"{value.normalize():f}"  # 10, not 1E+1


_env.filters["money"] = _money
_env.filters["qty"] = _qty
_env.filters["percent"] = _percent


def tax_summary(invoice: CustomerInvoice) -> list[dict[str, Any]]:
    """One row per tax rate: the net, tax and gross of its lines."""
    out: dict[Decimal, dict[str, Any]] = {}
    nil = zero(invoice.currency)
    for line in invoice.lines:
        row = out.setdefault(
            line.tax_rate,
            {"rate": line.tax_rate, "net": nil, "tax": nil, "gross": nil},
        )
        row["net"] += line.net
        row["tax"] += line.tax
        row["gross"] += line.gross
    return [out[k] for k in sorted(out)]


def invoice_html(
    invoice: CustomerInvoice, seller: InvoiceParty, buyer: InvoiceParty, logo_url: str | None = None
) -> str:
    """The invoice as a printable page. ``seller``/``buyer``: the issued invoice's own
    (a draft's: the organizations' details now; it prints as a draft, not an invoice)."""
    return _env.get_template("customer_invoice.html").render(
        invoice=invoice,
        seller=seller,
        buyer=buyer,
        logo_url=logo_url,
        summary=tax_summary(invoice),
        mention=invoice.tax.mention if invoice.tax is not None else "",
    )


def invoice_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported on first use: it loads pango and the fonts

    return HTML(string=html).write_pdf()  # type: ignore[no-any-return]
