"""The read side's queries, as the API calls them, on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from csp.aggregates.errors import InvalidInput, NotFound
from csp.application import NewLineRequest
from tests.fixtures.readside import ReadWorld, assert_matches_fold
from tests.support import (
    ACTOR,
    AZURE_PLAN,
    BUSINESS_PREMIUM,
    BUSINESS_PREMIUM_TRIAL,
    FORMULA,
    TEAMS_PHONE,
    catalog_with_formula_name,
    profile,
    record_agreement,
)

pytestmark = pytest.mark.postgres


def test_the_portal_lists_read_what_the_commands_did(read_world: ReadWorld):
    rw = read_world
    w = rw.world(domain="cspplatformtest")
    app, read = rw.app, rw.read
    # the manual's screen: a trial, and one Business Premium licence billed monthly
    trial = w.buy(25, offer_id=BUSINESS_PREMIUM_TRIAL, term="monthly", markup_percent=None)
    paid = w.buy(1)
    app.sync_assigned_licences(paid.id, 1, actor=ACTOR)
    draft = w.order_with_line(quantity=1)
    rw.clock.advance(timedelta(days=1))
    change = app.create_order(w.customer.id, actor=ACTOR)
    app.add_change_line(change.id, paid.id, 1, actor=ACTOR)
    rw.sync()

    orders = read.orders(w.customer.id)
    assert orders.total == 4
    newest = orders.items[0]
    assert newest["id"] == change.id
    assert newest["lines"] == [
        {
            "line_no": 1,
            "offer_name": "Microsoft 365 Business Premium",
            "requested_change": "+1 Users",
            "outcome": "pending",
            "failure_reason": None,
        }
    ]
    assert (newest["provisioned_count"], newest["failed_count"], newest["outcome"]) == (0, 0, None)
    assert (newest["item_count"], newest["status"], newest["created_by"]) == (1, "draft", ACTOR)
    assert [(o["status"], o["outcome"]) for o in read.orders(w.customer.id, status="provision_finished").items] == [
        ("provision_finished", "1 of 1 line provisioned"),
        ("provision_finished", "1 of 1 line provisioned"),
    ]
    assert read.orders(w.customer.id, limit=1, offset=1).items[0]["id"] == draft.id

    subs = read.subscriptions(w.customer.id)
    assert subs.total == 2
    by_id = {s["id"]: s for s in subs.items}
    row = by_id[paid.id]
    assert row["product_group"] == paid.product_group_id
    assert (row["product_group_name"], row["tenant_domain"], row["purchased"], row["assigned"]) == (
        "Microsoft 365",
        "cspplatformtest.onmicrosoft.com",
        1,
        1,
    )
    # "15,58 | 15,58 | 0,00 | 14,16 | 0,00"
    assert (
        row["unit_cost"],
        row["monthly_cost"],
        row["yearly_cost"],
        row["monthly_reseller_price"],
        row["yearly_reseller_price"],
    ) == (Decimal("15.58"), Decimal("15.58"), Decimal("0.00"), Decimal("14.16"), Decimal("0.00"))
    assert row["renews_at"] == row["ends_at"] == datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
    # a trial shows "Trial" in every price column: no money at all
    t = by_id[trial.id]
    assert t["status"] == "trial"
    assert {t[k] for k in ("unit_cost", "monthly_cost", "yearly_cost", "monthly_reseller_price")} == {None}
    assert [s["id"] for s in read.subscriptions(w.customer.id, q="TRIAL").items] == [trial.id]
    assert read.subscriptions(w.customer.id, q="nothing like it").total == 0
    assert read.subscriptions(w.customer.id, status="trial").total == 1

    orgs = read.organizations(w.reseller.id)
    assert [(o["name"], o["kind"]) for o in orgs.items] == [
        ("CSP Platform Test", "reseller"),
        ("Contoso SRL", "customer"),
    ]
    assert [o["name"] for o in read.organizations(w.reseller.id, q="conto").items] == ["Contoso SRL"]
    assert read.tenants(w.customer.id).items[0]["domain"] == "cspplatformtest.onmicrosoft.com"
    assert read.tenants(w.customer.id).items[0]["status"] == "created"

    assert_matches_fold(read, app)


def test_add_ons_are_rows_of_their_own_and_listed_on_their_base(read_world: ReadWorld):
    rw = read_world
    w = rw.world()
    base = w.buy(5)
    addon = rw.app.add_subscription_addon(base.id, TEAMS_PHONE, 2, actor=ACTOR)
    rw.sync()
    items = {s["id"]: s for s in rw.read.subscriptions(w.customer.id).items}
    assert [a["id"] for a in items[base.id]["addons"]] == [addon.id]
    assert items[base.id]["addons"][0]["quantity"] == 2
    assert items[addon.id]["parent_id"] == base.id
    assert rw.read.subscription(addon.id)["ends_at"] == items[base.id]["ends_at"]


def test_bad_paging_and_filters_are_named(read_world: ReadWorld):
    w = read_world.world()
    with pytest.raises(InvalidInput) as e:
        read_world.read.orders(w.customer.id, limit=201)
    assert e.value.field == "limit"
    with pytest.raises(InvalidInput):
        read_world.read.orders(w.customer.id, offset=-1)
    with pytest.raises(InvalidInput) as e:
        read_world.read.subscriptions(w.customer.id, status="sleeping")
    assert e.value.field == "status"
    with pytest.raises(InvalidInput):
        read_world.read.report("profits", w.reseller.id)


def test_invoices_their_lines_and_csv(read_world: ReadWorld):
    rw = read_world
    w = rw.world()
    sub = w.buy(2)
    rw.clock.set(datetime(2026, 1, 20, 9, 0, tzinfo=UTC))
    rw.app.change_subscription_quantity(sub.id, 3, actor=ACTOR)
    rw.clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    (issued,) = rw.app.run_billing("2026-01")
    rw.sync()
    (listed,) = rw.read.invoices(w.reseller.id).items
    assert (listed["id"], listed["period"], listed["number"], listed["total"]) == (
        issued.id,
        "2026-01",
        "INV-202601-0001",
        Decimal("35.63"),  # 2 × 14.16 + 14.16 × 16/31 (7.31)
    )
    inv = rw.read.invoice(issued.id)
    assert [line["amount"] for line in inv["lines"]] == [Decimal("28.32"), Decimal("7.31")]
    assert inv["total"] == sum(line["amount"] for line in inv["lines"])
    assert inv["lines"][0]["organization_id"] == w.customer.id
    rows = list(csv.DictReader(io.StringIO(rw.read.invoice_csv(issued.id))))
    assert [r["amount"] for r in rows] == ["28.32", "7.31"]
    assert rows[0]["number"] == "INV-202601-0001"
    assert rw.read.invoice(w.customer.id) is None
    with pytest.raises(NotFound):
        rw.read.invoice_csv(w.customer.id)
    # the ledger says which invoice billed each charge, and what is still to come
    charges = rw.read.charges(w.reseller.id, date(2026, 1, 1), date(2026, 2, 28)).items
    assert [(c["amount"], c["invoice_id"], c["scheduled"]) for c in charges[:2]] == [
        (Decimal("28.32"), issued.id, False),
        (Decimal("7.31"), issued.id, False),
    ]
    # 5 February, per tranche: the first two seats, and the one added on 20 January
    assert sorted((c["amount"], c["invoice_id"], c["scheduled"]) for c in charges[2:]) == [
        (Decimal("14.16"), None, True),
        (Decimal("28.32"), None, True),
    ]


def test_reports_filter_by_organization_and_dates_and_export_csv(read_world: ReadWorld):
    rw = read_world
    w = rw.world()
    paid = w.buy(10)
    rw.app.sync_assigned_licences(paid.id, 7, actor=ACTOR)
    other = rw.app.register_customer(w.reseller.id, profile("Fabrikam SA", "retail"), actor=ACTOR)
    record_agreement(rw.app, other.id)
    tenant = rw.app.request_tenant(other.id, "fabrikam1", "create", actor=ACTOR)
    rw.app.start_tenant_verification(tenant.id)
    rw.app.record_tenant_created(tenant.id, "vc-2", "admin@fabrikam1.onmicrosoft.com")
    order = rw.app.create_order(other.id, actor=ACTOR)
    order = rw.app.add_new_subscription_line(
        order.id, NewLineRequest(AZURE_PLAN, tenant.id, 1, "monthly", "monthly"), actor=ACTOR
    )
    rw.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    azure = w.sub(w.provision(order).subscription_ids[0])
    for day, amount in (("2026-01-05", "10.00"), ("2026-01-06", "2.50"), ("2026-02-01", "4.00")):
        rw.app.report_usage(azure.id, day, "vm", Decimal(1), Decimal(amount), actor=ACTOR)
    rw.sync()

    customers = rw.read.report("customers", w.reseller.id).items
    assert [(c["name"], c["licences"], c["assigned"], c["monthly_partner_cost"]) for c in customers] == [
        ("Contoso SRL", 10, 7, Decimal("141.60")),
        ("Fabrikam SA", 0, 0, Decimal("0.00")),
    ]
    licences = rw.read.report("licenses", w.reseller.id, organization_id=w.customer.id).items
    assert [(x["offer_name"], x["purchased"], x["assigned"], x["unassigned"]) for x in licences] == [
        ("Microsoft 365 Business Premium", 10, 7, 3)
    ]
    usage = rw.read.report("consumption", w.reseller.id, date_from=date(2026, 1, 1), date_to=date(2026, 1, 31))
    assert [(u["month"], u["days"], u["amount"]) for u in usage.items] == [("2026-01", 2, Decimal("12.50"))]
    assert rw.read.report("consumption", w.reseller.id, organization_id=w.customer.id).total == 0
    subs = rw.read.report("subscriptions", w.reseller.id, date_from=date(2026, 1, 1), date_to=date(2026, 1, 5))
    assert {s["offer_name"] for s in subs.items} == {"Microsoft 365 Business Premium", "Azure plan"}
    assert rw.read.report("subscriptions", w.reseller.id, date_to=date(2026, 1, 4)).total == 0
    text = rw.read.report_csv("licenses", w.reseller.id)
    assert text.splitlines()[0] == (
        "organization_id,organization_name,product_group,offer_id,offer_name,subscriptions,purchased,assigned,unassigned"
    )
    assert BUSINESS_PREMIUM  # the offer the licences report counts
    assert_matches_fold(rw.read, rw.app)


def test_every_csv_export_writes_a_formula_as_text(read_world: ReadWorld, tmp_path):
    # given an offer whose name (from the vendor's catalog) and a customer whose name
    # (typed by anyone who registers one) a spreadsheet would run as formulas
    rw = read_world
    rw.app.import_catalog(catalog_with_formula_name(tmp_path))
    w = rw.world()
    rw.app.register_customer(w.reseller.id, profile("@SUM(1+1)", "retail"), actor=ACTOR)
    w.buy(2)
    rw.clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    (issued,) = rw.app.run_billing("2026-01")
    rw.sync()
    # then every export writes them as text, and its numbers as numbers
    (line,) = csv.DictReader(io.StringIO(rw.read.invoice_csv(issued.id)))
    assert line["description"].startswith(f"'{FORMULA} · ")
    assert line["amount"] == "28.32"
    licences = list(csv.DictReader(io.StringIO(rw.read.report_csv("licenses", w.reseller.id))))
    assert [x["offer_name"] for x in licences] == [f"'{FORMULA}"]
    customers = list(csv.DictReader(io.StringIO(rw.read.report_csv("customers", w.reseller.id))))
    assert sorted(c["name"] for c in customers) == ["'@SUM(1+1)", "Contoso SRL"]
    (sub,) = csv.DictReader(io.StringIO(rw.read.report_csv("subscriptions", w.reseller.id)))
    assert (sub["offer_name"], sub["purchased"]) == (f"'{FORMULA}", "2")
    assert rw.read.invoices_csv(w.reseller.id).splitlines()[1].startswith('"INV-202601-0001","2026-01",')
