"""Invoices (list, detail, CSV) and Reports (tables, SVG charts, CSV), read from the same
read models and queries as the JSON API (the CSV links are the API's own)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.errors import CspError, InvalidInput
from csp.api import access
from csp.api.queries import invoice_of
from csp.api.readside import read_side
from csp.portal.charts import bar_chart
from csp.portal.web import Page, page_for

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]

REPORTS = {
    "customers": "Customers",
    "subscriptions": "Subscriptions",
    "licenses": "Licences",
    "consumption": "Azure consumption",
}
# The columns each report's table shows (the CSV has them all).
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "customers": [
        ("name", "Customer"),
        ("country", "Country"),
        ("industry", "Industry"),
        ("subscriptions", "Subscriptions"),
        ("licences", "Licences"),
        ("assigned", "Assigned"),
        ("monthly_partner_cost", "Monthly partner cost"),
        ("monthly_customer_price", "Monthly customer price"),
    ],
    "subscriptions": [
        ("organization_name", "Customer"),
        ("offer_name", "Subscription"),
        ("tenant_domain", "Domain"),
        ("status", "Status"),
        ("billing_cycle", "Billing"),
        ("starts_at", "Start"),
        ("ends_at", "End"),
        ("purchased", "Purchased"),
        ("assigned", "Assigned"),
        ("monthly_partner_cost", "Monthly partner cost"),
        ("monthly_customer_price", "Monthly customer price"),
    ],
    "licenses": [
        ("organization_name", "Customer"),
        ("product_group", "Product"),
        ("offer_name", "Offer"),
        ("subscriptions", "Subscriptions"),
        ("purchased", "Purchased"),
        ("assigned", "Assigned"),
        ("unassigned", "Unassigned"),
    ],
    "consumption": [
        ("month", "Month"),
        ("organization_name", "Customer"),
        ("offer_name", "Subscription"),
        ("tenant_domain", "Domain"),
        ("meter", "Meter"),
        ("days", "Days"),
        ("quantity", "Quantity"),
        ("amount", "Amount"),
    ],
}
MONEY = {"monthly_partner_cost", "monthly_customer_price", "amount", "unit_partner_price", "unit_customer_price"}
DATES = {"starts_at", "ends_at", "created_at"}


@router.get("/invoices")
def invoices(page: PageDep) -> Response:
    caller = page.allow("invoices.read")
    paging = page.paging()
    found = read_side(page.system).invoices(caller.reseller_id, paging.limit, paging.offset)
    return page.render(
        "invoices.html", title="Invoices", invoices=found.items, total=found.total, paging=paging.of(found.total)
    )


@router.get("/invoices/{invoice_id}")
def invoice(invoice_id: UUID, page: PageDep) -> Response:
    caller = page.allow("invoices.read")
    found = invoice_of(page.system, caller, invoice_id)
    names = {r["id"]: r["name"] for r in read_side(page.system).organizations(caller.reseller_id, None, 200, 0).items}
    return page.render("invoice.html", title=f"Invoice {found['number']}", invoice=found, names=names)


def charts(name: str, rows: list[dict[str, Any]]) -> list[str]:
    """The report's charts, as SVG."""
    if name == "customers":
        return [
            bar_chart(
                "Monthly value per customer (EUR)",
                [r["name"] for r in rows],
                [
                    ("Customer price", [r["monthly_customer_price"] for r in rows]),
                    ("Partner cost", [r["monthly_partner_cost"] for r in rows]),
                ],
                ident="chart-customers",
            )
        ]
    if name == "licenses":
        return [
            bar_chart(
                "Licences purchased and assigned, per customer and offer",
                [f"{r['organization_name']} · {r['offer_name']}" for r in rows],
                [("Purchased", [r["purchased"] for r in rows]), ("Assigned", [r["assigned"] for r in rows])],
                ident="chart-licences",
            )
        ]
    if name == "subscriptions":
        by_group: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for r in rows:
            if r["status"] in ("active", "suspended") and r["monthly_customer_price"] is not None:
                g = by_group[r["product_group"] or "Other"]
                g[0] += r["monthly_customer_price"]
                g[1] += r["monthly_partner_cost"]
        labels = sorted(by_group)
        return [
            bar_chart(
                "Monthly value of live subscriptions per product (EUR)",
                labels,
                [
                    ("Customer price", [by_group[k][0] for k in labels]),
                    ("Partner cost", [by_group[k][1] for k in labels]),
                ],
                ident="chart-subscriptions",
            )
        ]
    by_month: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        by_month[r["month"]] += r["amount"]
    labels = sorted(by_month)
    return [
        bar_chart(
            "Azure consumption per month (EUR)",
            labels,
            [("Amount", [by_month[k] for k in labels])],
            ident="chart-consumption",
        )
    ]


def _date(page: Page, name: str) -> date | None:
    raw = page.request.query_params.get(name, "")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        page.errors[name] = "must be a date, e.g. 2026-05-01"
        return None


@router.get("/reports")
def reports(page: PageDep) -> Response:
    caller = page.allow("reports.read")
    name = page.request.query_params.get("name") or "customers"
    if name not in REPORTS:
        name = "customers"
    org_raw = page.request.query_params.get("organization_id") or ""
    organization_id = None
    if org_raw:
        try:
            organization_id = access.organization(page.app, caller, UUID(org_raw)).id
        except (ValueError, CspError):
            page.errors["organization_id"] = "is not one of your organizations"
    date_from, date_to = _date(page, "from"), _date(page, "to")
    rows: list[dict[str, Any]] = []
    read = read_side(page.system)
    try:
        rows = list(read.report(name, caller.reseller_id, organization_id, date_from, date_to).items)
    except InvalidInput as e:
        page.fail(e)
    query = "&".join(
        f"{k}={v}"
        for k, v in (("organization_id", organization_id), ("from", date_from), ("to", date_to))
        if v is not None
    )
    organizations = read.organizations(caller.reseller_id, None, 200, 0).items
    return page.render(
        "reports.html",
        title=f"Reports · {REPORTS[name]}",
        name=name,
        reports=REPORTS,
        rows=rows,
        columns=COLUMNS[name],
        money_columns=MONEY,
        date_columns=DATES,
        charts=charts(name, rows),
        csv_url=f"/api/v1/reports/{name}?format=csv" + (f"&{query}" if query else ""),
        organizations=[(str(o["id"]), o["name"]) for o in organizations],
        organization_id=str(organization_id or ""),
        date_from=date_from.isoformat() if date_from else "",
        date_to=date_to.isoformat() if date_to else "",
    )
