"""Currencies (issue 18 item 4): the distributor's rates, converting per line, the rate's
fallback and its absence, invoices in the reseller's and the customer's currency, money
written per locale."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from csp.aggregates.currency import ExchangeRates, UnknownCurrency, check_rate, convert
from csp.aggregates.customer_invoice import CreditRequest, customer_invoice_id_for
from csp.aggregates.errors import InvalidInput
from csp.aggregates.invoice import Invoice, InvoiceLine
from csp.aggregates.tax import TaxRate
from csp.api.documents import _money as _pdf_money
from csp.api.pages import format as fmt
from csp.application.exchange_rates import parse_rates_csv
from csp.clock import SettableClock
from csp.mail.customer_invoices import customer_invoice_message
from csp.projections.reports_consumption import invoice_shares
from tests.fixtures.customer_billing import CUSTOMER_JANUARY, RESELLER_JANUARY, run_a_month
from tests.support import ACTOR, World, make_world, memory_app

D = Decimal


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def rates(*rows: tuple[str, str, str]) -> ExchangeRates:
    table = ExchangeRates.open(actor=ACTOR, at=at(1, 1))
    for month, currency, rate in rows:
        table.set_rate(month, currency, rate, "operator", ACTOR, at(1, 1))
    return table


# --- rates --------------------------------------------------------------------------------


def test_a_month_without_its_rate_uses_the_latest_earlier_one_and_none_before_any():
    table = rates(("2026-09", "RON", "4.97"), ("2026-11", "RON", "4.9750"), ("2026-10", "USD", "1.08"))
    nov = table.rate_for("RON", "2026-11")
    assert nov is not None
    assert (nov.rate, nov.month, nov.fallback) == (D("4.975"), "2026-11", False)
    jan = table.rate_for("RON", "2027-01")  # none set for it: November's, and it says so
    assert jan is not None
    assert (jan.rate, jan.month, jan.for_month, jan.fallback) == (
        D("4.975"),
        "2026-11",
        "2027-01",
        True,
    )
    assert table.rate_for("RON", "2026-08") is None  # nothing earlier: never guessed
    assert table.rate_for("GBP", "2026-11") is None
    assert table.rate_for("EUR", "2026-11") is None  # the catalog's own currency
    assert [(r.currency, r.month) for r in table.table("2026-12")] == [("RON", "2026-11"), ("USD", "2026-10")]


def test_setting_the_same_rate_again_records_nothing_and_a_new_one_replaces_it():
    table = rates(("2026-11", "RON", "4.975"))
    assert not table.set_rate("2026-11", "ron", "4.975000", "operator", ACTOR, at(1, 2))
    assert table.set_rate("2026-11", "RON", "4.98", "import", ACTOR, at(1, 2))
    assert table.rates["RON"]["2026-11"] == D("4.98")


@pytest.mark.parametrize(
    ("month", "currency", "rate", "field", "code"),
    [
        ("2026-11", "RON", "0", "rate", "invalid_input"),
        ("2026-11", "RON", "-1", "rate", "invalid_input"),
        ("2026-11", "RON", "4.1234567", "rate", "invalid_input"),  # 7 decimals
        ("2026-11", "RON", "abc", "rate", "invalid_input"),
        ("2026-11", "RON", "NaN", "rate", "invalid_input"),
        ("2026-13", "RON", "4.9", "month", "invalid_input"),
        ("2026-11", "ZZZ", "4.9", "currency", "unknown_currency"),
        ("2026-11", "EURO", "4.9", "currency", "unknown_currency"),
        ("2026-11", "EUR", "1", "currency", "invalid_input"),  # the base currency has no rate
    ],
)
def test_a_bad_rate_is_refused_with_its_field(month: str, currency: str, rate: str, field: str, code: str):
    with pytest.raises(InvalidInput) as e:
        rates().set_rate(month, currency, rate, "operator", ACTOR, at(1, 1))
    assert (e.value.field, e.value.code) == (field, code)


def test_six_decimals_are_kept_as_given():
    assert check_rate("4.123456") == D("4.123456")
    assert check_rate(D("4.9750")) == D("4.975000")


def test_an_import_file_is_checked_row_by_row_before_anything_is_set():
    rows = parse_rates_csv("month,currency,rate\n2026-11,ron,4.9750\n\n2026-11,USD,1.085\n")
    assert [(r.month, r.currency, r.rate) for r in rows] == [
        ("2026-11", "RON", "4.975000"),
        ("2026-11", "USD", "1.085000"),
    ]
    with pytest.raises(UnknownCurrency) as e:
        parse_rates_csv("month,currency,rate\n2026-11,RON,4.9750\n2026-11,XYZ,2\n")
    assert e.value.field == "row 3: currency"
    with pytest.raises(InvalidInput) as missing:
        parse_rates_csv("month,rate\n2026-11,4.9\n")
    assert missing.value.field == "file"


# --- converting -----------------------------------------------------------------------------


def test_conversion_rounds_half_up_to_the_currencys_minor_unit():
    assert convert(D("14.16"), D("4.975"), "RON") == D("70.45")  # 70.446
    assert convert(D("0.01"), D("1.5"), "USD") == D("0.02")  # 0.015, half up
    assert convert(D("-10.96"), D("4.975"), "RON") == D("-54.53")  # −54.526: away from zero
    assert convert(D("14.16"), D("161.5"), "JPY") == D("2287")  # no minor unit: 2286.84
    assert convert(D("14.16"), D("0.4"), "BHD") == D("5.664")  # three decimals


def _line(n: int, amount: str) -> InvoiceLine:
    return InvoiceLine(n, uuid4(), uuid4(), "x", D(1), D(amount), 31, D(amount), ())


def test_an_invoice_is_converted_per_line_and_its_total_is_the_sum_of_its_lines():
    lines = tuple(_line(n, "0.01") for n in (1, 2, 3))
    rate = rates(("2026-11", "USD", "1.5")).rate_for("USD", "2026-11")
    inv = Invoice.issue(uuid4(), "2026-11", "INV-1", lines, ACTOR, at(12, 1), rate=rate)
    assert [(x.unit_price, x.amount) for x in inv.lines] == [(D("0.02"), D("0.02"))] * 3  # 0.015 each
    assert inv.total == D("0.06")  # not 0.03 × 1.5 = 0.045 → 0.05
    assert (inv.currency, inv.exchange_rate, inv.exchange_rate_month) == ("USD", D("1.5"), "2026-11")
    plain = Invoice.issue(uuid4(), "2026-11", "INV-1", lines, ACTOR, at(12, 1))
    assert (plain.currency, plain.exchange_rate, plain.total) == ("EUR", None, D("0.03"))


def test_a_resellers_invoice_in_jpy_or_kwd_has_its_currencys_decimals_on_every_line():
    lines = (_line(1, "14.16"), _line(2, "-10.96"))
    table = rates(("2026-11", "JPY", "161.5"), ("2026-11", "KWD", "0.3355"))
    jpy = Invoice.issue(uuid4(), "2026-11", "INV-1", lines, ACTOR, at(12, 1), rate=table.rate_for("JPY", "2026-11"))
    assert [str(x.amount) for x in jpy.lines] == ["2287", "-1770"]  # 2286.84, −1770.04
    assert str(jpy.total) == "517"
    kwd = Invoice.issue(uuid4(), "2026-11", "INV-1", lines, ACTOR, at(12, 1), rate=table.rate_for("KWD", "2026-11"))
    assert [str(x.amount) for x in kwd.lines] == ["4.751", "-3.677"]  # 4.75068, −3.67708
    assert str(kwd.total) == "1.074"


def test_reconciliation_rows_share_their_converted_invoice_line_to_the_minor_unit():
    # three days of 0.01 EUR on one line at 1.5: the invoice converts the line's 0.03 → 0.05
    # (0.045), while each row on its own would be 0.02 (0.015) and sum to 0.06
    sub, ent = uuid4(), uuid4()
    rows = [
        {"day": f"2026-11-0{d}", "subscription_id": sub, "entitlement_id": ent, "meter": "m", "partner_cost": D("0.01")}
        for d in (3, 1, 2)
    ]
    other = {"day": "2026-11-01", "subscription_id": sub, "entitlement_id": ent, "meter": "n", "partner_cost": D("1")}
    rate = rates(("2026-11", "USD", "1.5")).rate_for("USD", "2026-11")
    shares = invoice_shares([*rows, other], rate)
    assert sum(shares[:3]) == convert(D("0.03"), D("1.5"), "USD") == D("0.05")
    assert shares[3] == D("1.50")  # a line of its own
    assert all(abs(x - D("0.02")) <= D("0.01") for x in shares[:3])
    assert invoice_shares(rows, None) == [D("0.01")] * 3  # in EUR: the partner cost itself


# --- the billing run ---------------------------------------------------------------------------


@pytest.fixture
def world() -> World:
    clock = SettableClock(at(1, 5))
    w = make_world(memory_app(clock), clock)
    w.app.change_tax_settings(w.reseller.id, (TaxRate("RO", D("19")),), True, (), False, ACTOR)
    w.app.change_settings(w.reseller.id, w.reseller.reseller_settings().replace(currency="RON"), actor=ACTOR)
    w.app.change_organization(w.customer.id, ACTOR, currency="USD")
    return w


def test_the_month_is_invoiced_in_the_resellers_currency_and_the_customers_in_its_own(world: World):
    world.app.set_exchange_rates(parse_rates_csv("month,currency,rate\n2026-01,RON,4.9750\n2025-12,USD,1.085\n"), ACTOR)
    run_a_month(world)
    world.clock.set(at(2, 1, 0))
    (invoice,) = world.app.run_billing("2026-01")
    assert (invoice.currency, invoice.exchange_rate, invoice.exchange_rate_month) == ("RON", D("4.975"), "2026-01")
    # each line of the EUR invoice (RESELLER_JANUARY) × 4.9750, rounded on its own
    ron = {D("42.48"): D("211.34"), D("14.16"): D("70.45"), D("28.32"): D("140.89")}
    ron |= {D("35.63"): D("177.26"), D("-10.96"): D("-54.53"), D("7.31"): D("36.37")}
    expected = sorted((q, D("70.45"), days, ron[eur]) for q, _, days, eur in RESELLER_JANUARY)
    assert sorted((x.quantity, x.unit_price, x.days, x.amount) for x in invoice.lines) == expected
    assert invoice.total == D("581.78") == sum(x.amount for x in invoice.lines)
    # Contoso in USD at December's rate (none for January): per line, then taxed per line
    draft = world.app.customer_invoice(customer_invoice_id_for(world.reseller.id, world.customer.id, "2026-01"))
    assert (draft.currency, draft.exchange_rate, draft.exchange_rate_month) == ("USD", D("1.085"), "2025-12")
    usd = {D("44.61"): D("48.40"), D("15.58"): D("16.90"), D("31.16"): D("33.81")}
    usd |= {D("39.20"): D("42.53"), D("-12.06"): D("-13.09"), D("8.04"): D("8.72")}
    assert sorted(x.net for x in draft.lines) == sorted(usd[line[3]] for line in CUSTOMER_JANUARY)
    assert (draft.net, draft.tax_total, draft.gross) == (D("137.27"), D("26.08"), D("163.35"))  # 126.53 × 1.085 ≠


def test_without_any_rate_the_month_is_invoiced_in_eur(world: World):
    run_a_month(world)
    world.clock.set(at(2, 1, 0))
    (invoice,) = world.app.run_billing("2026-01")
    assert (invoice.currency, invoice.exchange_rate, invoice.total) == ("EUR", None, D("116.94"))
    draft = world.app.customer_invoice(customer_invoice_id_for(world.reseller.id, world.customer.id, "2026-01"))
    assert (draft.currency, draft.exchange_rate, draft.gross) == ("EUR", None, D("150.58"))


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


@pytest.mark.parametrize(
    ("currency", "rate", "places", "net", "tax", "gross"),
    [  # Contoso's January (126.53 EUR net): per line converted, taxed at 19 % per line, summed
        ("JPY", "161.5", 0, D("20434"), D("3883"), D("24317")),
        ("KWD", "0.3355", 3, D("42.451"), D("8.065"), D("50.516")),
        ("EUR", None, 2, D("126.53"), D("24.05"), D("150.58")),  # unchanged
    ],
)
def test_a_customer_invoice_rounds_each_line_and_its_tax_to_the_currencys_minor_unit(
    world: World, currency: str, rate: str | None, places: int, net: D, tax: D, gross: D
):
    # given Contoso invoiced in JPY (0 decimals), KWD (3 decimals) or EUR
    world.app.change_organization(world.customer.id, ACTOR, currency=currency)
    if rate is not None:
        world.app.set_exchange_rate("2026-01", currency, rate, ACTOR)
    run_a_month(world)
    world.clock.set(at(2, 1, 0))
    world.app.run_billing("2026-01")
    draft_id = customer_invoice_id_for(world.reseller.id, world.customer.id, "2026-01")
    # when it is issued, paid, and partly credited
    invoice = world.app.issue_customer_invoice(draft_id, ACTOR)
    # then every amount has the currency's decimals, tax per line, totals the sums of the lines
    assert invoice.currency == currency
    expected_nets = sorted(convert(line[3], D(rate), currency) if rate else line[3] for line in CUSTOMER_JANUARY)
    assert sorted(x.net for x in invoice.lines) == expected_nets
    for x in invoice.lines:
        assert {_decimals(x.net), _decimals(x.tax), _decimals(x.gross)} == {places}
        assert x.tax == (x.net * D(19) / 100).quantize(D(1).scaleb(-places), rounding="ROUND_HALF_UP")
        assert x.gross == x.net + x.tax
    assert (invoice.net, invoice.tax_total, invoice.gross) == (net, tax, gross)
    assert {_decimals(invoice.net), _decimals(invoice.tax_total), _decimals(invoice.gross)} == {places}
    note = world.app.credit_customer_invoice(
        invoice.id, (CreditRequest("goodwill", D(3), D("1.2345")),), "goodwill", ACTOR
    )
    (line,) = note.lines
    assert _decimals(line.unit_price or D(0)) == _decimals(line.net) == _decimals(line.tax) == places
    assert (note.net, note.tax, note.gross) == (line.net, line.tax, line.gross)
    assert note.gross == note.net + note.tax < 0
    paid = world.app.pay_customer_invoice(invoice.id, ACTOR, amount=gross)
    assert paid.paid_amount == gross


# --- formatting -------------------------------------------------------------------------------


def test_money_is_written_per_locale_with_babel():
    assert fmt.amount(D("1234.5"), "EUR") == "€1,234.50"  # en_IE
    assert fmt.amount(D("1234.5"), "USD") == "$1,234.50"  # en_US
    assert fmt.amount(D("1234.5"), "GBP") == "£1,234.50"  # en_GB
    assert fmt.amount(D("1234.5"), "RON") == "1.234,50\xa0RON"  # ro_RO
    assert fmt.amount(D("1234.5"), "EUR", locale="de_DE") == "1.234,50\xa0€"  # an account's own locale
    assert fmt.amount(None, "EUR") == ""
    assert fmt.rate(D("4.975000")) == "4.975"
    # the PDF's plain numbers keep the currency's own decimals
    assert [_pdf_money(D(v), c) for v, c in (("24317", "JPY"), ("50.516", "KWD"), ("1234.5", "EUR"))] == [
        "24,317",
        "50.516",
        "1,234.50",
    ]
    mails = [
        customer_invoice_message("a@b.c", "R", "C", "INV-1", "2026-01", D(v), c, "", "l", at(2, 1)).text
        for v, c in (("24317", "JPY"), ("50.516", "KWD"), ("150.58", "EUR"))
    ]
    assert "Total due: 24,317 JPY" in mails[0]
    assert "Total due: 50.516 KWD" in mails[1]
    assert "Total due: 150.58 EUR" in mails[2]


# --- events stored before currencies ------------------------------------------------------------


def test_an_invoice_issued_before_currencies_reads_as_eur_without_a_rate():
    app = memory_app(SettableClock(at(12, 1)))
    inv = Invoice.issue(uuid4(), "2026-11", "INV-1", (_line(1, "1.00"),), ACTOR, at(12, 1))
    stored = app.mapper.to_stored_event(inv.collect_events()[0])
    state = json.loads(stored.state)
    for key in ("exchange_rate", "exchange_rate_month", "class_version"):  # as version 1 wrote it
        state.pop(key, None)
    old = type(stored)(stored.originator_id, stored.originator_version, stored.topic, json.dumps(state).encode())
    read = app.mapper.to_domain_event(old).mutate(None)
    assert isinstance(read, Invoice)
    assert (read.currency, read.exchange_rate, read.exchange_rate_month, read.total) == ("EUR", None, None, D("1.00"))
