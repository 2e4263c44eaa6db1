"""Pricing: markup on the default 5 %, target price, margin, half-up cents, pro-rata."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from csp.aggregates.errors import InvalidInput
from csp.aggregates.pricing import (
    as_decimal,
    customer_price,
    days_between,
    margin,
    markup_for_target,
    money,
    prorate,
    quote,
)

D = Decimal


def test_the_manuals_vector_plus_five_percent_gives_15_58_and_a_margin_of_1_42():
    # given the manual's order screen: P = 14.16, ERP = 16.87, extra markup 5 %
    q = quote(D("14.16"), D("16.87"), 1, markup_percent=D(5))
    # then 10 % in all
    assert q.customer_price == D("15.58")
    assert q.margin == D("1.42")
    assert q.erp_price == D("16.87")
    assert q.total == D("15.58")


def test_the_default_markup_alone_is_five_percent():
    assert customer_price(D("14.16")) == D("14.87")  # 14.868 → 14.87


def test_a_negative_extra_markup_subtracts_from_the_default():
    assert customer_price(D("100.00"), D(-5)) == D("100.00")
    assert customer_price(D("100.00"), D(-10)) == D("95.00")


def test_the_default_markup_is_adjustable():
    assert customer_price(D("14.16"), D(0), default_markup_percent=D(20)) == D("16.99")


def test_cents_round_half_up():
    assert money(D("1.005")) == D("1.01")
    assert money(D("1.0049")) == D("1.00")
    assert customer_price(D("0.10"), D(0), default_markup_percent=D(5)) == D("0.11")  # 0.105 → 0.11


def test_a_target_price_gives_back_the_markup_and_is_kept_exactly():
    q = quote(D("14.16"), D("16.87"), 3, target_price=D("15.58"))
    assert q.customer_price == D("15.58")
    assert q.markup_percent == markup_for_target(D("14.16"), D("15.58"))
    assert q.markup_percent == D("5.0282")
    assert q.total == D("46.74")
    assert q.margin_total == D("4.26")


def test_markup_and_target_together_are_refused():
    with pytest.raises(InvalidInput) as e:
        quote(D("10"), None, 1, markup_percent=D(1), target_price=D(11))
    assert e.value.field == "target_price"


def test_a_total_markup_below_minus_100_percent_is_refused():
    with pytest.raises(InvalidInput) as e:
        customer_price(D("10"), D(-106))
    assert e.value.field == "markup_percent"


def test_money_is_never_a_float():
    with pytest.raises(InvalidInput):
        as_decimal(14.16)  # type: ignore[arg-type]
    assert as_decimal("14.16") == D("14.16")


def test_pro_rata_by_day_with_exact_cents():
    # 10 seats at 14.16 for 12 of 30 days
    assert prorate(D("141.60"), 12, 30) == D("56.64")
    # a full period is the full amount; nothing for zero days
    assert prorate(D("141.60"), 30, 30) == D("141.60")
    assert prorate(D("141.60"), 0, 30) == D("0.00")
    assert prorate(D("15.58"), 7, 31) == D("3.52")  # 3.5180… → 3.52


def test_days_are_counted_on_utc_calendar_dates():
    a = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    b = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)
    assert days_between(a, b) == 1
    assert days_between(b, a) == 0


@given(
    partner=st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2),
    extra=st.decimals(min_value=D("-50"), max_value=D("200"), places=2),
)
def test_margin_is_always_customer_minus_partner_price(partner: Decimal, extra: Decimal):
    q = quote(partner, None, 1, markup_percent=extra)
    assert q.margin == margin(q.customer_price, partner)
    assert q.customer_price == q.customer_price.quantize(D("0.01"))
    # the price is within half a cent of the exact markup
    exact = partner * (100 + 5 + extra) / 100
    assert abs(q.customer_price - exact) <= D("0.005")
