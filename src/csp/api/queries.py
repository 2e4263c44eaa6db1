"""Queries the API and the portal pages share: the catalog as the caller may see it, the
subscriptions screen's rows, invoices."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from csp.aggregates.catalog import Offer
from csp.aggregates.currency import BASE_CURRENCY, AppliedRate
from csp.aggregates.errors import NotFound
from csp.aggregates.invoice import invoice_id_for, period_of
from csp.aggregates.organization import Organization
from csp.api import access
from csp.api import schemas as s
from csp.api.auth import Caller
from csp.api.presenters import PriceView, offer_public, view_of
from csp.application import CspApplication
from csp.projections import Page, ReadModels


@dataclass(frozen=True)
class OfferFilter:
    category: str | None = None
    product_group: str | None = None
    segment: str | None = None
    q: str | None = None

    def matches(self, offer: Offer, category_slug: str, group_slug: str) -> bool:
        if self.category and self.category not in (str(offer.category_id), category_slug):
            return False
        if self.product_group and self.product_group not in (str(offer.product_group_id), group_slug):
            return False
        if self.segment and offer.segment != self.segment:
            return False
        if self.q:
            needle = self.q.strip().lower()
            return needle in offer.name.lower() or needle in offer.description.lower()
        return True


def catalog_offers(
    app: CspApplication,
    caller: Caller | None,
    flt: OfferFilter = OfferFilter(),
    reseller_slug: str | None = None,
    organization_id: UUID | None = None,
) -> list[s.OfferPublic]:
    """The offers the caller may see, each with the prices the caller may see.

    A visitor sees every offer (ERP only); with ``reseller_slug``, anyone but a customer
    user sees only what that reseller shows its customers; a reseller user every offer
    with its partner price, hidden ones flagged (or, with
    ``organization_id``, what that customer may buy); a customer user what it may buy,
    at its own price.
    """
    catalog = app.catalog()
    now = app.now()
    view = view_of(caller)
    offers = list(catalog.offers.values())
    buyer: Organization | None = None
    hidden: tuple[UUID, ...] = ()
    if reseller_slug and (caller is None or not caller.is_customer):
        # a reseller's public portal: what it shows its customers (a visitor, or a
        # reseller user looking at it)
        reseller = app.reseller_by_slug(reseller_slug)
        shown = app.customization(reseller.id)
        offers = [o for o in offers if shown is None or shown.is_visible(o.id)]
    if caller is not None:
        if caller.is_customer:
            buyer = access.organization(app, caller, caller.organization_id)
        elif organization_id is not None:
            buyer = access.organization(app, caller, organization_id)
        c = app.customization(caller.reseller_id)
        hidden = c.hidden_offer_ids if c is not None else ()
        if buyer is not None:
            offers = [o for o in offers if app.offer_available_to(buyer, o)]
    rate = price_list_rate(app, caller, buyer)
    out = []
    for o in offers:
        category = catalog.category_of(o)
        group = catalog.product_group_of(o)
        if not flt.matches(o, category.slug, group.slug):
            continue
        customer_price = None
        if view is PriceView.CUSTOMER and buyer is not None:
            customer_price = app.customer_unit_price(buyer, o)
        out.append(offer_public(o, catalog, now, view, customer_price, visible=o.id not in hidden, rate=rate))
    return out


def price_list_rate(app: CspApplication, caller: Caller | None, buyer: Organization | None) -> AppliedRate | None:
    """The rate EUR→X prices are shown at: the signed-in account's currency (a customer
    user's organization's, else the reseller's) at this month's rate, or the latest earlier
    month's; None (prices in EUR) for a visitor, an account in EUR, or no rate at all."""
    if caller is None:
        return None
    if caller.is_customer and buyer is not None:
        currency = buyer.profile.currency
    else:
        currency = app.read(Organization, caller.reseller_id, "organization").reseller_settings().currency
    return app.applied_rate(currency, period_of(app.now()))


def reconciliation_rate(app: CspApplication, read: ReadModels, reseller_id: UUID, period: str) -> AppliedRate | None:
    """The rate the reseller's invoice of ``period`` converts with: the one it recorded when
    issued (None: issued in EUR), else the one it would use now (the reseller's currency at
    the month's rate, or the latest earlier month's)."""
    issued = read.invoice(invoice_id_for(reseller_id, period))
    if issued is not None:
        if issued.get("exchange_rate") is None:
            return None
        rate = Decimal(str(issued["exchange_rate"]))
        return AppliedRate(issued["currency"], rate, str(issued["exchange_rate_month"]), period)
    currency = app.read(Organization, reseller_id, "organization").reseller_settings().currency
    return app.applied_rate(currency, period)


def catalog_offer(
    app: CspApplication, caller: Caller | None, offer_id: UUID, reseller_slug: str | None = None
) -> s.OfferPublic:
    app.catalog().offer(offer_id)
    for o in catalog_offers(app, caller, reseller_slug=reseller_slug):
        if o.id == offer_id:
            return o
    raise NotFound("offer", offer_id)


PARTNER_FIELDS = (
    "monthly_reseller_price",
    "yearly_reseller_price",
    "unit_reseller_price",
    "unit_partner_price",
    "margin",
)


def subscription_rows(
    app: CspApplication,
    read: ReadModels,
    caller: Caller,
    organization_id: UUID,
    q: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
) -> Page:
    """The Subscriptions screen's rows (one per subscription); a customer user never sees
    the reseller's (partner) prices or margins."""
    access.check_organization(app, caller, organization_id)
    result = with_licence_seats(read, read.subscriptions(organization_id, q, status, limit, offset, after))
    for row in result.items:
        row["currency"] = BASE_CURRENCY  # the amounts' (the catalog's): the portal converts them
    if caller.is_customer:
        for row in result.items:
            for k in PARTNER_FIELDS:
                if k in row:
                    row[k] = None
    return result


def with_licence_seats(read: ReadModels, result: Page) -> Page:
    """Subscription rows with their licences: unassigned, and the unassigned seats still
    cheap to cut (inside their window) with the instant until which all of them are."""
    unused = read.unused_seats([row["id"] for row in result.items])
    for row in result.items:
        seats = unused.get(row["id"])
        row["unassigned"] = max(0, row["purchased"] - row["assigned"])
        row["unused_in_window"] = seats.count if seats else 0
        row["unused_in_window_until"] = seats.until if seats else None
    return result


def invoice_of(read: ReadModels, caller: Caller, invoice_id: UUID) -> dict[str, Any]:
    """One invoice of the caller's account (another account's is not found)."""
    found = read.invoice(invoice_id)
    if found is None or str(found.get("reseller_id")) != str(caller.reseller_id):
        raise NotFound("invoice", invoice_id)
    return found
