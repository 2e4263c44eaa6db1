"""Subscriptions: the manual's list (grouped by product and domain; "Trial" in every price
column of a trial), the edit screen (quantity, unit price with **Edit price**, billing
cycle, Enabled / Suspended, trial conversion, **Addon products**, **Save changes** /
**Cancel**), and the history page of any order, subscription or tenant."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.errors import CspError, InvalidInput
from csp.aggregates.order import Order
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.api import access
from csp.api.errors import NotAllowed
from csp.api.pages import narrate
from csp.api.pages.ordering import actor_names, add_change_to_cart, cart_change_line
from csp.api.pages.web import ORG_COOKIE, Page, page_for, parse_as_of
from csp.api.presenters import subscription_public
from csp.api.queries import subscription_rows
from csp.application.subscriptions import SubscriptionEdit
from csp.application.transitions import TransitionOption
from csp.audit import history

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]


def grouped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows under their product group, then their tenant domain (the read model's order)."""
    groups: list[dict[str, Any]] = []
    for r in rows:
        name = r.get("product_group_name") or "Other"
        if not groups or groups[-1]["name"] != name:
            groups.append({"name": name, "domains": [], "purchased": 0, "assigned": 0})
        g = groups[-1]
        if not g["domains"] or g["domains"][-1]["domain"] != r["tenant_domain"]:
            g["domains"].append({"domain": r["tenant_domain"], "rows": [], "purchased": 0, "assigned": 0})
        d = g["domains"][-1]
        d["rows"].append(r)
        if r["status"] in ("trial", "active", "suspended"):
            for x in (g, d):
                x["purchased"] += r["purchased"]
                x["assigned"] += r["assigned"]
    return groups


@router.get("/o/{organization_id}/subscriptions")
def subscriptions(organization_id: UUID, page: PageDep) -> Response:
    caller = page.allow("subscriptions.read")
    org = access.organization(page.app, caller, organization_id)
    if not caller.is_customer:
        page.cookies[ORG_COOKIE] = str(org.id)
    q = (page.request.query_params.get("q") or "").strip()[:100] or None
    paging = page.paging()
    found = subscription_rows(page.app, page.read_models(), caller, org.id, q, None, paging.limit, paging.offset)
    return page.render(
        "subscriptions.html",
        title=f"Subscriptions · {org.name}",
        org=org,
        groups=grouped(found.items),
        total=found.total,
        paging=paging.of(found.total),
        q=q or "",
    )


# --- the edit screen ---------------------------------------------------------------------------


def edited(sub: Subscription) -> tuple[object, ...]:
    """What the edit screen shows and its forms change: a form rendered before any of these
    changed is stale (the vendor's confirmations and licence syncs change none of them)."""
    return (
        sub.status,
        sub.offer_id,
        sub.quantity,
        sub.renewal_quantity,
        sub.term,
        sub.renewal_term,
        sub.billing_cycle,
        sub.pending_billing_cycle,
        sub.auto_renew,
        sub.unit_customer_price,
        sub.markup_percent,
        sub.addon_ids,
        sub.ends_at,
        sub.renewal_offer_id,
        sub.pending_transition,
    )


def _edit(page: Page, sub: Subscription, status_code: int = 200) -> Response:
    return edit_screen(page, sub, status_code)


def edit_screen(page: Page, sub: Subscription, status_code: int = 200) -> Response:
    caller = page.user()
    app = page.app
    addons = [app.load(Subscription, a, "subscription") for a in sub.addon_ids]
    view = subscription_public(sub, addons, caller, app.now())
    org = access.organization(app, caller, sub.organization_id)
    catalog = app.catalog()
    offer = catalog.offer(sub.offer_id)
    have = {a.offer_id for a in addons if a.status in ("active", "suspended")}
    addon_choices = [
        catalog.offer(x)
        for x in offer.addon_offer_ids
        if x not in have and app.offer_available_to(org, catalog.offer(x))
    ]
    parent = app.load(Subscription, sub.parent_id, "subscription") if sub.parent_id else None
    # issue 16: the upgrades it may move to now, and the next term's changes
    family = [catalog.offers[u] for u in offer.upgrade_offer_ids if u in catalog.offers]
    family += [o for o in catalog.offers.values() if sub.offer_id in o.upgrade_offer_ids]
    upgrades = app.transition_options(sub.id) if sub.status == "active" else []
    return page.render(
        "subscription.html",
        status_code=status_code,
        title=f"Edit subscription · {sub.offer_name}",
        sub=view,
        org=org,
        offer=offer,
        parent=parent,
        addon_choices=addon_choices,
        addon_options=[("", "Choose…")] + [(a.id, a.name) for a in addon_choices],
        can_write=page.may("subscriptions.write"),
        can_history=page.may("history.read"),
        currency=offer.currency,
        can_order=page.may("orders.write") and not caller.is_customer,
        in_cart=cart_change_line(page, caller, sub.id),
        unit=sub.unit,
        upgrades=upgrades,
        upgrade_options=[("", "Choose…")] + [(o.offer.id, upgrade_label(o, caller.is_customer)) for o in upgrades],
        next_term=app.next_term(sub.id),
        next_term_offers=[("", f"{sub.offer_name} (as now)")] + [(o.id, o.name) for o in family],
        # Azure plans: the Azure subscriptions under it, budgets and month-to-date cost
        entitlements=page.read_models().azure_entitlements(sub.id, f"{app.now():%Y-%m}")
        if sub.type == "usage"
        else None,
    )


def upgrade_label(option: TransitionOption, customer: bool) -> str:
    """An upgrade as the select shows it: its name and price per licence per month."""
    p = option.price
    price = f"{p.customer_price} {option.offer.currency}"
    if not customer:
        price = f"{p.partner_price} {option.offer.currency} partner, {price} customer"
    return f"{option.offer.name} · {price} per licence per month"


@router.get("/subscriptions/{subscription_id}")
def subscription(subscription_id: UUID, page: PageDep) -> Response:
    caller = page.allow("subscriptions.read")
    sub = access.subscription(page.app, caller, subscription_id)
    if not caller.is_customer:
        page.cookies[ORG_COOKIE] = str(sub.organization_id)
    return _edit(page, sub)


@router.post("/subscriptions/{subscription_id}")
def save_changes(subscription_id: UUID, page: PageDep) -> Response:
    """**Save changes**: every changed field in one command, all or nothing; a refusal
    shows next to the field it is about, and nothing is saved."""
    caller = page.allow("subscriptions.write")
    app = page.app
    sub = access.subscription(app, caller, subscription_id)
    status = page.value("status", "suspended" if sub.status == "suspended" else "enabled")
    quantity = page.integer("quantity", sub.quantity, minimum=1)
    cycle = page.value("billing_cycle", sub.pending_billing_cycle or sub.billing_cycle)
    auto_renew = page.checked("auto_renew")
    version = page.version_of(sub, edited)
    if page.errors:
        return _edit(page, sub, 422)
    paid = sub.status != "trial"
    edit = SubscriptionEdit(
        reactivate=status == "enabled",
        quantity=quantity if paid else None,
        at_renewal=page.checked("at_renewal"),
        billing_cycle=cycle if paid else None,
        auto_renew=auto_renew if paid and page.value("auto_renew_shown") else None,
        suspend=status == "suspended",
    )
    try:
        _, done = page.commands.run(lambda: app.edit_subscription(subscription_id, edit, caller.actor, version))
    except CspError as e:
        page.fail(e, {"quantity": "quantity", "billing_cycle": "billing_cycle", "status": "status"})
        return _edit(page, app.load(Subscription, subscription_id, "subscription"), 409)
    notice = ("Saved: " + ", ".join(done) + ".") if done else "Nothing to change."
    return page.redirect(f"/subscriptions/{subscription_id}", notice)


ORDER_MORE_FIELDS = {"": "add_quantity", "quantity_delta": "add_quantity", "subscription_id": "add_quantity"}


@router.post("/subscriptions/{subscription_id}/order")
def order_more(subscription_id: UUID, page: PageDep) -> Response:
    """**Order more licences**: a ``+N Users`` change line in the organization's open cart,
    then the cart (Place order there, with the Product Terms). The domain decides whether
    this subscription may change (not a trial, not suspended…); its refusal shows by the
    field and nothing is added."""
    caller = page.allow("orders.write")
    if caller.is_customer:
        raise NotAllowed("a reseller orders more licences for its customer", code="forbidden")
    sub = access.subscription(page.app, caller, subscription_id)
    delta = page.integer("add_quantity", None, minimum=1)
    if delta is None and "add_quantity" not in page.errors:
        page.errors["add_quantity"] = "enter the number of licences to add"
    if page.errors or delta is None:
        return _edit(page, sub, 422)
    try:
        order = add_change_to_cart(page, caller, sub, delta)
    except CspError as e:
        page.fail(e, ORDER_MORE_FIELDS)
        return _edit(page, page.app.load(Subscription, subscription_id, "subscription"), 409)
    return page.redirect(f"/orders/{order.id}", f"+{delta} {sub.unit} for {sub.offer_name} is in your cart.")


def _subscription_command(
    page: Page,
    subscription_id: UUID,
    fn: Callable[[UUID, str, int | None], Any],
    ok: str,
    fields: dict[str, str] | None = None,
) -> Response:
    """One of the edit screen's forms: ``fn(subscription_id, actor, version)`` with the
    version the form was rendered from (a stale form is refused, the current state shown)."""
    caller = page.allow("subscriptions.write")
    sub = access.subscription(page.app, caller, subscription_id)
    version = page.version_of(sub, edited)
    if page.errors:
        return _edit(page, sub, 422)
    try:
        page.commands.run(lambda: fn(sub.id, caller.actor, version))
    except CspError as e:
        page.fail(e, fields)  # ``fields``: the domain's field names → the form's
        return _edit(page, page.app.load(Subscription, subscription_id, "subscription"), 409)
    return page.redirect(f"/subscriptions/{subscription_id}", ok)


@router.post("/subscriptions/{subscription_id}/price")
def edit_price(subscription_id: UUID, page: PageDep) -> Response:
    """**Edit price**: the customer's unit price from now on (the partner price stays locked)."""
    unit = page.decimal("unit_price")
    markup = page.decimal("price_markup_percent")
    if unit is None and markup is None and not page.errors:
        page.errors["unit_price"] = "enter the new unit price, or a markup"
    if page.errors:
        caller = page.allow("subscriptions.write")
        return _edit(page, access.subscription(page.app, caller, subscription_id), 422)
    app = page.app

    def change(sid: UUID, actor: str, version: int | None) -> Subscription:
        try:
            return app.change_subscription_price(sid, actor, unit, markup, expected_version=version)
        except InvalidInput as e:
            field = {"unit_customer_price": "unit_price", "markup_percent": "price_markup_percent"}
            raise InvalidInput(
                field.get(str(e.details.get("field")), "unit_price"), str(e.details.get("reason"))
            ) from None

    return _subscription_command(page, subscription_id, change, "The unit price is changed from now on.")


@router.post("/subscriptions/{subscription_id}/convert")
def convert_trial(subscription_id: UUID, page: PageDep) -> Response:
    app = page.app
    cycle = page.value("convert_billing_cycle") or None
    quantity = page.integer("convert_quantity", None, minimum=1)
    if page.errors:
        caller = page.allow("subscriptions.write")
        return _edit(page, access.subscription(app, caller, subscription_id), 422)
    return _subscription_command(
        page,
        subscription_id,
        lambda sid, actor, version: app.convert_trial(
            sid, actor, quantity=quantity, billing_cycle=cycle, expected_version=version
        ),
        "The trial is now a paid subscription.",
    )


@router.post("/subscriptions/{subscription_id}/cancel")
def cancel(subscription_id: UUID, page: PageDep) -> Response:
    app = page.app
    return _subscription_command(
        page,
        subscription_id,
        lambda sid, actor, version: app.cancel_subscription(sid, actor, expected_version=version),
        "The subscription is cancelled.",
    )


@router.post("/subscriptions/{subscription_id}/addons")
def add_addon(subscription_id: UUID, page: PageDep) -> Response:
    app = page.app
    offer_id = page.uuid("addon_offer_id", "choose an add-on")
    quantity = page.integer("addon_quantity", 1, minimum=1) or 1
    if page.errors or offer_id is None:
        caller = page.allow("subscriptions.write")
        return _edit(page, access.subscription(app, caller, subscription_id), 422)
    return _subscription_command(
        page,
        subscription_id,
        lambda sid, actor, version: app.add_subscription_addon(sid, offer_id, quantity, actor, version),
        "The add-on is added; it ends with this subscription.",
    )


@router.post("/subscriptions/{subscription_id}/addons/{addon_id}/remove")
def remove_addon(subscription_id: UUID, addon_id: UUID, page: PageDep) -> Response:
    app = page.app
    return _subscription_command(
        page,
        subscription_id,
        lambda sid, actor, version: app.remove_subscription_addon(sid, addon_id, actor, version),
        "The add-on is removed.",
    )


# --- history ----------------------------------------------------------------------------------------

KINDS: dict[str, tuple[type[Any], Callable[..., Any]]] = {
    "order": (Order, access.order),
    "subscription": (Subscription, access.subscription),
    "tenant": (Tenant, access.tenant),
}


@router.get("/history/{kind}/{aggregate_id}")
def history_page(kind: str, aggregate_id: UUID, page: PageDep) -> Response:
    """The history for people: each event as a sentence (who, what, when, what it changed,
    its money effect), filtered by kind; the state as of a chosen time, or compared between
    two instants; the raw events one click away (``?raw=1``)."""
    caller = page.allow("history.read")
    if kind not in KINDS:
        from csp.aggregates.errors import NotFound

        raise NotFound("history", kind)
    cls, check = KINDS[kind]
    found = check(page.app, caller, aggregate_id)
    params = page.request.query_params
    as_of = _instant(page, "as_of")
    since = _instant(page, "from")
    until = _instant(page, "to")
    show = params.get("show", "all")
    if show not in narrate.KINDS:
        show = "all"
    raw = params.get("raw") == "1"
    h = history(page.app, aggregate_id, as_of, kind=cls)
    events, states = _replayed(page, aggregate_id, as_of)
    names = actor_names(page)
    money_at = _money_at(page, caller, found, kind)
    stories = [t for t in narrate.told(events, states, names, money_at) if show in ("all", t.kind)]
    stories.reverse()  # the latest first
    compared = None
    if since is not None or until is not None:
        then = history(page.app, aggregate_id, since, kind=cls)["state"] if since else None
        now = history(page.app, aggregate_id, until, kind=cls)["state"] if until else h["state"]
        compared = narrate.compare(then, now)
    for e in h["events"]:
        e["data_json"] = json.dumps(e["data"], indent=1, ensure_ascii=False)
    back = {
        "order": f"/orders/{aggregate_id}",
        "subscription": f"/subscriptions/{aggregate_id}",
        "tenant": f"/o/{getattr(found, 'organization_id', '')}",
    }[kind]
    return page.render(
        "history.html",
        title=f"History of the {kind}",
        kind=kind,
        aggregate_id=aggregate_id,
        subject=_subject(found, kind),
        history=h,
        stories=stories,
        show=show,
        show_options=list(narrate.KINDS.items()),
        raw=raw,
        as_of=as_of,
        as_of_value=_local(as_of),
        from_value=_local(since),
        to_value=_local(until),
        since=since,
        until=until,
        compared=compared,
        state_json=json.dumps(h["state"], indent=1, ensure_ascii=False) if h["state"] is not None else None,
        back=back,
        names=names,
    )


def _instant(page: Page, name: str) -> Any:
    raw = page.request.query_params.get(name, "")
    try:
        return parse_as_of(raw)
    except InvalidInput as e:
        page.errors[name] = fmt_sentence(str(e.details.get("reason") or e.message))
        return None


def fmt_sentence(text: str) -> str:
    from csp.api.pages.format import sentence

    return sentence(text)


def _local(t: Any) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S") if t else ""


def _replayed(page: Page, aggregate_id: UUID, as_of: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any] | None]]:
    """The events (up to ``as_of``) and the state after each, replayed."""
    from csp.audit import event_record, state_record

    events, states = [], []
    aggregate: Any = None
    for e in page.app.events.get(aggregate_id):
        if as_of is not None and (getattr(e, "at", None) or e.timestamp) > as_of:
            break
        aggregate = e.mutate(aggregate)
        events.append(event_record(e))
        states.append(state_record(aggregate) if aggregate is not None else None)
    return events, states


def _money_at(page: Page, caller: Any, found: Any, kind: str) -> dict[str, Any]:
    """The ledger's charges (and credits) of a subscription, summed per instant: the money
    effect of the event at that instant. Partner prices: not for customer users."""
    if kind != "subscription" or caller.is_customer or page.read is None:
        return {}
    from collections import defaultdict
    from decimal import Decimal

    from csp.audit import jsonable

    out: dict[str, Decimal] = defaultdict(Decimal)
    for c in page.read.charges(found.reseller_id, subscription_id=found.id, include_scheduled=False).items:
        out[str(jsonable(c["charged_at"]))] += c["amount"]
    return dict(out)


def _subject(found: Any, kind: str) -> str:
    if kind == "subscription":
        return f"{found.offer_name} on {found.tenant_domain}"
    if kind == "order":
        return f"Order {found.number}"
    return str(getattr(found, "domain", ""))
