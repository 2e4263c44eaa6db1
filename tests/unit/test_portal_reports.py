"""The portal's Reports page without JavaScript: the evolution report (chart and table),
sorting by a column, choosing the columns, and the CSV export following that view."""

from __future__ import annotations

import csv
import html as htmllib
import io
import re
from decimal import Decimal
from uuid import UUID
from xml.etree import ElementTree

import pytest
from fastapi import FastAPI

from csp.api.pages.charts import month_chart
from csp.application import NewLineRequest
from tests.fixtures.api import Account
from tests.support import ACTOR, BUSINESS_PREMIUM
from tests.unit.test_portal_pages import Browser, log_in

SVG = "{http://www.w3.org/2000/svg}"


def _bought(account: Account, name: str, quantity: int) -> str:
    org = account.customer(name)["id"]
    tenant = account.ready_tenant(org)
    app = account.system.app
    order = app.create_order(UUID(org), actor=ACTOR)
    order = app.add_new_subscription_line(
        order.id,
        NewLineRequest(BUSINESS_PREMIUM, UUID(tenant["id"]), quantity, "monthly", "annual", Decimal(5)),
        actor=ACTOR,
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    account.provision(str(order.id))
    return org


def _ready(api_app: FastAPI, account: Account) -> Browser:
    _bought(account, "Contoso SRL", 10)
    _bought(account, "Fabrikam SA", 3)
    assert account.system.projector is not None
    account.system.projector.sync(5)
    return log_in(api_app, account.email)


def _table(page: str) -> tuple[list[str], list[list[str]]]:
    body = page[page.index("<table") : page.index("</table>")]
    heads = [htmllib.unescape(re.sub(r"<[^>]+>", "", h)).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", body)]
    rows = [
        [htmllib.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
        for r in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]
    return heads, [r for r in rows if r]


def test_the_evolution_report_shows_the_months_as_a_chart_and_a_table(api_app: FastAPI, account: Account):
    boss = _ready(api_app, account)
    page = boss.page("/reports?name=evolution")
    assert 'aria-current="page">Evolution<' in page
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 2
    licences = ElementTree.fromstring(svgs[0])
    assert licences.find(f"{SVG}title").text == "Licences billed per month"
    month = account.system.app.now().strftime("%Y-%m")
    # both customers bought today: 10 + 3 licences from today to the month's end
    desc = licences.find(f"{SVG}desc").text
    assert desc.startswith(f"{month}: Licences ")
    money = ElementTree.fromstring(svgs[1])
    assert "Customer price" in money.find(f"{SVG}desc").text
    heads, rows = _table(page)
    assert heads == ["Month", "Customer", "Product", "Licences", "Partner cost", "Customer price"]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (month, "Contoso SRL", "Microsoft 365"),
        (month, "Fabrikam SA", "Microsoft 365"),
    ]
    # the CSV export is the API's, with the same filters
    assert 'href="/api/v1/reports/evolution?format=csv"' in page
    # acting for one customer (the reports link carries it), every tab keeps it
    (org,) = re.findall(r'<option value="([0-9a-f-]{36})">Fabrikam SA<', page)
    page = boss.page(f"/reports?name=evolution&organization_id={org}")
    assert [r[1] for r in _table(page)[1]] == ["Fabrikam SA"]
    assert f'href="/reports?name=licenses&amp;organization_id={org}"' in page
    assert f'href="/api/v1/reports/evolution?format=csv&amp;organization_id={org}"' in page


def test_a_report_is_sorted_by_a_header_link_and_shows_the_chosen_columns(api_app: FastAPI, account: Account):
    boss = _ready(api_app, account)
    page = boss.page("/reports?name=licenses")
    # every header links to its sort, keeping the report
    assert 'href="/reports?name=licenses&amp;sort=purchased&amp;dir=asc"' in page
    page = boss.page("/reports?name=licenses&sort=purchased&dir=asc")
    heads, rows = _table(page)
    assert heads[heads.index("Purchased ▲")] == "Purchased ▲"
    assert [r[0] for r in rows] == ["Fabrikam SA", "Contoso SRL"]
    assert 'aria-sort="ascending"' in page
    # the same header again turns the order round
    assert 'href="/reports?name=licenses&amp;sort=purchased&amp;dir=desc"' in page
    _, rows = _table(boss.page("/reports?name=licenses&sort=purchased&dir=desc"))
    assert [r[0] for r in rows] == ["Contoso SRL", "Fabrikam SA"]

    # choose the columns (the form's checkboxes, or ?columns=a,b,c), in that order
    page = boss.page("/reports?name=licenses&columns=purchased&columns=organization_name&sort=organization_name")
    heads, rows = _table(page)
    assert heads == ["Purchased", "Customer ▲"]
    assert rows == [["10", "Contoso SRL"], ["3", "Fabrikam SA"]]
    assert re.search(r'<input type="checkbox" name="columns" value="purchased" checked>', page)
    assert re.search(r'<input type="checkbox" name="columns" value="offer_name">', page)
    # the sort links keep the chosen columns; the CSV follows the view
    assert "sort=purchased&amp;dir=asc" in page
    assert "columns=purchased%2Corganization_name" in page
    found = re.search(r'href="(/api/v1/reports/licenses\?format=csv[^"]*)"', page)
    assert found
    csv_url = htmllib.unescape(found.group(1))
    assert csv_url == (
        "/api/v1/reports/licenses?format=csv&columns=purchased%2Corganization_name&sort=organization_name&dir=asc"
    )
    r = account.boss.get(csv_url)
    assert r.status_code == 200
    assert list(csv.reader(io.StringIO(r.text))) == [
        ["purchased", "organization_name"],
        ["10", "Contoso SRL"],
        ["3", "Fabrikam SA"],
    ]
    same = boss.page("/reports?name=licenses&columns=purchased,organization_name&sort=organization_name")
    assert _table(same) == (heads, rows)


def test_an_unknown_column_is_refused_by_its_field(api_app: FastAPI, account: Account):
    boss = _ready(api_app, account)
    page = boss.page("/reports?name=evolution&columns=month,profit", status=422)
    assert 'id="columns-error"' in page
    assert "profit" in page
    page = boss.page("/reports?name=evolution&sort=profit", status=422)
    assert 'id="sort-error"' in page
    r = account.boss.get("/api/v1/reports/evolution?format=csv&columns=month,profit")
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "columns"
    r = account.boss.get("/api/v1/reports/evolution?sort=profit")
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "sort"
    # the JSON rows cut to the chosen columns
    ok = account.boss.ok("GET", "/reports/evolution?columns=month,licences&sort=licences&dir=desc")
    assert [list(i) for i in ok["items"]] == [["month", "licences"], ["month", "licences"]]
    assert [i["licences"] for i in ok["items"]] == sorted((i["licences"] for i in ok["items"]), reverse=True)


def test_a_month_chart_is_valid_svg_with_a_bar_per_series_and_month_on_a_round_axis():
    svg = month_chart(
        "Money <EUR>",
        ["2026-11", "2026-12"],
        [("Customer price", [Decimal("155.80"), Decimal("194.75")]), ("Partner cost", [141.6, 177])],
    )
    root = ElementTree.fromstring(svg)
    assert root.find(f"{SVG}title").text == "Money <EUR>"
    assert root.find(f"{SVG}desc").text == (
        "2026-11: Customer price 155.80, Partner cost 141.60; 2026-12: Customer price 194.75, Partner cost 177"
    )
    bars = [r for r in root.findall(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert [b.find(f"{SVG}title").text for b in bars] == [
        "2026-11 · Customer price: 155.80",
        "2026-11 · Partner cost: 141.60",
        "2026-12 · Customer price: 194.75",
        "2026-12 · Partner cost: 177",
    ]
    # the axis runs to 200 (the round top above 194.75): heights scale to it
    ticks = [t.text for t in root.findall(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert ticks == ["0", "50", "100", "150", "200"]
    heights = [float(b.get("height")) for b in bars]
    assert heights[2] / heights[0] == pytest.approx(194.75 / 155.80, rel=0.01)
    assert "No data" in "".join(ElementTree.fromstring(month_chart("Nothing", [], [("Licences", [])])).itertext())
