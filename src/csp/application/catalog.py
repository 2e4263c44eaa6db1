"""Catalog commands and queries: import the bundled file, re-price, preview prices."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import UUID

from csp.aggregates.base import SYSTEM_CATALOG, Actor, deterministic_id
from csp.aggregates.catalog import CATALOG_ID, Catalog, Category, Offer, PricePoint, ProductGroup, parse_segment
from csp.aggregates.errors import ConcurrentModification, InvalidInput
from csp.aggregates.organization import Organization
from csp.aggregates.pricing import DEFAULT_MARKUP_PERCENT, PriceQuote, as_decimal, quote
from csp.aggregates.terms import Term, parse_billing_cycle, parse_term
from csp.application.base import CspApplicationBase

BUNDLED_CATALOG = "catalog.toml"


def offer_id_for(vendor_offer_id: str) -> UUID:
    return deterministic_id("offer", vendor_offer_id)


def read_catalog_file(path: Path | None = None) -> tuple[tuple[Category, ...], tuple[Offer, ...], str]:
    """Parse a catalog TOML file (default: the bundled one) into values."""
    if path is None:
        text = resources.files("csp.data").joinpath(BUNDLED_CATALOG).read_text(encoding="utf-8")
        origin = f"bundled {BUNDLED_CATALOG}"
    else:
        text = path.read_text(encoding="utf-8")
        origin = str(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput("catalog", f"{origin}: {e}") from None
    return _parse(doc, origin)


def _date(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise InvalidInput(field, "must be a TOML date")


def _parse(doc: dict[str, Any], origin: str) -> tuple[tuple[Category, ...], tuple[Offer, ...], str]:
    since = _date(doc.get("effective_from", date(2020, 1, 1)), "effective_from")
    categories = []
    cat_ids: dict[str, UUID] = {}
    group_ids: dict[str, UUID] = {}
    for c in doc.get("categories", []):
        groups = []
        for g in c.get("product_groups", []):
            gid = deterministic_id("product-group", g["slug"])
            group_ids[g["slug"]] = gid
            groups.append(ProductGroup(id=gid, slug=g["slug"], name=g["name"]))
        cid = deterministic_id("category", c["slug"])
        cat_ids[c["slug"]] = cid
        categories.append(Category(id=cid, slug=c["slug"], name=c["name"], product_groups=tuple(groups)))
    offers = []
    for o in doc.get("offers", []):
        where = f"{origin}: offer {o.get('name', '?')}"
        try:
            terms = tuple(parse_term(t) for t in o["terms"])
            prices: list[PricePoint] = []
            for term_name, p in o["prices"].items():
                prices.append(
                    PricePoint(
                        term=parse_term(term_name),
                        effective_from=since,
                        partner_price=as_decimal(p["partner"]),
                        erp_price=as_decimal(p["erp"]) if "erp" in p else None,
                    )
                )
            for p in o.get("price_changes", []):
                prices.append(
                    PricePoint(
                        term=parse_term(p["term"]),
                        effective_from=_date(p["effective_from"], "effective_from"),
                        partner_price=as_decimal(p["partner"]),
                        erp_price=as_decimal(p["erp"]) if "erp" in p else None,
                    )
                )
            offers.append(
                Offer(
                    id=offer_id_for(o["vendor_offer_id"]),
                    vendor_offer_id=o["vendor_offer_id"],
                    name=o["name"],
                    description=o.get("description", "").strip(),
                    vendor=o.get("vendor", "Microsoft"),
                    category_id=cat_ids[o["category"]],
                    product_group_id=group_ids[o["product_group"]],
                    type=o.get("type", "licence"),
                    segment=parse_segment(o.get("segment", "commercial")),
                    terms=terms,
                    billing_cycles=tuple(parse_billing_cycle(b) for b in o["billing_cycles"]),
                    prices=tuple(prices),
                    is_trial=bool(o.get("trial", False)),
                    trial_converts_to=offer_id_for(o["converts_to"]) if o.get("converts_to") else None,
                    is_addon=bool(o.get("addon", False)),
                    addon_offer_ids=tuple(offer_id_for(a) for a in o.get("addons", [])),
                    min_quantity=int(o.get("min_quantity", 1)),
                    max_quantity=int(o.get("max_quantity", 10000)),
                    unit=o.get("unit", "Users"),
                    currency=doc.get("currency", "EUR"),
                    upgrade_offer_ids=tuple(offer_id_for(u) for u in o.get("upgrades", [])),
                )
            )
        except KeyError as e:
            raise InvalidInput("catalog", f"{where}: missing or unknown {e.args[0]!r}") from None
    return tuple(categories), tuple(offers), doc.get("source", origin)


class CatalogCommands(CspApplicationBase):
    def import_catalog(self, path: Path | None = None, actor: Actor = SYSTEM_CATALOG) -> Catalog:
        """Load a catalog file: the first import creates the catalog, later ones replace it."""
        categories, offers, source = read_catalog_file(path)
        now = self.now()
        if self.has_catalog():
            catalog = self.load(Catalog, CATALOG_ID, "catalog")
            catalog.reimport(categories, offers, source, actor=actor, at=now)
        else:
            catalog = Catalog.load(categories, offers, source, actor=actor, at=now)
        self.save(catalog)
        return catalog

    def ensure_catalog(self) -> bool:
        """Import the bundled catalog if the store has none; True if it did."""
        if self.has_catalog():
            return False
        try:
            self.import_catalog()
        except ConcurrentModification:
            return False  # another process imported it at the same moment
        return True

    def schedule_price(
        self,
        offer_id: UUID,
        term: str,
        effective_from: datetime,
        partner_price: Decimal,
        erp_price: Decimal | None,
        actor: Actor,
    ) -> Catalog:
        catalog = self.load(Catalog, CATALOG_ID, "catalog")
        price = PricePoint(
            term=parse_term(term), effective_from=effective_from, partner_price=partner_price, erp_price=erp_price
        )
        catalog.schedule_price(offer_id, price, actor=actor, at=self.now())
        self.save(catalog)
        return catalog

    def default_markup_for(self, organization: Organization) -> Decimal:
        """The reseller's default markup (5 % unless its settings say otherwise)."""
        return self.pricing.default_markup(organization)

    def price_preview(
        self,
        offer_id: UUID,
        quantity: int = 1,
        markup_percent: Decimal | None = None,
        target_price: Decimal | None = None,
        term: str | None = None,
        reseller_id: UUID | None = None,
        organization_id: UUID | None = None,
    ) -> PriceQuote:
        """What an order line would cost: partner, ERP, customer price, margin, total.
        For a buyer (``organization_id``) the order line's own pricing decision (its
        segment's price when neither a markup nor a target price is given); else for
        the reseller, at its default markup."""
        offer = self.catalog().offer(offer_id)
        t: Term = parse_term(term) if term else offer.terms[0]
        now = self.now()
        if organization_id is not None:
            buyer = self.load(Organization, organization_id, "organization")
            return self.pricing.price(
                buyer, offer, t, quantity, now, markup_percent=markup_percent, target_price=target_price
            )
        p = offer.price_at(now, t)
        default = DEFAULT_MARKUP_PERCENT
        if reseller_id is not None:
            default = self.default_markup_for(self.load(Organization, reseller_id, "organization"))
        return quote(
            p.partner_price,
            p.erp_price,
            quantity,
            markup_percent=markup_percent,
            target_price=target_price,
            default_markup_percent=default,
        )
