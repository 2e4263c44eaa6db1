"""An issued customer invoice is emailed once to the customer's billing contact, through
the relay and the mail step like the platform's other emails, when the reseller turned
the setting on at issue (issue 18)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from csp.aggregates.customer_invoice import customer_invoice_id_for
from csp.aggregates.tax import TaxRate
from csp.application import NewLineRequest
from csp.clock import SettableClock
from tests.fixtures.sagas import world_through_sagas
from tests.support import ACTOR, BUSINESS_PREMIUM, profile, record_agreement


def _invoice_mails(system: Any) -> list[Any]:
    folder = Path(system.settings.data_dir) / "outbox"
    found = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))]
    return [m for m in found if m["X-CSP-Kind"] == "customer_invoice_issued"]


def test_an_issued_invoice_is_emailed_once_when_the_reseller_turned_it_on(saga_system_factory):
    clock = SettableClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    system = saga_system_factory(clock=clock)
    w = world_through_sagas(system)
    app = w.app
    app.change_organization(w.customer_id, ACTOR, billing_email="ap@contoso.example")
    other = app.register_customer(w.reseller_id, profile("Fabrikam SRL", "retail"), actor=ACTOR)
    record_agreement(app, other.id)
    for org_id in (w.customer_id, other.id):
        tenant = w.tenant
        if org_id == other.id:
            tenant = app.request_tenant(other.id, f"t{other.id.hex[:12]}", "create", actor=ACTOR)
            assert w.sagas.drain(30)
        order = app.create_order(org_id, actor=ACTOR)
        app.add_new_subscription_line(
            order.id, NewLineRequest(BUSINESS_PREMIUM, tenant.id, 1, "monthly", "annual", Decimal(5)), actor=ACTOR
        )
        app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    app.run_billing("2026-01")
    # given the setting on for Contoso's invoice, off for Fabrikam's
    app.change_tax_settings(w.reseller_id, (TaxRate("RO", Decimal(19)),), True, (), True, ACTOR)
    issued = app.issue_customer_invoice(customer_invoice_id_for(w.reseller_id, w.customer_id, "2026-01"), ACTOR)
    app.change_tax_settings(w.reseller_id, (TaxRate("RO", Decimal(19)),), True, (), False, ACTOR)
    app.issue_customer_invoice(customer_invoice_id_for(w.reseller_id, other.id, "2026-01"), ACTOR)
    # when the sagas run (and the relay re-derives its pending work, as after a restart)
    assert w.sagas.drain(30)
    w.sagas.relay.rederive()
    assert w.sagas.drain(30)
    # then one email, to Contoso's billing address, with the invoice's number, total and link
    (mail,) = _invoice_mails(system)
    assert mail["To"] == "ap@contoso.example"
    assert mail["Subject"] == f"Invoice {issued.number} from CSP Platform Test"
    body = mail.get_content()
    assert f"{issued.gross:,.2f} EUR" in body
    assert f"/api/v1/customer-invoices/{issued.id}?format=pdf" in body
