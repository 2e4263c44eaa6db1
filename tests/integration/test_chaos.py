"""Chaos: orders placed over HTTP from several clients while processes are SIGKILLed at
random moments (workers, the relay, the projector, the API) and the vendor fails (5xx,
timeouts, answers lost after the work), with a short retry back-off so that retries do
run out. Separate processes on PostgreSQL and Redis.

Asserted at the end: every acknowledged order is final; for every line, exactly one
vendor subscription if and only if the platform has it; failed lines have their reason;
``csp vendor reconcile`` finds nothing; the read models equal a fold of the log. The
figures (orders, kills per kind, failed lines, orphans) are printed for the report.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.common import Processes, wait_http

from csp.aggregates.agreement import latest_agreement_version
from csp.aggregates.order import PROVISION_ENDED, Order
from csp.aggregates.subscription import Subscription
from csp.bootstrap import bootstrap
from tests.fixtures.readside import pure_fold, stored_tables
from tests.fixtures.sagas import drop_redis_namespace, fast_settings
from tests.integration.test_sagas_resilience import _env, _free_port
from tests.support import BUSINESS_BASIC, BUSINESS_PREMIUM, postgres_schema

API = "/api/v1"
PASSWORD = "Chaos-Test-Password-2026"
PLACING_SECONDS = 25.0
CLIENTS = 4
KINDS = ("worker", "relay", "projector", "api")


class Fleet:
    """The processes of one kind each, restartable by kind (ended by their own pid)."""

    def __init__(self, processes: Processes, env: dict[str, str], api_port: int) -> None:
        self.processes = processes
        self.env = env
        self.api_port = api_port
        self.running: dict[str, list[subprocess.Popen[bytes]]] = {}
        self.kills: Counter[str] = Counter()
        self.lock = threading.Lock()

    def args(self, kind: str) -> list[str]:
        return {
            "worker": ["worker", "--threads", "4"],
            "relay": ["relay"],
            "projector": ["project"],
            # two API processes on the port (csp serve --workers 2): killing the parent
            # takes both with it, and it is started again
            "api": ["serve", "--port", str(self.api_port), "--workers", "2"],
        }[kind]

    def start(self, kind: str) -> None:
        p = self.processes.start(kind, self.args(kind), self.env)
        with self.lock:
            self.running.setdefault(kind, []).append(p)

    def kill_one(self, kind: str, rng: random.Random) -> None:
        with self.lock:
            alive = [p for p in self.running.get(kind, []) if p.poll() is None]
            if not alive:
                return
            victim = rng.choice(alive)
            self.running[kind].remove(victim)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        self.kills[kind] += 1
        time.sleep(rng.uniform(0.1, 0.6))
        self.start(kind)


class Client:
    """A signed-in user of the API, retrying while the API is down (killed, restarting)."""

    def __init__(self, base: str, email: str) -> None:
        self.http = httpx.Client(base_url=base + API, timeout=20)
        self.email = email
        self.login()

    def login(self) -> None:
        r = self._send("POST", "/auth/login", json={"email": self.email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.http.headers["X-CSRF-Token"] = r.json()["csrf_token"]

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        deadline = time.monotonic() + 60
        while True:
            try:
                return self.http.request(method, path, **kw)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self._send(method, path, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def place(self, order_id: str) -> bool:
        """True once the API acknowledged the order (202), or once it is seen placed after
        an answer lost to a kill."""
        try:
            r = self.http.post(f"/orders/{order_id}/place", json={"accept_terms": True})
        except httpx.TransportError:
            r = None
        if r is not None and r.status_code == 202:
            return True
        status = self.ok("GET", f"/orders/{order_id}")["status"]
        if status != "draft":
            return True
        return self.ok("POST", f"/orders/{order_id}/place", 202, json={"accept_terms": True}) is not None


def _sign_up(base: str) -> str:
    email = f"chaos-{uuid.uuid4().hex[:8]}@example.com"
    visitor = httpx.Client(base_url=base + API, timeout=20)
    r = visitor.post(
        "/resellers",
        json={
            "company_name": "Chaos Reseller",
            "country": "RO",
            "primary_contact": {"email": email, "password": PASSWORD, "first_name": "Ana", "last_name": "Pop"},
        },
    )
    assert r.status_code == 201, r.text
    assert visitor.post(f"/auth/confirm-email/{r.json()['confirm_token']}").status_code == 200
    return email


def _customer_with_tenant(client: Client, name: str) -> tuple[str, str]:
    org = client.ok(
        "POST",
        "/organizations",
        201,
        json={
            "name": name,
            "country": "RO",
            "address": {"line1": "Str. Fabricii 46", "city": "Bucharest", "postal_code": "060822"},
            "contact_email": "office@contoso.example",
            "contact_phone": "+40 21 555 0100",
            "industry": "retail",
            "eligibility": {"academic": False, "government": False, "nonprofit": False},
        },
    )
    client.ok(
        "POST",
        f"/organizations/{org['id']}/agreement",
        201,
        json={
            "first_name": "Ana",
            "last_name": "Pop",
            "email": "ana@contoso.example",
            "phone": "+40 21 555 0100",
            "accepted_at": "2026-01-05T09:00:00+00:00",
            "agreement_version": latest_agreement_version(),
        },
    )
    tenant = client.ok(
        "POST",
        f"/organizations/{org['id']}/tenants",
        202,
        json={"domain": f"t{uuid.uuid4().hex[:12]}", "mode": "create"},
    )
    return str(org["id"]), str(tenant["id"])


def _restart(
    processes: Processes, sim: subprocess.Popen[bytes], port: int, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """The vendor simulator again, with other faults (its state is in its SQLite file)."""
    sim.send_signal(signal.SIGTERM)
    sim.wait(timeout=20)
    new = processes.start("vendor-sim", ["vendor-sim", "--port", str(port)], env)
    wait_http(f"http://127.0.0.1:{port}/sim/stats", timeout=20)
    return new


@pytest.mark.postgres
def test_chaos_every_acknowledged_order_is_final_and_the_vendor_holds_exactly_what_the_platform_knows(
    tmp_path: Path, redis_url: str, postgres_dsn: str
) -> None:
    rng = random.Random(15)
    processes = Processes(tmp_path / "logs")
    with postgres_schema(postgres_dsn) as schema:
        sim_port, api_port = _free_port(), _free_port()
        sim_url, api_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{api_port}"
        settings = fast_settings(
            tmp_path,
            broker_url=redis_url,
            broker_heartbeat_ms=2000,
            database_url=f"{postgres_dsn}?schema={schema}&pool_size=2&max_overflow=4",
            vendor_url=sim_url,
            vendor_timeout_seconds=0.5,
            saga_min_backoff_ms=20,
            saga_max_backoff_ms=150,
            saga_max_retries=2,  # retries do run out: the saga asks the vendor before it gives up
            saga_settle_ms=3000,  # and asks again this long after, for requests still queued at the vendor
        )
        env = _env(settings, CSP_VENDOR_SIM_DB=str(tmp_path / "vendor-sim.db"), CSP_TEST_MODE="true")
        faulty = {
            **env,
            "CSP_VENDOR_SIM_ERROR_RATE": "0.2",
            "CSP_VENDOR_SIM_TIMEOUT_RATE": "0.1",
            "CSP_VENDOR_SIM_HANG_SECONDS": "0.6",
            "CSP_VENDOR_SIM_LOST_ANSWER_RATE": "0.05",
        }
        fleet = Fleet(processes, env, api_port)
        system = None
        try:
            sim = processes.start("vendor-sim", ["vendor-sim", "--port", str(sim_port)], env)
            wait_http(f"{sim_url}/sim/stats", timeout=20)
            for kind in ("relay", "projector", "worker", "worker", "api"):
                fleet.start(kind)
            wait_http(f"{api_url}/api/v1/healthz", timeout=40)
            system = bootstrap(settings)
            app = system.app
            # the reseller and its customers (the vendor still healthy), over HTTP
            email = _sign_up(api_url)
            boss = Client(api_url, email)
            customers = [_customer_with_tenant(boss, f"Customer {i}") for i in range(CLIENTS)]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if all(boss.ok("GET", f"/tenants/{t}")["status"] == "created" for _, t in customers):
                    break
                time.sleep(0.3)
            else:
                pytest.fail("the tenants were not created")
            # the vendor starts failing
            sim = _restart(processes, sim, sim_port, faulty)

            acknowledged: list[str] = []
            lock = threading.Lock()
            stop = threading.Event()

            def place_orders(org_id: str, tenant_id: str) -> None:
                client = Client(api_url, email)
                while not stop.is_set():
                    order = client.ok("POST", f"/organizations/{org_id}/orders", 201, json={})
                    for offer in (BUSINESS_PREMIUM, BUSINESS_BASIC):
                        client.ok(
                            "POST",
                            f"/orders/{order['id']}/lines",
                            201,
                            json={
                                "offer_id": str(offer),
                                "tenant_id": tenant_id,
                                "quantity": 1,
                                "billing_cycle": "monthly",
                                "term": "annual",
                            },
                        )
                    if client.place(order["id"]):
                        with lock:
                            acknowledged.append(order["id"])

            def chaos() -> None:  # every kind in each round, in a random order, at random moments
                while not stop.is_set():
                    for kind in rng.sample(KINDS, len(KINDS)):
                        if stop.wait(rng.uniform(1.5, 3.0)):
                            return
                        fleet.kill_one(kind, rng)

            threads = [threading.Thread(target=place_orders, args=c, daemon=True) for c in customers]
            threads.append(threading.Thread(target=chaos, daemon=True))
            started = time.monotonic()
            for t in threads:
                t.start()
            time.sleep(PLACING_SECONDS)
            stop.set()
            for t in threads:
                t.join(timeout=90)
            # the vendor recovers (its state is durable); every acknowledged order reaches its outcome
            counters = httpx.get(f"{sim_url}/sim/stats", timeout=30).json()["counters"]
            sim = _restart(processes, sim, sim_port, env)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                orders = [app.load(Order, uuid.UUID(o), "order") for o in acknowledged]
                if all(o.status in PROVISION_ENDED for o in orders):
                    break
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            orders = [app.load(Order, uuid.UUID(o), "order") for o in acknowledged]
            statuses = Counter(o.status for o in orders)
            assert all(o.status in PROVISION_ENDED for o in orders), statuses
            assert len(orders) >= 20, statuses

            # every line: one vendor subscription iff the platform has it; failed lines say why
            vendor_orders = httpx.get(f"{sim_url}/sim/orders", timeout=30).json()["items"]
            by_key = Counter(v["idempotency_key"] for v in vendor_orders)
            assert not [k for k, n in by_key.items() if n > 1], "a line ordered twice at the vendor"
            vendor_subs: dict[str, dict[str, Any]] = {}
            for customer_id in {v["customer_id"] for v in vendor_orders}:
                items = httpx.get(f"{sim_url}/v1/customers/{customer_id}/subscriptions", timeout=30)
                for s in items.json()["items"]:
                    vendor_subs[s["id"]] = s
            order_of_key = {v["idempotency_key"]: v["id"] for v in vendor_orders}
            failed_lines = 0
            for o in orders:
                for line in o.lines:
                    held = [
                        s
                        for s in vendor_subs.values()
                        if s["orderId"] == order_of_key.get(f"{o.id}:{line.line_no}") and s["status"] == "active"
                    ]
                    if o.line_outcome(line.line_no) == "provisioned":
                        sub_id = next(
                            sid
                            for sid in o.subscription_ids
                            if app.load(Subscription, sid, "subscription").line_no == line.line_no
                        )
                        linked = app.load(Subscription, sub_id, "subscription").vendor_subscription_id
                        assert [s["id"] for s in held] == [linked], (o.number, line.line_no)
                    else:
                        failed_lines += 1
                        assert o.line_outcome(line.line_no) == "failed", (o.number, line.line_no)
                        assert o.line_failure(line.line_no), (o.number, line.line_no)
                        assert held == [], f"{o.number} line {line.line_no} failed, yet the vendor holds {held}"

            # the reconciliation finds nothing
            recon_env = {**env, "CSP_VENDOR_TIMEOUT_SECONDS": "10"}
            out = subprocess.run(
                [sys.executable, "-m", "csp.cli", "vendor", "reconcile"],
                capture_output=True,
                text=True,
                env=recon_env,
                timeout=120,
            )
            orphans = sum(1 for x in out.stdout.splitlines() if x.startswith("orphan"))
            assert out.returncode == 0, out.stdout + out.stderr

            # the read models equal a fold of the log
            assert system.read is not None
            head = app.recorder.max_notification_id() or 0
            assert system.read.wait(head, timeout=30), "the projector did not catch up"
            folded, stored = pure_fold(app, system.read.group), stored_tables(system.read)
            for table in system.read.group.tables():
                assert stored[table.name] == folded.rows(table), f"{table.name} differs from a rebuild"

            kills = ", ".join(f"{k} {fleet.kills[k]}" for k in KINDS)
            print(
                f"\nchaos: {len(orders)} orders ({sum(len(o.lines) for o in orders)} lines) in {elapsed:.1f} s; "
                f"kills: {kills}; outcomes {dict(statuses)}; failed lines {failed_lines} (each with its reason); "
                f"vendor orders {len(vendor_orders)}, duplicates 0; orphans found {orphans}; "
                f"injected 5xx {counters.get('fault_5xx', 0)}, timeouts {counters.get('fault_timeout', 0)}, "
                f"lost answers {counters.get('fault_lost_answer', 0)}; "
                f"read models equal a rebuild"
            )
        finally:
            processes.stop_all()
            if system is not None:
                system.close()
            drop_redis_namespace(redis_url, settings.broker_namespace)
