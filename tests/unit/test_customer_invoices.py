"""Customer invoices (issue 18): tax decisions, rounding per line, the month's drafts at
customer prices from the same fold as the reseller's invoice, issue, pay, void, credit notes.

The world: a reseller and its customer Contoso, both in Romania; Business Premium at the
partner price 14.16 with 10 % markup in all → customer price 15.58.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from csp.aggregates.customer_invoice import (
    CreditExceedsInvoice,
    CreditRequest,
    CustomerInvoice,
    CustomerInvoiceLine,
    InvoiceNotDraft,
    InvoiceNotIssued,
    customer_invoice_id_for,
    totals,
)
from csp.aggregates.errors import InvalidInput
from csp.aggregates.tax import (
    EXEMPT_MENTION,
    REVERSE_CHARGE_MENTION,
    InvalidVatNumber,
    TaxParty,
    TaxRate,
    TaxRateMissing,
    TaxSettings,
    check_vat_number,
    tax_of,
)
from csp.clock import SettableClock
from tests.fixtures.customer_billing import CUSTOMER_JANUARY, RESELLER_JANUARY, run_a_month
from tests.support import ACTOR, World, make_world, memory_app, profile, record_agreement

RO_RATE = (TaxRate("RO", Decimal("19")),)


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def world() -> World:
    clock = SettableClock(at(1, 5))
    w = make_world(memory_app(clock), clock)
    w.app.change_tax_settings(w.reseller.id, RO_RATE, True, (), False, ACTOR)
    return w


def settings(**kw: object) -> TaxSettings:
    s = TaxSettings.open(uuid4(), actor=ACTOR, at=at(1, 1))
    s.change(
        kw.get("rates", (TaxRate("RO", Decimal("19")), TaxRate("DE", Decimal("19")))),  # type: ignore[arg-type]
        bool(kw.get("reverse_charge_eu", True)),
        kw.get("exempt", ()),  # type: ignore[arg-type]
        False,
        actor=ACTOR,
        at=at(1, 1),
    )
    return s


SELLER = TaxParty(uuid4(), "RO", "RO18547290")


# --- tax decisions --------------------------------------------------------------------------


def test_a_customer_in_the_resellers_country_pays_the_standard_rate():
    d = settings().decide(SELLER, TaxParty(uuid4(), "RO", "RO18547290"))
    assert (d.kind, d.rate_percent, d.mention) == ("standard", Decimal("19"), "")


def test_an_eu_business_customer_in_another_member_state_is_reverse_charged():
    d = settings().decide(SELLER, TaxParty(uuid4(), "DE", "DE136695976"))
    assert (d.kind, d.rate_percent, d.mention) == ("reverse_charge", Decimal(0), REVERSE_CHARGE_MENTION)


def test_an_eu_consumer_in_another_member_state_pays_its_countrys_standard_rate():
    d = settings().decide(SELLER, TaxParty(uuid4(), "DE", ""))
    assert (d.kind, d.rate_percent) == ("standard", Decimal("19"))


def test_reverse_charge_can_be_turned_off():
    d = settings(reverse_charge_eu=False).decide(SELLER, TaxParty(uuid4(), "DE", "DE136695976"))
    assert d.kind == "standard"


def test_an_exempt_organization_pays_no_vat_and_the_invoice_says_so():
    org = uuid4()
    d = settings(exempt=(org,)).decide(SELLER, TaxParty(org, "RO", ""))
    assert (d.kind, d.rate_percent, d.mention) == ("exempt", Decimal(0), EXEMPT_MENTION)


def test_rates_are_kept_as_written_without_exponents():
    s = settings(rates=(TaxRate("ro", Decimal("20.00")), TaxRate("DE", Decimal("19.50"))))
    assert [(r.country, str(r.rate_percent)) for r in s.rates] == [("DE", "19.5"), ("RO", "20")]


def test_a_country_without_a_rate_cannot_be_taxed():
    with pytest.raises(TaxRateMissing):
        settings().decide(SELLER, TaxParty(uuid4(), "FR", ""))


def test_vat_numbers_are_checked_by_format_for_the_country():
    assert check_vat_number("DE", "de 136 695 976") == "DE136695976"
    assert check_vat_number("DE", "136695976") == "DE136695976"  # the prefix is added
    assert check_vat_number("GR", "094259216") == "EL094259216"
    with pytest.raises(InvalidVatNumber) as e:
        check_vat_number("DE", "DE136695977")  # wrong check digit
    assert (e.value.code, e.value.field) == ("invalid_vat_number", "vat_number")
    with pytest.raises(InvalidVatNumber):
        check_vat_number("FR", "DE136695976")  # another country's number


def test_an_organization_with_an_invalid_vat_number_is_refused(world: World):
    with pytest.raises(InvalidVatNumber):
        world.app.register_customer(world.reseller.id, profile("Fabrikam SRL").replace(vat_number="RO123"), ACTOR)
    org = world.app.register_customer(world.reseller.id, profile("Fabrikam SRL").replace(vat_number="18547290"), ACTOR)
    assert org.profile.vat_number == "RO18547290"


def test_a_customer_may_have_its_own_currency_an_unknown_one_is_refused(world: World):
    # issue 18 item 4: a customer is invoiced in its currency (converted), or the reseller's
    org = world.app.register_customer(world.reseller.id, profile("Fabrikam SRL").replace(currency="usd"), ACTOR)
    assert org.profile.currency == "USD"
    plain = world.app.register_customer(world.reseller.id, profile("Tailspin SRL").replace(currency=""), ACTOR)
    assert plain.profile.currency == world.reseller.reseller_settings().currency
    with pytest.raises(InvalidInput) as e:
        world.app.change_organization(world.customer.id, ACTOR, currency="ZZZ")
    assert (e.value.code, e.value.field) == ("unknown_currency", "currency")


# --- rounding --------------------------------------------------------------------------------


def test_tax_is_rounded_half_up_per_line_and_the_totals_are_the_sums_of_the_lines():
    # 0.10 at 5 % is 0.005 → 0.01 per line: three lines make 0.03 (0.30 × 5 % would be 0.02)
    lines = [
        CustomerInvoiceLine(
            n, None, "x", Decimal(1), Decimal("0.10"), 0, Decimal("0.10"), Decimal(0), Decimal(0), Decimal(0)
        ).taxed(Decimal(5))
        for n in (1, 2, 3)
    ]
    assert [(x.net, x.tax, x.gross) for x in lines] == [(Decimal("0.10"), Decimal("0.01"), Decimal("0.11"))] * 3
    assert totals(lines) == (Decimal("0.30"), Decimal("0.03"), Decimal("0.33"))
    assert tax_of(Decimal("-12.06"), Decimal(19)) == Decimal("-2.29")
    assert str(tax_of(Decimal("-12.06"), Decimal(0))) == "0.00"  # not -0.00


# --- the month ---------------------------------------------------------------------------------


def january_draft(w: World) -> CustomerInvoice:
    return w.app.customer_invoice(customer_invoice_id_for(w.reseller.id, w.customer.id, "2026-01"))


def test_the_billing_run_drafts_each_customers_invoice_at_its_prices_next_to_the_resellers(world: World):
    run_a_month(world)
    world.clock.set(at(2, 1, 0))
    (invoice,) = world.app.run_billing("2026-01")
    # (line order follows the subscriptions' random ids: compared sorted)
    assert sorted((x.quantity, x.unit_price, x.days, x.amount) for x in invoice.lines) == sorted(RESELLER_JANUARY)
    assert invoice.total == Decimal("116.94")
    draft = january_draft(world)
    assert draft.status == "draft"
    assert draft.number is None
    assert sorted((x.quantity, x.unit_price, x.days, x.net, x.tax, x.gross) for x in draft.lines) == sorted(
        CUSTOMER_JANUARY
    )
    assert (draft.net, draft.tax_total, draft.gross) == (Decimal("126.53"), Decimal("24.05"), Decimal("150.58"))
    assert draft.currency == "EUR"
    # rerunning the month duplicates nothing
    assert world.app.run_billing("2026-01") == []
    assert january_draft(world).version == 1


def test_an_edited_customer_price_applies_from_that_moment(world: World):
    run_a_month(world)  # a: 5 seats at 15.58 until 28 January, 16.00 from then
    world.clock.set(at(3, 1, 0))
    world.app.run_billing("2026-01")
    world.app.run_billing("2026-02")
    feb = world.app.customer_invoice(customer_invoice_id_for(world.reseller.id, world.customer.id, "2026-02"))
    a_period = [x for x in feb.lines if x.quantity == 5]
    # the partner side is unchanged (14.16); the customer pays 5 × 16.00 for 5 Feb – 5 Mar
    assert [(x.unit_price, x.net) for x in a_period] == [(Decimal("16.00"), Decimal("80.00"))]


def test_issuing_numbers_taxes_and_freezes_the_invoice(world: World):
    run_a_month(world)
    world.clock.set(at(2, 1, 0))
    world.app.run_billing("2026-01")
    draft = january_draft(world)
    world.clock.set(at(2, 2))
    issued = world.app.issue_customer_invoice(draft.id, ACTOR)
    assert (issued.status, issued.number, issued.issued_at) == ("issued", "INV-2026-000001", at(2, 2))
    assert issued.tax is not None
    assert (issued.tax.kind, issued.tax.rate_percent) == ("standard", Decimal("19"))
    assert issued.seller is not None
    assert issued.seller.name == "CSP Platform Test"
    assert issued.buyer is not None
    assert issued.buyer.name == "Contoso SRL"
    # a rate changed later does not change it
    world.app.change_tax_settings(world.reseller.id, (TaxRate("RO", Decimal("21")),), True, (), False, ACTOR)
    again = world.app.customer_invoice(draft.id)
    assert [x.tax_rate for x in again.lines] == [Decimal("19")] * 6
    with pytest.raises(InvoiceNotDraft):
        world.app.issue_customer_invoice(draft.id, ACTOR)


def test_an_issued_customer_invoice_is_a_customer_invoice_issued_webhook(world: World):
    from csp.workers.webhooks import _data, webhook_kind

    run_a_month(world)
    world.clock.set(at(2, 1, 0))
    world.app.run_billing("2026-01")
    draft = january_draft(world)
    issued = world.app.issue_customer_invoice(draft.id, ACTOR)
    event = list(world.app.repository.event_store.get(draft.id))[-1]
    assert webhook_kind(event) == "customer_invoice.issued"
    reseller, data = _data(world.app, event)
    assert reseller == world.reseller.id
    assert (data["number"], data["gross"], data["organization_id"]) == (
        "INV-2026-000001",
        str(issued.gross),
        str(world.customer.id),
    )


def test_the_tax_decision_is_taken_at_issue_reverse_charge_for_an_eu_business(world: World):
    world.app.change_organization(world.customer.id, ACTOR, country="DE", vat_number="DE136695976")
    world.buy(1)
    world.clock.set(at(2, 1, 0))
    world.app.run_billing("2026-01")
    issued = world.app.issue_customer_invoice(january_draft(world).id, ACTOR)
    assert issued.tax is not None
    assert issued.tax.mention == REVERSE_CHARGE_MENTION
    assert [(x.net, x.tax_rate, x.tax, x.gross) for x in issued.lines] == [
        (Decimal("15.58"), Decimal(0), Decimal("0.00"), Decimal("15.58"))
    ]


def test_numbers_follow_each_other_without_gaps_per_reseller(world: World):
    other = world.app.register_customer(world.reseller.id, profile("Fabrikam SRL", "retail"), actor=ACTOR)
    record_agreement(world.app, other.id)
    world.buy(1)
    world.customer, first = other, world.customer
    tenant = world.app.request_tenant(other.id, f"t{uuid4().hex[:12]}", "create", actor=ACTOR)
    world.app.start_tenant_verification(tenant.id)
    world.tenant = world.app.record_tenant_created(tenant.id, f"v-{tenant.id}", f"admin@{tenant.domain}")
    world.buy(1)
    world.clock.set(at(2, 1, 0))
    world.app.run_billing("2026-01")
    ids = [customer_invoice_id_for(world.reseller.id, o, "2026-01") for o in (first.id, other.id)]
    # a draft voided before issue takes no number
    world.app.void_customer_invoice(ids[0], "not to be billed", ACTOR)
    with pytest.raises(InvoiceNotDraft):
        world.app.issue_customer_invoice(ids[0], ACTOR)
    assert world.app.issue_customer_invoice(ids[1], ACTOR).number == "INV-2026-000001"


def test_paid_by_hand_for_the_gross_total_only_once_issued(world: World):
    world.buy(1)
    world.clock.set(at(2, 1, 0))
    world.app.run_billing("2026-01")
    draft = january_draft(world)
    with pytest.raises(InvoiceNotIssued):
        world.app.pay_customer_invoice(draft.id, ACTOR)
    world.app.issue_customer_invoice(draft.id, ACTOR)
    with pytest.raises(InvalidInput):
        world.app.pay_customer_invoice(draft.id, ACTOR, amount=Decimal("1.00"))
    paid = world.app.pay_customer_invoice(draft.id, ACTOR, amount=Decimal("18.54"), reference="bank 42")
    assert (paid.status, paid.paid_amount, paid.payment_reference) == ("paid", Decimal("18.54"), "bank 42")
    with pytest.raises(InvoiceNotIssued):
        world.app.pay_customer_invoice(draft.id, ACTOR)


def test_a_credit_note_corrects_an_issued_invoice_which_stays_unchanged(world: World):
    run_a_month(world)
    world.clock.set(at(2, 1, 0))
    world.app.run_billing("2026-01")
    issued = world.app.issue_customer_invoice(january_draft(world).id, ACTOR)
    before = (issued.version, issued.lines, issued.gross, issued.status)
    note = world.app.credit_customer_invoice(
        issued.id, (CreditRequest("Goodwill: one seat, one month", Decimal(1), Decimal("15.58")),), "goodwill", ACTOR
    )
    assert (note.number, note.invoice_id, note.invoice_number) == ("CN-2026-000001", issued.id, "INV-2026-000001")
    assert [(x.quantity, x.net, x.tax_rate, x.tax, x.gross) for x in note.lines] == [
        (Decimal(-1), Decimal("-15.58"), Decimal("19"), Decimal("-2.96"), Decimal("-18.54"))
    ]
    after = world.app.customer_invoice(issued.id)
    assert (after.version, after.lines, after.gross, after.status) == before
    # credits never exceed the invoice
    with pytest.raises(CreditExceedsInvoice):
        world.app.credit_customer_invoice(
            issued.id, (CreditRequest("too much", Decimal(1), Decimal("140")),), "", ACTOR
        )


def test_a_draft_cannot_be_credited(world: World):
    world.buy(1)
    world.clock.set(at(2, 1, 0))
    world.app.run_billing("2026-01")
    with pytest.raises(InvoiceNotIssued):
        world.app.credit_customer_invoice(
            january_draft(world).id, (CreditRequest("x", Decimal(1), Decimal(1)),), "", ACTOR
        )


def test_the_printable_invoice_shows_quantities_and_rates_as_written(world: World):
    from csp.api.documents import invoice_html

    world.buy(10)
    world.clock.set(at(2, 1, 0))
    world.app.run_billing("2026-01")
    issued = world.app.issue_customer_invoice(january_draft(world).id, ACTOR)
    assert issued.seller is not None
    assert issued.buyer is not None
    html = invoice_html(issued, issued.seller, issued.buyer)
    assert ">10<" in html  # not 1E+1
    assert "1E+1" not in html
    assert "19 %" in html
    assert issued.number is not None
    assert issued.number in html
