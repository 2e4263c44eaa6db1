"""The catalog (public; prices depend on who asks), its customisation, segments, pricing."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from csp.aggregates.pricing import money
from csp.aggregates.terms import parse_term
from csp.api import access
from csp.api import schemas as s
from csp.api.deps import (
    AppDep,
    CatalogCustomizer,
    CommandsDep,
    IfMatch,
    Limit,
    Offset,
    OptionalCaller,
    PricingReader,
    SegmentsReader,
)
from csp.api.presenters import category_public, segment_public
from csp.api.queries import OfferFilter, catalog_offer, catalog_offers

router = APIRouter(tags=["catalog"])
Slug = Annotated[str | None, Query(max_length=64, description="a reseller's portal: what it shows its customers")]


@router.get("/catalog/categories", response_model=s.CategoriesPublic)
def categories(app: AppDep, limit: Limit = 50, offset: Offset = 0) -> s.CategoriesPublic:
    cats = app.catalog().categories
    return s.CategoriesPublic(items=[category_public(c) for c in cats[offset : offset + limit]], total=len(cats))


@router.get("/catalog/offers", response_model=s.OffersPublic)
def offers(
    app: AppDep,
    caller: OptionalCaller,
    category: Annotated[str | None, Query(max_length=64)] = None,
    product_group: Annotated[str | None, Query(max_length=64)] = None,
    segment: Literal["commercial", "academic", "government", "nonprofit"] | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    reseller: Slug = None,
    organization_id: Annotated[UUID | None, Query(description="a reseller user: what this customer may buy")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> s.OffersPublic:
    found = catalog_offers(
        app,
        caller,
        OfferFilter(category, product_group, segment, q),
        reseller_slug=reseller,
        organization_id=organization_id,
    )
    return s.OffersPublic(items=found[offset : offset + limit], total=len(found))


@router.get("/catalog/offers/{offer_id}", response_model=s.OfferPublic)
def offer(offer_id: UUID, app: AppDep, caller: OptionalCaller, reseller: Slug = None) -> s.OfferPublic:
    return catalog_offer(app, caller, offer_id, reseller_slug=reseller)


@router.put("/catalog/offers/{offer_id}/visibility", response_model=s.VisibilityPublic)
def set_visibility(
    offer_id: UUID,
    body: s.VisibilityUpdate,
    caller: CatalogCustomizer,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.VisibilityPublic:
    """Show or hide an offer from this reseller's customers (``version``: the reseller's
    catalog customisation, for ``If-Match``)."""
    c = commands.run(
        lambda: app.set_offer_visibility(caller.reseller_id, offer_id, body.visible, caller.actor, version),
    )
    response.headers["ETag"] = f'"{c.version}"'
    return s.VisibilityPublic(offer_id=offer_id, visible=body.visible, version=c.version)


@router.get("/segments", response_model=s.SegmentsPublic)
def segments(caller: SegmentsReader, app: AppDep, limit: Limit = 50, offset: Offset = 0) -> s.SegmentsPublic:
    found = app.segments_of_reseller(caller.reseller_id)
    return s.SegmentsPublic(items=[segment_public(x) for x in found[offset : offset + limit]], total=len(found))


@router.post("/segments", status_code=status.HTTP_201_CREATED, response_model=s.SegmentPublic)
def create_segment(
    body: s.SegmentCreate, caller: CatalogCustomizer, app: AppDep, commands: CommandsDep
) -> s.SegmentPublic:
    seg = commands.run(
        lambda: app.create_segment(
            caller.reseller_id, body.name, tuple(body.offer_ids), tuple(body.organization_ids), caller.actor
        ),
    )
    return segment_public(seg)


@router.get("/segments/{segment_id}", response_model=s.SegmentPublic)
def get_segment(segment_id: UUID, caller: SegmentsReader, app: AppDep) -> s.SegmentPublic:
    return segment_public(access.segment(app, caller, segment_id))


@router.put("/segments/{segment_id}", response_model=s.SegmentPublic)
def change_segment(
    segment_id: UUID,
    body: s.SegmentCreate,
    caller: CatalogCustomizer,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
) -> s.SegmentPublic:
    access.segment(app, caller, segment_id)
    seg = commands.run(
        lambda: app.change_segment(
            segment_id, body.name, tuple(body.offer_ids), tuple(body.organization_ids), caller.actor, version
        ),
    )
    return segment_public(seg)


@router.put("/segments/{segment_id}/prices/{offer_id}", response_model=s.SegmentPublic)
def set_segment_price(
    segment_id: UUID,
    offer_id: UUID,
    body: s.SegmentPriceUpdate,
    caller: CatalogCustomizer,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
) -> s.SegmentPublic:
    """The customers of the segment pay this for the offer: an extra markup or a fixed price."""
    access.segment(app, caller, segment_id)
    seg = commands.run(
        lambda: app.set_segment_price(
            segment_id, offer_id, caller.actor, body.markup_percent, body.customer_price, version
        ),
    )
    return segment_public(seg)


@router.get("/pricing/preview", response_model=s.PricePreviewPublic)
def price_preview(
    caller: PricingReader,
    app: AppDep,
    offer_id: UUID,
    quantity: Annotated[int, Query(ge=1, le=100000)] = 1,
    markup_percent: Annotated[
        Decimal | None, Query(allow_inf_nan=False, max_digits=18, description="extra markup, on top of the default")
    ] = None,
    target_price: Annotated[
        Decimal | None, Query(allow_inf_nan=False, max_digits=18, description="a customer price per unit instead")
    ] = None,
    term: Literal["monthly", "annual"] | None = None,
    organization_id: Annotated[
        UUID | None,
        Query(description="the buyer: without a markup or target price, its customer segment's price applies"),
    ] = None,
) -> s.PricePreviewPublic:
    """What a line would cost per unit and in total: markup_percent=5 on 14.16 → 15.58."""
    offer_ = app.catalog().offer(offer_id)
    if organization_id is not None:
        access.organization(app, caller, organization_id)
    q = app.price_preview(
        offer_id,
        quantity,
        markup_percent,
        target_price,
        term,
        reseller_id=caller.reseller_id,
        organization_id=organization_id,
    )
    return s.PricePreviewPublic(
        offer_id=offer_id,
        quantity=quantity,
        term=parse_term(term) if term else offer_.terms[0],
        partner_price=q.partner_price,
        erp_price=q.erp_price,
        customer_price=q.customer_price,
        margin=q.margin,
        markup_percent=q.markup_percent,
        default_markup_percent=q.default_markup_percent,
        total=q.total,
        partner_total=q.partner_total,
        margin_total=money(q.margin_total),
    )
