"""The one step that turns a month's charges into customer invoice drafts, one per
customer organization at its customer prices (composed into the application; the
billing run calls it inside the transaction that issues the reseller's invoice)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from csp.aggregates.base import Actor
from csp.aggregates.billing import Charge
from csp.aggregates.currency import ExchangeRates
from csp.aggregates.customer_invoice import CustomerInvoice, InvoiceParty, customer_lines
from csp.aggregates.organization import Organization
from csp.aggregates.tax import TaxDecision, TaxParty, TaxRateMissing, TaxSettings, tax_settings_id_for
from csp.application.pricing import Find


def tax_party(org: Organization) -> TaxParty:
    return TaxParty(organization_id=org.id, country=org.profile.country, vat_number=org.profile.vat_number)


def invoice_party(org: Organization) -> InvoiceParty:
    p = org.profile
    a = p.address
    city = " ".join(x for x in (a.postal_code, a.city) if x)
    lines = tuple(x for x in (a.line1, a.line2, city, a.region) if x.strip())
    return InvoiceParty(
        organization_id=org.id,
        name=p.name,
        address_lines=lines,
        country=p.country,
        vat_number=p.vat_number,
        email=p.billing_email or p.contact_email,
    )


class CustomerInvoicing:
    """A month's charges → one draft per customer organization (at its customer prices)."""

    def __init__(self, find: Find) -> None:
        self._find = find

    def tax_settings(self, reseller_id: UUID, now: datetime) -> TaxSettings:
        found = self._find(TaxSettings, tax_settings_id_for(reseller_id), "tax settings", readonly=True)
        return found if found is not None else TaxSettings.open(reseller_id, actor="system:billing", at=now)

    def drafts(
        self,
        reseller_id: UUID,
        period: str,
        charges: Iterable[Charge],
        actor: Actor,
        now: datetime,
        rates: ExchangeRates | None = None,
    ) -> list[CustomerInvoice]:
        """One draft per customer, in its currency (converted with the month's rate, the
        latest earlier month's, or, with none, left in EUR)."""
        by_org: dict[UUID, list[Charge]] = defaultdict(list)
        for c in charges:
            if c.organization_id != reseller_id:  # the reseller's own seats: not invoiced to itself
                by_org[c.organization_id].append(c)
        if not by_org:
            return []
        reseller = self._find(Organization, reseller_id, "organization", readonly=True)
        settings = self.tax_settings(reseller_id, now)
        out = []
        for org_id in sorted(by_org, key=str):
            lines = customer_lines(by_org[org_id])
            org = self._find(Organization, org_id, "organization", readonly=True)
            if not lines or org is None:
                continue
            preview: TaxDecision | None = None
            if reseller is not None:
                try:
                    preview = settings.decide(tax_party(reseller), tax_party(org))
                except TaxRateMissing:
                    preview = None
            currency = org.profile.currency or (reseller.settings.currency if reseller and reseller.settings else "")
            rate = rates.rate_for(currency, period) if rates is not None and currency else None
            out.append(
                CustomerInvoice.draft(reseller_id, org_id, period, lines, preview, actor=actor, at=now, rate=rate)
            )
        return out
