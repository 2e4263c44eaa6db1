"""Accounts, users, catalog customisation and quotes at the application level."""

from datetime import timedelta
from decimal import Decimal

import pytest

from csp.aggregates.errors import (
    EmailTaken,
    InvalidInput,
    InvitationExpired,
    OfferNotAvailable,
    QuoteNotOpen,
    RoleNotAssignable,
    SegmentError,
    SelfRegistrationDisabled,
    TermsNotAccepted,
    UserError,
)
from csp.aggregates.organization import ResellerSettings
from csp.aggregates.user import check_password_policy
from csp.application import NewLineRequest, QuoteLineRequest
from csp.application.accounts import NewLogin
from csp.clock import SettableClock
from tests.support import ACTOR, BUSINESS_BASIC, BUSINESS_PREMIUM, make_world, memory_app, profile

GOOD = "correct-horse-battery-staple"


@pytest.mark.parametrize(
    "password",
    ["short", "password1234", "Password123456!", "qwertyuiopasdf", "123456789012", "aaaaaaaaaaaaaa", "iloveyou2024!!"],
)
def test_weak_passwords_are_refused(password):
    with pytest.raises(InvalidInput) as e:
        check_password_policy(password)
    assert e.value.field == "password"


def test_a_long_uncommon_password_is_accepted():
    check_password_policy(GOOD, "ana@example.com")


def test_sign_up_makes_a_reseller_and_its_primary_contact_who_can_sign_in():
    app = memory_app(SettableClock())
    org, user = app.sign_up_reseller("CSP Platform Test", "RO", NewLogin("Ana@Example.com", GOOD, "Ana", "Pop"))
    assert org.kind == "reseller"
    assert org.slug == "csp-platform-test"
    assert (user.email, user.role, user.status, user.primary_contact) == (
        "ana@example.com",
        "account_manager",
        "active",
        True,
    )
    assert user.password_hash
    assert GOOD not in user.password_hash
    assert user.password_hash.startswith("$argon2id$")
    assert app.authenticate_local("ana@example.com", GOOD).id == user.id
    assert app.authenticate_local("ana@example.com", GOOD + "x") is None
    with pytest.raises(EmailTaken):
        app.sign_up_reseller("Other", "RO", NewLogin("ana@example.com", GOOD, "A", "B"))


def test_an_invitation_is_accepted_once_before_it_expires():
    clock = SettableClock()
    app = memory_app(clock)
    org, boss = app.sign_up_reseller("Reseller", "RO", NewLogin("boss@example.com", GOOD, "B", "Oss"))
    inv = app.invite_user(boss.id, "om@example.com", "order_manager", org.id)
    assert inv.user.status == "invited"
    assert inv.token not in str(inv.user.invitation_hash)
    user = app.accept_invitation(inv.token, "Olga", "Man", GOOD, accept_terms=False)
    assert user.status == "active"
    assert user.role == "order_manager"
    with pytest.raises(Exception, match="no longer valid"):
        app.accept_invitation(inv.token, "Olga", "Man", GOOD, accept_terms=False)
    late = app.invite_user(boss.id, "late@example.com", "billing", org.id)
    clock.advance(timedelta(days=8))
    with pytest.raises(InvitationExpired):
        app.accept_invitation(late.token, "L", "Ate", GOOD, accept_terms=False)
    # inviting again sends a new link
    again = app.invite_user(boss.id, "late@example.com", "billing", org.id)
    assert again.user.id == late.user.id
    assert app.accept_invitation(again.token, "L", "Ate", GOOD, accept_terms=False).is_active


def test_terms_must_be_accepted_when_the_account_requires_it():
    app = memory_app(SettableClock())
    org, boss = app.sign_up_reseller("Reseller", "RO", NewLogin("boss@example.com", GOOD, "B", "Oss"))
    app.change_settings(org.id, ResellerSettings(require_terms_acceptance=True, terms_text="Be nice."), actor=ACTOR)
    inv = app.invite_user(boss.id, "ro@example.com", "read_only", org.id)
    with pytest.raises(TermsNotAccepted):
        app.accept_invitation(inv.token, "R", "O", GOOD, accept_terms=False)
    assert app.accept_invitation(inv.token, "R", "O", GOOD, accept_terms=True).terms_accepted_at is not None


def test_roles_fit_organizations_and_only_managers_give_them():
    app = memory_app(SettableClock())
    app.ensure_catalog()
    org, boss = app.sign_up_reseller("Reseller", "RO", NewLogin("boss@example.com", GOOD, "B", "Oss"))
    customer = app.register_customer(org.id, profile("Contoso"), actor=ACTOR)
    with pytest.raises(InvalidInput):
        app.invite_user(boss.id, "x@example.com", "customer_admin", org.id)
    with pytest.raises(InvalidInput):
        app.invite_user(boss.id, "x@example.com", "order_manager", customer.id)
    admin = app.accept_invitation(
        app.invite_user(boss.id, "ca@example.com", "customer_admin", customer.id).token, "C", "A", GOOD, False
    )
    with pytest.raises(RoleNotAssignable):
        app.invite_user(admin.id, "y@example.com", "account_manager", org.id)
    assert app.invite_user(admin.id, "cu@example.com", "customer_user", customer.id).user.role == "customer_user"
    # nobody changes their own role or the primary contact's
    with pytest.raises(UserError):
        app.change_user(boss.id, boss.id, disabled=True)
    assert app.change_user(boss.id, admin.id, disabled=True).status == "disabled"


def test_api_tokens_are_stored_hashed_and_find_their_user():
    app = memory_app(SettableClock())
    _, boss = app.sign_up_reseller("Reseller", "RO", NewLogin("boss@example.com", GOOD, "B", "Oss"))
    user, token = app.issue_api_token(boss.id, "ci")
    assert token not in repr(user.tokens)
    assert app.user_by_token(token).id == boss.id
    assert app.user_by_token(token + "x") is None
    app.revoke_api_token(boss.id, boss.id, user.tokens[0].id)
    assert app.user_by_token(token) is None


def test_self_registration_needs_the_resellers_consent():
    app = memory_app(SettableClock())
    org, _ = app.sign_up_reseller("Reseller", "RO", NewLogin("boss@example.com", GOOD, "B", "Oss"))
    new = NewLogin("admin@contoso.example", GOOD, "C", "A")
    with pytest.raises(SelfRegistrationDisabled):
        app.self_register_customer(org.slug, profile("Contoso"), new, accept_terms=True)
    app.change_settings(org.id, ResellerSettings(customer_self_registration=True), actor=ACTOR)
    registered = app.self_register_customer(org.slug, profile("Contoso"), new, accept_terms=True)
    customer, admin = registered.organization, app.confirm_email(registered.token)
    assert customer.self_registered
    assert admin.role == "customer_admin"
    assert admin.organization_id == customer.id


def test_hidden_offers_and_segments_decide_what_a_customer_buys_and_at_what_price(clock):
    app = memory_app(clock)
    w = make_world(app, clock)
    other = app.register_customer(w.reseller.id, profile("Fabrikam"), actor=ACTOR)
    # hidden: nobody can buy it
    app.set_offer_visibility(w.reseller.id, BUSINESS_BASIC, False, actor=ACTOR)
    order = app.create_order(w.customer.id, actor=ACTOR)
    with pytest.raises(OfferNotAvailable):
        app.add_new_subscription_line(
            order.id, NewLineRequest(BUSINESS_BASIC, w.tenant.id, 1, "monthly", "annual"), actor=ACTOR
        )
    # a segment with a fixed price for Business Premium
    seg = app.create_segment(w.reseller.id, "Gold", (BUSINESS_PREMIUM,), (w.customer.id,), actor=ACTOR)
    app.set_segment_price(seg.id, BUSINESS_PREMIUM, actor=ACTOR, customer_price=Decimal("15.00"))
    order = app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 2, "monthly", "annual"), actor=ACTOR
    )
    assert order.lines[0].unit_customer_price == Decimal("15.00")
    # one segment per customer
    with pytest.raises(SegmentError):
        app.create_segment(w.reseller.id, "Silver", (), (w.customer.id, other.id), actor=ACTOR)
    assert [s.name for s in app.segments_of_reseller(w.reseller.id)] == ["Gold"]
    app.change_segment(seg.id, "Gold", (BUSINESS_PREMIUM,), (), actor=ACTOR)
    assert app.segment_of(w.customer.id) is None


def test_an_accepted_quote_becomes_a_draft_order_at_the_quoted_price(clock):
    app = memory_app(clock)
    w = make_world(app, clock)
    quote = app.create_quote(
        w.customer.id, [QuoteLineRequest(BUSINESS_PREMIUM, 3, "monthly", "annual", markup_percent=Decimal(5))], ACTOR
    )
    assert quote.lines[0].unit_customer_price == Decimal("15.58")
    assert quote.total == Decimal("46.74")
    quote, order = app.accept_quote(quote.id, ACTOR, tenant_id=w.tenant.id)
    assert order.status == "draft"
    assert order.lines[0].unit_customer_price == Decimal("15.58")
    assert quote.order_id == order.id
    with pytest.raises(QuoteNotOpen):
        app.accept_quote(quote.id, ACTOR, tenant_id=w.tenant.id)
