"""Azure plans in the portal: adding an Azure subscription (entitlement) with a budget on
the plan's page, and a customer's usage page (a table per day and meter, filtered by
meter with a plain GET form)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.errors import CspError
from csp.aggregates.subscription import Subscription
from csp.api import access
from csp.api.pages.web import ORG_COOKIE, Page, page_for

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]


@router.post("/subscriptions/{subscription_id}/entitlements")
def add_entitlement(subscription_id: UUID, page: PageDep) -> Response:
    from csp.api.pages.subscriptions import edit_screen  # the plan's page, shown again on an error

    caller = page.allow("subscriptions.write")
    app = page.app
    sub = access.subscription(app, caller, subscription_id)
    name = page.required("entitlement_name", "enter a name")
    budget = page.decimal("entitlement_budget")
    if page.errors:
        return edit_screen(page, sub, 422)
    try:
        page.commands.run(lambda: app.add_entitlement(sub.id, name, budget, caller.actor))
    except CspError as e:
        page.fail(e, {"name": "entitlement_name", "monthly_budget": "entitlement_budget"})
        return edit_screen(page, app.load(Subscription, subscription_id, "subscription"), 422)
    return page.redirect(f"/subscriptions/{subscription_id}", "The Azure subscription is being created.")


def _query(page: Page, name: str) -> str:
    return (page.request.query_params.get(name) or "").strip()[:120]


def _day(page: Page, name: str) -> date | None:
    text = _query(page, name)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        page.errors[name] = "enter a date like 2026-11-30"
        return None


@router.get("/o/{organization_id}/usage")
def usage(organization_id: UUID, page: PageDep) -> Response:
    caller = page.allow("subscriptions.read")
    org = access.organization(page.app, caller, organization_id)
    if not caller.is_customer:
        page.cookies[ORG_COOKIE] = str(org.id)
    read = page.read_models()
    every = read.usage(caller.reseller_id, org.id)
    meters = sorted({r["meter"] for r in every})
    meter = _query(page, "meter")
    start, end = _day(page, "from"), _day(page, "to")
    rows = [
        r
        for r in every
        if (not meter or r["meter"] == meter)
        and (start is None or r["day"] >= start.isoformat())
        and (end is None or r["day"] <= end.isoformat())
    ]
    return page.render(
        "usage.html",
        title=f"Azure usage · {org.name}",
        org=org,
        rows=rows,
        meter_options=[("", "Every meter")] + [(m, m) for m in meters],
        meter=meter,
        date_from=_query(page, "from"),
        date_to=_query(page, "to"),
        show_cost=not caller.is_customer,
        partner_total=sum((r["partner_cost"] for r in rows), Decimal("0.00")),
        customer_total=sum((r["customer_price"] for r in rows), Decimal("0.00")),
    )
