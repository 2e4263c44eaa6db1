"""Invoices (list, detail, CSV) and Reports (tables, SVG charts, CSV), read from the same
read models and queries as the JSON API (the CSV links are the API's own)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.responses import Response

from csp.aggregates.errors import CspError, InvalidInput
from csp.api import access
from csp.api.pages.charts import bar_chart, month_chart
from csp.api.pages.web import Page, page_for
from csp.api.queries import invoice_of
from csp.projections import REPORTS as REPORT_QUERIES
from csp.projections import report_columns

router = APIRouter()
PageDep = Annotated[Page, Depends(page_for)]

REPORTS = {
    "customers": "Customers",
    "subscriptions": "Subscriptions",
    "licenses": "Licences",
    "consumption": "Azure consumption",
    "evolution": "Evolution",
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
    "evolution": [
        ("month", "Month"),
        ("organization_name", "Customer"),
        ("product_group", "Product"),
        ("licences", "Licences"),
        ("partner_cost", "Partner cost"),
        ("customer_price", "Customer price"),
    ],
}
# A label for every column a report has (the table shows COLUMNS unless others are chosen;
# a report's own label in COLUMNS comes first).
LABELS: dict[str, str] = {
    "organization_id": "Customer id",
    "subscription_id": "Subscription id",
    "offer_id": "Offer id",
    "type": "Type",
    "term": "Term",
    "created_at": "Created",
    "ended_at": "Ended",
    "unit_partner_price": "Unit partner price",
    "unit_customer_price": "Unit customer price",
    **{key: text for cols in COLUMNS.values() for key, text in cols},
}
MONEY = {
    "monthly_partner_cost",
    "monthly_customer_price",
    "amount",
    "unit_partner_price",
    "unit_customer_price",
    "partner_cost",
    "customer_price",
}
NUMBERS = MONEY | {"purchased", "assigned", "unassigned", "licences", "subscriptions", "days", "quantity"}
DATES = {"starts_at", "ends_at", "created_at", "ended_at"}


@router.get("/invoices")
def invoices(page: PageDep) -> Response:
    caller = page.allow("invoices.read")
    paging = page.paging()
    found = page.read_models().invoices(caller.reseller_id, paging.limit, paging.offset)
    return page.render(
        "invoices.html", title="Invoices", invoices=found.items, total=found.total, paging=paging.of(found.total)
    )


@router.get("/invoices/{invoice_id}")
def invoice(invoice_id: UUID, page: PageDep) -> Response:
    caller = page.allow("invoices.read")
    found = invoice_of(page.read_models(), caller, invoice_id)
    names = {r["id"]: r["name"] for r in page.read_models().organizations(caller.reseller_id, None, 200, 0).items}
    return page.render("invoice.html", title=f"Invoice {found['number']}", invoice=found, names=names)


def _every_month(months: list[str]) -> list[str]:
    """From the first month to the last, the months without rows too (``YYYY-MM``)."""
    if not months:
        return []
    out, (y, m) = [], map(int, months[0].split("-"))
    while f"{y:04d}-{m:02d}" <= months[-1]:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


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
                money=True,
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
                money=True,
            )
        ]
    if name == "evolution":
        months: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
        for r in rows:
            m = months[r["month"]]
            m[0] += r["licences"]
            m[1] += r["customer_price"]
            m[2] += r["partner_cost"]
        labels = _every_month(sorted(months))
        return [
            month_chart(
                "Licences billed per month",
                labels,
                [("Licences", [months[k][0] for k in labels])],
                ident="chart-evolution-licences",
            ),
            month_chart(
                "Money per month (EUR)",
                labels,
                [("Customer price", [months[k][1] for k in labels]), ("Partner cost", [months[k][2] for k in labels])],
                ident="chart-evolution-money",
                money=True,
            ),
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
            money=True,
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


def _chosen_columns(page: Page) -> list[str]:
    """``?columns=a,b,c`` or the form's checkboxes (``columns=a&columns=b``), in order."""
    return [c.strip() for raw in page.request.query_params.getlist("columns") for c in raw.split(",") if c.strip()]


@router.get("/reports")
def reports(page: PageDep) -> Response:
    caller = page.allow("reports.read")
    params = page.request.query_params
    name = params.get("name") or "customers"
    if name not in REPORTS:
        name = "customers"
    org_raw = params.get("organization_id") or ""
    organization_id = None
    if org_raw:
        try:
            organization_id = access.organization(page.app, caller, UUID(org_raw)).id
        except (ValueError, CspError):
            page.errors["organization_id"] = "is not one of your organizations"
    date_from, date_to = _date(page, "from"), _date(page, "to")
    status = 200
    # the view: the chosen columns (in their order) and the sort column
    chosen = _chosen_columns(page)
    try:
        shown = list(report_columns(name, chosen)) if chosen else [k for k, _ in COLUMNS[name]]
    except InvalidInput as e:
        page.fail(e)
        status, chosen, shown = 422, [], [k for k, _ in COLUMNS[name]]
    sort = params.get("sort") or None
    direction = "desc" if params.get("dir") == "desc" else "asc"
    if sort is not None and sort not in REPORT_QUERIES[name][0]:
        page.errors["sort"] = f"Unknown column {sort}."
        status, sort = 422, None
    rows: list[dict[str, Any]] = []
    read = page.read_models()
    try:
        rows = list(
            read.report(name, caller.reseller_id, organization_id, date_from, date_to, sort, direction == "desc").items
        )
    except InvalidInput as e:
        page.fail(e)
    filters = [
        (k, str(v))
        for k, v in (("organization_id", organization_id), ("from", date_from), ("to", date_to))
        if v is not None
    ]
    view = filters + ([("columns", ",".join(chosen))] if chosen else [])
    sorted_by = [("sort", sort), ("dir", direction)] if sort else []

    def sort_url(key: str) -> str:
        flip = "desc" if key == sort and direction == "asc" else "asc"
        return "/reports?" + urlencode([("name", name), *view, ("sort", key), ("dir", flip)])

    organizations = read.organizations(caller.reseller_id, None, 200, 0).items
    labels = {**LABELS, **dict(COLUMNS[name])}  # this report's own words first
    return page.render(
        "reports.html",
        status_code=status,
        title=f"Reports · {REPORTS[name]}",
        name=name,
        reports=REPORTS,
        tab_urls={k: "/reports?" + urlencode([("name", k), *filters]) for k in REPORTS},
        rows=rows,
        columns=[(k, labels.get(k, k)) for k in shown],
        all_columns=[(k, labels.get(k, k)) for k in REPORT_QUERIES[name][0]],
        shown=set(shown),
        sort=sort or "",
        direction=direction,
        sort_urls={k: sort_url(k) for k in shown},
        money_columns=MONEY,
        number_columns=NUMBERS,
        date_columns=DATES,
        charts=charts(name, rows),
        csv_url=f"/api/v1/reports/{name}?" + urlencode([("format", "csv"), *view, *sorted_by]),
        organizations=[(str(o["id"]), o["name"]) for o in organizations],
        organization_id=str(organization_id or ""),
        date_from=date_from.isoformat() if date_from else "",
        date_to=date_to.isoformat() if date_to else "",
    )
