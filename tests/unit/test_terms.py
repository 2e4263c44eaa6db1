"""Terms and billing periods: calendar arithmetic."""

from datetime import UTC, datetime

import pytest

from csp.aggregates.errors import InvalidInput
from csp.aggregates.terms import add_months, billing_boundaries, check_cycle_allowed, next_billing_boundary, term_end


def dt(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def test_a_month_after_the_31st_clamps_to_the_months_last_day_and_keeps_the_anchor():
    start = dt(2026, 1, 31, 9)
    assert add_months(start, 1) == dt(2026, 2, 28, 9)
    assert add_months(start, 2) == dt(2026, 3, 31, 9)
    assert add_months(dt(2028, 1, 31), 1) == dt(2028, 2, 29)


def test_an_annual_term_ends_a_year_later():
    assert term_end(dt(2026, 11, 24, 10), "annual") == dt(2027, 11, 24, 10)
    assert term_end(dt(2026, 11, 24, 10), "monthly") == dt(2026, 12, 24, 10)


def test_monthly_billing_of_an_annual_term_has_twelve_periods():
    start = dt(2026, 1, 31)
    b = billing_boundaries(start, term_end(start, "annual"), "monthly", "annual")
    assert len(b) == 13
    assert b[1] == dt(2026, 2, 28)
    assert b[2] == dt(2026, 3, 31)


def test_yearly_billing_has_one_period_per_term():
    start = dt(2026, 3, 1)
    assert billing_boundaries(start, term_end(start, "annual"), "yearly", "annual") == [start, dt(2027, 3, 1)]


def test_the_next_boundary_is_strictly_after_now():
    start = dt(2026, 3, 1)
    end = term_end(start, "annual")
    assert next_billing_boundary(start, end, "monthly", "annual", dt(2026, 3, 1)) == dt(2026, 4, 1)
    assert next_billing_boundary(start, end, "monthly", "annual", dt(2026, 3, 15)) == dt(2026, 4, 1)
    assert next_billing_boundary(start, end, "yearly", "annual", dt(2026, 3, 15)) == end


def test_a_monthly_term_cannot_be_billed_yearly():
    with pytest.raises(InvalidInput):
        check_cycle_allowed("monthly", "yearly")
    check_cycle_allowed("annual", "yearly")
