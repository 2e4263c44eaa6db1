"""Binding a Microsoft identity on each event store (SQLite, PostgreSQL): stored and read
back, and bound once when two first sign-ins race."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from csp.aggregates.organization import Organization
from csp.aggregates.user import ExternalIdentity, User
from csp.application import CspApplication
from csp.application.accounts import NewLogin

GOOD = "correct-horse-battery-staple"


def invited_user(app: CspApplication, email: str) -> User:
    org, boss = app.sign_up_reseller(f"R {uuid.uuid4().hex[:6]}", "RO", NewLogin(f"b-{email}", GOOD, "B", "O"))
    settings = org.reseller_settings().replace(sign_in_methods=("local", "microsoft_work"))
    app.change_settings(org.id, settings, actor="system:test")
    inv = app.invite_user(boss.id, email, "read_only", org.id, "microsoft_work")
    return app.accept_invitation(inv.token, "W", "O", None, accept_terms=False)


def test_two_racing_first_sign_ins_bind_the_identity_once(store_app: CspApplication):
    user = invited_user(store_app, "race@contoso.example")
    identity = ExternalIdentity("microsoft_work", "https://issuer/t/v2.0", str(uuid.uuid4()), "Oid-With-Case")
    start = threading.Barrier(4)

    def first_sign_in() -> User:
        start.wait()
        return store_app.retrying(lambda: store_app.sign_in_with_identity(identity, ["race@contoso.example"]))

    with ThreadPoolExecutor(4) as pool:
        users = list(pool.map(lambda _: first_sign_in(), range(4)))
    assert {u.id for u in users} == {user.id}
    events = [type(e).__name__ for e in store_app.events.get(user.id)]
    assert events.count("IdentityBound") == 1
    # read back from the store, the value object intact
    stored = store_app.repository.get(user.id)
    assert stored.identity == identity
    assert store_app.user_by_identity(identity).id == user.id
    assert store_app.load(Organization, user.reseller_id, "organization").reseller_settings().sign_in_methods == (
        "local",
        "microsoft_work",
    )
