"""Terms, billing cycles and the calendar arithmetic of commitment periods.

Term P1M (``monthly``) or P1Y (``annual``); billing cycle ``monthly`` or ``yearly``.
A monthly billing period runs from a monthly anniversary of the term start to the next;
a yearly one runs to the term end. Anniversaries keep the start's day of month, clamped
to the month's last day (31 Jan → 28/29 Feb → 31 Mar). An add-on has no calendar of its
own: it is billed on its base's (``BillingDates``).
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from csp.aggregates.base import Value
from csp.aggregates.errors import InvalidInput

Term = Literal["monthly", "annual"]
BillingCycle = Literal["monthly", "yearly"]

TERMS: tuple[Term, ...] = get_args(Term)
BILLING_CYCLES: tuple[BillingCycle, ...] = get_args(BillingCycle)
TERM_MONTHS: dict[Term, int] = {"monthly": 1, "annual": 12}
TERM_ISO: dict[Term, str] = {"monthly": "P1M", "annual": "P1Y"}
CANCELLATION_WINDOW = timedelta(hours=168)
TRIAL_DAYS = 30
TRIAL_QUANTITY = 25


def parse_term(value: str, field: str = "term") -> Term:
    iso = {"P1M": "monthly", "P1Y": "annual"}
    value = iso.get(value, value)
    if value not in TERMS:
        raise InvalidInput(field, f"must be one of {', '.join(TERMS)}", value=value)
    return value


def parse_billing_cycle(value: str, field: str = "billing_cycle") -> BillingCycle:
    if value not in BILLING_CYCLES:
        raise InvalidInput(field, f"must be one of {', '.join(BILLING_CYCLES)}", value=value)
    return value


def term_rank(term: Term) -> int:
    return TERM_MONTHS[term]


@functools.lru_cache(maxsize=65536)  # pure, and called with the same few dates all through a billing run
def add_months(start: datetime, months: int, anchor_day: int | None = None) -> datetime:
    """``start`` plus whole months, keeping the anchor day (default: start's day)."""
    day = anchor_day or start.day
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return start.replace(year=year, month=month, day=min(day, last))


def term_end(starts_at: datetime, term: Term) -> datetime:
    return add_months(starts_at, TERM_MONTHS[term])


def billing_period_months(cycle: BillingCycle, term: Term) -> int:
    """Months in one billing period: a yearly cycle bills the whole annual term."""
    if cycle == "yearly":
        return TERM_MONTHS[term]
    return 1


def billing_boundaries(starts_at: datetime, ends_at: datetime, cycle: BillingCycle, term: Term) -> list[datetime]:
    """Every billing-period boundary of a term, its start and end included."""
    step = billing_period_months(cycle, term)
    out = [starts_at]
    k = 1
    while True:
        b = add_months(starts_at, step * k, anchor_day=starts_at.day)
        if b >= ends_at:
            break
        out.append(b)
        k += 1
    out.append(ends_at)
    return out


def next_billing_boundary(
    starts_at: datetime, ends_at: datetime, cycle: BillingCycle, term: Term, now: datetime
) -> datetime:
    """The first billing-period boundary strictly after ``now`` (the term end at most)."""
    for b in billing_boundaries(starts_at, ends_at, cycle, term):
        if b > now:
            return b
    return ends_at


@dataclass(frozen=True)
class BillingDates(Value):
    """The base's billing calendar an add-on is billed on, as it was when the add-on started.

    ``anchor`` is where the base's monthly billing dates count from (its term start: the
    same day of every month); ``period_starts_at``–``period_ends_at`` is the base's billing
    period the add-on starts in, whose first charge covers the days from its start to
    ``period_ends_at``, pro rata by day of that period.
    """

    anchor: datetime
    period_starts_at: datetime
    period_ends_at: datetime

    def check_start(self, at: datetime, ends_at: datetime) -> None:
        """Raise unless an add-on starting at ``at`` and ending at ``ends_at`` fits these dates."""
        if not self.anchor <= self.period_starts_at <= at < self.period_ends_at <= ends_at:
            raise InvalidInput(
                "billing_dates", "the add-on must start inside the base's billing period, within the term"
            )


def check_cycle_allowed(term: Term, cycle: BillingCycle, field: str = "billing_cycle") -> None:
    """A monthly term can only be billed monthly."""
    if term == "monthly" and cycle == "yearly":
        raise InvalidInput(field, "a monthly term can only be billed monthly")
