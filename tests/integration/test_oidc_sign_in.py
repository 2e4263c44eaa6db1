"""Signing in with Microsoft personal and work accounts through the real flow: a browser-like
HTTP client follows the redirects from the API (on loopback) to an OpenID provider (on
loopback, ``tests.fixtures.oidc``) and back."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import httpx
import pytest

from csp.aggregates.user import User
from csp.persistence import oidc_states
from tests.fixtures.api import PASSWORD, Account, Client
from tests.fixtures.oidc import MicrosoftIdp, MsAccount, ServedApi

API = "/api/v1"
ME = f"{API}/auth/me"
JSON = {"Accept": "application/json"}


def email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"


class Reseller:
    """A reseller account signed up over HTTP, its primary contact signed in."""

    def __init__(self, api: ServedApi, methods: tuple[str, ...] = ("local", "microsoft_personal", "microsoft_work")):
        self.api = api
        self.email = email("boss")
        self.boss = api.browser()
        r = self.boss.post(
            f"{API}/resellers",
            json={
                "company_name": "Contoso Cloud",
                "country": "RO",
                "primary_contact": {"email": self.email, "password": PASSWORD, "first_name": "Ana", "last_name": "Pop"},
            },
        )
        assert r.status_code == 201, r.text
        self.id = r.json()["id"]
        confirmed = self.boss.post(f"{API}/auth/confirm-email/{r.json()['confirm_token']}")
        assert confirmed.status_code == 200, confirmed.text
        r = self.boss.post(f"{API}/auth/login", json={"email": self.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.boss.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        self.allow(*methods)

    def allow(self, *methods: str) -> dict[str, Any]:
        r = self.boss.put(f"{API}/settings", json={"sign_in_methods": list(methods)})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def invite(self, who: str, method: str, accept: bool = True) -> UUID:
        r = self.boss.post(
            f"{API}/users/invitations",
            json={"email": who, "role": "order_manager", "organization_id": self.id, "sign_in_method": method},
        )
        assert r.status_code == 201, r.text
        if accept:
            r2 = self.api.browser().post(
                f"{API}/invitations/{r.json()['accept_token']}/accept",
                json={"first_name": "Ioana", "last_name": "Micu", "accept_terms": True},
            )
            assert r2.status_code == 201, r2.text
        return UUID(r.json()["user"]["id"])

    def user(self, user_id: UUID) -> User:
        return self.api.system.app.user(user_id)


def sign_in(
    browser: httpx.Client, method: str, next_path: str = ME, headers: dict[str, str] | None = None
) -> httpx.Response:
    return browser.get(f"{API}/auth/oidc/{method}/start", params={"next": next_path}, headers=headers)


def refused_with(r: httpx.Response) -> str:
    """The error code of a browser sign-in that ended on the portal's login page."""
    assert r.url.path == "/login", (r.url, r.status_code, r.text)
    return r.url.params["error"]


# --- success -------------------------------------------------------------------------


def test_a_personal_account_signs_in_and_is_bound_at_its_first_sign_in(oidc_api: ServedApi, idp: MicrosoftIdp):
    # given a user invited to sign in with a personal Microsoft account, who accepted
    reseller = Reseller(oidc_api)
    who = email("ioana")
    user_id = reseller.invite(who, "microsoft_personal")
    idp.account = MsAccount.personal(who)
    # when it signs in through Microsoft
    browser = oidc_api.browser()
    r = sign_in(browser, "microsoft_personal")
    # then it lands on `next`, signed in, after start → Microsoft → callback
    assert r.status_code == 200, r.text
    assert r.json()["email"] == who
    assert [h.status_code for h in r.history] == [302, 302, 303]
    assert r.history[0].headers["location"].startswith(f"{idp.url}/consumers/oauth2/v2.0/authorize?")
    assert "code_challenge_method=S256" in r.history[0].headers["location"]
    user = reseller.user(user_id)
    assert user.identity is not None
    assert (user.identity.method, user.identity.tenant_id, user.identity.subject) == (
        "microsoft_personal",
        "9188040d-6c67-4c5b-b112-36a304b66dad",
        idp.account.oid,
    )
    assert user.identity.issuer == f"{idp.url}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    # a later sign-in matches the identity, even after the email changed at Microsoft
    version = user.version
    idp.account.email = email("renamed")
    again = sign_in(oidc_api.browser(), "microsoft_personal")
    assert again.status_code == 200
    assert again.json()["id"] == str(user_id)
    assert reseller.user(user_id).version == version  # nothing new recorded


def test_a_work_account_signs_in_with_its_own_tenant_as_issuer(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api)
    who = email("mihai")
    user_id = reseller.invite(who, "microsoft_work")
    idp.account = MsAccount.work(who)  # no email claim: preferred_username (the UPN) carries it
    r = sign_in(oidc_api.browser(), "microsoft_work")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == str(user_id)
    assert r.history[0].headers["location"].startswith(f"{idp.url}/organizations/oauth2/v2.0/authorize?")
    identity = reseller.user(user_id).identity
    assert identity is not None
    assert identity.tenant_id == idp.account.tenant_id
    assert identity.issuer == f"{idp.url}/{idp.account.tenant_id}/v2.0"


def test_a_client_asking_for_json_gets_the_login_answer_and_reads_its_csrf_token_later(
    oidc_api: ServedApi, idp: MicrosoftIdp
):
    reseller = Reseller(oidc_api)
    who = email("json")
    reseller.invite(who, "microsoft_personal")
    idp.account = MsAccount.personal(who)
    browser = oidc_api.browser()
    r = sign_in(browser, "microsoft_personal", headers=JSON)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["email"] == who
    assert body["user"]["identity_linked"] is True
    session = browser.get(f"{API}/auth/session").json()
    assert session["csrf_token"] == body["csrf_token"]
    # the session works for changes with that token
    r = browser.post(f"{API}/auth/tokens", json={"name": "cli"}, headers={"X-CSRF-Token": body["csrf_token"]})
    assert r.status_code == 201, r.text


# --- the provider's token refused -------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("tampered", "signature"),
        ("unpublished_key", "signature"),
        ("wrong_audience", "audience"),
        ("expired", "expired"),
        ("other_tenant_issuer", "issuer"),
        ("wrong_nonce", "nonce"),
    ],
)
def test_a_bad_id_token_is_refused_and_binds_nothing(oidc_api: ServedApi, idp: MicrosoftIdp, fault: str, reason: str):
    reseller = Reseller(oidc_api)
    who = email("victim")
    user_id = reseller.invite(who, "microsoft_work")
    idp.account = MsAccount.work(who)
    idp.fault = fault
    # a browser lands on the login page with the code
    assert refused_with(sign_in(oidc_api.browser(), "microsoft_work")) == "id_token_invalid"
    # a client asking for JSON gets the envelope, with the reason
    r = sign_in(oidc_api.browser(), "microsoft_work", headers=JSON)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "id_token_invalid"
    assert r.json()["error"]["details"]["reason"] == reason
    assert "csp_session" not in r.cookies
    assert reseller.user(user_id).identity is None


# --- the flow's state refused -------------------------------------------------------------


def test_a_replayed_callback_is_refused(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api)
    who = email("replay")
    reseller.invite(who, "microsoft_personal")
    idp.account = MsAccount.personal(who)
    browser = oidc_api.browser()
    r = sign_in(browser, "microsoft_personal")
    assert r.status_code == 200
    callback = r.history[1].headers["location"]
    tokens = idp.token_requests
    # the same callback again (state and code), from the same browser
    assert refused_with(browser.get(callback)) == "state_invalid"
    assert idp.token_requests == tokens  # the code never went back to the provider


def test_a_callback_in_another_browser_is_refused(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api)
    who = email("csrf")
    reseller.invite(who, "microsoft_personal")
    idp.account = MsAccount.personal(who)
    attacker = oidc_api.browser()
    attacker.follow_redirects = False
    to_idp = sign_in(attacker, "microsoft_personal").headers["location"]
    callback = httpx.get(to_idp).headers["location"]
    # the victim's browser is made to open the attacker's callback
    victim = oidc_api.browser()
    assert refused_with(victim.get(callback)) == "state_invalid"
    assert "csp_session" not in victim.cookies


def test_an_expired_sign_in_is_refused(oidc_api: ServedApi, idp: MicrosoftIdp, monkeypatch: pytest.MonkeyPatch):
    reseller = Reseller(oidc_api)
    who = email("slow")
    reseller.invite(who, "microsoft_personal")
    idp.account = MsAccount.personal(who)
    browser = oidc_api.browser()
    browser.follow_redirects = False
    to_idp = sign_in(browser, "microsoft_personal").headers["location"]
    later = oidc_api.settings.oidc_state_ttl_seconds + 1
    real = oidc_states.wall_time
    monkeypatch.setattr(oidc_states, "wall_time", lambda: real() + later)
    callback = httpx.get(to_idp).headers["location"]
    browser.follow_redirects = True
    assert refused_with(browser.get(callback)) == "state_expired"


def test_declining_consent_at_microsoft_is_refused_clearly(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api)
    who = email("shy")
    reseller.invite(who, "microsoft_personal")
    idp.account = MsAccount.personal(who)
    idp.deny = True
    assert refused_with(sign_in(oidc_api.browser(), "microsoft_personal")) == "consent_denied"
    r = sign_in(oidc_api.browser(), "microsoft_personal", headers=JSON)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "consent_denied")


# --- the platform's rules ---------------------------------------------------------------


def test_a_method_the_account_no_longer_allows_is_refused(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api)
    who = email("work")
    user_id = reseller.invite(who, "microsoft_work")
    reseller.allow("local", "microsoft_personal")  # work accounts turned off afterwards
    idp.account = MsAccount.work(who)
    assert refused_with(sign_in(oidc_api.browser(), "microsoft_work")) == "sign_in_method_not_allowed"
    r = sign_in(oidc_api.browser(), "microsoft_work", headers=JSON)
    assert r.status_code == 403
    assert "does not allow" in r.json()["error"]["message"]
    assert reseller.user(user_id).identity is None


def test_another_microsoft_account_is_the_wrong_account(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api)
    who = email("right")
    user_id = reseller.invite(who, "microsoft_personal")
    # an account whose email nobody was invited with
    idp.account = MsAccount.personal(email("stranger"))
    assert refused_with(sign_in(oidc_api.browser(), "microsoft_personal")) == "wrong_account"
    assert reseller.user(user_id).identity is None
    # once bound, another Microsoft account with the same email is still the wrong one
    idp.account = MsAccount.personal(who)
    assert sign_in(oidc_api.browser(), "microsoft_personal").status_code == 200
    idp.account = MsAccount.personal(who)  # a new oid
    r = sign_in(oidc_api.browser(), "microsoft_personal", headers=JSON)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "wrong_account")


def test_the_primary_contact_keeps_the_local_method(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api)
    idp.account = MsAccount.personal(reseller.email)
    r = sign_in(oidc_api.browser(), "microsoft_personal", headers=JSON)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "wrong_sign_in_method")
    assert "account created here" in r.json()["error"]["message"]


def test_an_invitation_must_be_accepted_before_the_first_sign_in(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api)
    who = email("later")
    reseller.invite(who, "microsoft_work", accept=False)
    idp.account = MsAccount.work(who)
    assert refused_with(sign_in(oidc_api.browser(), "microsoft_work")) == "invitation_not_accepted"


def test_rotated_keys_are_fetched_again(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api)
    who = email("rotate")
    reseller.invite(who, "microsoft_personal")
    idp.account = MsAccount.personal(who)
    assert sign_in(oidc_api.browser(), "microsoft_personal").status_code == 200
    fetched = idp.key_requests
    idp.rotate_keys()
    assert sign_in(oidc_api.browser(), "microsoft_personal").status_code == 200
    assert idp.key_requests == fetched + 1


def test_next_must_be_a_path_of_this_site(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api)
    who = email("next")
    reseller.invite(who, "microsoft_personal")
    idp.account = MsAccount.personal(who)
    browser = oidc_api.browser()
    r = sign_in(browser, "microsoft_personal", next_path="https://evil.example/phish")
    callback = next(h for h in r.history if h.url.path.endswith("/callback"))
    assert callback.headers["location"] == "/"  # the site's home, never the foreign address
    assert r.url.host == "127.0.0.1"
    assert "csp_session" in browser.cookies


def test_changing_a_users_method_unbinds_its_microsoft_account(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api)
    who = email("switch")
    user_id = reseller.invite(who, "microsoft_personal")
    idp.account = MsAccount.personal(who)
    browser = oidc_api.browser()
    assert sign_in(browser, "microsoft_personal").status_code == 200
    # the account manager moves the user to a work account: its sessions end
    r = reseller.boss.patch(f"{API}/users/{user_id}", json={"sign_in_method": "microsoft_work"})
    assert r.status_code == 200, r.text
    assert (r.json()["sign_in_method"], r.json()["identity_linked"]) == ("microsoft_work", False)
    assert browser.get(ME).status_code == 401
    rows = reseller.boss.get(f"{API}/users").json()["items"]
    assert {u["email"]: u["sign_in_method"] for u in rows}[who] == "microsoft_work"  # the users list follows
    assert refused_with(sign_in(oidc_api.browser(), "microsoft_personal")) == "wrong_sign_in_method"
    idp.account = MsAccount.work(who)
    assert sign_in(oidc_api.browser(), "microsoft_work").json()["id"] == str(user_id)
    # and the primary contact's method cannot change
    boss_id = reseller.boss.get(ME).json()["id"]
    r = reseller.boss.patch(f"{API}/users/{boss_id}", json={"sign_in_method": "microsoft_work"})
    assert r.status_code == 409


def test_settings_offer_the_methods_the_platform_is_set_up_for(oidc_api: ServedApi, idp: MicrosoftIdp):
    reseller = Reseller(oidc_api, methods=("local",))
    settings = reseller.boss.get(f"{API}/settings").json()
    assert settings["available_sign_in_methods"] == ["local", "microsoft_personal", "microsoft_work"]
    assert settings["sign_in_methods"] == ["local"]
    r = reseller.boss.put(f"{API}/settings", json={"sign_in_methods": ["microsoft_work"]})
    assert r.status_code == 422  # the primary contact signs in locally
    # inviting with a method the account does not allow is refused
    r = reseller.boss.post(
        f"{API}/users/invitations",
        json={
            "email": email("x"),
            "role": "billing",
            "organization_id": reseller.id,
            "sign_in_method": "microsoft_personal",
        },
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "sign_in_method"


def test_a_platform_without_microsoft_sign_in_says_so(account: Account, visitor: Client):
    # the API of tests.fixtures.api: no provider configured
    start = f"{API}/auth/oidc/microsoft_work/start"
    r = visitor.get(start, headers=JSON, follow_redirects=False)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "sign_in_method_unavailable")
    r = visitor.get(start, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login?error=sign_in_method_unavailable")
    r = visitor.get(f"{API}/auth/oidc/google/callback?code=x&state=y", headers=JSON)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "sign_in_method_unavailable")
    assert account.boss.ok("GET", "/settings")["available_sign_in_methods"] == ["local"]
    r = account.boss.put(f"{API}/settings", json={"sign_in_methods": ["local", "microsoft_work"]})
    assert r.status_code == 422
    assert "not set up on this platform" in r.json()["error"]["message"]
