"""Properties of the read side, for random command sequences, on SQLite and PostgreSQL:

- every stored read model equals the pure fold of the log (the same handlers over dicts),
  and agrees with the aggregates it describes (an independent check of the handlers);
- the ledger equals the billing fold of each subscription's events, and every invoice's
  total is the sum of its lines, with no charge billed twice;
- a rebuild equals the incrementally built models, row for row;
- the audit chain verifies.

Examples: the Hypothesis profile's on SQLite (200 in CI); 25 on PostgreSQL, where every
example creates and drops a schema of 19 tables (about a second each; 200 would take
minutes of the suite's ten).
"""

from __future__ import annotations

import contextlib
from collections import Counter as Tally
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from csp.aggregates.billing import BILLING_EVENTS, SubscriptionLedger
from csp.aggregates.errors import CspError
from csp.aggregates.invoice import Invoice, InvoiceBook, invoice_book_id_for, period_of
from csp.aggregates.order import Order
from csp.aggregates.organization import Organization
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.aggregates.terms import add_months
from csp.application import CspApplication
from csp.clock import SettableClock
from csp.projections.charges_ledger import CHARGES
from csp.projections.invoice_history import INVOICES
from csp.projections.orders_list import ORDERS
from csp.projections.organizations_list import ORGANIZATIONS
from csp.projections.subscriptions_list import SUBSCRIPTIONS
from csp.projections.tenants_list import TENANTS
from tests.fixtures.readside import ReadWorld, assert_matches_fold, open_read_world, store_url_for, stored_tables
from tests.support import (
    ACTOR,
    AZURE_PLAN,
    BUSINESS_BASIC,
    BUSINESS_PREMIUM,
    BUSINESS_PREMIUM_TRIAL,
    TEAMS_PHONE,
    World,
    make_world,
    profile,
)

OFFERS = (
    (BUSINESS_PREMIUM, "annual", "monthly"),
    (BUSINESS_PREMIUM, "annual", "yearly"),
    (BUSINESS_BASIC, "monthly", "monthly"),
    (BUSINESS_PREMIUM_TRIAL, "monthly", "monthly"),
    (AZURE_PLAN, "monthly", "monthly"),
)

i = st.integers(min_value=0, max_value=7)
commands = st.one_of(
    st.tuples(st.just("customer")),
    st.tuples(st.just("buy"), i, st.integers(0, len(OFFERS) - 1), st.integers(1, 6)),
    st.tuples(st.just("draft"), i, st.integers(1, 4), st.booleans()),
    st.tuples(st.just("quantity"), i, st.integers(-3, 4)),
    *(st.tuples(st.just(name), i) for name in ("suspend", "reactivate", "cancel", "convert", "addon", "drop_addon")),
    st.tuples(st.just("refuse"), i),
    st.tuples(st.just("cycle"), i, st.sampled_from(["monthly", "yearly"])),
    st.tuples(st.just("auto_renew"), i, st.booleans()),
    st.tuples(st.just("price"), i, st.integers(-5, 20)),
    st.tuples(st.just("assigned"), i, st.integers(0, 8)),
    st.tuples(st.just("usage"), i, st.integers(0, 5000)),
    st.tuples(st.just("advance"), st.sampled_from([1, 20, 24 * 3, 24 * 8, 24 * 31, 24 * 200])),
    st.tuples(st.just("bill")),
    st.tuples(st.just("tenant"), i, st.booleans()),
    st.tuples(st.just("rename"), i),
    st.tuples(st.just("project")),
)


class Driver:
    """Runs commands as the API and the sagas would; refusals by the domain are fine."""

    def __init__(self, rw: ReadWorld) -> None:
        self.rw = rw
        self.app: CspApplication = rw.app
        self.world: World = make_world(rw.app, rw.clock)
        self.customers: list[tuple[UUID, UUID]] = [(self.world.customer.id, self.world.tenant.id)]
        self.subs: list[UUID] = []
        self.orders: list[UUID] = []

    def pick(self, items: list[Any], n: int) -> Any:
        return items[n % len(items)] if items else None

    def run(self, cmd: tuple[Any, ...]) -> None:
        with contextlib.suppress(CspError):
            getattr(self, f"do_{cmd[0]}")(*cmd[1:])
            event(f"ran {cmd[0]}")

    def do_customer(self) -> None:
        org = self.app.register_customer(self.world.reseller.id, profile(f"Customer {len(self.customers)}"), ACTOR)
        tenant = self.app.request_tenant(org.id, f"c{len(self.customers)}x{org.id.hex[:8]}", "create", actor=ACTOR)
        self.app.start_tenant_verification(tenant.id)
        self.app.record_tenant_created(tenant.id, f"vc-{tenant.id}", "admin")
        self.customers.append((org.id, tenant.id))

    def do_buy(self, c: int, o: int, qty: int) -> None:
        from csp.application import NewLineRequest

        org_id, tenant_id = self.pick(self.customers, c)
        offer, term, cycle = OFFERS[o]
        quantity = 25 if offer == BUSINESS_PREMIUM_TRIAL else 1 if offer == AZURE_PLAN else qty
        order = self.app.create_order(org_id, actor=ACTOR)
        self.orders.append(order.id)
        order = self.app.add_new_subscription_line(
            order.id, NewLineRequest(offer, tenant_id, quantity, cycle, term), actor=ACTOR
        )
        self.app.place_order(order.id, accept_terms=True, actor=ACTOR)
        self.app.start_provisioning(order.id)
        order = self.app.provision_line(order.id, 1, f"vo-{order.id}")
        self.app.finish_provisioning(order.id)
        self.subs.extend(order.subscription_ids)

    def do_draft(self, c: int, qty: int, discard: bool) -> None:
        from csp.application import NewLineRequest

        org_id, tenant_id = self.pick(self.customers, c)
        order = self.app.create_order(org_id, actor=ACTOR)
        self.orders.append(order.id)
        self.app.add_new_subscription_line(
            order.id, NewLineRequest(BUSINESS_BASIC, tenant_id, qty, "monthly", "monthly"), actor=ACTOR
        )
        if discard:
            self.app.discard_order(order.id, actor=ACTOR)

    def sub(self, n: int, where: Any = None) -> Subscription | None:
        """The n-th subscription (of those that ``where`` accepts)."""
        subs = [self.app.load(Subscription, sid, "subscription") for sid in self.subs]
        return self.pick([s for s in subs if where is None or where(s)], n)

    def do_quantity(self, n: int, delta: int) -> None:
        s = self.sub(n)
        if s is not None and delta:
            self.app.change_subscription_quantity(s.id, s.quantity + delta, actor=ACTOR)

    def do_suspend(self, n: int) -> None:
        if (s := self.sub(n)) is not None:
            self.app.suspend_subscription(s.id, actor=ACTOR)

    def do_reactivate(self, n: int) -> None:
        if (s := self.sub(n)) is not None:
            self.app.reactivate_subscription(s.id, actor=ACTOR)

    def do_cancel(self, n: int) -> None:
        if (s := self.sub(n)) is not None:
            self.app.cancel_subscription(s.id, actor=ACTOR)

    def do_convert(self, n: int) -> None:
        if (s := self.sub(n, lambda s: s.status == "trial")) is not None:
            self.app.convert_trial(s.id, actor=ACTOR, quantity=3)

    def do_addon(self, n: int) -> None:
        if (s := self.sub(n, lambda s: TEAMS_PHONE in s.addon_offer_ids_allowed)) is not None:
            self.subs.append(self.app.add_subscription_addon(s.id, TEAMS_PHONE, 1, actor=ACTOR).id)

    def do_drop_addon(self, n: int) -> None:
        if (s := self.sub(n, lambda s: s.addon_ids)) is not None:
            self.app.remove_subscription_addon(s.id, s.addon_ids[0], actor=ACTOR)

    def do_refuse(self, n: int) -> None:
        s = self.sub(n)
        if s is None:
            return
        last = list(self.app.events.get(s.id))[-1]
        s.record_vendor_refusal(last, "refused by the vendor", actor="system:vendor-sync", at=self.app.now())
        self.app.save(s)

    def do_cycle(self, n: int, cycle: str) -> None:
        if (s := self.sub(n)) is not None:
            self.app.change_subscription_billing_cycle(s.id, cycle, actor=ACTOR)

    def do_auto_renew(self, n: int, on: bool) -> None:
        if (s := self.sub(n)) is not None:
            self.app.set_subscription_auto_renew(s.id, on, actor=ACTOR)

    def do_price(self, n: int, markup: int) -> None:
        if (s := self.sub(n)) is not None:
            self.app.change_subscription_price(s.id, actor=ACTOR, markup_percent=Decimal(markup))

    def do_assigned(self, n: int, assigned: int) -> None:
        if (s := self.sub(n)) is not None:
            self.app.sync_assigned_licences(s.id, assigned, actor="system:vendor-sync")

    def do_usage(self, n: int, cents: int) -> None:
        if (s := self.sub(n, lambda s: s.type == "usage")) is not None:
            day = f"{self.app.now():%Y-%m-%d}"
            self.app.report_usage(s.id, day, "vm", Decimal(cents) / 7, Decimal(cents) / 100, actor="system:vendor-sync")

    def do_advance(self, hours: int) -> None:
        self.rw.clock.advance(timedelta(hours=hours))
        for sid in self.subs:
            self.app.run_due_work(sid)

    def do_bill(self) -> None:
        self.app.run_billing(period_of(add_months(self.app.now().replace(day=1), -1)))

    def do_tenant(self, c: int, reject: bool) -> None:
        org_id, _ = self.pick(self.customers, c)
        tenant = self.app.request_tenant(org_id, f"t{self.app.now():%H%M%S%f}", "create", actor=ACTOR)
        self.app.start_tenant_verification(tenant.id)
        if reject:
            self.app.reject_tenant(tenant.id, "domain taken", code="domain_taken")

    def do_rename(self, c: int) -> None:
        org_id, _ = self.pick(self.customers, c)
        self.app.change_organization(org_id, actor=ACTOR, name=f"Renamed {self.app.now():%f}")

    def do_project(self) -> None:
        self.rw.sync()


def by_id(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def check_against_aggregates(d: Driver, stored: dict[str, list[dict[str, Any]]]) -> None:
    app = d.app
    orders, subs = by_id(stored[ORDERS.name]), by_id(stored[SUBSCRIPTIONS.name])
    for oid in d.orders:
        o = app.load(Order, oid, "order")
        row = orders[oid]
        assert (row["status"], row["number"], row["item_count"]) == (o.status, o.number, len(o.lines))
        assert [x["requested_change"] for x in row["lines"]] == [x.requested_change for x in o.lines]
        assert row["total"] == o.total
    for sid in d.subs:
        s = app.load(Subscription, sid, "subscription")
        row = subs[sid]
        assert (row["status"], row["purchased"], row["assigned"], row["billing_cycle"], row["term"]) == (
            s.status,
            s.quantity,
            s.assigned,
            s.billing_cycle,
            s.term,
        )
        assert (row["starts_at"], row["ends_at"], row["auto_renew"]) == (s.starts_at, s.ends_at, s.auto_renew)
        assert (row["unit_partner_price"], row["unit_customer_price"]) == (s.unit_partner_price, s.unit_customer_price)
        assert row["addon_ids"] == [str(a) for a in s.addon_ids]
        assert row["pending_billing_cycle"] == s.pending_billing_cycle
    tenants, orgs = by_id(stored[TENANTS.name]), by_id(stored[ORGANIZATIONS.name])
    for org_id, tenant_id in d.customers:
        assert orgs[org_id]["name"] == app.load(Organization, org_id, "organization").name
        assert tenants[tenant_id]["status"] == app.load(Tenant, tenant_id, "tenant").status
    # the ledger is each subscription's billing fold: what its events charged ...
    charges = {r["id"]: r for r in stored[CHARGES.name]}
    stored_emitted, everything = {}, {}
    for sid in d.subs:
        events = list(app.events.get(sid))
        _, emitted = SubscriptionLedger.fold(sid, [e for e in events if isinstance(e, BILLING_EVENTS)])
        stored_emitted |= {c.id: c.amount for c in emitted}
        ledger, emitted = SubscriptionLedger.fold(sid, events)
        everything |= {c.id: c.amount for c in (*emitted, *ledger.schedule())}
    assert {k: r["amount"] for k, r in charges.items()} == stored_emitted
    # ... and, queried, with the periods after each subscription's last event: the whole fold
    queried = d.rw.read.charges(d.world.reseller.id).items
    assert {c["id"]: c["amount"] for c in queried} == everything
    # invoices: their totals are the sum of their lines; no charge billed twice
    stored_invoices = by_id(stored[INVOICES.name])
    book_id = invoice_book_id_for(d.world.reseller.id)
    billed: Tally[UUID] = Tally()
    assert len(stored_invoices) == (
        len(app.load(InvoiceBook, book_id, "book").invoice_ids) if app.exists(book_id) else 0
    )
    if app.exists(book_id):
        book = app.load(InvoiceBook, book_id, "book")
        for inv_id in book.invoice_ids:
            inv = app.load(Invoice, inv_id, "invoice")
            assert inv.total == sum((line.amount for line in inv.lines), Decimal(0))
            assert stored_invoices[inv_id]["total"] == inv.total
            billed.update(inv.charge_ids)
        assert not [c for c, n in billed.items() if n > 1]
        assert set(billed) <= {c["id"] for c in queried if not c["scheduled"]}


# Every sequence starts from a few subscriptions of each kind, so that most commands apply.
PREFIX: list[tuple[Any, ...]] = [
    ("buy", 0, 0, 3),
    ("buy", 0, 1, 2),
    ("buy", 0, 3, 1),
    ("buy", 0, 4, 1),
    ("buy", 0, 2, 2),
]


def check(rw: ReadWorld, cmds: list[tuple[Any, ...]]) -> None:
    d = Driver(rw)
    for cmd in [*PREFIX, *cmds]:
        d.run(cmd)
    rw.sync()
    assert_matches_fold(rw.read, rw.app)
    incremental = stored_tables(rw.read)
    check_against_aggregates(d, incremental)
    assert rw.projector.verify_audit().ok
    rw.projector.rebuild(rw.read.model_names())
    assert stored_tables(rw.read) == incremental


@given(st.lists(commands, min_size=1, max_size=30))
def test_read_models_are_the_fold_of_the_log_and_a_rebuild_equals_them_on_sqlite(cmds: list[tuple[Any, ...]]):
    with store_url_for("sqlite") as url, open_read_world(url, SettableClock(), run_in_process=False) as rw:
        check(rw, cmds)


@pytest.mark.postgres
@settings(max_examples=25)
@given(cmds=st.lists(commands, min_size=1, max_size=30))
def test_read_models_are_the_fold_of_the_log_and_a_rebuild_equals_them_on_postgres(
    postgres_dsn: str, cmds: list[tuple[Any, ...]]
):
    with (
        store_url_for("postgres", postgres_dsn) as url,
        open_read_world(url, SettableClock(), run_in_process=False) as rw,
    ):
        check(rw, cmds)
