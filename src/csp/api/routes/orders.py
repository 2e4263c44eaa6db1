"""Orders: the cart, its lines, placing (with the product terms) and discarding."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response, status

from csp.aggregates.errors import InvalidInput
from csp.aggregates.order import ChangeLine, Order
from csp.api import access
from csp.api import schemas as s
from csp.api.actions import live_subscriptions, new_line_request
from csp.api.auth import Caller
from csp.api.deps import (
    After,
    AppDep,
    CommandsDep,
    IfMatch,
    Limit,
    Offset,
    OrdersReader,
    OrdersReading,
    OrdersWriter,
    ReadModelsDep,
    in_thread,
)
from csp.api.lists import NOT_MODIFIED, list_response
from csp.api.presenters import line_created, order_public
from csp.api.routes.organizations import etag

router = APIRouter(tags=["orders"])
LineNo = Annotated[int, Path(ge=1, le=10000)]


def _answer(order: Order, caller: Caller, response: Response) -> s.OrderPublic:
    etag(response, order.version)
    return order_public(order, caller)


@router.get("/organizations/{organization_id}/orders", response_model=s.OrdersPublic, responses=NOT_MODIFIED)
async def orders(
    organization_id: UUID,
    permit: OrdersReading,
    app: AppDep,
    read: ReadModelsDep,
    request: Request,
    status_: Annotated[s.OrderStatus | None, Query(alias="status")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> Response:
    """The organization's orders, newest first (``ETag``; 304 on ``If-None-Match``)."""

    def answer() -> Response:
        access.check_organization(app, permit(), organization_id)
        return list_response(request, read.orders(organization_id, status_, limit, offset, after), keyset=True)

    return await in_thread(answer)


@router.post(
    "/organizations/{organization_id}/orders", status_code=status.HTTP_201_CREATED, response_model=s.OrderPublic
)
def create_order(
    organization_id: UUID, caller: OrdersWriter, app: AppDep, commands: CommandsDep, response: Response
) -> s.OrderPublic:
    """A new, empty cart for the organization."""
    org = access.organization(app, caller, organization_id)
    order = commands.run(lambda: app.create_order(organization_id, caller.actor), org)
    return _answer(order, caller, response)


@router.get("/orders/{order_id}", response_model=s.OrderPublic)
def get_order(order_id: UUID, caller: OrdersReader, app: AppDep, response: Response) -> s.OrderPublic:
    return _answer(access.order(app, caller, order_id), caller, response)


@router.post("/orders/{order_id}/lines", status_code=status.HTTP_201_CREATED, response_model=s.OrderLineCreated)
def add_line(
    order_id: UUID,
    body: s.OrderLineCreate,
    caller: OrdersWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.OrderLineCreated:
    """A new subscription (``offer_id``, ``tenant_id``…) or a change (``subscription_id``, ``quantity_delta``)."""
    order = access.order(app, caller, order_id)
    line_no = order.next_line_no
    if body.subscription_id is not None:
        sub = access.subscription(app, caller, body.subscription_id)
        if body.quantity_delta is None:
            raise InvalidInput("quantity_delta", "is required for a change line (e.g. 1 for +1 Users)")
        delta = body.quantity_delta
        order = commands.run(
            lambda: app.add_change_line(order_id, body.subscription_id, delta, caller.actor, version),  # type: ignore[arg-type]
            order,
            sub,
        )
    else:
        checked: list[Any] = [order]
        if body.tenant_id is not None:
            checked.append(access.tenant(app, caller, body.tenant_id))
        if body.parent_subscription_id is not None:
            checked.append(access.subscription(app, caller, body.parent_subscription_id))
        req = new_line_request(caller, body)
        order = commands.run(lambda: app.add_new_subscription_line(order_id, req, caller.actor, version), *checked)
    etag(response, order.version)
    return line_created(order, line_no, caller)


@router.patch("/orders/{order_id}/lines/{line_no}", response_model=s.OrderLineCreated)
def change_line(
    order_id: UUID,
    line_no: LineNo,
    body: s.OrderLineUpdate,
    caller: OrdersWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.OrderLineCreated:
    """Edit a line of a draft: what the body leaves out stays as it was."""
    order = access.order(app, caller, order_id)
    line = order.line(line_no)
    if isinstance(line, ChangeLine):
        if body.quantity_delta is None:
            raise InvalidInput("quantity_delta", "is required to edit a change line")
        delta = body.quantity_delta
        order = commands.run(lambda: app.replace_change_line(order_id, line_no, delta, caller.actor, version), order)
    else:
        req = new_line_request(caller, body, base=line)
        order = commands.run(
            lambda: app.replace_new_subscription_line(order_id, line_no, req, caller.actor, version), order
        )
    etag(response, order.version)
    return line_created(order, line_no, caller)


@router.delete("/orders/{order_id}/lines/{line_no}", response_model=s.OrderPublic)
def remove_line(
    order_id: UUID,
    line_no: LineNo,
    caller: OrdersWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.OrderPublic:
    order = access.order(app, caller, order_id)
    order = commands.run(lambda: app.remove_order_line(order_id, line_no, caller.actor, version), order)
    return _answer(order, caller, response)


@router.post("/orders/{order_id}/place", status_code=status.HTTP_202_ACCEPTED, response_model=s.OrderPublic)
def place(
    order_id: UUID,
    caller: OrdersWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
    read: ReadModelsDep,
    body: s.OrderPlace | None = None,
) -> s.OrderPublic:
    """Place the cart; the Product Terms must be accepted (409 ``terms_not_accepted``).
    Provisioning follows at the vendor: 202. A customer user's order above its
    organization's monthly credit limit is ``awaiting_approval`` instead (still 202)."""
    order = access.order(app, caller, order_id)
    accept = body.accept_terms if body is not None else False
    live = live_subscriptions(read, caller, order.organization_id)
    order = commands.run(
        lambda: app.place_order(order_id, accept, caller.actor, version, live_subscription_ids=live), order
    )
    return _answer(order, caller, response)


@router.post("/orders/{order_id}/discard", response_model=s.OrderPublic)
def discard(
    order_id: UUID, caller: OrdersWriter, app: AppDep, commands: CommandsDep, version: IfMatch, response: Response
) -> s.OrderPublic:
    order = access.order(app, caller, order_id)
    order = commands.run(lambda: app.discard_order(order_id, caller.actor, version), order)
    return _answer(order, caller, response)


@router.post("/orders/{order_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=s.OrderPublic)
def retry_failed_lines(
    order_id: UUID, caller: OrdersWriter, app: AppDep, commands: CommandsDep, version: IfMatch, response: Response
) -> s.OrderPublic:
    """A new attempt at the failed lines of a partially provisioned or failed order (409
    ``invalid_order_transition`` otherwise). Provisioning follows at the vendor: 202."""
    order = access.order(app, caller, order_id)
    order = commands.run(lambda: app.retry_failed_lines(order_id, caller.actor, version), order)
    return _answer(order, caller, response)


@router.post("/orders/{order_id}/discard-failed", response_model=s.OrderPublic)
def discard_failed_lines(
    order_id: UUID, caller: OrdersWriter, app: AppDep, commands: CommandsDep, version: IfMatch, response: Response
) -> s.OrderPublic:
    """Give up the failed lines of a partially provisioned order: it is finished with the
    lines it has (409 ``invalid_order_transition`` otherwise)."""
    order = access.order(app, caller, order_id)
    order = commands.run(lambda: app.discard_failed_lines(order_id, caller.actor, version), order)
    return _answer(order, caller, response)
