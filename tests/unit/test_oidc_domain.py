"""Signing in with an outside identity, at the application level: who may, binding at the
first sign-in, one identity per user, and changing a user's method."""

from __future__ import annotations

import uuid

import pytest

from csp.aggregates.errors import (
    InvalidInput,
    InvitationNotAccepted,
    NoLocalPassword,
    SignInMethodNotAllowed,
    UserDisabled,
    UserError,
    WrongAccount,
    WrongSignInMethod,
)
from csp.aggregates.organization import Organization, ResellerSettings
from csp.aggregates.user import ExternalIdentity, User
from csp.application import CspApplication
from csp.application.accounts import NewLogin
from csp.clock import SettableClock
from tests.support import memory_app

GOOD = "correct-horse-battery-staple"
CONSUMERS = "9188040d-6c67-4c5b-b112-36a304b66dad"


def personal(subject: str | None = None) -> ExternalIdentity:
    return ExternalIdentity(
        method="microsoft_personal",
        issuer=f"https://login.microsoftonline.com/{CONSUMERS}/v2.0",
        tenant_id=CONSUMERS,
        subject=subject or str(uuid.uuid4()),
    )


def work(tenant: str = "72f988bf-86f1-41af-91ab-2d7cd011db47", subject: str | None = None) -> ExternalIdentity:
    return ExternalIdentity(
        method="microsoft_work",
        issuer=f"https://login.microsoftonline.com/{tenant}/v2.0",
        tenant_id=tenant,
        subject=subject or str(uuid.uuid4()),
    )


@pytest.fixture
def app() -> CspApplication:
    return memory_app(SettableClock())


@pytest.fixture
def boss(app: CspApplication) -> User:
    org, boss = app.sign_up_reseller("Reseller", "RO", NewLogin("boss@example.com", GOOD, "B", "Oss"))
    allow(app, org.id, "local", "microsoft_personal", "microsoft_work")
    return boss


def allow(app: CspApplication, reseller_id: uuid.UUID, *methods: str) -> None:
    org = app.load(Organization, reseller_id, "organization")
    settings: ResellerSettings = org.reseller_settings().replace(sign_in_methods=methods)
    app.change_settings(reseller_id, settings, actor="system:test")


def invited(app: CspApplication, boss: User, email: str, method: str, accept: bool = True) -> User:
    inv = app.invite_user(boss.id, email, "order_manager", boss.reseller_id, method)
    if accept:
        return app.accept_invitation(inv.token, "Ioana", "Micu", None, accept_terms=False)
    return inv.user


def test_the_first_sign_in_binds_the_identity_to_the_invited_email(app: CspApplication, boss: User):
    user = invited(app, boss, "ioana@example.com", "microsoft_personal")
    identity = personal()
    # the token's email matches whatever its case and spaces
    signed_in = app.sign_in_with_identity(identity, [" Ioana@Example.com "])
    assert signed_in.id == user.id
    assert app.user(user.id).identity == identity
    assert app.user_by_identity(identity) is not None
    events = [type(e).__name__ for e in app.events.get(user.id)]
    assert events[-1] == "IdentityBound"
    # later sign-ins match the identity, whatever email the token carries then
    assert app.sign_in_with_identity(identity, ["new-name@example.com"]).id == user.id
    assert [type(e).__name__ for e in app.events.get(user.id)] == events


def test_preferred_username_matches_when_there_is_no_email(app: CspApplication, boss: User):
    user = invited(app, boss, "mihai@contoso.example", "microsoft_work")
    assert app.sign_in_with_identity(work(), ["not-an-email", "mihai@contoso.example"]).id == user.id


def test_an_unknown_email_is_the_wrong_account_and_nothing_is_saved(app: CspApplication, boss: User):
    invited(app, boss, "ioana@example.com", "microsoft_personal")
    identity = personal()
    before = app.recorder.max_notification_id()
    with pytest.raises(WrongAccount, match="ask your account manager"):
        app.sign_in_with_identity(identity, ["stranger@example.com"])
    with pytest.raises(WrongAccount):
        app.sign_in_with_identity(identity, [])
    assert app.recorder.max_notification_id() == before


def test_a_bound_user_refuses_another_identity_with_its_email(app: CspApplication, boss: User):
    user = invited(app, boss, "ioana@example.com", "microsoft_personal")
    app.sign_in_with_identity(personal("first"), ["ioana@example.com"])
    with pytest.raises(WrongAccount, match="linked to another"):
        app.sign_in_with_identity(personal("second"), ["ioana@example.com"])
    assert app.user(user.id).identity == personal("first")


def test_subjects_are_compared_with_their_case(app: CspApplication, boss: User):
    invited(app, boss, "a@example.com", "microsoft_personal")
    invited(app, boss, "b@example.com", "microsoft_personal")
    a = app.sign_in_with_identity(personal("AbC"), ["a@example.com"])
    b = app.sign_in_with_identity(personal("aBc"), ["b@example.com"])
    assert a.id != b.id
    assert app.sign_in_with_identity(personal("aBc"), []).id == b.id


def test_the_same_subject_in_another_tenant_is_another_identity(app: CspApplication, boss: User):
    invited(app, boss, "a@contoso.example", "microsoft_work")
    app.sign_in_with_identity(work("11111111-1111-1111-1111-111111111111", "same"), ["a@contoso.example"])
    with pytest.raises(WrongAccount):
        app.sign_in_with_identity(work("22222222-2222-2222-2222-222222222222", "same"), ["x@fabrikam.example"])


def test_a_user_signs_in_only_with_its_own_method(app: CspApplication, boss: User):
    invited(app, boss, "work@example.com", "microsoft_work")
    with pytest.raises(WrongSignInMethod, match="signs in with a work Microsoft account"):
        app.sign_in_with_identity(personal(), ["work@example.com"])
    app.accept_invitation(
        app.invite_user(boss.id, "local@example.com", "billing", boss.reseller_id).token, "L", "O", GOOD, False
    )
    with pytest.raises(WrongSignInMethod, match="account created here"):
        app.sign_in_with_identity(work(), ["local@example.com"])


def test_the_account_must_allow_the_method(app: CspApplication, boss: User):
    user = invited(app, boss, "ioana@example.com", "microsoft_work")
    allow(app, boss.reseller_id, "local", "microsoft_personal")
    with pytest.raises(SignInMethodNotAllowed, match="does not allow"):
        app.sign_in_with_identity(work(), ["ioana@example.com"])
    assert app.user(user.id).identity is None


def test_the_primary_contact_signs_in_locally_only(app: CspApplication, boss: User):
    with pytest.raises(WrongSignInMethod, match="account created here"):
        app.sign_in_with_identity(personal(), ["boss@example.com"])
    manager = app.accept_invitation(
        app.invite_user(boss.id, "am@example.com", "account_manager", boss.reseller_id).token, "A", "M", GOOD, False
    )
    with pytest.raises(UserError, match="primary contact"):
        app.change_user(manager.id, boss.id, sign_in_method="microsoft_personal")
    with pytest.raises(UserError, match="primary contact always signs in with a local account"):
        boss.change_sign_in_method("microsoft_personal", ("local", "microsoft_personal"), "system:test", app.now())


def test_an_invited_or_disabled_user_cannot_sign_in(app: CspApplication, boss: User):
    waiting = invited(app, boss, "later@example.com", "microsoft_personal", accept=False)
    with pytest.raises(InvitationNotAccepted):
        app.sign_in_with_identity(personal(), ["later@example.com"])
    assert app.user(waiting.id).identity is None
    gone = invited(app, boss, "gone@example.com", "microsoft_personal")
    identity = personal()
    app.sign_in_with_identity(identity, ["gone@example.com"])
    app.change_user(boss.id, gone.id, disabled=True)
    with pytest.raises(UserDisabled):
        app.sign_in_with_identity(identity, [])


def test_a_new_method_releases_the_identity_for_a_new_binding(app: CspApplication, boss: User):
    user = invited(app, boss, "ioana@example.com", "microsoft_personal")
    old = personal()
    app.sign_in_with_identity(old, ["ioana@example.com"])
    changed = app.change_user(boss.id, user.id, sign_in_method="microsoft_work")
    assert (changed.sign_in_method, changed.identity) == ("microsoft_work", None)
    assert app.user_by_identity(old) is None
    new = work()
    assert app.sign_in_with_identity(new, ["ioana@example.com"]).id == user.id
    # the released identity can bind again (to whoever has its email and method)
    app.change_user(boss.id, user.id, sign_in_method="microsoft_personal")
    assert app.sign_in_with_identity(old, ["ioana@example.com"]).id == user.id


def test_a_user_without_a_password_cannot_move_to_the_local_method(app: CspApplication, boss: User):
    user = invited(app, boss, "ioana@example.com", "microsoft_personal")
    with pytest.raises(NoLocalPassword):
        app.change_user(boss.id, user.id, sign_in_method="local")
    local = app.accept_invitation(
        app.invite_user(boss.id, "loc@example.com", "billing", boss.reseller_id).token, "L", "O", GOOD, False
    )
    app.change_user(boss.id, local.id, sign_in_method="microsoft_work")
    assert app.authenticate_local("loc@example.com", GOOD) is None  # the password no longer signs in
    app.change_user(boss.id, local.id, sign_in_method="local")
    assert app.authenticate_local("loc@example.com", GOOD) is not None


def test_a_method_the_platform_does_not_offer_cannot_be_allowed(app: CspApplication, boss: User):
    org, _ = app.sign_up_reseller("Other", "RO", NewLogin("other@example.com", GOOD, "O", "T"))
    settings = org.reseller_settings().replace(sign_in_methods=("local", "microsoft_work"))
    with pytest.raises(InvalidInput, match="not set up on this platform"):
        app.change_settings(org.id, settings, actor="system:test", offered_methods=("local",))
    # one allowed already stays allowed when the platform stops offering it
    allowed = app.load(Organization, boss.reseller_id, "organization").reseller_settings()
    app.change_settings(
        boss.reseller_id, allowed.replace(customer_self_registration=True), "system:test", offered_methods=("local",)
    )
