"""Expired, disabled and cancelled subscriptions cost nothing any more: their monthly and
yearly money columns are 0.00 in the subscriptions list and the subscriptions report (a
sum over the column is the spend), on SQLite and PostgreSQL; the unit prices stay."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tests.fixtures.readside import ReadWorld
from tests.support import ACTOR

D = Decimal
ZERO = D("0.00")


def test_ended_subscriptions_show_no_money_in_the_list_and_the_report(read_world: ReadWorld):
    rw = read_world
    w = rw.world()
    app = rw.app
    active = w.buy(2)  # 15.58 a licence, billed monthly
    cancelled = w.buy(3)
    app.cancel_subscription(cancelled.id, actor=ACTOR)
    yearly = w.buy(1, billing_cycle="yearly")
    app.set_subscription_auto_renew(yearly.id, False, actor=ACTOR)
    suspended = w.buy(1)
    app.suspend_subscription(suspended.id, actor=ACTOR)
    rw.clock.set(yearly.ends_at + timedelta(hours=1))
    for s in (yearly, suspended):
        app.run_due_work(s.id)
    assert (w.sub(yearly.id).status, w.sub(suspended.id).status) == ("expired", "disabled")
    rw.sync()

    rows = {r["id"]: r for r in rw.read.subscriptions(w.customer.id).items}
    for ended in (cancelled, yearly, suspended):
        r = rows[ended.id]
        money = (r["monthly_cost"], r["yearly_cost"], r["monthly_reseller_price"], r["yearly_reseller_price"])
        assert money == (ZERO, ZERO, ZERO, ZERO), r["status"]
        assert r["unit_cost"] == D("15.58")  # the price it had
    assert (rows[active.id]["status"], rows[active.id]["monthly_cost"]) == ("active", D("31.16"))
    assert sum(r["monthly_cost"] + r["yearly_cost"] for r in rows.values()) == D("31.16")  # the spend

    report = {r["subscription_id"]: r for r in rw.read.report("subscriptions", w.reseller.id).items}
    for ended in (cancelled, yearly, suspended):
        r = report[ended.id]
        assert (r["monthly_partner_cost"], r["monthly_customer_price"]) == (ZERO, ZERO), r["status"]
        assert r["unit_customer_price"] == D("15.58")
    assert report[active.id]["monthly_customer_price"] == D("31.16")
    assert sum(r["monthly_customer_price"] for r in report.values()) == D("31.16")


def test_only_active_and_suspended_subscriptions_are_billed():
    from csp.aggregates.subscription import is_billed

    assert [s for s in ("trial", "active", "suspended", "expired", "disabled", "cancelled") if is_billed(s)] == [
        "active",
        "suspended",
    ]
