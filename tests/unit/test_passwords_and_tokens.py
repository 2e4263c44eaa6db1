"""Password change, forgotten-password reset and API tokens, at the application level."""

from __future__ import annotations

from datetime import timedelta

import pytest

from csp.aggregates.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    PasswordResetExpired,
    PasswordResetInvalid,
    UserError,
)
from csp.application import CspApplication
from csp.application.accounts import NewLogin
from csp.clock import SettableClock
from tests.support import memory_app

GOOD = "correct-horse-battery-staple"
NEW = "tranquil-otter-paddles-upstream"


@pytest.fixture
def app(clock: SettableClock) -> CspApplication:
    return memory_app(clock)


def test_a_password_change_needs_the_current_password_and_a_good_new_one(app: CspApplication):
    _, user = app.sign_up_reseller("Acme", "RO", NewLogin("ana@example.com", GOOD, "Ana", "Pop"))
    with pytest.raises(InvalidInput) as e:
        app.change_password(user.id, "not-my-password", NEW)
    assert e.value.field == "current_password"
    with pytest.raises(InvalidInput) as e:
        app.change_password(user.id, GOOD, "password1234")
    assert e.value.field == "new_password"
    with pytest.raises(InvalidInput) as e:
        app.change_password(user.id, GOOD, GOOD)
    assert (e.value.field, e.value.details["reason"]) == ("new_password", "must differ from your current password")
    app.change_password(user.id, GOOD, NEW)
    assert app.authenticate_local("ana@example.com", GOOD) is None
    assert app.authenticate_local("ana@example.com", NEW) is not None


def test_a_reset_link_is_one_time_expiring_and_single_use(app: CspApplication, clock: SettableClock):
    _, user = app.sign_up_reseller("Acme", "RO", NewLogin("ana@example.com", GOOD, "Ana", "Pop"))
    # an unknown address makes no link (and the caller cannot tell: the API answers the same)
    assert app.request_password_reset("nobody@example.com").token is None
    first = app.request_password_reset("ANA@example.com")
    assert first.user is not None
    assert first.user.id == user.id
    assert first.token
    assert first.token not in str(app.user(user.id).__dict__)
    # a newer link makes the older one useless
    second = app.request_password_reset("ana@example.com")
    assert second.token
    with pytest.raises(PasswordResetInvalid):
        app.reset_password(first.token, NEW)
    # a weak password is refused and the link still works
    with pytest.raises(InvalidInput) as e:
        app.reset_password(second.token, "password1234")
    assert e.value.field == "password"
    app.reset_password(second.token, NEW)
    assert app.authenticate_local("ana@example.com", NEW) is not None
    # used once: never again
    with pytest.raises(PasswordResetInvalid):
        app.reset_password(second.token, "another-long-passphrase-here")
    with pytest.raises(NotFound):
        app.reset_password("pwr_made-up", NEW)
    # a link expires an hour after it was sent
    third = app.request_password_reset("ana@example.com")
    clock.advance(timedelta(minutes=61))
    with pytest.raises(PasswordResetExpired):
        app.reset_password(third.token or "", "another-long-passphrase-here")
    # changing the password ends a pending link too
    fourth = app.request_password_reset("ana@example.com")
    app.change_password(user.id, NEW, "yet-another-long-passphrase")
    with pytest.raises(PasswordResetInvalid):
        app.reset_password(fourth.token or "", "another-long-passphrase-here")


def test_only_an_active_local_user_gets_a_reset_link(app: CspApplication):
    org, boss = app.sign_up_reseller("Acme", "RO", NewLogin("ana@example.com", GOOD, "Ana", "Pop"))
    app.invite_user(boss.id, "invited@example.com", "billing", org.id)
    assert app.request_password_reset("invited@example.com").token is None
    other = app.invite_user(boss.id, "off@example.com", "billing", org.id)
    app.accept_invitation(other.token, "Off", "User", GOOD, accept_terms=True)
    app.change_user(boss.id, other.user.id, disabled=True)
    assert app.request_password_reset("off@example.com").token is None


def test_api_tokens_expire_and_are_listed_and_revoked_by_their_owner_or_an_account_manager(
    app: CspApplication, clock: SettableClock
):
    org, boss = app.sign_up_reseller("Acme", "RO", NewLogin("ana@example.com", GOOD, "Ana", "Pop"))
    inv = app.invite_user(boss.id, "om@example.com", "order_manager", org.id)
    om = app.accept_invitation(inv.token, "Om", "User", GOOD, accept_terms=True)
    _, forever = app.issue_api_token(om.id, "ci")
    _, brief = app.issue_api_token(om.id, "brief", expires_at=clock.now() + timedelta(hours=1))
    with pytest.raises(InvalidInput) as e:
        app.issue_api_token(om.id, "past", expires_at=clock.now() - timedelta(seconds=1))
    assert e.value.field == "expires_at"
    assert app.user_by_token(brief) is not None
    clock.advance(timedelta(hours=2))
    assert app.user_by_token(brief) is None  # expired
    assert app.user_by_token(forever) is not None
    # listed, with their state, by the owner and by an account manager; nobody else
    listed = {t.name: t for t in app.api_tokens(om.id, om.id)}
    assert listed["brief"].status(clock.now()) == "expired"
    assert listed["ci"].status(clock.now()) == "active"
    assert [t.name for t in app.api_tokens(boss.id, om.id)] == ["ci", "brief"]
    with pytest.raises(Forbidden):
        app.api_tokens(om.id, boss.id)
    # revoked by an account manager: dead at once
    app.revoke_api_token(boss.id, om.id, listed["ci"].id)
    assert app.user_by_token(forever) is None
    with pytest.raises(NotFound):
        app.revoke_api_token(om.id, om.id, listed["ci"].id)
    # another reseller's account manager does not see them at all
    _, stranger = app.sign_up_reseller("Other", "RO", NewLogin("bob@example.com", GOOD, "Bob", "Ro"))
    with pytest.raises(NotFound):
        app.api_tokens(stranger.id, om.id)


def test_a_microsoft_user_is_told_where_its_password_is_changed(app: CspApplication):
    org, boss = app.sign_up_reseller("Acme", "RO", NewLogin("ana@example.com", GOOD, "Ana", "Pop"))
    from csp.aggregates.organization import ResellerSettings

    app.change_settings(org.id, ResellerSettings(sign_in_methods=("local", "microsoft_work")), actor="system:test")
    inv = app.invite_user(boss.id, "ms@example.com", "billing", org.id, "microsoft_work")
    user = app.accept_invitation(inv.token, "Ms", "User", None, accept_terms=True)
    with pytest.raises(UserError) as e:
        app.change_password(user.id, "anything-at-all", NEW)
    assert "Microsoft" in e.value.message
