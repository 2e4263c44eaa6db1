"""The account: Users (invite with email, role, organization), Settings (Authentication
Management, self-registration, terms, default markup), Catalog **Customize** /
**Customer Segments** / **Customer Prices**, and Quotes."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import pydantic
from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.errors import CspError
from csp.aggregates.user import CUSTOMER_ROLES, RESELLER_ROLES
from csp.api import access
from csp.api import schemas as s
from csp.api.actions import change_settings
from csp.api.deps import InvitationsDep
from csp.api.pages.web import CART_COOKIE, ORG_COOKIE, Page, page_for
from csp.api.presenters import order_public, quote_public, segment_public, settings_public
from csp.application import QuoteLineRequest

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]
SIGN_IN_METHODS = ("local", "microsoft_personal", "microsoft_work")


def _validation(page: Page, e: pydantic.ValidationError) -> None:
    for err in e.errors():
        page.errors[str(err["loc"][0]) if err["loc"] else "_form"] = str(err["msg"]).removeprefix("Value error, ")


# --- users -------------------------------------------------------------------------------------


def _users(page: Page, status_code: int = 200, invited: s.InvitationPublic | None = None) -> Response:
    caller = page.allow("users.read")
    read = page.read_models()
    org_filter = caller.organization_id if caller.is_customer else None
    users = read.users(caller.reseller_id, org_filter, 200, 0).items
    if caller.is_customer:
        orgs = [(str(caller.organization_id), access.organization(page.app, caller, caller.organization_id).name)]
        roles = CUSTOMER_ROLES
    else:
        orgs = [(str(o["id"]), o["name"]) for o in read.organizations(caller.reseller_id, None, 200, 0).items]
        roles = RESELLER_ROLES + CUSTOMER_ROLES
    settings = access.reseller(page.app, caller).reseller_settings()
    return page.render(
        "users.html",
        status_code=status_code,
        title="Users",
        users=users,
        org_names=dict(orgs),
        organizations=orgs,
        roles=[(r, page_label(r)) for r in roles],
        methods=[(m, page_label(m)) for m in settings.sign_in_methods],
        can_invite=page.may("users.invite"),
        can_manage=page.may("users.manage"),
        invited=invited,
        accept_link=(f"/invitations/{invited.accept_token}" if invited and invited.accept_token else None),
    )


def page_label(value: str) -> str:
    from csp.api.pages.format import label

    return label(value)


@router.get("/users")
def users(page: PageDep) -> Response:
    return _users(page)


@router.post("/users/invite")
def invite(page: PageDep, invitations: InvitationsDep) -> Response:
    caller = page.allow("users.invite")
    email = page.required("email", "enter the email address the invitation goes to")
    role = page.required("role", "choose a role")
    org_id = page.uuid("organization_id", "choose the organization")
    if page.errors:
        return _users(page, 422)
    try:
        body = s.InvitationCreate(
            email=email,
            role=role,
            organization_id=org_id,
            sign_in_method=page.value("sign_in_method") or "local",  # type: ignore[arg-type]
        )
        invited = invitations.invite(caller, body)
    except pydantic.ValidationError as e:
        _validation(page, e)
        return _users(page, 422)
    except CspError as e:
        page.fail(e)
        return _users(page, 409)
    page.errors.clear()
    if page.form is not None:
        page.form = None  # an empty form for the next invitation
    return _users(page, invited=invited)


@router.post("/users/{user_id}")
def change_user(user_id: UUID, page: PageDep) -> Response:
    caller = page.allow("users.manage")
    access.user(page.app, caller, user_id)
    role = page.value("role") or None
    disabled = {"disable": True, "enable": False}.get(page.value("do"))
    try:
        user = page.commands.run(lambda: page.app.change_user(caller.user_id, user_id, role, disabled))
    except CspError as e:
        page.fail(e)
        return _users(page, 409)
    if user.status == "disabled":
        page.auth.end_user_sessions(user.id)
    return page.redirect("/users", f"{user.email}: saved.")


# --- settings ------------------------------------------------------------------------------------


def _settings(page: Page, status_code: int = 200) -> Response:
    caller = page.allow("settings.read")
    org = access.reseller(page.app, caller)
    return page.render(
        "settings.html",
        status_code=status_code,
        title="Settings",
        settings=settings_public(org, page.auth.offered_methods()),
        reseller=org,
        methods=page.auth.offered_methods(),
        can_write=page.may("settings.write"),
    )


@router.get("/settings")
def settings(page: PageDep) -> Response:
    return _settings(page)


@router.post("/settings")
def save_settings(page: PageDep) -> Response:
    caller = page.allow("settings.write")
    markup = page.decimal("default_markup_percent")
    methods = [m for m in page.auth.offered_methods() if page.checked(f"method_{m}")]
    if not methods:
        page.errors["sign_in_methods"] = "allow at least one sign-in method"
    version = page.version()
    if page.errors:
        return _settings(page, 422)
    try:
        body = s.SettingsUpdate(
            customer_self_registration=page.checked("customer_self_registration"),
            customer_self_service=page.checked("customer_self_service"),
            sign_in_methods=methods,  # type: ignore[arg-type]
            require_terms_acceptance=page.checked("require_terms_acceptance"),
            terms_text=page.value("terms_text"),
            default_markup_percent=markup,
            currency=page.value("currency") or None,
        )
        change_settings(page.app, page.commands, caller, body, version, page.auth.offered_methods())
    except pydantic.ValidationError as e:
        _validation(page, e)
        return _settings(page, 422)
    except CspError as e:
        page.fail(e, {"sign_in_methods": "sign_in_methods"})
        return _settings(page, 409)
    return page.redirect("/settings", "Settings saved.")


# --- catalog: Customize, Customer Segments, Customer Prices ----------------------------------------


def _catalog_admin(page: Page, template: str, status_code: int = 200, **more: Any) -> Response:
    caller = page.allow("segments.read")
    from csp.api.queries import catalog_offers

    offers = catalog_offers(page.app, caller)
    segments = [segment_public(x) for x in page.app.segments_of_reseller(caller.reseller_id)]
    organizations = [
        (str(o["id"]), o["name"])
        for o in page.read_models().organizations(caller.reseller_id, None, 200, 0).items
        if o["kind"] == "customer"
    ]
    return page.render(
        template,
        status_code=status_code,
        offers=offers,
        offer_names={o.id: o.name for o in offers},
        org_names=dict(organizations),
        segments=segments,
        segment_options=[("", "Choose…")] + [(str(x.id), x.name) for x in segments],
        offer_options=[(str(o.id), o.name) for o in offers if not o.is_trial],
        organizations=organizations,
        can_customize=page.may("catalog.customize"),
        **more,
    )


@router.get("/catalog/customize")
def customize(page: PageDep) -> Response:
    return _catalog_admin(page, "customize.html", title="Catalog · Customize")


@router.post("/catalog/customize/{offer_id}")
def set_visibility(offer_id: UUID, page: PageDep) -> Response:
    caller = page.allow("catalog.customize")
    visible = page.value("visible") == "true"
    page.commands.run(lambda: page.app.set_offer_visibility(caller.reseller_id, offer_id, visible, caller.actor))
    offer = page.app.catalog().offer(offer_id)
    return page.redirect(
        "/catalog/customize", f"{offer.name} is {'shown to' if visible else 'hidden from'} your customers."
    )


@router.get("/catalog/segments")
def segments(page: PageDep) -> Response:
    return _catalog_admin(page, "segments.html", title="Catalog · Customer Segments")


@router.post("/catalog/segments")
def save_segment(page: PageDep) -> Response:
    """Create a segment, or (with ``segment_id``) change one."""
    caller = page.allow("catalog.customize")
    name = page.required("name", "name the segment")
    offer_ids = tuple(UUID(x) for x in page.values("offer_ids"))
    org_ids = tuple(UUID(x) for x in page.values("organization_ids"))
    segment_id = page.uuid("segment_id")
    version = page.version()
    if page.errors:
        return _catalog_admin(page, "segments.html", 422, title="Catalog · Customer Segments")
    try:
        if segment_id is None:
            page.commands.run(
                lambda: page.app.create_segment(caller.reseller_id, name, offer_ids, org_ids, caller.actor)
            )
        else:
            access.segment(page.app, caller, segment_id)
            page.commands.run(
                lambda: page.app.change_segment(segment_id, name, offer_ids, org_ids, caller.actor, version),
            )
    except CspError as e:
        page.fail(e, {"offer_ids": "offer_ids", "organization_ids": "organization_ids"})
        return _catalog_admin(page, "segments.html", 409, title="Catalog · Customer Segments")
    return page.redirect("/catalog/segments", f"Segment {name} saved.")


@router.get("/catalog/prices")
def prices(page: PageDep) -> Response:
    return _catalog_admin(page, "prices.html", title="Catalog · Customer Prices")


@router.post("/catalog/prices")
def set_price(page: PageDep) -> Response:
    caller = page.allow("catalog.customize")
    segment_id = page.uuid("segment_id", "choose a segment")
    offer_id = page.uuid("offer_id", "choose an offer")
    markup = page.decimal("markup_percent")
    price = page.decimal("customer_price")
    if markup is None and price is None and not page.errors:
        page.errors["markup_percent"] = "give a markup, or a customer price"
    if page.errors or segment_id is None or offer_id is None:
        return _catalog_admin(page, "prices.html", 422, title="Catalog · Customer Prices")
    try:
        access.segment(page.app, caller, segment_id)
        page.commands.run(lambda: page.app.set_segment_price(segment_id, offer_id, caller.actor, markup, price))
    except CspError as e:
        page.fail(e, {"target_price": "customer_price"})
        return _catalog_admin(page, "prices.html", 409, title="Catalog · Customer Prices")
    return page.redirect("/catalog/prices", "The customer price is saved.")


# --- quotes --------------------------------------------------------------------------------------


def _quotes(page: Page, organization_id: UUID, status_code: int = 200) -> Response:
    caller = page.allow("quotes.read")
    org = access.organization(page.app, caller, organization_id)
    if not caller.is_customer:
        page.cookies[ORG_COOKIE] = str(org.id)
    from csp.api.queries import catalog_offers

    offers = [o for o in catalog_offers(page.app, caller, organization_id=org.id) if not o.is_addon and not o.is_trial]
    tenants = [t for t in page.read_models().tenants(org.id, 200, 0).items if t["status"] in ("created", "linked")]
    quotes = page.read_models().quotes(org.id, 200, 0).items
    return page.render(
        "quotes.html",
        status_code=status_code,
        title=f"Quotes · {org.name}",
        org=org,
        quotes=quotes,
        offer_options=[("", "Choose…")] + [(o.id, o.name) for o in offers],
        tenant_options=[("", "Choose when accepting")] + [(t["id"], t["domain"]) for t in tenants],
        can_write=page.may("quotes.write"),
        can_accept=page.may("quotes.accept"),
    )


@router.get("/o/{organization_id}/quotes")
def quotes(organization_id: UUID, page: PageDep) -> Response:
    return _quotes(page, organization_id)


@router.post("/o/{organization_id}/quotes")
def create_quote(organization_id: UUID, page: PageDep) -> Response:
    caller = page.allow("quotes.write")
    app = page.app
    org = access.organization(app, caller, organization_id)
    offer_id = page.uuid("offer_id", "choose an offer")
    quantity = page.integer("quantity", 1, minimum=1) or 1
    cycle = page.value("billing_cycle") or "monthly"
    markup = page.decimal("markup_percent")
    tenant_id = page.uuid("tenant_id")
    valid_days = page.integer("valid_days", None, minimum=1, maximum=365)
    if page.errors or offer_id is None:
        return _quotes(page, org.id, 422)
    try:
        if tenant_id is not None:
            access.tenant(app, caller, tenant_id)
        term = app.catalog().offer(offer_id).terms[0]
        line = QuoteLineRequest(offer_id, quantity, cycle, term, tenant_id, markup, None)
        quote = page.commands.run(
            lambda: app.create_quote(org.id, [line], caller.actor, valid_days, page.value("note"))
        )
    except CspError as e:
        page.fail(e)
        return _quotes(page, org.id, 409)
    return page.redirect(f"/quotes/{quote.id}", "The quote is ready to send to the customer.")


@router.get("/quotes/{quote_id}")
def quote(quote_id: UUID, page: PageDep) -> Response:
    caller = page.allow("quotes.read")
    q = access.quote(page.app, caller, quote_id)
    org = access.organization(page.app, caller, q.organization_id)
    tenants = [t for t in page.read_models().tenants(org.id, 200, 0).items if t["status"] in ("created", "linked")]
    return page.render(
        "quote.html",
        title="Quote",
        quote=quote_public(q, caller, page.app.now()),
        org=org,
        tenant_options=[("", "Choose…")] + [(t["id"], t["domain"]) for t in tenants],
        can_accept=page.may("quotes.accept"),
    )


@router.post("/quotes/{quote_id}/accept")
def accept_quote(quote_id: UUID, page: PageDep) -> Response:
    """Accepting makes a draft order with the quoted lines: the cart."""
    caller = page.allow("quotes.accept")
    app = page.app
    access.quote(app, caller, quote_id)
    tenant_id = page.uuid("tenant_id")
    if tenant_id is not None:
        access.tenant(app, caller, tenant_id)
    try:
        _, order = page.commands.run(lambda: app.accept_quote(quote_id, caller.actor, tenant_id))
    except CspError as e:
        page.fail(e)
        return quote(quote_id, page)
    page.cookies[CART_COOKIE] = str(order.id)
    order_public(order, caller)
    return page.redirect(f"/orders/{order.id}", "The quote is accepted: its lines are in the cart.")
