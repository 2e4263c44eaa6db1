"""Password change, forgotten-password reset and API tokens over HTTP, on SQLite and
PostgreSQL: sessions end, links are one-time, answers do not tell who has an account."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI

from csp.bootstrap import System, web_app
from csp.clock import StoredOffsetClock
from tests.fixtures.api import API, PASSWORD, Account, Client, outbox, sign_in, sign_up, wait_for_mail

pytestmark = pytest.mark.postgres
NEW = "tranquil-otter-paddles-upstream"


@pytest.fixture
def app(store_api_system: System) -> FastAPI:
    return web_app(store_api_system)


@pytest.fixture
def acct(app: FastAPI, store_api_system: System) -> Account:
    return sign_up(app, store_api_system)


def move_clock(system: System, by: timedelta) -> None:
    """The test clock moved forward (as POST /test/clock does, without the sagas' due work)."""
    clock = system.clock
    assert isinstance(clock, StoredOffsetClock)
    clock.set(clock.now() + by)


def test_changing_the_password_needs_the_current_one_and_ends_every_other_session(app: FastAPI, acct: Account):
    other_browser = sign_in(app, acct.email)
    token = acct.boss.ok("POST", "/auth/tokens", 201, json={"name": "ci"})["token"]
    # the current password is required
    r = acct.boss.post(f"{API}/auth/password", json={"current_password": "not-it-at-all", "new_password": NEW})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "current_password"
    r = acct.boss.post(f"{API}/auth/password", json={"current_password": PASSWORD, "new_password": "password1234"})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (422, "new_password")
    assert other_browser.get(f"{API}/auth/me").status_code == 200  # nothing changed yet
    # when
    changed = acct.boss.ok("POST", "/auth/password", json={"current_password": PASSWORD, "new_password": NEW})
    # then this session goes on, every other one has ended; API tokens keep working
    assert changed["other_sessions_ended"] == 1
    assert acct.boss.get(f"{API}/auth/me").status_code == 200
    assert other_browser.get(f"{API}/auth/me").status_code == 401
    assert Client(app, headers={"Authorization": f"Bearer {token}"}).get(f"{API}/auth/me").status_code == 200
    old = Client(app).post(f"{API}/auth/login", json={"email": acct.email, "password": PASSWORD})
    assert old.status_code == 401
    sign_in(app, acct.email, NEW)


def test_a_forgotten_password_is_reset_through_a_one_time_emailed_link(
    app: FastAPI, acct: Account, store_api_system: System
):
    system = store_api_system
    browser = sign_in(app, acct.email)
    visitor = Client(app)
    # the same answer for a known and an unknown address
    known = visitor.post(f"{API}/auth/password-reset", json={"email": acct.email})
    unknown = visitor.post(f"{API}/auth/password-reset", json={"email": "nobody-here@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    # the owner of the address gets the link; nobody else gets anything
    mail = wait_for_mail(system, acct.email, "password_reset")
    link = re.search(r"http://testserver/password-reset/(\S+)", mail.get_content())
    assert link, mail.get_content()
    token = link.group(1)
    time.sleep(0.3)
    assert [m["To"] for m in outbox(system, "password_reset")] == [acct.email]
    # a bad password is refused and the link still works; then it resets the password
    r = visitor.post(f"{API}/auth/password-reset/{token}", json={"password": "password1234"})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (422, "password")
    visitor.ok("POST", f"/auth/password-reset/{token}", json={"password": NEW})
    # every session of the user ended; the new password signs in, the old one not
    assert browser.get(f"{API}/auth/me").status_code == 401
    assert visitor.post(f"{API}/auth/login", json={"email": acct.email, "password": PASSWORD}).status_code == 401
    sign_in(app, acct.email, NEW)
    # single use
    r = visitor.post(f"{API}/auth/password-reset/{token}", json={"password": "another-long-passphrase"})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "reset_link_invalid")
    r = visitor.post(f"{API}/auth/password-reset/pwr_made-up", json={"password": "another-long-passphrase"})
    assert r.status_code == 404


def test_a_reset_link_expires_after_an_hour_of_the_test_clock(app: FastAPI, acct: Account, store_api_system: System):
    visitor = Client(app)
    visitor.ok("POST", "/auth/password-reset", 202, json={"email": acct.email})
    mail = wait_for_mail(store_api_system, acct.email, "password_reset")
    token = re.search(r"/password-reset/(\S+)", mail.get_content()).group(1)  # type: ignore[union-attr]
    move_clock(store_api_system, timedelta(minutes=61))
    r = visitor.post(f"{API}/auth/password-reset/{token}", json={"password": NEW})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "reset_link_expired")


def test_reset_requests_are_throttled_alike_for_known_and_unknown_addresses(app: FastAPI, acct: Account):
    visitor = Client(app)
    for email in (acct.email, "nobody-here@example.com"):
        answers = [visitor.post(f"{API}/auth/password-reset", json={"email": email}).status_code for _ in range(4)]
        assert answers == [202, 202, 202, 429]


def test_api_tokens_expire_and_are_listed_and_revoked_by_their_owner_or_an_account_manager(
    app: FastAPI, acct: Account, store_api_system: System
):
    customer = acct.customer()
    om = acct.invite("om@example.com", "order_manager", acct.reseller_id)
    ca = acct.invite("ca@example.com", "customer_admin", customer["id"])
    now = datetime.fromisoformat(om.ok("GET", "/test/clock")["now"])
    brief = om.ok(
        "POST", "/auth/tokens", 201, json={"name": "brief", "expires_at": (now + timedelta(hours=1)).isoformat()}
    )
    forever = om.ok("POST", "/auth/tokens", 201, json={"name": "ci"})
    assert brief["expires_at"] is not None
    assert forever["expires_at"] is None
    r = om.post(f"{API}/auth/tokens", json={"name": "past", "expires_at": (now - timedelta(hours=1)).isoformat()})
    assert (r.status_code, r.json()["error"]["details"]["field"]) == (422, "expires_at")

    def bearer(token: str) -> int:
        return Client(app, headers={"Authorization": f"Bearer {token}"}).get(f"{API}/auth/me").status_code

    assert bearer(brief["token"]) == 200
    move_clock(store_api_system, timedelta(hours=2))
    assert bearer(brief["token"]) == 401
    # the owner lists its tokens (never the secret) and revokes one
    listed = om.ok("GET", "/auth/tokens")
    assert listed["total"] == 2
    assert {t["name"]: t["status"] for t in listed["items"]} == {"ci": "active", "brief": "expired"}
    assert "token" not in listed["items"][0]
    assert "token_hash" not in listed["items"][0]
    om.ok("DELETE", f"/auth/tokens/{brief['id']}", 204)
    # an account manager lists and revokes another user's tokens
    theirs = acct.boss.ok("GET", f"/users/{om.ok('GET', '/auth/me')['id']}/tokens")
    assert {t["name"]: t["status"] for t in theirs["items"]} == {"ci": "active", "brief": "revoked"}
    om_id = om.ok("GET", "/auth/me")["id"]
    acct.boss.ok("DELETE", f"/users/{om_id}/tokens/{forever['id']}", 204)
    assert bearer(forever["token"]) == 401
    assert acct.boss.delete(f"{API}/users/{om_id}/tokens/{forever['id']}").status_code == 404
    # a customer admin manages its organization's users only; another reseller sees nothing
    assert ca.get(f"{API}/users/{om_id}/tokens").status_code == 404
    assert om.get(f"{API}/users/{om_id}/tokens").status_code == 403
    other = sign_up(app, acct.system, "Other Reseller")
    assert other.boss.get(f"{API}/users/{om_id}/tokens").status_code == 404
