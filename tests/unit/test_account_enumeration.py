"""Signing up, self-registering and inviting answer the same for an address that has an
account and for one that has none: the account waits for its email to be confirmed, and
an address that is taken is told so by email, never the asker (application level)."""

from __future__ import annotations

import pytest

from csp.aggregates.errors import EmailTaken, InvitationInvalid
from csp.aggregates.organization import ResellerSettings
from csp.application import CspApplication
from csp.application.accounts import NewLogin
from csp.clock import SettableClock
from tests.support import memory_app, profile

GOOD = "correct-horse-battery-staple"
OTHER = "a-different-long-passphrase"


@pytest.fixture
def app(clock: SettableClock) -> CspApplication:
    return memory_app(clock)


def test_a_public_sign_up_waits_until_its_address_is_confirmed(app: CspApplication):
    signed = app.start_reseller_sign_up("Acme", "RO", NewLogin("ana@example.com", GOOD, "Ana", "Pop"))
    assert signed.taken_by is None
    assert (signed.user.status, signed.user.primary_contact, signed.organization.slug) == ("invited", True, "acme")
    assert app.authenticate_local("ana@example.com", GOOD) is None  # not before the address is confirmed
    user = app.confirm_email(signed.token)
    assert user.status == "active"
    assert app.authenticate_local("ana@example.com", GOOD) is not None
    with pytest.raises(InvitationInvalid):
        app.confirm_email(signed.token)  # once


def test_a_sign_up_with_a_taken_address_looks_the_same_and_never_activates(app: CspApplication):
    _, owner = app.sign_up_reseller("Owner", "RO", NewLogin("ana@example.com", GOOD, "Ana", "Pop"))
    signed = app.start_reseller_sign_up("Impostor", "RO", NewLogin("ANA@example.com", OTHER, "Eve", "Il"))
    assert signed.taken_by is not None
    assert signed.taken_by.id == owner.id  # to be told by email
    assert (signed.user.status, signed.organization.slug) == ("invited", "impostor")  # as any sign-up
    assert app.authenticate_local("ana@example.com", OTHER) is None
    with pytest.raises(EmailTaken):
        app.confirm_email(signed.token)
    assert app.authenticate_local("ana@example.com", GOOD).id == owner.id  # type: ignore[union-attr]


def test_a_self_registration_with_a_taken_address_looks_the_same(app: CspApplication):
    org, owner = app.sign_up_reseller("Reseller", "RO", NewLogin("boss@example.com", GOOD, "B", "Oss"))
    app.change_settings(org.id, ResellerSettings(customer_self_registration=True), actor="system:test")
    fresh = app.self_register_customer(
        org.slug or "", profile("Contoso"), NewLogin("c@example.com", GOOD, "C", "A"), True
    )
    taken = app.self_register_customer(
        org.slug or "", profile("Fabrikam"), NewLogin("boss@example.com", OTHER, "E", "V"), True
    )
    assert fresh.taken_by is None
    assert taken.taken_by is not None
    assert taken.taken_by.id == owner.id
    assert fresh.user.status == taken.user.status == "invited"
    app.confirm_email(fresh.token)
    assert app.authenticate_local("c@example.com", GOOD) is not None
    with pytest.raises(EmailTaken):
        app.confirm_email(taken.token)


def test_an_invitation_to_another_accounts_address_looks_like_any_invitation(app: CspApplication):
    a, boss_a = app.sign_up_reseller("A", "RO", NewLogin("a@example.com", GOOD, "A", "A"))
    _, boss_b = app.sign_up_reseller("B", "RO", NewLogin("b@example.com", GOOD, "B", "B"))
    invited = app.invite_user(boss_a.id, "b@example.com", "billing", a.id)
    assert invited.taken_by is not None
    assert invited.taken_by.id == boss_b.id  # told by email, instead of the link
    assert (invited.user.status, invited.user.reseller_id) == ("invited", a.id)
    again = app.invite_user(boss_a.id, "b@example.com", "read_only", a.id)  # a new link, the same user
    assert again.user.id == invited.user.id
    with pytest.raises(EmailTaken):
        app.accept_invitation(again.token, "Bee", "Bee", OTHER, accept_terms=True)
    fresh = app.invite_user(boss_a.id, "new@example.com", "billing", a.id)
    assert fresh.taken_by is None
    app.accept_invitation(fresh.token, "New", "User", GOOD, accept_terms=True)
    # an address of its own account is no secret to an account manager
    with pytest.raises(EmailTaken):
        app.invite_user(boss_a.id, "new@example.com", "billing", a.id)
