"""Quotes: a priced proposal for a customer; accepting it makes a draft order."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from csp.api import access
from csp.api import schemas as s
from csp.api.deps import (
    AppDep,
    CommandsDep,
    IfMatch,
    Limit,
    Offset,
    QuotesAcceptor,
    QuotesReader,
    QuotesWriter,
    ReadModelsDep,
)
from csp.api.lists import NOT_MODIFIED, list_response
from csp.api.presenters import order_public, quote_public
from csp.api.routes.organizations import etag
from csp.application import QuoteLineRequest

router = APIRouter(tags=["quotes"])


@router.post(
    "/organizations/{organization_id}/quotes", status_code=status.HTTP_201_CREATED, response_model=s.QuotePublic
)
def create_quote(
    organization_id: UUID,
    body: s.QuoteCreate,
    caller: QuotesWriter,
    app: AppDep,
    commands: CommandsDep,
    response: Response,
) -> s.QuotePublic:
    access.organization(app, caller, organization_id)
    lines = []
    for x in body.lines:
        if x.tenant_id is not None:
            access.tenant(app, caller, x.tenant_id)
        term = x.term or app.catalog().offer(x.offer_id).terms[0]
        lines.append(
            QuoteLineRequest(
                x.offer_id, x.quantity, x.billing_cycle, term, x.tenant_id, x.markup_percent, x.target_price
            )
        )
    quote = commands.run(lambda: app.create_quote(organization_id, lines, caller.actor, body.valid_days, body.note))
    etag(response, quote.version)
    return quote_public(quote, caller, app.now())


@router.get("/organizations/{organization_id}/quotes", response_model=s.QuoteRowsPublic, responses=NOT_MODIFIED)
def quotes(
    organization_id: UUID,
    caller: QuotesReader,
    app: AppDep,
    read: ReadModelsDep,
    request: Request,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """The organization's quotes, newest first (``status``: open, accepted, expired)."""
    access.check_organization(app, caller, organization_id)
    return list_response(request, read.quotes(organization_id, limit, offset))


@router.get("/quotes/{quote_id}", response_model=s.QuotePublic)
def get_quote(quote_id: UUID, caller: QuotesReader, app: AppDep, response: Response) -> s.QuotePublic:
    quote = access.quote(app, caller, quote_id)
    etag(response, quote.version)
    return quote_public(quote, caller, app.now())


@router.post("/quotes/{quote_id}/accept", status_code=status.HTTP_201_CREATED, response_model=s.OrderPublic)
def accept_quote(
    quote_id: UUID,
    caller: QuotesAcceptor,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
    body: s.QuoteAccept | None = None,
) -> s.OrderPublic:
    """Accept: a draft order with the quote's lines at the quoted prices (``tenant_id`` for
    lines that name none)."""
    access.quote(app, caller, quote_id)
    tenant_id = body.tenant_id if body is not None else None
    if tenant_id is not None:
        access.tenant(app, caller, tenant_id)
    _, order = commands.run(lambda: app.accept_quote(quote_id, caller.actor, tenant_id, version))
    etag(response, order.version)
    return order_public(order, caller)
