"""The portal's password and token pages without JavaScript: My account (change the
password, make and revoke API tokens), a user's tokens for its manager, and the
forgotten-password pages."""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from csp.bootstrap import System
from tests.fixtures.api import API, PASSWORD, Account, outbox
from tests.unit.test_portal_pages import Browser, log_in

NEW = "tranquil-otter-paddles-upstream"


def _mail(system: System, to: str, kind: str) -> Any:
    for _ in range(200):
        found = [m for m in outbox(system, kind) if m["To"] == to]
        if found:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no {kind} email to {to}")


def test_my_account_changes_the_password_and_ends_the_other_sign_ins(api_app: FastAPI, account: Account):
    here = log_in(api_app, account.email)
    elsewhere = log_in(api_app, account.email)
    html = here.page("/catalog")
    assert 'href="/account"' in html  # the email in the top bar leads to My account
    here.page("/account")
    wrong = here.submit(
        "/account/password",
        {"current_password": "not-my-password", "new_password": NEW, "confirm_password": NEW},
        status=422,
    ).text
    assert 'id="current_password-error"' in wrong
    mismatch = here.submit(
        "/account/password",
        {"current_password": PASSWORD, "new_password": NEW, "confirm_password": NEW + "x"},
        status=422,
    ).text
    assert 'id="confirm_password-error"' in mismatch
    r = here.submit("/account/password", {"current_password": PASSWORD, "new_password": NEW, "confirm_password": NEW})
    assert r.headers["location"] == "/account"
    assert "Every other sign-in of your account has ended" in here.page("/account")
    # the other browser is signed out; this one goes on
    assert elsewhere.get("/account", follow_redirects=False).headers["location"].startswith("/login")
    log_in(api_app, account.email, NEW)


def test_my_account_makes_a_token_shows_it_once_and_revokes_it(api_app: FastAPI, account: Account):
    b = log_in(api_app, account.email)
    b.page("/account")
    html = b.submit("/account/tokens", {"name": "billing export", "lifetime": "30"}, status=200).text
    token = re.search(r"<code>(csp_[^<]+)</code>", html)
    assert token, html
    api = TestClient(api_app, headers={"Authorization": f"Bearer {token.group(1)}"})
    assert api.get(f"{API}/auth/me").status_code == 200
    listed = b.page("/account")
    assert "billing export" in listed
    assert token.group(1) not in listed  # shown once
    found = re.search(r'action="(/account/tokens/[^"]+/revoke)"', listed)
    assert found
    b.submit(found.group(1), {})
    assert api.get(f"{API}/auth/me").status_code == 401
    assert "Revoked" in b.page("/account")


def test_an_account_manager_revokes_another_users_token(api_app: FastAPI, account: Account):
    om = account.invite("om-tokens@example.com", "order_manager", account.reseller_id)
    token = om.ok("POST", "/auth/tokens", 201, json={"name": "script"})
    om_id = om.ok("GET", "/auth/me")["id"]
    boss = log_in(api_app, account.email)
    assert f'href="/users/{om_id}/tokens"' in boss.page("/users")
    html = boss.page(f"/users/{om_id}/tokens")
    assert "script" in html
    boss.submit(f"/users/{om_id}/tokens/{token['id']}/revoke", {})
    api = TestClient(api_app, headers={"Authorization": f"Bearer {token['token']}"})
    assert api.get(f"{API}/auth/me").status_code == 401
    # the order manager may not manage another's tokens
    om_browser = log_in(api_app, "om-tokens@example.com")
    assert om_browser.get(f"/users/{om_id}/tokens").status_code == 403


def test_a_forgotten_password_is_reset_from_the_log_in_page(api_app: FastAPI, account: Account, api_system: System):
    v = Browser(api_app)
    assert 'href="/password-reset"' in v.page("/login")
    v.page("/password-reset")
    known = v.submit("/password-reset", {"email": account.email}, status=200).text
    v.page("/password-reset")
    unknown = v.submit("/password-reset", {"email": "nobody-here@example.com"}, status=200).text
    sent = re.compile(r"<p class=\"notice\" role=\"status\" data-reset-sent>([^<]+)</p>")
    said = [sent.search(html) for html in (known, unknown)]
    assert said[0] is not None
    assert said[1] is not None
    assert said[0].group(1) == said[1].group(1)
    mail = _mail(api_system, account.email, "password_reset")
    link = re.search(r"http://testserver(/password-reset/\S+)", mail.get_content())
    assert link
    v.page(link.group(1))
    bad = v.submit(link.group(1), {"password": NEW, "confirm_password": "different-again"}, status=422).text
    assert 'id="confirm_password-error"' in bad
    r = v.submit(link.group(1), {"password": NEW, "confirm_password": NEW})
    assert r.headers["location"] == "/login"
    log_in(api_app, account.email, NEW)
    # the link works once
    used = v.get(link.group(1))
    assert used.status_code == 409
    assert "used already" in used.text
    assert v.get("/password-reset/pwr_made-up").status_code == 404


def test_signing_up_in_the_portal_shows_the_same_page_for_a_taken_address(api_app: FastAPI, account: Account):
    def sign_up_as(email: str) -> str:
        b = Browser(api_app)
        b.page("/signup")
        form = {"company_name": "Northwind", "country": "ro", "first_name": "N", "last_name": "W"}
        html = b.submit("/signup", {**form, "email": email, "password": PASSWORD}, status=200).text
        assert not b.cookies.get("csp_session")  # nobody is signed in before confirming
        return html

    def said(html: str) -> str:
        found = re.search(r"data-check-email>([^<]+)<", html)
        assert found
        return found.group(1)

    taken, free = sign_up_as(account.email), sign_up_as("north@wind.example")
    assert said(taken).replace(account.email, "X") == said(free).replace("north@wind.example", "X")
    link = re.search(r'href="(/confirm-email/[^"]+)" data-confirm-link', free)
    assert link
    b = Browser(api_app)
    b.page(link.group(1))
    b.submit(link.group(1), {})
    log_in(api_app, "north@wind.example")
