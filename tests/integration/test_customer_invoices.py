"""Customer invoices on SQLite and PostgreSQL (issue 18): a month with additions inside
and outside the window, a suspension and a trial conversion gives the reseller's invoice
(unchanged by this feature) and the customer's, cent by cent, in the aggregates and in the
read model; a credit note leaves the issued invoice as it was; two processes issuing at
once take consecutive numbers, none skipped, none twice."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from csp.aggregates.customer_invoice import CreditRequest, customer_invoice_id_for
from csp.aggregates.tax import TaxRate
from csp.application import CspApplication
from csp.persistence import eventsourcing_env
from tests.fixtures.customer_billing import CUSTOMER_JANUARY, RESELLER_JANUARY, at, run_a_month
from tests.fixtures.readside import ReadWorld
from tests.support import ACTOR, profile, record_agreement

pytestmark = pytest.mark.postgres


def _money_lines(lines: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return sorted(
        (Decimal(str(x["quantity"])), x["unit_price"], x["days"], x["net"], x["tax"], x["gross"]) for x in lines
    )


def test_a_month_bills_the_reseller_and_each_customer_cent_by_cent(read_world: ReadWorld):
    # given January's changes, and a 19 % rate for Romania
    w = read_world.world()
    w.app.change_tax_settings(w.reseller.id, (TaxRate("RO", Decimal("19")),), True, (), False, ACTOR)
    run_a_month(w)
    # when February starts and the month is billed
    w.clock.set(at(2, 1, 0))
    (invoice,) = w.app.run_billing("2026-01")
    # then the reseller's invoice is what it always was ...
    assert sorted((x.quantity, x.unit_price, x.days, x.amount) for x in invoice.lines) == sorted(RESELLER_JANUARY)
    assert invoice.total == Decimal("116.94")
    # ... and Contoso's draft has the same lines at its prices, taxed per line
    draft_id = customer_invoice_id_for(w.reseller.id, w.customer.id, "2026-01")
    draft = w.app.customer_invoice(draft_id)
    assert sorted((x.quantity, x.unit_price, x.days, x.net, x.tax, x.gross) for x in draft.lines) == sorted(
        CUSTOMER_JANUARY
    )
    read_world.sync()
    row = read_world.read.customer_invoice(draft_id)
    assert row is not None
    assert (row["status"], row["number"], row["net"], row["tax"], row["gross"]) == (
        "draft",
        None,
        Decimal("126.53"),
        Decimal("24.05"),
        Decimal("150.58"),
    )
    assert _money_lines(row["lines"]) == sorted(CUSTOMER_JANUARY)
    assert w.app.run_billing("2026-01") == []  # nothing twice

    # when it is issued and then corrected by a credit note
    issued = w.app.issue_customer_invoice(draft_id, ACTOR)
    before = (issued.version, issued.number, issued.lines, issued.gross)
    note = w.app.credit_customer_invoice(
        draft_id, (CreditRequest("Goodwill", Decimal(1), Decimal("15.58")),), "goodwill", ACTOR
    )
    # then the invoice is unchanged, and the note references it
    again = w.app.customer_invoice(draft_id)
    assert (again.version, again.number, again.lines, again.gross) == before
    assert (note.invoice_id, note.invoice_number, note.gross) == (draft_id, "INV-2026-000001", Decimal("-18.54"))
    read_world.sync()
    row = read_world.read.customer_invoice(draft_id)
    assert row is not None
    assert (row["status"], row["number"], row["gross"], row["credited"]) == (
        "issued",
        "INV-2026-000001",
        Decimal("150.58"),
        Decimal("18.54"),
    )
    assert [(n["number"], n["gross"]) for n in row["credit_notes"]] == [("CN-2026-000001", Decimal("-18.54"))]
    listed = read_world.read.customer_invoices(w.reseller.id, period="2026-01", status="issued")
    assert [i["number"] for i in listed.items] == ["INV-2026-000001"]


def test_two_processes_issuing_at_once_take_consecutive_numbers(read_world: ReadWorld):
    # given four customers with a draft each
    w = read_world.world()
    w.app.change_tax_settings(w.reseller.id, (TaxRate("RO", Decimal("19")),), True, (), False, ACTOR)
    ids = []
    for n in range(4):
        org = w.app.register_customer(w.reseller.id, profile(f"Customer {n} SRL", "retail"), actor=ACTOR)
        record_agreement(w.app, org.id)
        tenant = w.app.request_tenant(org.id, f"t{org.id.hex[:12]}", "create", actor=ACTOR)
        w.app.start_tenant_verification(tenant.id)
        w.customer, w.tenant = org, w.app.record_tenant_created(tenant.id, f"v-{tenant.id}", f"admin@{tenant.domain}")
        w.buy(1)
        ids.append(customer_invoice_id_for(w.reseller.id, org.id, "2026-01"))
    w.clock.set(at(2, 1, 0))
    w.app.run_billing("2026-01")
    # when two application instances (two processes' worth) issue two each at the same moment
    other = CspApplication(env=eventsourcing_env(read_world.database), clock=w.clock)
    barrier = threading.Barrier(4)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def issue(app: CspApplication, invoice_id: object) -> None:
        try:
            barrier.wait()
            numbers.append(app.issue_customer_invoice(invoice_id, ACTOR).number or "")  # type: ignore[arg-type]
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=issue, args=(app, i)) for app, i in zip([w.app, other] * 2, ids, strict=True)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        other.close()
    # then the numbers are 1 to 4, each once
    assert errors == []
    assert sorted(numbers) == [f"INV-2026-{n:06d}" for n in range(1, 5)]
