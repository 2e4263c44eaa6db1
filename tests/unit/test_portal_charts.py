"""The portal's SVG charts and value formats."""

from __future__ import annotations

from decimal import Decimal
from xml.etree import ElementTree

from csp.api.pages import format as fmt
from csp.api.pages.charts import bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_a_bar_chart_is_valid_svg_with_bars_scaled_to_the_largest_value():
    svg = bar_chart("Licences", ["Contoso <SRL>", "Fabrikam"], [("Purchased", [Decimal(2), 4]), ("Assigned", [1, 0])])
    root = ElementTree.fromstring(svg)
    assert root.find(f"{SVG}title").text == "Licences"
    assert "Contoso <SRL>: Purchased 2, Assigned 1" in root.find(f"{SVG}desc").text
    bars = [float(r.get("width")) for r in root.findall(f"{SVG}rect") if float(r.get("height")) > 12]
    assert bars == [210.0, 105.0, 420.0, 1.0]


def test_an_empty_chart_says_so():
    root = ElementTree.fromstring(bar_chart("Nothing", [], [("Amount", [])]))
    assert "No data" in "".join(root.itertext())


def test_values_read_as_on_the_manuals_screens():
    assert fmt.money(Decimal("15.5")) == "15.50"
    assert fmt.money(None) == ""
    assert fmt.date("2020-05-05T10:00:00+00:00") == "05.05.2020"
    assert fmt.left("2020-06-04T00:00:00+00:00") == "4-June-2020"
    assert fmt.label("provision_finished") == "Provision finished"
    assert fmt.label("microsoft_personal") == "Personal email (Live ID)"
    assert fmt.actor("system:provisioning") == "CSP Platform"
