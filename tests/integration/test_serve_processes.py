"""Several API processes on the same data: what one process decides, every other knows.

- Two ``csp serve`` processes on two ports (the second with its projections and sagas
  elsewhere): sign in through one, act through the other, read your own write through
  either at once (the writer waits on the position signal of the process that applies
  the events: ``NOTIFY`` on PostgreSQL, datagram sockets beside a SQLite file); signing
  out through one ends the session in both; the login throttle's limit holds across
  them. On SQLite (everything in its files), PostgreSQL, and PostgreSQL with sessions and
  throttles in Redis.
- ``csp serve --workers 2`` on the embedded default: both API processes answer; an API
  process, the projections' process and the sagas' process killed with SIGKILL are
  restarted and the service goes on (orders placed after each kill are provisioned and
  read back at once); a webhook registered through an API process is signed by the
  sagas' process (one key file); stopping ``csp serve`` leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_api_walkthrough import FAST, free_port
from tests.fixtures.api import AGREEMENT_JSON, API, PASSWORD, contoso
from tests.fixtures.webhooks import Receiver, ReceiverServer
from tests.support import BUSINESS_PREMIUM, postgres_schema


def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
            if found:
                return found
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Csp:
    """``csp`` processes of one test, their output in one log, all ended at the end."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CSP_")}
        self.env.update({**FAST, "CSP_DATA_DIR": str(tmp), **env})
        self.log = tmp / "processes.log"
        self.procs: list[subprocess.Popen[bytes]] = []

    def serve(self, *args: str, **env: str) -> str:
        port = free_port()
        with self.log.open("ab") as out:
            p = subprocess.Popen(
                [sys.executable, "-m", "csp", "serve", "--port", str(port), *args],
                env={**self.env, "CSP_PUBLIC_URL": f"http://127.0.0.1:{port}", **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(p)
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert p.poll() is None, f"csp serve stopped: {self.log.read_text()[-3000:]}"
            return httpx.get(f"{base}{API}/readyz", timeout=5).status_code == 200

        until(ready, f"csp serve {' '.join(args)}", 90)
        return base

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


class User:
    """A signed-in session; ``on(base)`` sends the same cookies to another process."""

    def __init__(self, cookies: httpx.Cookies, csrf: str) -> None:
        self.cookies = cookies
        self.csrf = csrf

    def on(self, base: str) -> httpx.Client:
        return httpx.Client(base_url=base + API, cookies=self.cookies, headers={"X-CSRF-Token": self.csrf}, timeout=30)


def sign_up_and_in(base: str) -> tuple[str, User]:
    email = f"multi-{uuid.uuid4().hex[:8]}@example.com"
    visitor = httpx.Client(base_url=base + API, timeout=30)
    r = visitor.post(
        "/resellers",
        json={
            "company_name": "Many Processes SRL",
            "country": "RO",
            "primary_contact": {"email": email, "password": PASSWORD, "first_name": "Ana", "last_name": "Pop"},
        },
    )
    assert r.status_code == 201, r.text
    assert visitor.post(f"/auth/confirm-email/{r.json()['confirm_token']}").status_code == 200
    login = visitor.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return email, User(visitor.cookies, login.json()["csrf_token"])


@pytest.fixture(params=["sqlite", "postgres", "postgres+redis"])
def store_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    pg = request.getfixturevalue("postgres_dsn")
    with postgres_schema(pg) as schema:
        env = {"CSP_DATABASE_URL": f"{pg}?schema={schema}"}
        if request.param == "postgres+redis":
            env["CSP_SESSION_URL"] = request.getfixturevalue("api_redis_url")
            env["CSP_REDIS_PREFIX"] = request.getfixturevalue("api_redis_prefix")
        yield env


@pytest.mark.postgres
def test_two_api_processes_share_sessions_writes_and_throttles(tmp_path: Path, store_env: dict[str, str]) -> None:
    csp = Csp(tmp_path, store_env)
    try:
        a = csp.serve()
        # B applies no events and runs no sagas: its writes are read back through A's
        b = csp.serve(CSP_PROJECTIONS_IN_PROCESS="false", CSP_SAGAS_IN_PROCESS="false")
        email, user = sign_up_and_in(a)
        on_a, on_b = user.on(a), user.on(b)

        # signed in through A, acting through B, reading through A at once
        org = on_b.post("/organizations", json=contoso("Contoso Across SRL"))
        assert org.status_code == 201, org.text
        org_id = org.json()["id"]
        assert on_b.post(f"/organizations/{org_id}/agreement", json=AGREEMENT_JSON).status_code == 201
        assert on_a.get(f"/organizations/{org_id}").json()["name"] == "Contoso Across SRL"
        listed = on_a.get("/organizations").json()["items"]
        assert org_id in [o["id"] for o in listed]
        order = on_b.post(f"/organizations/{org_id}/orders", json={})
        assert order.status_code == 201, order.text
        for base_client in (on_a, on_b):  # B's write, read through either
            rows = base_client.get(f"/organizations/{org_id}/orders").json()["items"]
            assert [r["id"] for r in rows] == [order.json()["id"]]
        # and A's write, read through B at once (B waits on A's position signal)
        renamed = on_a.patch(f"/organizations/{org_id}", json={"name": "Contoso Renamed SRL"})
        assert renamed.status_code == 200, renamed.text
        assert on_b.get(f"/organizations/{org_id}").json()["name"] == "Contoso Renamed SRL"

        # signing out through B ends the session in A too
        assert on_b.post("/auth/logout").status_code in (200, 204)
        assert on_a.get("/organizations").status_code == 401

        # the login throttle counts attempts made through both processes
        statuses = []
        for i in range(8):
            base = (a, b)[i % 2]
            r = httpx.post(f"{base}{API}/auth/login", json={"email": email, "password": "wrong-password-x"}, timeout=30)
            statuses.append(r.status_code)
        assert statuses[:5] == [401] * 5, statuses
        assert statuses[5:] == [429] * 3, statuses
        for base in (a, b):  # even the right password waits now, on either
            r = httpx.post(f"{base}{API}/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
            assert r.status_code == 429, r.text
    finally:
        csp.stop()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(x) for x in text]
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _answering_pids(base: str, tries: int = 60) -> set[int]:
    pids: set[int] = set()
    for _ in range(tries):  # each request on a new connection: the kernel picks the process
        r = httpx.get(f"{base}{API}/readyz", timeout=10)
        pids.add(int(r.json()["checks"]["process"]["pid"]))
        if len(pids) >= 2:
            break
    return pids


def _place_and_provision(client: httpx.Client, org_id: str, tenant_id: str) -> None:
    order = client.post(f"/organizations/{org_id}/orders", json={})
    assert order.status_code == 201, order.text
    oid = order.json()["id"]
    line = client.post(
        f"/orders/{oid}/lines",
        json={"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant_id, "quantity": 1, "billing_cycle": "monthly"},
    )
    assert line.status_code == 201, line.text
    placed = client.post(f"/orders/{oid}/place", json={"accept_terms": True})
    assert placed.status_code == 202, placed.text
    # read your own write at once, whichever process answers
    assert client.get(f"/orders/{oid}").json()["status"] in ("placed", "provision_started", "provision_finished")
    rows = client.get(f"/organizations/{org_id}/orders").json()["items"]
    assert oid in [r["id"] for r in rows]
    until(lambda: client.get(f"/orders/{oid}").json()["status"] == "provision_finished", "provisioning", 60)


def test_serve_with_two_workers_restarts_what_is_killed_and_leaves_nothing_behind(tmp_path: Path) -> None:
    csp = Csp(tmp_path, {})
    try:
        base = csp.serve("--workers", "2")
        parent = csp.procs[0]
        assert len(_answering_pids(base)) == 2
        kids = {pid: _cmdline(pid) for pid in _children(parent.pid)}
        role = {
            "projections": [p for p, c in kids.items() if " project" in c],
            "sagas": [p for p, c in kids.items() if "sagas run" in c],
            "vendor": [p for p, c in kids.items() if "vendor-sim" in c],
            "api": [p for p, c in kids.items() if "spawn_main" in c],
        }
        assert all(len(v) == 1 for k, v in role.items() if k != "api"), kids
        assert len(role["api"]) == 2, kids

        _, user = sign_up_and_in(base)
        client = user.on(base)
        org = client.post("/organizations", json=contoso()).json()
        assert client.post(f"/organizations/{org['id']}/agreement", json=AGREEMENT_JSON).status_code == 201
        tenant = client.post(
            f"/organizations/{org['id']}/tenants", json={"domain": f"t{uuid.uuid4().hex[:12]}", "mode": "create"}
        ).json()
        until(lambda: client.get(f"/tenants/{tenant['id']}").json()["status"] == "created", "the tenant", 60)
        # a webhook registered through an API process (which seals its secret) is signed by
        # the sagas' process (which opens it): they share the key file beside the data
        with ReceiverServer(Receiver()) as receiver:
            hook = client.post("/webhooks", json={"url": receiver.url, "events": ["order.placed"]})
            assert hook.status_code == 201, hook.text
            receiver.secret = hook.json()["secret"]
            _place_and_provision(client, org["id"], tenant["id"])
            until(lambda: receiver.of_type("order.placed"), "the signed webhook", 30)
            assert receiver.bad_signatures == 0
        assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600

        for victim in ("api", "projections", "sagas"):
            os.kill(role[victim][0], signal.SIGKILL)
            if victim == "api":
                until(
                    lambda: len([p for p in _children(parent.pid) if "spawn_main" in _cmdline(p)]) == 2,
                    "uvicorn to restart the API process",
                )
            else:
                until(
                    lambda v=victim: any(  # type: ignore[misc]
                        (" project" in _cmdline(p)) if v == "projections" else ("sagas run" in _cmdline(p))
                        for p in _children(parent.pid)
                        if p not in role[v]
                    ),
                    f"the {victim} process to be restarted",
                )
            until(lambda: httpx.get(f"{base}{API}/readyz", timeout=10).status_code == 200, "ready again", 60)
            _place_and_provision(client, org["id"], tenant["id"])

        everyone = _children(parent.pid)
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=60)
        until(
            lambda: not [p for p in everyone if Path(f"/proc/{p}").exists() and _cmdline(p)],
            "every process of csp serve to end",
            30,
        )
    finally:
        csp.stop()


def test_a_killed_csp_serve_takes_its_processes_with_it(tmp_path: Path) -> None:
    csp = Csp(tmp_path, {})
    try:
        csp.serve("--workers", "2")
        parent = csp.procs[0]
        everyone = _children(parent.pid)
        # the vendor simulator, the projections, the sagas, two API processes (and
        # multiprocessing's resource tracker)
        assert len([p for p in everyone if "spawn_main" in _cmdline(p)]) == 2, [_cmdline(p) for p in everyone]
        assert len(everyone) >= 5, [_cmdline(p) for p in everyone]
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        until(
            lambda: not [p for p in everyone if Path(f"/proc/{p}").exists() and _cmdline(p)],
            "no orphan of a killed csp serve",
            30,
        )
    finally:
        csp.stop()
