"""The caller of a request is read once per user and kept per process, yet a change made
through one API process (a role removed, a user disabled, self-service turned off) is
refused at once by another on the same database: two apps, one store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from csp.bootstrap import System, bootstrap, web_app
from csp.settings import Settings
from tests.fixtures.api import API, Account, Client, contoso, sign_in, sign_up


@pytest.fixture(params=["sqlite", "postgres"])
def two_apps(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[System, FastAPI, FastAPI]]:
    """Two API processes' apps over one store (each its own application, aggregate cache
    and caller cache; sessions in that store); the first runs the projections."""
    from tests.support import postgres_schema

    base: dict[str, Any] = {"data_dir": tmp_path, "test_mode": True, "public_url": "http://testserver"}
    with contextlib.ExitStack() as stack:
        if request.param == "postgres":
            url = request.getfixturevalue("postgres_dsn")
            base["database_url"] = f"{url}?schema={stack.enter_context(postgres_schema(url))}"
        first = bootstrap(Settings(**base))
        stack.callback(first.close)
        assert first.projector is not None
        first.projector.start()
        second = bootstrap(Settings(**base), load_catalog=False)
        stack.callback(second.close)
        yield first, web_app(first), web_app(second)


def _same_session_on(app: FastAPI, client: Client) -> Client:
    """The signed-in session of ``client``, sent to another process."""
    other = Client(app)
    other.cookies.update(client.cookies)
    other.headers["X-CSRF-Token"] = client.headers["X-CSRF-Token"]
    return other


def _account_with(a: FastAPI, system: System, role: str) -> tuple[Account, Client, dict[str, Any]]:
    account = sign_up(a, system)
    customer = account.customer()
    email = f"{role}-{account.slug}@example.com"
    organization = customer["id"] if role.startswith("customer") else account.reseller_id
    return account, account.invite(email, role, organization), customer


def test_a_role_removed_through_one_process_is_refused_at_once_by_another(two_apps: tuple[System, FastAPI, FastAPI]):
    system, a, b = two_apps
    account, manager_on_a, _ = _account_with(a, system, "order_manager")
    manager_on_b = _same_session_on(b, manager_on_a)
    # given B has read the order manager once (and may keep it)
    manager_on_b.ok("POST", "/organizations", 201, json=contoso("First SRL"))
    me = manager_on_b.ok("GET", "/auth/me")
    # when the account manager makes it read-only through A
    account.boss.ok("PATCH", f"/users/{me['id']}", json={"role": "read_only"})
    # then B refuses its next write, and says read-only
    r = manager_on_b.post(f"{API}/organizations", json=contoso("Second SRL"))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["details"]["role"] == "read_only"
    assert manager_on_b.ok("GET", "/auth/me")["role"] == "read_only"


def test_a_user_disabled_through_one_process_is_signed_out_at_once_by_another(
    two_apps: tuple[System, FastAPI, FastAPI],
):
    system, a, b = two_apps
    account, manager_on_a, customer = _account_with(a, system, "order_manager")
    token = manager_on_a.ok("POST", "/auth/tokens", 201, json={"name": "ci"})["token"]
    by_token_on_b = Client(b, headers={"Authorization": f"Bearer {token}"})
    manager_on_b = _same_session_on(b, manager_on_a)
    by_token_on_b.ok("GET", f"/organizations/{customer['id']}/orders")
    me = manager_on_b.ok("GET", "/auth/me")
    account.boss.ok("PATCH", f"/users/{me['id']}", json={"disabled": True})
    assert manager_on_b.get(f"{API}/auth/me").status_code == 401
    assert by_token_on_b.get(f"{API}/organizations/{customer['id']}/orders").status_code == 401


def test_self_service_turned_off_through_one_process_is_refused_at_once_by_another(
    two_apps: tuple[System, FastAPI, FastAPI],
):
    system, a, b = two_apps
    account, admin_on_a, customer = _account_with(a, system, "customer_admin")
    admin_on_b = _same_session_on(b, admin_on_a)
    account.boss.ok("PUT", "/settings", json={"customer_self_service": True})
    admin_on_b.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    account.boss.ok("PUT", "/settings", json={"customer_self_service": False})
    r = admin_on_b.post(f"{API}/organizations/{customer['id']}/orders", json={})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "self_service_disabled"
    # and back on: allowed again at once
    account.boss.ok("PUT", "/settings", json={"customer_self_service": True})
    admin_on_b.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})


def test_an_unchanged_caller_is_not_read_again(api_app: FastAPI, api_system: System, monkeypatch: pytest.MonkeyPatch):
    account = sign_up(api_app, api_system)
    customer = account.customer()
    reads: list[object] = []
    app = api_system.app
    original = app.user
    monkeypatch.setattr(app, "user", lambda user_id: reads.append(user_id) or original(user_id))
    for _ in range(3):
        account.boss.ok("GET", f"/organizations/{customer['id']}/orders")
    assert len(reads) <= 1
    # a change to the user (here: its own password) is read again
    account.boss.ok(
        "POST",
        "/auth/password",
        json={"current_password": "correct-horse-battery-staple", "new_password": "another-long-passphrase-42"},
    )
    before = len(reads)
    account.boss.ok("GET", f"/organizations/{customer['id']}/orders")
    assert len(reads) == before + 1


def test_a_session_ended_in_one_process_is_ended_in_another(two_apps: tuple[System, FastAPI, FastAPI]):
    system, a, b = two_apps
    account = sign_up(a, system)
    on_b = _same_session_on(b, account.boss)
    on_b.ok("GET", "/auth/me")
    account.boss.ok("POST", "/auth/logout", 204)
    assert on_b.get(f"{API}/auth/me").status_code == 401
    assert sign_in(b, account.email).ok("GET", "/auth/me")["email"] == account.email
