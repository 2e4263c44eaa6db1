"""Home, after sign-in: what needs attention (orders being provisioned or failed, tenants
being verified, seats whose 7-day window closes in the next 48 hours, renewals in the next
30 days, trials ending), this month's spend and margin so far with the last months in a
chart, and shortcuts; a customer user sees its own organization's."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.api import access
from csp.api.pages.charts import month_chart
from csp.api.pages.web import Page, page_for

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]
MONTHS = 6


def _months_back(today: date, n: int) -> date:
    y, m = today.year, today.month - (n - 1)
    while m < 1:
        y, m = y - 1, m + 12
    return date(y, m, 1)


def money_by_month(page: Page, reseller_id: Any, organization_id: Any, today: date) -> dict[str, Any]:
    """Spend (partner cost), customer price and margin per month, the last six months, from
    the same rows as the Evolution report (the money as the ledger charged it)."""
    rows = page.read_models().report(
        "evolution", reseller_id, organization_id, date_from=_months_back(today, MONTHS), date_to=today
    )
    months: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for r in rows.items:
        months[r["month"]][0] += r["partner_cost"]
        months[r["month"]][1] += r["customer_price"]
    first = _months_back(today, MONTHS)
    labels = []
    y, m = first.year, first.month
    for _ in range(MONTHS):
        labels.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    this = months[f"{today:%Y-%m}"]
    chart = month_chart(
        "Spend and margin per month (EUR)",
        labels,
        [
            ("Spend (partner cost)", [months[k][0] for k in labels]),
            ("Margin", [months[k][1] - months[k][0] for k in labels]),
        ],
        ident="chart-home-money",
        money=True,
    )
    return {"spend": this[0], "customer_price": this[1], "margin": this[1] - this[0], "chart": chart}


@router.get("/home")
def home(page: PageDep) -> Response:
    caller = page.user()
    org_id = caller.organization_id if caller.is_customer else None
    attention = page.read_models().attention(caller.reseller_id, org_id)
    today = attention["now"].date()
    money = None
    if page.may("reports.read") and not caller.is_customer:
        money = money_by_month(page, caller.reseller_id, None, today)
    org = access.organization(page.app, caller, caller.organization_id) if caller.is_customer else None
    names: dict[Any, str] = {}
    if not caller.is_customer:
        organizations = page.read_models().organizations(caller.reseller_id, None, 200, 0).items
        names = {o["id"]: o["name"] for o in organizations}
    subscriptions = orders = None
    if caller.is_customer:
        subscriptions = page.read_models().subscriptions(caller.organization_id, None, None, 20, 0)
        orders = page.read_models().orders(caller.organization_id, None, 10, 0)
    return page.render(
        "home.html",
        title="Home",
        a=attention,
        money=money,
        org=org,
        org_names=names,
        subscriptions=subscriptions,
        orders=orders,
        month=f"{today:%B %Y}",
        can_order=page.may("orders.write"),
        can_create_org=page.may("organizations.write") and not caller.is_customer,
        can_reports=page.may("reports.read"),
        can_invoices=page.may("invoices.read"),
    )
