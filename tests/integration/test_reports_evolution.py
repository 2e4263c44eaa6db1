"""The evolution report: licences and money month by month, from the charges ledger, on
SQLite and on PostgreSQL; and the adjustable view (sort, chosen columns) of every report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from csp.aggregates.errors import InvalidInput
from csp.application import NewLineRequest
from tests.fixtures.readside import ReadWorld
from tests.support import ACTOR, AZURE_PLAN, profile, record_agreement

pytestmark = pytest.mark.postgres

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)


def _rows(rw: ReadWorld, reseller_id: UUID, **kw: Any) -> list[tuple[object, ...]]:
    items = rw.read.report("evolution", reseller_id, **kw).items
    return [
        (r["month"], r["organization_name"], r["product_group"], r["licences"], r["partner_cost"], r["customer_price"])
        for r in items
    ]


def test_licences_and_money_month_by_month(read_world: ReadWorld):
    rw = read_world
    rw.clock.set(NOV_1)
    w = rw.world()
    # 10 licences, monthly, from 1 November: 14.16 partner, 15.58 customer (5 % + 5 % default)
    sub = w.buy(10)
    assert (sub.unit_partner_price, sub.unit_customer_price) == (Decimal("14.16"), Decimal("15.58"))
    rw.sync()
    rows = _rows(rw, w.reseller.id)
    assert rows == [
        ("2026-11", "Contoso SRL", "Microsoft 365", Decimal("10.00"), Decimal("141.60"), Decimal("155.80")),
    ]
    # the default range: the last 12 months up to the clock's month
    assert rw.read.report("evolution", w.reseller.id, date_to=date(2026, 10, 31)).total == 0

    # +5 on the 16th of a 30-day month: 10 × 30 + 5 × 15 licence-days = 12.50 licences;
    # 5 × 14.16 × 15/30 = 35.40 more partner cost, 5 × 15.58 × 15/30 = 38.95 more customer price
    rw.clock.set(datetime(2026, 11, 16, tzinfo=UTC))
    rw.app.change_subscription_quantity(sub.id, 15, actor=ACTOR)
    rw.sync()
    assert _rows(rw, w.reseller.id) == [
        ("2026-11", "Contoso SRL", "Microsoft 365", Decimal("12.50"), Decimal("177.00"), Decimal("194.75")),
    ]

    # December, if nothing changes: 15 licences (two tranches) for 31 days
    dec = _rows(rw, w.reseller.id, date_from=date(2026, 12, 1), date_to=date(2026, 12, 31))
    assert dec == [
        ("2026-12", "Contoso SRL", "Microsoft 365", Decimal("15.00"), Decimal("212.40"), Decimal("233.70")),
    ]
    # over both months, the money is what the ledger charged for them
    both = rw.read.report("evolution", w.reseller.id, date_from=date(2026, 11, 1), date_to=date(2026, 12, 31))
    charged = rw.read.charges(w.reseller.id, date(2026, 11, 1), date(2026, 12, 31)).items
    assert sum(r["partner_cost"] for r in both.items) == sum(c["amount"] for c in charged) == Decimal("389.40")


def test_a_yearly_charge_counts_in_its_month_its_licences_every_month_usage_in_money_only(read_world: ReadWorld):
    rw = read_world
    rw.clock.set(NOV_1)
    w = rw.world()
    # 2 licences billed yearly: 2 × 14.16 × 12 = 339.84 on 1 November, for 365 days
    w.buy(2, billing_cycle="yearly")
    other = rw.app.register_customer(w.reseller.id, profile("Fabrikam SA", "retail"), actor=ACTOR)
    record_agreement(rw.app, other.id)
    tenant = rw.app.request_tenant(other.id, "fabrikamevo", "create", actor=ACTOR)
    rw.app.start_tenant_verification(tenant.id)
    rw.app.record_tenant_created(tenant.id, "vc-evo", "admin@fabrikamevo.onmicrosoft.com")
    order = rw.app.create_order(other.id, actor=ACTOR)
    order = rw.app.add_new_subscription_line(
        order.id, NewLineRequest(AZURE_PLAN, tenant.id, 1, "monthly", "monthly"), actor=ACTOR
    )
    rw.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    azure = w.sub(w.provision(order).subscription_ids[0])
    for day, amount in (("2026-11-05", "10.00"), ("2026-11-06", "2.50"), ("2026-12-01", "4.00")):
        rw.app.report_usage(azure.id, day, "vm", Decimal(1), Decimal(amount), actor=ACTOR)
    rw.clock.set(datetime(2026, 12, 2, tzinfo=UTC))
    rw.sync()

    rows = _rows(rw, w.reseller.id, date_from=date(2026, 11, 1), date_to=date(2027, 1, 31))
    assert rows == [
        # the year charged at its start, 2 × 14.16 × 12 = 339.84 (2 × 15.58 × 12 = 373.92);
        # its licences every month of the year
        ("2026-11", "Contoso SRL", "Microsoft 365", Decimal("2.00"), Decimal("339.84"), Decimal("373.92")),
        # usage: what the vendor rated, on the day of use; no licences
        ("2026-11", "Fabrikam SA", "Azure", Decimal("0.00"), Decimal("12.50"), Decimal("12.50")),
        ("2026-12", "Contoso SRL", "Microsoft 365", Decimal("2.00"), Decimal("0.00"), Decimal("0.00")),
        ("2026-12", "Fabrikam SA", "Azure", Decimal("0.00"), Decimal("4.00"), Decimal("4.00")),
        ("2027-01", "Contoso SRL", "Microsoft 365", Decimal("2.00"), Decimal("0.00"), Decimal("0.00")),
    ]
    only = _rows(rw, w.reseller.id, organization_id=other.id)
    assert [r[0] for r in only] == ["2026-11", "2026-12"]
    assert {r[1] for r in only} == {"Fabrikam SA"}

    # the view the reseller adjusts: sorted by a column, the chosen columns in their order
    by_cost = rw.read.report("evolution", w.reseller.id, sort="partner_cost", descending=True).items
    assert [r["partner_cost"] for r in by_cost] == sorted((r["partner_cost"] for r in by_cost), reverse=True)
    by_name = rw.read.report("evolution", w.reseller.id, sort="organization_name").items
    assert [r["organization_name"] for r in by_name] == ["Contoso SRL", "Contoso SRL", "Fabrikam SA", "Fabrikam SA"]
    text = rw.read.report_csv(
        "evolution",
        w.reseller.id,
        date_from=date(2026, 11, 1),
        date_to=date(2026, 11, 30),
        columns=["customer_price", "month", "organization_name"],
        sort="customer_price",
    )
    assert list(csv.reader(io.StringIO(text))) == [
        ["customer_price", "month", "organization_name"],
        ["12.50", "2026-11", "Fabrikam SA"],
        ["373.92", "2026-11", "Contoso SRL"],
    ]
    with pytest.raises(InvalidInput) as e:
        rw.read.report_csv("evolution", w.reseller.id, columns=["month", "profit"])
    assert (e.value.field, e.value.details.get("value")) == ("columns", "profit")
    with pytest.raises(InvalidInput) as e:
        rw.read.report("licenses", w.reseller.id, sort="profit")
    assert e.value.field == "sort"


def test_a_months_money_is_what_its_invoice_billed(read_world: ReadWorld):
    rw = read_world
    w = rw.world()  # the clock: 5 January 2026, 09:00
    sub = w.buy(2)
    rw.clock.set(datetime(2026, 1, 20, 9, 0, tzinfo=UTC))
    rw.app.change_subscription_quantity(sub.id, 3, actor=ACTOR)
    rw.clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    (invoice,) = rw.app.run_billing("2026-01")
    rw.sync()
    jan = _rows(rw, w.reseller.id, date_from=date(2026, 1, 1), date_to=date(2026, 1, 31))
    # 2 seats from 5 January (27 of 31 days) and 1 from 20 January (12 days): 66/31 = 2.13;
    # 2 × 14.16 + 14.16 × 16/31 (7.31) = 35.63, the invoice; 2 × 15.58 + 7.31 × 15.58/14.16 = 39.20
    assert jan == [("2026-01", "Contoso SRL", "Microsoft 365", Decimal("2.13"), Decimal("35.63"), Decimal("39.20"))]
    assert jan[0][4] == invoice.total
