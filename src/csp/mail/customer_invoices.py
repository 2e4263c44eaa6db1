"""The email of an issued customer invoice, to the customer's billing contact (sent once,
when the reseller's setting ``email_customer_invoices`` was on at issue). The mailer sends
text only, so the PDF is linked, not attached: the link asks the customer to sign in."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from babel.numbers import get_currency_precision

from csp.mail.messages import Message


def customer_invoice_message(
    to: str,
    seller: str,
    customer: str,
    number: str,
    period: str,
    gross: Decimal,
    currency: str,
    mention: str,
    link: str,
    issued_at: datetime,
) -> Message:
    lines = [
        "Hello,",
        "",
        f"{seller} has issued invoice {number} to {customer} for {period}.",
        # the currency's own decimals: 1,234.50 EUR, 24,317 JPY, 50.516 KWD
        f"Total due: {gross:,.{get_currency_precision(currency)}f} {currency} "
        f"(issued {issued_at.astimezone(UTC):%d %B %Y}).",
    ]
    if mention:
        lines += ["", mention]
    lines += ["", "Download it (PDF) after signing in:", link, "", f"Please quote {number} with your payment."]
    return Message(
        to=to,
        kind="customer_invoice_issued",
        subject=f"Invoice {number} from {seller}",
        text="\n".join(lines).strip() + "\n",
    )
