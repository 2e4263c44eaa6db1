"""Add-ons are billed on their base's dates and cycle (issue 20), on SQLite and PostgreSQL.

The two scenarios of the issue over HTTP with the test clock, the sagas running in
process (the vendor simulator creates the add-ons), checked on the invoices the
scheduler issues; and a property over random add-on dates: an add-on's charges over a
whole term are, line by line, price × seats × days held / days in the base's period,
half-up to the cent — in the stored ledger and in the billing run's own fold.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from csp.aggregates.billing import charges_until
from csp.bootstrap import System, web_app
from csp.clock import SettableClock
from tests.fixtures.api import AGREEMENT_JSON, Client, contoso, sign_up
from tests.fixtures.readside import ReadWorld, open_read_world, store_url_for
from tests.fixtures.sagas import settled
from tests.support import ACTOR, BUSINESS_BASIC, BUSINESS_PREMIUM, TEAMS_PHONE, World

pytestmark = pytest.mark.postgres

TEAMS_PHONE_PRICE = Decimal("6.30")  # annual term, a licence a month


def _set_clock(client: Client, at: datetime) -> None:
    client.ok("POST", "/test/clock", json={"now": at.isoformat()})


def _invoice(client: Client, period: str) -> dict[str, Any]:
    found = [i for i in client.ok("GET", "/invoices")["items"] if i["period"] == period]
    assert found, f"no invoice for {period}"
    return client.ok("GET", f"/invoices/{found[0]['id']}")  # type: ignore[no-any-return]


def test_the_issues_two_addons_are_billed_on_their_bases_dates_over_http(http_system: System):
    system = http_system
    boss = sign_up(web_app(system), system).boss
    # a fresh reseller, its customer and a tenant the vendor created
    _set_clock(boss, datetime(2028, 3, 6, 9, 0, tzinfo=UTC))
    customer = boss.ok("POST", "/organizations", 201, json=contoso())
    boss.ok("POST", f"/organizations/{customer['id']}/agreement", 201, json=AGREEMENT_JSON)
    tenant = boss.ok(
        "POST", f"/organizations/{customer['id']}/tenants", 202, json={"domain": "addons2028", "mode": "create"}
    )
    settled(system)
    assert boss.ok("GET", f"/tenants/{tenant['id']}")["status"] == "created"
    # 6 March 2028, 10:00: Business Basic ×2 billed monthly, Business Premium ×1 billed yearly
    _set_clock(boss, datetime(2028, 3, 6, 10, 0, tzinfo=UTC))
    order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    for offer, quantity, cycle in ((BUSINESS_BASIC, 2, "monthly"), (BUSINESS_PREMIUM, 1, "yearly")):
        boss.ok(
            "POST",
            f"/orders/{order['id']}/lines",
            201,
            json={
                "offer_id": str(offer),
                "tenant_id": tenant["id"],
                "quantity": quantity,
                "billing_cycle": cycle,
                "term": "annual",
            },
        )
    boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    settled(system)
    order = boss.ok("GET", f"/orders/{order['id']}")
    assert order["status"] == "provision_finished"
    basic, premium = order["subscription_ids"]
    # 21 March: Teams Phone Standard on each, as many licences as the base
    _set_clock(boss, datetime(2028, 3, 21, 10, 0, tzinfo=UTC))
    phone = {
        base: boss.ok("POST", f"/subscriptions/{base}/addons", 201, json={"offer_id": str(TEAMS_PHONE), "quantity": q})
        for base, q in ((basic, 2), (premium, 1))
    }
    settled(system)
    assert {boss.ok("GET", f"/subscriptions/{a['id']}")["status"] for a in phone.values()} == {"active"}

    # March is invoiced at 00:00 UTC on 1 April
    _set_clock(boss, datetime(2028, 4, 1, 1, 0, tzinfo=UTC))
    settled(system)
    march = {line["subscription_id"]: line for line in _invoice(boss, "2028-03")["lines"]}
    got = {k: (line["days"], line["amount"]) for k, line in march.items()}
    assert got == {
        basic: (31, "9.40"),  # 2 × 4.70
        # 1. 2 × 6.30 × 16/31 = 6.5032 → 6.50: 21 March to the base's billing date 6 April,
        #    of the base's period 6 March – 6 April (not 12.60 for 21 March – 21 April)
        phone[basic]["id"]: (16, "6.50"),
        premium: (365, "169.92"),  # 14.16 × 12
        # 2. 6.30 × 12 × 350/365 = 72.4931 → 72.49 (not 11 months + 13/28 of one = 72.22)
        phone[premium]["id"]: (350, "72.49"),
    }
    assert "21.03.2028–06.04.2028, 16/31 days" in march[phone[basic]["id"]]["description"]

    # April: the add-on follows the base's monthly periods from 6 April, the yearly ones nothing
    _set_clock(boss, datetime(2028, 5, 1, 1, 0, tzinfo=UTC))
    settled(system)
    april = _invoice(boss, "2028-04")
    assert {line["subscription_id"]: (line["days"], line["amount"]) for line in april["lines"]} == {
        basic: (30, "9.40"),
        phone[basic]["id"]: (30, "12.60"),
    }
    assert all("06.04.2028–06.05.2028" in line["description"] for line in april["lines"])
    assert april["total"] == "22.00"


# --- the property ----------------------------------------------------------------------------


def _plus_months(start: datetime, months: int) -> datetime:
    """An independent month step: the same day of the month, clamped to its last day."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


def _days(a: datetime, b: datetime) -> int:
    return (b.date() - a.date()).days


def expected_addon_lines(
    base_start: datetime, cycle: str, seats: int, added: datetime
) -> list[tuple[datetime, int, Decimal]]:
    """The add-on's charges over the base's annual term, worked out independently: for each
    period of the base the add-on holds (part of), price × months × seats × days held / days."""
    ends = _plus_months(base_start, 12)
    if cycle == "yearly":
        periods = [(base_start, ends, 12)]
    else:
        periods = [(_plus_months(base_start, k), _plus_months(base_start, k + 1), 1) for k in range(12)]
    out = []
    for start, end, months in periods:
        if end <= added:
            continue
        since = max(start, added)
        amount = (TEAMS_PHONE_PRICE * months * seats * _days(since, end) / _days(start, end)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        if amount:
            out.append((since, _days(since, end), amount))
    return out


def check_addon_billing(rw: ReadWorld, day: int, hour: int, cycle: str, seats: int, offset_hours: int) -> None:
    base_start = datetime(2028, 1, 1, hour, 0, tzinfo=UTC) + timedelta(days=day)
    rw.clock.set(base_start)
    w: World = rw.world()
    base = w.buy(seats + 1, offer_id=BUSINESS_BASIC, billing_cycle=cycle)
    added = base_start + timedelta(hours=offset_hours)
    rw.clock.set(added)
    addon = rw.app.add_subscription_addon(base.id, TEAMS_PHONE, seats, actor=ACTOR)
    expected = expected_addon_lines(base_start, cycle, seats, added)
    # the billing run's fold of the add-on's events over the whole term
    folded = charges_until(addon.id, list(rw.app.events.get(addon.id)), base.ends_at)
    assert [(c.charged_at, c.days, c.amount) for c in folded] == expected
    # the stored ledger, the periods still ahead derived from its state
    rw.sync()
    # (a datetime bound is exclusive: the term's charges are those before its end, an
    # add-on bought in the term's last day included)
    stored = rw.read.charges(w.reseller.id, date_to=base.ends_at, subscription_id=addon.id)
    assert [(c["charged_at"], c["days"], c["amount"]) for c in stored.items] == expected


addon_dates = {
    "day": st.integers(0, 365),  # the base's start in 2028 (a leap year) or on 1 January 2029
    "hour": st.integers(0, 23),
    "cycle": st.sampled_from(["monthly", "yearly"]),
    "seats": st.integers(1, 4),
    "offset_hours": st.integers(0, 365 * 24 - 1),  # the add-on's start inside the base's term
}


@settings(max_examples=40)
@given(**addon_dates)
@example(day=59, hour=0, cycle="monthly", seats=1, offset_hours=364 * 24)  # 29 Feb 2028; bought on the term's last day
def test_an_addons_charges_are_pro_rata_by_day_of_its_bases_periods_on_sqlite(**kw: Any):
    with store_url_for("sqlite") as url, open_read_world(url, SettableClock(), run_in_process=False) as rw:
        check_addon_billing(rw, **kw)


@pytest.mark.postgres
@settings(max_examples=25)
@given(**addon_dates)
@example(day=59, hour=0, cycle="monthly", seats=1, offset_hours=364 * 24)  # 29 Feb 2028; bought on the term's last day
def test_an_addons_charges_are_pro_rata_by_day_of_its_bases_periods_on_postgres(postgres_dsn: str, **kw: Any):
    with (
        store_url_for("postgres", postgres_dsn) as url,
        open_read_world(url, SettableClock(), run_in_process=False) as rw,
    ):
        check_addon_billing(rw, **kw)
