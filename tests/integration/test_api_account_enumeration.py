"""Sign-up, self-registration and invitations answer the same over HTTP for an address
that has an account and for one that has none; the address's owner is told by email;
sign-up and self-registration are throttled (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi import FastAPI

from csp.bootstrap import System, web_app
from tests.fixtures.api import (
    API,
    PASSWORD,
    Account,
    Client,
    contoso,
    outbox,
    set_settings,
    sign_in,
    sign_up,
    wait_for_mail,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(store_api_system: System) -> FastAPI:
    return web_app(store_api_system)


@pytest.fixture
def acct(app: FastAPI, store_api_system: System) -> Account:
    return sign_up(app, store_api_system)


def shape(value: Any) -> Any:
    """The answer without its values: keys, and the type of each value."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__


def _sign_up_body(email: str, company: str = "Impostor SRL") -> dict[str, Any]:
    names = {"first_name": "Eve", "last_name": "Il"}
    return {
        "company_name": company,
        "country": "RO",
        "primary_contact": {"email": email, "password": PASSWORD, **names},
    }


def test_sign_up_answers_the_same_for_a_known_and_an_unknown_address(app: FastAPI, acct: Account):
    system = acct.system
    visitor = Client(app)
    known = visitor.post(f"{API}/resellers", json=_sign_up_body(acct.email))
    unknown = visitor.post(f"{API}/resellers", json=_sign_up_body("fresh-address@example.com"))
    assert known.status_code == unknown.status_code == 201
    assert shape(known.json()) == shape(unknown.json())
    assert known.json()["primary_contact"]["status"] == unknown.json()["primary_contact"]["status"] == "invited"
    # neither can sign in before its address is confirmed: the same answer again
    for email in (acct.email, "fresh-address@example.com"):
        r = Client(app).post(f"{API}/auth/login", json={"email": email, "password": PASSWORD + "-not"})
        assert r.json()["error"]["code"] == "invalid_credentials"
    r = Client(app).post(f"{API}/auth/login", json={"email": "fresh-address@example.com", "password": PASSWORD})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_credentials")
    # the owner of the known address is told; the new address gets its link
    notice = wait_for_mail(system, acct.email, "address_taken")
    assert "no new account can use it" in notice.get_content()
    mail = wait_for_mail(system, "fresh-address@example.com", "email_confirmation")
    link = re.search(r"http://testserver/confirm-email/(\S+)", mail.get_content())
    assert link
    time.sleep(0.3)
    links = sorted(m["To"] for m in outbox(system, "email_confirmation"))
    assert links == sorted([acct.email, "fresh-address@example.com"])  # the first: its own sign-up; none since
    visitor.ok("POST", f"/auth/confirm-email/{link.group(1)}")
    sign_in(app, "fresh-address@example.com")
    r = visitor.post(f"{API}/auth/confirm-email/{link.group(1)}")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "invitation_invalid")
    # the taken address's account never comes to life, even with its token (test mode)
    r = visitor.post(f"{API}/auth/confirm-email/{known.json()['confirm_token']}")
    assert (r.status_code, r.json()["error"]["code"]) == (409, "email_taken")
    assert Client(app).post(f"{API}/auth/login", json={"email": acct.email, "password": PASSWORD}).status_code == 200


def test_self_registration_answers_the_same_for_a_known_and_an_unknown_address(
    app: FastAPI, acct: Account, store_api_system: System
):
    set_settings(store_api_system, acct.reseller_id, customer_self_registration=True)
    visitor = Client(app)

    def register(email: str, name: str) -> Any:
        admin = {"email": email, "password": PASSWORD, "first_name": "F", "last_name": "A"}
        return visitor.post(f"{API}/resellers/{acct.slug}/customers", json={**contoso(name), "admin": admin})

    known, unknown = register(acct.email, "Known SRL"), register("admin@fresh.example", "Fresh SRL")
    assert known.status_code == unknown.status_code == 201
    assert shape(known.json()) == shape(unknown.json())
    wait_for_mail(store_api_system, acct.email, "address_taken")
    wait_for_mail(store_api_system, "admin@fresh.example", "email_confirmation")


def test_an_invitation_across_resellers_answers_as_any_invitation(app: FastAPI, acct: Account):
    system = acct.system
    other = sign_up(app, system, "Other Reseller")
    body = {"role": "billing", "organization_id": str(acct.reseller_id)}
    taken = acct.boss.post(f"{API}/users/invitations", json={**body, "email": other.email})
    fresh = acct.boss.post(f"{API}/users/invitations", json={**body, "email": "fresh-invitee@example.com"})
    assert taken.status_code == fresh.status_code == 201
    assert shape(taken.json()) == shape(fresh.json())
    assert taken.json()["email_sent"] is fresh.json()["email_sent"] is True
    # again: a new link for the same invited user, as for any invitation
    again = acct.boss.ok("POST", "/users/invitations", 201, json={**body, "email": other.email})
    assert again["user"]["id"] == taken.json()["user"]["id"]
    assert system.projector is not None
    system.projector.sync(5)
    listed = {u["email"]: u["status"] for u in acct.boss.ok("GET", "/users")["items"]}
    assert (listed[other.email], listed["fresh-invitee@example.com"]) == ("invited", "invited")
    # the owner gets a notice, never a link
    wait_for_mail(system, other.email, "invitation_address_taken")
    assert [m["To"] for m in outbox(system, "invitation")] == ["fresh-invitee@example.com"]
    accept = {"first_name": "B", "last_name": "B", "password": PASSWORD, "accept_terms": True}
    r = Client(app).post(f"{API}/invitations/{again['accept_token']}/accept", json=accept)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "email_taken")
    # the account's own user: no secret to its account manager
    r = acct.boss.post(f"{API}/users/invitations", json={**body, "email": acct.email})
    assert (r.status_code, r.json()["error"]["code"]) == (409, "email_taken")


def test_sign_up_and_self_registration_are_throttled(app: FastAPI, acct: Account, store_api_system: System):
    visitor = Client(app)
    same_email = [visitor.post(f"{API}/resellers", json=_sign_up_body("again@example.com", f"R{i}")) for i in range(4)]
    assert [r.status_code for r in same_email] == [201, 201, 201, 429]
    assert int(same_email[-1].headers["Retry-After"]) > 0
    # 10 an hour from one client address: the account's own sign-up and the 4 above (the
    # refused one too: every attempt counts) were the first 5
    answers = [
        visitor.post(f"{API}/resellers", json=_sign_up_body(f"n{i}@example.com", f"N{i}")).status_code for i in range(7)
    ]
    assert answers == [201] * 5 + [429] * 2
    set_settings(store_api_system, acct.reseller_id, customer_self_registration=True)
    admin = {"email": "a@example.com", "password": PASSWORD, "first_name": "F", "last_name": "A"}
    regs = [
        visitor.post(f"{API}/resellers/{acct.slug}/customers", json={**contoso(f"C{i}"), "admin": admin}).status_code
        for i in range(4)
    ]
    assert regs == [201, 201, 201, 429]
