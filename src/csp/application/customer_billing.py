"""Customer invoices: drafted by the monthly billing run, then issued, paid, voided and
credited by the reseller; and the reseller's tax settings.

``CustomerInvoicing`` is the one step that turns a month's charges into customer drafts
(composed into the application, and called by the billing run inside the transaction
that issues the reseller's invoice, so both are written or neither). The commands load,
let the aggregates decide, and save the invoice with the reseller's invoice book in one
transaction: a number is never handed out twice nor skipped.
"""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from csp.aggregates.base import Actor, deterministic_id
from csp.aggregates.customer_invoice import (
    CreditNote,
    CreditRequest,
    CustomerInvoice,
    CustomerInvoiceBook,
    customer_invoice_book_id_for,
)
from csp.aggregates.errors import InvalidInput, NotFound
from csp.aggregates.organization import Organization
from csp.aggregates.tax import TaxRate, TaxSettings, tax_settings_id_for
from csp.application.base import CspApplicationBase
from csp.application.customer_invoicing import invoice_party, tax_party


class CustomerBillingCommands(CspApplicationBase):
    # --- tax settings ---------------------------------------------------------------

    def tax_settings(self, reseller_id: UUID) -> TaxSettings:
        return self.customer_invoicing.tax_settings(reseller_id, self.now())

    def change_tax_settings(
        self,
        reseller_id: UUID,
        rates: tuple[TaxRate, ...],
        reverse_charge_eu: bool,
        exempt_organization_ids: tuple[UUID, ...],
        email_customer_invoices: bool,
        actor: Actor,
    ) -> TaxSettings:
        for n, org_id in enumerate(exempt_organization_ids):
            org = self.find(Organization, org_id, "organization", readonly=True)
            if org is None or org.kind != "customer" or org.owner_reseller_id != reseller_id:
                raise InvalidInput(f"exempt_organization_ids[{n}]", "is not one of your customers", value=org_id)

        def attempt() -> TaxSettings:
            now = self.now()
            found = self.find(TaxSettings, tax_settings_id_for(reseller_id), "tax settings")
            settings = found if found is not None else TaxSettings.open(reseller_id, actor=actor, at=now)
            settings.change(rates, reverse_charge_eu, exempt_organization_ids, email_customer_invoices, actor, now)
            self.save(settings)
            return settings

        return self.retrying(attempt)

    # --- the invoice's lifecycle ---------------------------------------------------------

    def customer_invoice(self, invoice_id: UUID) -> CustomerInvoice:
        return self.read(CustomerInvoice, invoice_id, "customer invoice")

    def issue_customer_invoice(
        self, invoice_id: UUID, actor: Actor, expected_version: int | None = None
    ) -> CustomerInvoice:
        """Number, tax and freeze a draft. The book is saved with it: a concurrent issue
        conflicts and this one retries with the next number (none skipped, none twice)."""
        return self.retrying(functools.partial(self._issue, invoice_id, actor, expected_version))

    def _issue(self, invoice_id: UUID, actor: Actor, expected_version: int | None) -> CustomerInvoice:
        invoice = self.load_for_update(CustomerInvoice, invoice_id, "customer invoice", expected_version)
        now = self.now()
        reseller = self.read(Organization, invoice.reseller_id, "organization")
        org = self.read(Organization, invoice.organization_id, "organization")
        settings = self.tax_settings(invoice.reseller_id)
        decision = settings.decide(tax_party(reseller), tax_party(org))
        book = self._book(invoice.reseller_id, actor, now)
        invoice.check_issuable()
        number = book.number(invoice.id, "INV", actor=actor, at=now)
        buyer = invoice_party(org)
        email_to = buyer.email if settings.email_customer_invoices else ""
        invoice.issue(number, decision, invoice_party(reseller), buyer, actor=actor, at=now, email_to=email_to)
        self.save(invoice, book)
        return invoice

    def _book(self, reseller_id: UUID, actor: Actor, now: datetime) -> CustomerInvoiceBook:
        found = self.find(CustomerInvoiceBook, customer_invoice_book_id_for(reseller_id), "invoice book")
        return found if found is not None else CustomerInvoiceBook.open(reseller_id, actor=actor, at=now)

    def pay_customer_invoice(
        self,
        invoice_id: UUID,
        actor: Actor,
        paid_at: datetime | None = None,
        amount: Decimal | None = None,
        reference: str = "",
        expected_version: int | None = None,
    ) -> CustomerInvoice:
        invoice = self.load_for_update(CustomerInvoice, invoice_id, "customer invoice", expected_version)
        invoice.pay(actor=actor, at=self.now(), paid_at=paid_at, amount=amount, reference=reference)
        self.save(invoice)
        return invoice

    def void_customer_invoice(
        self, invoice_id: UUID, reason: str, actor: Actor, expected_version: int | None = None
    ) -> CustomerInvoice:
        invoice = self.load_for_update(CustomerInvoice, invoice_id, "customer invoice", expected_version)
        invoice.void(reason, actor=actor, at=self.now())
        self.save(invoice)
        return invoice

    def credit_customer_invoice(
        self, invoice_id: UUID, lines: tuple[CreditRequest, ...], reason: str, actor: Actor
    ) -> CreditNote:
        """A credit note referencing an issued invoice (which stays as it is)."""
        return self.retrying(functools.partial(self._credit, invoice_id, lines, reason, actor))

    def _credit(self, invoice_id: UUID, lines: tuple[CreditRequest, ...], reason: str, actor: Actor) -> CreditNote:
        invoice = self.read(CustomerInvoice, invoice_id, "customer invoice")
        now = self.now()
        book = self._book(invoice.reseller_id, actor, now)
        number = book.next_number("CN", now)
        note = CreditNote.issue_for(
            deterministic_id("credit-note", invoice.reseller_id, number),
            invoice,
            number,
            lines,
            book.credited.get(invoice.id, Decimal(0)),
            reason,
            actor=actor,
            at=now,
        )
        book.number(note.id, "CN", actor=actor, at=now)
        book.credit(invoice.id, note.id, note.gross, actor=actor, at=now)
        self.save(note, book)
        return note

    def credit_note(self, credit_note_id: UUID) -> CreditNote:
        found = self.find(CreditNote, credit_note_id, "credit note", readonly=True)
        if found is None:
            raise NotFound("credit note", credit_note_id)
        return found
