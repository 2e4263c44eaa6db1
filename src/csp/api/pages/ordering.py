"""Ordering, as the manual's screens: a customer's catalog, **Buy now** → the order page
(tenant, licences, billing period, **Price Options** and the summary table) → **Next
step** to the add-ons (**Skip** / **Confirm**) or **Add to cart** → the cart (**Place
order** / **Save for later**) → the Product Terms; the Orders list."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

import pydantic
from fastapi import APIRouter, Depends
from starlette.datastructures import FormData
from starlette.responses import Response

from csp.aggregates.catalog import Offer
from csp.aggregates.errors import CspError, TermsNotAccepted
from csp.aggregates.order import (
    ORDER_STATUSES,
    ChangeLine,
    NewSubscriptionLine,
    Order,
    OrderLine,
    price_change_line,
)
from csp.aggregates.organization import Organization
from csp.aggregates.pricing import money
from csp.aggregates.subscription import Subscription
from csp.api import access
from csp.api import schemas as s
from csp.api.actions import live_subscriptions, new_line_request
from csp.api.auth import Caller
from csp.api.pages.public import catalog_page, offer_page
from csp.api.pages.web import CART_COOKIE, ORG_COOKIE, Page, page_for
from csp.api.presenters import order_public
from csp.api.queries import catalog_offers
from csp.application import NewLineRequest

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]
USABLE_TENANTS = ("created", "linked")
LINE_FIELDS = {"tenant_id": "tenant_id", "quantity": "quantity", "markup_percent": "markup_percent"}


def _org(page: Page, organization_id: UUID) -> tuple[Caller, Organization]:
    caller = page.allow("organizations.read")
    org = access.organization(page.app, caller, organization_id)
    if not caller.is_customer:
        page.cookies[ORG_COOKIE] = str(org.id)
    return caller, org


@router.get("/o/{organization_id}/catalog")
def organization_catalog(organization_id: UUID, page: PageDep) -> Response:
    """What this customer may buy (its industry and eligibility, the reseller's
    customisation and segments), with Buy now."""
    _, org = _org(page, organization_id)
    return catalog_page(page, f"/o/{org.id}/catalog", organization_id=org.id, title=f"Catalog · {org.name}")


@router.get("/o/{organization_id}/catalog/offers/{offer_id}")
def organization_offer(organization_id: UUID, offer_id: UUID, page: PageDep) -> Response:
    _, org = _org(page, organization_id)
    return offer_page(page, offer_id, f"/o/{org.id}/catalog", organization_id=org.id)


# --- the order page -----------------------------------------------------------------------


@dataclass
class LineForm:
    """The order page's fields, as typed (re-shown as they were on an error)."""

    tenant_id: UUID | None
    quantity: int
    billing_cycle: str
    term: str
    markup_percent: Decimal | None
    target_price: Decimal | None
    addons: list[tuple[UUID, int]]


def _read_line(page: Page, offer: Offer, addon_offers: list[Offer]) -> LineForm:
    # the offer's own limits, said as they are (before anything is recorded)
    quantity = page.integer("quantity", 1, minimum=offer.min_quantity, maximum=offer.max_quantity) or 1
    cycle = page.value("billing_cycle") or offer.billing_cycles[0]
    if cycle not in offer.billing_cycles:
        page.errors["billing_cycle"] = "choose one of the offer's billing periods"
    term = page.value("term") or offer.terms[0]
    if term not in offer.terms:
        page.errors["term"] = "choose one of the offer's terms"
    markup = target = None
    if not page.is_customer:
        markup = page.decimal("markup_percent")
        target = page.decimal("target_price")
        if markup is not None and target is not None:
            page.errors["target_price"] = "give either a markup or a target customer price, not both"
    addons = []
    for a in addon_offers:
        if page.checked(f"addon_{a.id}"):
            n = page.integer(f"addon_qty_{a.id}", quantity, minimum=a.min_quantity, maximum=a.max_quantity)
            addons.append((a.id, n or quantity))
    return LineForm(page.uuid("tenant_id"), quantity, cycle, term, markup, target, addons)


def _summary(page: Page, caller: Caller, org: Organization, offer: Offer, line: LineForm) -> dict[str, Any] | None:
    """The summary table, priced by the same functions as the API's price preview (a
    reseller) or the catalog (a customer, at its own price)."""
    if caller.is_customer:
        mine = [o for o in catalog_offers(page.app, caller) if o.id == offer.id]
        unit = mine[0].customer_price if mine else None
        if unit is None:
            return None
        return {"customer": True, "unit": unit, "total": money(unit * line.quantity), "quantity": line.quantity}
    if page.errors.get("markup_percent") or page.errors.get("target_price"):
        return None
    try:
        q = page.app.price_preview(
            offer.id,
            line.quantity,
            line.markup_percent,
            line.target_price,
            line.term,
            reseller_id=caller.reseller_id,
            organization_id=org.id,
        )
    except CspError as e:
        page.fail(e)
        return None
    erp_total = money(q.erp_price * line.quantity) if q.erp_price is not None else None
    return {
        "customer": False,
        "quantity": line.quantity,
        "unit": q.customer_price,
        "total": q.total,
        "markup_percent": q.markup_percent,
        "default_markup_percent": q.default_markup_percent,
        "rows": [
            (1, q.partner_price, q.erp_price, q.customer_price, q.margin),
            (line.quantity, q.partner_total, erp_total, q.total, q.margin_total),
        ],
    }


def _addon_offers(page: Page, org: Organization, offer: Offer) -> list[Offer]:
    catalog = page.app.catalog()
    return [a for a in (catalog.offer(x) for x in offer.addon_offer_ids) if page.app.offer_available_to(org, a)]


def _buy_page(
    page: Page, caller: Caller, org: Organization, offer: Offer, line: LineForm, step: int = 1, status_code: int = 200
) -> Response:
    tenants = list(page.read_models().tenants(org.id, 200, 0).items)
    addon_offers = _addon_offers(page, org, offer)
    if line.tenant_id is None:
        usable = [t for t in tenants if t["status"] in USABLE_TENANTS]
        line.tenant_id = usable[0]["id"] if len(usable) == 1 else None
    return page.render(
        "buy.html",
        status_code=status_code,
        title=f"Order {offer.name}",
        org=org,
        offer=offer,
        line=line,
        step=step,
        tenant_options=[("", "Choose a tenant…")]
        + [
            (
                t["id"],
                t["domain"] if t["status"] in USABLE_TENANTS else f"{t['domain']} ({t['status']})",
                t["status"] not in USABLE_TENANTS,
            )
            for t in tenants
            if t["status"] != "rejected"
        ],
        pending=any(t["status"] in ("requested", "verifying") for t in tenants),
        addon_offers=addon_offers,
        summary=_summary(page, caller, org, offer, line),
        can_preview=page.may("pricing.preview"),
        can_create_tenant=page.may("tenants.write"),
    )


KEPT_FIELDS = ("quantity", "billing_cycle", "term", "markup_percent", "target_price")


@router.get("/o/{organization_id}/buy/{offer_id}")
def buy_form(organization_id: UUID, offer_id: UUID, page: PageDep) -> Response:
    caller, org = _org(page, organization_id)
    page.allow("orders.write")
    offer = page.app.catalog().offer(offer_id)
    page.app.check_offer_available(org, offer)
    if page.request.query_params:  # back from Create new tenant: the fields as they were typed
        page.form = FormData(list(page.request.query_params.multi_items()))
    return _buy_page(page, caller, org, offer, _read_line(page, offer, []))


@router.post("/o/{organization_id}/buy/{offer_id}")
def buy(organization_id: UUID, offer_id: UUID, page: PageDep) -> Response:
    """``action``: ``preview`` (recompute the summary), ``next`` (to the add-ons),
    ``cart`` / ``skip`` / ``confirm`` (into the cart)."""
    caller, org = _org(page, organization_id)
    page.allow("orders.write")
    offer = page.app.catalog().offer(offer_id)
    addon_offers = _addon_offers(page, org, offer)
    line = _read_line(page, offer, addon_offers)
    action = page.value("action", "preview")
    if action == "new_tenant":
        # to the new tenant page, and back here with what was typed (and the new tenant)
        kept = {k: page.value(k) for k in KEPT_FIELDS if page.value(k)}
        back = f"/o/{org.id}/buy/{offer.id}" + (f"?{urlencode(kept)}" if kept else "")
        return page.redirect(f"/o/{org.id}/tenants/new?{urlencode({'next': back})}")
    if action in ("next", "cart", "skip", "confirm") and line.tenant_id is None:
        page.errors["tenant_id"] = "choose the tenant where the licences are provisioned (or Create new)"
    if page.errors or action == "preview":
        return _buy_page(page, caller, org, offer, line, status_code=422 if page.errors else 200)
    if action == "next" and addon_offers:
        return _buy_page(page, caller, org, offer, line, step=2)
    if action != "confirm":
        line.addons = []
    return _add_to_cart(page, caller, org, offer, line)


def _open_cart(page: Page, caller: Caller, org: Organization) -> Order | None:
    """The browser's cart for this organization, if it has one (a draft)."""
    raw = page.request.cookies.get(CART_COOKIE)
    if raw:
        try:
            order = access.order(page.app, caller, UUID(raw))
            if order.status == "draft" and order.organization_id == org.id:
                return order
        except (ValueError, CspError):
            pass
    return None


def _cart(page: Page, caller: Caller, org: Organization) -> Order:
    """The browser's cart for this organization: its draft, or a new one."""
    found = _open_cart(page, caller, org)
    if found is not None:
        return found
    order = page.commands.run(lambda: page.app.create_order(org.id, caller.actor))
    page.cookies[CART_COOKIE] = str(order.id)
    return order


def _add_to_cart(page: Page, caller: Caller, org: Organization, offer: Offer, line: LineForm) -> Response:
    app = page.app
    assert line.tenant_id is not None
    try:
        access.tenant(app, caller, line.tenant_id)
        body = s.OrderLineCreate(
            offer_id=offer.id,
            tenant_id=line.tenant_id,
            quantity=line.quantity,
            billing_cycle=line.billing_cycle,  # type: ignore[arg-type]
            term=line.term,  # type: ignore[arg-type]
            markup_percent=line.markup_percent,
            target_price=line.target_price,
            addons=[s.AddonIn(offer_id=a, quantity=n) for a, n in line.addons],
        )
        req = new_line_request(caller, body)
        cart = _open_cart(page, caller, org)
        if cart is not None:
            order = page.commands.run(lambda: app.add_new_subscription_line(cart.id, req, caller.actor))
        else:  # a new cart and its line in one save: a refused line leaves no empty draft
            order = page.commands.run(lambda: app.create_order_with_line(org.id, req, caller.actor))
            page.cookies[CART_COOKIE] = str(order.id)
    except pydantic.ValidationError as e:
        for err in e.errors():
            page.errors[str(err["loc"][0]) if err["loc"] else "_form"] = str(err["msg"]).removeprefix("Value error, ")
        return _buy_page(page, caller, org, offer, line, status_code=422)
    except CspError as e:
        page.fail(e, LINE_FIELDS)
        return _buy_page(page, caller, org, offer, line, status_code=409)
    return page.redirect(f"/orders/{order.id}", f"{offer.name} is in your cart.")


def cart_change_line(page: Page, caller: Caller, subscription_id: UUID) -> tuple[Order, ChangeLine] | None:
    """The browser's open cart and its change line for this subscription, if it has one."""
    raw = page.request.cookies.get(CART_COOKIE)
    try:
        order = access.order(page.app, caller, UUID(raw)) if raw else None
    except (ValueError, CspError):
        return None
    if order is None or order.status != "draft":
        return None
    found = [x for x in order.lines if isinstance(x, ChangeLine) and x.subscription_id == subscription_id]
    return (order, found[0]) if found else None


def add_change_to_cart(page: Page, caller: Caller, sub: Subscription, quantity_delta: int) -> Order:
    """``+N Users`` on an existing subscription, into the organization's open cart (a new
    one if it has none). The domain's rules are checked before a new cart is made, so a
    refusal leaves no empty draft behind."""
    app = page.app
    price_change_line(
        line_no=1, subscription=sub, buyer_id=sub.organization_id, quantity_delta=quantity_delta, at=app.now()
    )
    org = access.organization(app, caller, sub.organization_id)
    order = _cart(page, caller, org)
    return page.commands.run(lambda: app.add_change_line(order.id, sub.id, quantity_delta, caller.actor))


# --- the cart, placing, the order --------------------------------------------------------------


def _order_page(page: Page, order: Order, status_code: int = 200, template: str = "order.html") -> Response:
    caller = page.user()
    org = access.organization(page.app, caller, order.organization_id)
    return page.render(
        template,
        status_code=status_code,
        title=("Cart" if order.status == "draft" else f"Order {order.number}"),
        order=order_public(order, caller),
        org=org,
        can_write=page.may("orders.write"),
        can_history=page.may("history.read"),
        names=actor_names(page),
    )


@router.get("/orders/{order_id}")
def order(order_id: UUID, page: PageDep) -> Response:
    caller = page.allow("orders.read")
    found = access.order(page.app, caller, order_id)
    if not caller.is_customer:
        page.cookies[ORG_COOKIE] = str(found.organization_id)
    return _order_page(page, found)


@router.get("/orders/{order_id}/resume")
def resume(order_id: UUID, page: PageDep) -> Response:
    """A draft from the Orders list becomes this browser's cart again."""
    caller = page.allow("orders.read")
    found = access.order(page.app, caller, order_id)
    if found.status == "draft" and page.may("orders.write"):
        page.cookies[CART_COOKIE] = str(found.id)
    return page.redirect(f"/orders/{found.id}")


@router.post("/orders/{order_id}/lines/{line_no}/remove")
def remove_line(order_id: UUID, line_no: int, page: PageDep) -> Response:
    caller = page.allow("orders.write")
    access.order(page.app, caller, order_id)
    page.commands.run(lambda: page.app.remove_order_line(order_id, line_no, caller.actor))
    return page.redirect(f"/orders/{order_id}", "The line is removed from the cart.")


# --- editing a line of the cart ----------------------------------------------------------------

EDIT_FIELDS = {
    "quantity": "quantity",
    "addons.quantity": "quantity",
    "billing_cycle": "billing_cycle",
    "term": "billing_cycle",
    "markup_percent": "markup_percent",
    "target_price": "target_price",
    "quantity_delta": "quantity_delta",
    "subscription_id": "quantity_delta",
}


def _draft_line(page: Page, caller: Caller, order_id: UUID, line_no: int) -> tuple[Order, OrderLine]:
    found = access.order(page.app, caller, order_id)
    if not caller.is_customer:
        page.cookies[ORG_COOKIE] = str(found.organization_id)
    return found, found.line(line_no)


def _line_page(page: Page, order: Order, line: OrderLine, status_code: int = 200) -> Response:
    caller = page.user()
    org = access.organization(page.app, caller, order.organization_id)
    offer = page.app.catalog().offer(line.offer_id)
    view = next(x for x in order_public(order, caller).lines if x.line_no == line.line_no)
    return page.render(
        "order_line.html",
        status_code=status_code,
        title=f"Edit line {line.line_no} · {line.offer_name}",
        order=order,
        org=org,
        line=view,
        offer=offer,
        cycle_options=[(c, c.capitalize()) for c in offer.billing_cycles],
        editable=order.status == "draft" and not view.is_trial,
        currency=offer.currency,
    )


@router.get("/orders/{order_id}/lines/{line_no}/edit")
def edit_line_form(order_id: UUID, line_no: int, page: PageDep) -> Response:
    """A line of the cart as a form: a new subscription's quantity, billing cycle and
    price (markup or target customer price); a change line's licences to add."""
    caller = page.allow("orders.write")
    found, line = _draft_line(page, caller, order_id, line_no)
    return _line_page(page, found, line)


@router.post("/orders/{order_id}/lines/{line_no}")
def edit_line(order_id: UUID, line_no: int, page: PageDep) -> Response:
    """Save a line of the cart: one command replaces it, priced again by the domain; a
    refusal shows by its field and the line stays as it was."""
    caller = page.allow("orders.write")
    app = page.app
    found, line = _draft_line(page, caller, order_id, line_no)
    # the version the form was shown at: a cart changed since (another tab) is refused
    version = page.version() or found.version
    try:
        if isinstance(line, ChangeLine):
            delta = page.integer("quantity_delta", None, minimum=-100000)
            if delta is None and "quantity_delta" not in page.errors:
                page.errors["quantity_delta"] = "enter the number of licences to add"
            if page.errors or delta is None:
                return _line_page(page, found, line, 422)
            page.commands.run(lambda: app.replace_change_line(order_id, line_no, delta, caller.actor, version))
        else:
            req = _line_request(page, caller, line)
            if req is None:
                return _line_page(page, found, line, 422)
            page.commands.run(
                lambda: app.replace_new_subscription_line(order_id, line_no, req, caller.actor, version),
            )
    except CspError as e:
        page.fail(e, EDIT_FIELDS)
        return _line_page(page, app.load(Order, order_id, "order"), line, 409)
    return page.redirect(f"/orders/{order_id}", f"Line {line_no} ({line.offer_name}) is changed.")


def _line_request(page: Page, caller: Caller, line: NewSubscriptionLine) -> NewLineRequest | None:
    """The edit form as the API's PATCH body, checked by the same schema; ``None`` with
    ``page.errors`` set when a field is refused before the domain sees it."""
    offer = page.app.catalog().offer(line.offer_id)
    quantity = page.integer("quantity", None, minimum=offer.min_quantity, maximum=offer.max_quantity)
    if quantity is None and "quantity" not in page.errors:
        page.errors["quantity"] = "enter the number of licences"
    cycle = page.value("billing_cycle") or line.billing_cycle
    markup = target = None
    if not caller.is_customer:
        markup = page.decimal("markup_percent")
        target = page.decimal("target_price")
        if markup is not None and target is not None:
            page.errors["target_price"] = "give either a markup or a target customer price, not both"
    if page.errors:
        return None
    try:
        body = s.OrderLineUpdate(
            quantity=quantity,
            billing_cycle=cycle,  # type: ignore[arg-type]
            markup_percent=markup,
            target_price=target,
        )
    except pydantic.ValidationError as e:
        for err in e.errors():
            page.errors[str(err["loc"][0]) if err["loc"] else "_form"] = str(err["msg"]).removeprefix("Value error, ")
        return None
    req = new_line_request(caller, body, base=line)
    if not caller.is_customer and markup is None and target is None:
        # Both price fields empty: the default price (the segment's, or the default
        # markup), as on the order page; a customer's edit keeps the reseller's price.
        req = dataclasses.replace(req, markup_percent=None, target_price=None)
    return req


@router.get("/orders/{order_id}/place")
def terms(order_id: UUID, page: PageDep) -> Response:
    """The Product Terms to agree with before the order goes to the vendor."""
    caller = page.allow("orders.write")
    return _order_page(page, access.order(page.app, caller, order_id), template="terms.html")


@router.post("/orders/{order_id}/place")
def place(order_id: UUID, page: PageDep) -> Response:
    caller = page.allow("orders.write")
    found = access.order(page.app, caller, order_id)
    try:
        live = live_subscriptions(page.read_models() if caller.is_customer else None, caller, found.organization_id)
        placed = page.commands.run(
            lambda: page.app.place_order(
                order_id, page.checked("accept_terms"), caller.actor, live_subscription_ids=live
            )
        )
    except TermsNotAccepted:
        page.errors["accept_terms"] = "Agree with the Product Terms to place the order."
        return _order_page(page, found, 409, template="terms.html")
    except CspError as e:
        page.fail(e)
        return _order_page(page, found, 409, template="terms.html")
    page.cookies[CART_COOKIE] = None
    if placed.status == "awaiting_approval":
        return page.redirect(
            f"/orders/{placed.id}",
            f"Order {placed.number} is above your monthly credit limit: it awaits your reseller's approval.",
        )
    return page.redirect(
        f"/orders/{placed.id}", f"Order {placed.number} is placed: the licences are being provisioned."
    )


@router.post("/orders/{order_id}/save")
def save_for_later(order_id: UUID, page: PageDep) -> Response:
    """The cart stays a draft in the Orders list; the next Buy now starts a new cart."""
    caller = page.allow("orders.write")
    found = access.order(page.app, caller, order_id)
    page.cookies[CART_COOKIE] = None
    return page.redirect(f"/o/{found.organization_id}/orders", f"Order {found.number} is saved for later.")


@router.post("/orders/{order_id}/discard")
def discard(order_id: UUID, page: PageDep) -> Response:
    caller = page.allow("orders.write")
    found = access.order(page.app, caller, order_id)
    page.commands.run(lambda: page.app.discard_order(order_id, caller.actor))
    page.cookies[CART_COOKIE] = None
    return page.redirect(f"/o/{found.organization_id}/orders", f"Order {found.number} is discarded.")


@router.post("/orders/{order_id}/retry")
def retry_failed_lines(order_id: UUID, page: PageDep) -> Response:
    """A new attempt at the vendor for the order's failed lines."""
    caller = page.allow("orders.write")
    found = access.order(page.app, caller, order_id)
    page.commands.run(lambda: page.app.retry_failed_lines(order_id, caller.actor))
    return page.redirect(f"/orders/{found.id}", f"Order {found.number}: the failed lines are being provisioned again.")


@router.post("/orders/{order_id}/discard-failed")
def discard_failed_lines(order_id: UUID, page: PageDep) -> Response:
    """The order is finished with the lines it has; the failed ones are given up."""
    caller = page.allow("orders.write")
    found = access.order(page.app, caller, order_id)
    page.commands.run(lambda: page.app.discard_failed_lines(order_id, caller.actor))
    return page.redirect(f"/orders/{found.id}", f"Order {found.number}: the failed lines are discarded.")


# --- the Orders list ------------------------------------------------------------------------------


def actor_names(page: Page) -> dict[str, str]:
    """``user:<id>`` → the person's name (for "created by")."""
    if page.caller is None:
        return {}
    users = page.read_models().users(page.caller.reseller_id, None, 200, 0).items
    return {f"user:{u['id']}": (f"{u['first_name']} {u['last_name']}".strip() or u["email"]) for u in users}


@router.get("/o/{organization_id}/orders")
def orders(organization_id: UUID, page: PageDep) -> Response:
    _, org = _org(page, organization_id)
    page.allow("orders.read")
    status = page.request.query_params.get("status") or None
    paging = page.paging()
    found = page.read_models().orders(org.id, status, paging.limit, paging.offset)
    return page.render(
        "orders.html",
        title=f"Orders · {org.name}",
        org=org,
        orders=found.items,
        total=found.total,
        paging=paging.of(found.total),
        status=status,
        names=actor_names(page),
        statuses=ORDER_STATUSES,
    )
