"""The JSON shapes of customer invoices, credit notes and tax settings (API.md, "Beyond
the manual"); money as decimal strings. Kept beside ``schemas`` to keep that file's merges small."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from csp.aggregates.customer_invoice import CustomerInvoiceStatus
from csp.aggregates.tax import TaxKind
from csp.api.schemas import DecimalIn, In, Page, Row


class CustomerInvoiceLinePublic(BaseModel):
    line_no: int
    subscription_id: UUID | None
    description: str
    quantity: Decimal
    unit_price: Decimal | None
    days: int
    net: Decimal
    tax_rate: Decimal
    tax: Decimal
    gross: Decimal


class CreditNotePublic(BaseModel):
    id: UUID
    number: str
    invoice_id: UUID
    invoice_number: str
    organization_id: UUID
    currency: str
    issued_at: datetime
    net: Decimal
    tax: Decimal
    gross: Decimal
    reason: str
    lines: list[CustomerInvoiceLinePublic]


class CreditNoteRef(BaseModel):
    id: UUID
    number: str
    issued_at: datetime
    net: Decimal
    tax: Decimal
    gross: Decimal
    reason: str


class CustomerInvoicePublic(BaseModel):
    id: UUID
    number: str | None = Field(description="assigned at issue; a draft has none")
    organization_id: UUID
    period: str
    currency: str
    exchange_rate: Decimal | None = Field(default=None, description="EUR→currency the lines were converted with")
    exchange_rate_month: str | None = Field(default=None, description="the month that rate was set for")
    status: CustomerInvoiceStatus
    net: Decimal
    tax: Decimal
    gross: Decimal
    tax_kind: TaxKind | None = Field(description="the decision at issue (a draft: what it would be now)")
    tax_mention: str
    lines: list[CustomerInvoiceLinePublic]
    drafted_at: datetime
    issued_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None
    credit_notes: list[CreditNoteRef]
    version: int


class CustomerInvoiceRow(Row):
    id: UUID
    number: str | None
    organization_id: UUID
    period: str
    currency: str
    status: CustomerInvoiceStatus
    net: Decimal
    tax: Decimal
    gross: Decimal


class CustomerInvoicesPublic(Page[CustomerInvoiceRow]):
    pass


class PaymentIn(In):
    paid_at: AwareDatetime | None = None
    amount: DecimalIn | None = Field(default=None, description="the gross total (default): a part payment is refused")
    reference: Annotated[str, Field(max_length=200)] = ""


class VoidIn(In):
    reason: Annotated[str, Field(max_length=500)] = ""


class CreditLineIn(In):
    description: Annotated[str, Field(min_length=1, max_length=300)]
    quantity: DecimalIn = Decimal(1)
    unit_price: DecimalIn = Field(description="net, per unit, positive: the credit note's amounts are negative")


class CreditNoteIn(In):
    lines: Annotated[list[CreditLineIn], Field(min_length=1, max_length=100)]
    reason: Annotated[str, Field(max_length=500)] = ""


class TaxRateModel(BaseModel):
    country: Annotated[str, Field(min_length=2, max_length=2)]
    rate_percent: DecimalIn


class TaxSettingsModel(In):
    rates: Annotated[list[TaxRateModel], Field(max_length=300, default_factory=list)]
    reverse_charge_eu: bool = True
    exempt_organization_ids: Annotated[list[UUID], Field(max_length=10000, default_factory=list)]
    email_customer_invoices: bool = Field(
        default=False, description="email each issued invoice (PDF attached) to the customer's billing email"
    )


class TaxSettingsPublic(TaxSettingsModel):
    version: int


class PaymentRowPublic(BaseModel):
    row: int
    number: str
    status: Literal["paid", "refused"]
    status_code: int
    error: dict[str, Any] | None = None


class PaymentsImportPublic(BaseModel):
    paid: int
    rows: list[PaymentRowPublic]


CustomerInvoiceFormat = Literal["json", "csv", "pdf"]
