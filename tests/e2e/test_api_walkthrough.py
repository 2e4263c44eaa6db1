"""The manual's walkthrough over HTTP, against a real ``csp serve`` on a free port:
on the embedded default, and on PostgreSQL with Redis (workers in their own processes)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.api import AGREEMENT_JSON, PASSWORD, contoso
from tests.support import BUSINESS_PREMIUM, postgres_schema

CSP = str(Path(sys.executable).with_name("csp"))
# A quick simulated vendor and saga polling, so the walkthrough takes seconds.
FAST = {
    "CSP_TEST_MODE": "1",
    "CSP_VENDOR_SIM_DOMAIN_CHECK_SECONDS": "0.2",
    "CSP_VENDOR_SIM_ORDER_SECONDS": "0.2",
    "CSP_SAGA_POLL_MS": "100",
    "CSP_SCHEDULER_INTERVAL_SECONDS": "2",
    "CSP_LOG_LEVEL": "WARNING",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Served:
    url: str
    log: Path
    processes: list[subprocess.Popen[bytes]]

    def start(self, args: list[str], env: dict[str, str], ready: str | None = None) -> None:
        """Start a role; with ``ready``, wait until it printed that it runs. Roles start one
        after the other: several processes creating the same tables at once on PostgreSQL
        can fail ("tuple concurrently updated"), which a supervisor would restart."""
        before = self.log.read_text() if self.log.exists() else ""
        out = self.log.open("ab")
        p = subprocess.Popen([CSP, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(p)
        if ready is not None:

            def started() -> bool:
                assert p.poll() is None, f"{args[0]} stopped: {self.log.read_text()[-3000:]}"
                return self.log.read_text().count(ready) > before.count(ready)

            _wait_until(started, f"csp {args[0]}", 60)

    def stop(self) -> None:
        for p in reversed(self.processes):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(self.processes):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)

    def check_alive(self) -> None:
        dead = [p.args for p in self.processes if p.poll() is not None]
        assert not dead, f"stopped early: {dead}\n{self.log.read_text()[-4000:]}"


def serve(tmp: Path, extra: dict[str, str], separate_roles: bool, workers: int = 1) -> Served:
    port = free_port()
    env = {**os.environ, **FAST, "CSP_DATA_DIR": str(tmp), "CSP_PUBLIC_URL": f"http://127.0.0.1:{port}", **extra}
    served = Served(f"http://127.0.0.1:{port}", tmp / "processes.log", [])
    if separate_roles:
        vendor_port = free_port()
        env["CSP_VENDOR_URL"] = f"http://127.0.0.1:{vendor_port}"
    # The API first: it creates the tables the other roles share (they start once it answers).
    served.start(["serve", "--port", str(port), "--workers", str(workers)], env)
    try:
        _wait_until(lambda: httpx.get(f"{served.url}/api/v1/healthz").status_code == 200, "csp serve", 60)
        if separate_roles:
            for role, ready in (
                (["vendor-sim", "--port", str(vendor_port)], "vendor simulator on"),
                (["relay"], "relay: following"),
                (["worker", "--processes", "1", "--threads", "4"], "worker:"),
                (["scheduler"], "scheduler: every"),
                (["project"], "csp project: following"),
            ):
                served.start(role, env, ready)
    except AssertionError:
        served.stop()
        raise AssertionError(served.log.read_text()[-4000:]) from None
    return served


@pytest.fixture(params=["embedded", "embedded-2-workers", "postgres", "postgres+redis", "postgres+redis-2-workers"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """``csp serve`` on SQLite; on PostgreSQL alone (everything still in-process); and on
    PostgreSQL with a Redis broker, each role in its own process; with ``--workers 2``,
    two API processes on the port (on the embedded default, the projections, sagas and
    simulator in supervised processes of their own)."""
    workers = 2 if request.param.endswith("-2-workers") else 1
    if request.param.startswith("embedded"):
        served = serve(tmp_path, {}, separate_roles=False, workers=workers)
        try:
            yield served
        finally:
            served.stop()
        return
    pg = request.getfixturevalue("postgres_dsn")
    if request.param == "postgres":
        with postgres_schema(pg) as schema:
            served = serve(tmp_path, {"CSP_DATABASE_URL": f"{pg}?schema={schema}"}, separate_roles=False)
            try:
                yield served
            finally:
                served.stop()
        return
    redis_url = request.getfixturevalue("api_redis_url")
    prefix = request.getfixturevalue("api_redis_prefix")
    with postgres_schema(pg) as schema:
        extra = {
            "CSP_DATABASE_URL": f"{pg}?schema={schema}&pool_size=3&max_overflow=5",
            "CSP_BROKER_URL": redis_url,
            "CSP_BROKER_NAMESPACE": prefix.rstrip(":").replace(":", "-"),
            "CSP_REDIS_PREFIX": prefix,
            "CSP_VENDOR_SIM_DB": str(tmp_path / "vendor-sim.db"),
        }
        served = serve(tmp_path, extra, separate_roles=True, workers=workers)
        try:
            yield served
        finally:
            served.stop()


class Api:
    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=f"{base}/api/v1", timeout=60)

    def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else r.text

    def until(self, path: str, ok: Callable[[Any], bool], what: str, timeout: float = 30.0) -> Any:
        found: list[Any] = []

        def check() -> bool:
            found[:] = [self.call("GET", path)]
            return ok(found[0])

        _wait_until(check, what, timeout)
        return found[0]


def test_the_manuals_walkthrough_over_http(server: Served):
    visitor = Api(server.url)
    # the public catalog: the vendor's recommended price only
    offer = visitor.call("GET", f"/catalog/offers/{BUSINESS_PREMIUM}")
    assert (offer["erp_price"], offer["partner_price"]) == ("16.87", None)

    # sign-up and sign-in; the catalog as the reseller shows the partner price
    email = f"primary-{uuid.uuid4().hex[:8]}@example.com"
    signed = visitor.call(
        "POST",
        "/resellers",
        201,
        json={
            "company_name": "CSP Platform Test",
            "country": "RO",
            "primary_contact": {"email": email, "password": PASSWORD, "first_name": "CSP", "last_name": "Test"},
        },
    )
    # the address is confirmed by the emailed link (test mode answers its token: no mailbox)
    visitor.call("POST", f"/auth/confirm-email/{signed['confirm_token']}")
    api = Api(server.url)
    login = api.call("POST", "/auth/login", json={"email": email, "password": PASSWORD})
    api.http.headers["X-CSRF-Token"] = login["csrf_token"]
    assert api.call("GET", f"/catalog/offers/{BUSINESS_PREMIUM}")["partner_price"] == "14.16"

    # a customer, and a new tenant created asynchronously at the vendor
    customer = api.call("POST", "/organizations", 201, json=contoso("Contoso SRL"))
    # its Microsoft Customer Agreement acceptance, which the vendor needs before the first order
    api.call("POST", f"/organizations/{customer['id']}/agreement", 201, json=AGREEMENT_JSON)
    domain = f"csptest{uuid.uuid4().hex[:8]}"
    tenant = api.call(
        "POST", f"/organizations/{customer['id']}/tenants", 202, json={"domain": domain, "mode": "create"}
    )
    assert tenant["status"] in ("requested", "verifying")
    tenant = api.until(f"/tenants/{tenant['id']}", lambda t: t["status"] == "created", "the tenant to be created")
    # the list is a projection: what a saga wrote shows there a moment later
    api.until(
        f"/organizations/{customer['id']}/tenants",
        lambda p: [t["status"] for t in p["items"]] == ["created"],
        "the tenants list",
    )

    # an order at +5 %: 15.58 per licence, margin 1.42
    order = api.call("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    line = api.call(
        "POST",
        f"/orders/{order['id']}/lines",
        201,
        json={
            "offer_id": str(BUSINESS_PREMIUM),
            "tenant_id": tenant["id"],
            "quantity": 1,
            "billing_cycle": "monthly",
            "term": "annual",
            "markup_percent": "5",
        },
    )
    assert (line["unit_customer_price"], line["margin"]) == ("15.58", "1.42")

    # the product terms refused, then accepted; provisioning finishes
    refused = api.http.post(f"/orders/{order['id']}/place", json={"accept_terms": False})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "terms_not_accepted"
    placed = api.call("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    assert placed["status"] == "placed"
    before_placing = datetime.fromisoformat(placed["placed_at"]) - timedelta(microseconds=1)
    done = api.until(f"/orders/{order['id']}", lambda o: o["status"] == "provision_finished", "provisioning")
    sub_id = done["subscription_ids"][0]

    # a "+1 Users" change order
    change = api.call("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    change_line = api.call(
        "POST", f"/orders/{change['id']}/lines", 201, json={"subscription_id": sub_id, "quantity_delta": 1}
    )
    assert change_line["requested_change"] == "+1 Users"
    api.call("POST", f"/orders/{change['id']}/place", 202, json={"accept_terms": True})
    api.until(f"/orders/{change['id']}", lambda o: o["status"] == "provision_finished", "the change order")
    assert api.call("GET", f"/subscriptions/{sub_id}")["purchased"] == 2

    # saved for later: a draft stays in the Orders list
    later = api.call("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    api.call(
        "POST",
        f"/orders/{later['id']}/lines",
        201,
        json={"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 3},
    )
    drafts = api.call("GET", f"/organizations/{customer['id']}/orders?status=draft")
    assert [o["id"] for o in drafts["items"]] == [later["id"]]
    rows = api.until(
        f"/organizations/{customer['id']}/orders",
        lambda p: {r["status"] for r in p["items"]} == {"draft", "provision_finished"},
        "the orders list",
    )["items"]
    assert any(x["requested_change"] == "+1 Users" for r in rows for x in r["lines"])

    # window rules with the test clock: the +1 is refundable for 7 days, then not
    now = datetime.fromisoformat(api.call("GET", "/test/clock")["now"])
    api.call("POST", "/test/clock", json={"now": (now + timedelta(days=3)).isoformat()})
    assert api.call("POST", f"/subscriptions/{sub_id}/quantity", json={"quantity": 1})["purchased"] == 1
    api.call("POST", f"/subscriptions/{sub_id}/quantity", json={"quantity": 2})
    api.call("POST", "/test/clock", json={"now": (now + timedelta(days=11)).isoformat()})
    outside = api.http.post(f"/subscriptions/{sub_id}/quantity", json={"quantity": 1})
    assert outside.status_code == 409
    assert outside.json()["error"]["code"] == "outside_cancellation_window"
    back = api.http.post("/test/clock", json={"now": now.isoformat()})
    assert back.status_code == 409

    # suspend and reactivate
    assert api.call("POST", f"/subscriptions/{sub_id}/suspend")["status"] == "suspended"
    assert api.call("POST", f"/subscriptions/{sub_id}/reactivate")["status"] == "active"
    subs = api.call("GET", f"/organizations/{customer['id']}/subscriptions")["items"]
    assert [(s["status"], s["unit_cost"], s["monthly_reseller_price"]) for s in subs] == [("active", "15.58", "28.32")]

    # the order's history as of a moment before it was placed: a draft
    history = api.call("GET", f"/orders/{order['id']}/history", params={"as_of": before_placing.isoformat()})
    assert history["state"]["status"] == "draft"
    assert "Placed" not in [e["type"] for e in history["events"]]

    # the month's invoice, issued at 00:00 UTC on the 1st of the next month
    start = now.astimezone(UTC)
    first_of_next = (start.replace(day=1) + timedelta(days=32)).replace(
        day=1, hour=1, minute=0, second=0, microsecond=0
    )
    target = max(first_of_next + timedelta(days=31), now + timedelta(days=12))
    api.call("POST", "/test/clock", json={"now": target.replace(day=1, hour=1).isoformat()})
    period = f"{start:%Y-%m}"
    invoices = api.until("/invoices", lambda p: any(i["period"] == period for i in p["items"]), "the invoice")
    invoice = next(i for i in invoices["items"] if i["period"] == period)
    detail = api.call("GET", f"/invoices/{invoice['id']}")
    assert detail["lines"]
    assert any(x["subscription_id"] == sub_id for x in detail["lines"])
    csv = api.http.get(f"/invoices/{invoice['id']}", params={"format": "csv"})
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    server.check_alive()
