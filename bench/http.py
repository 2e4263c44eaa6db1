"""Reads, writes and projection lag over HTTP, against a ``csp serve`` process on loopback.

The server runs as in production behind a broker (``CSP_BROKER_URL`` on Redis, no relay
or worker started, so placed orders wait in the log), with its projections in-process
(read-your-writes on a condition, not by polling). The load generator is an httpx async
loop in this process; the raw baselines (eventsourcing ``save()``, the page's SQL alone,
``pgbench -S``) run on the same machine in the same run.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.common import latency_ms, log
from bench.generate import PASSWORD, reseller_login
from csp.persistence import Database, eventsourcing_env
from csp.projections import ReadModels

API = "/api/v1"
BUSINESS_PREMIUM_VENDOR_ID = "CFQ7TTC0LCHC:0002"


@dataclass
class Session:
    base: str
    cookies: httpx.Cookies
    csrf: str

    def client(self, limit: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base + API,
            cookies=self.cookies,
            headers={"X-CSRF-Token": self.csrf},
            timeout=30,
            limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        )


def sign_in(base: str, seed: int) -> Session:
    r = httpx.post(f"{base}{API}/auth/login", json={"email": reseller_login(seed, 0), "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    return Session(base, r.cookies, r.json()["csrf_token"])


def get(session: Session, path: str) -> Any:
    r = httpx.get(f"{session.base}{API}{path}", cookies=session.cookies, timeout=30)
    r.raise_for_status()
    return r.json()


def customers(session: Session, n: int) -> list[tuple[str, str]]:
    """Up to ``n`` customers of the signed-in reseller with a ready tenant: (organization id, tenant id)."""
    out: list[tuple[str, str]] = []
    offset = 0
    while len(out) < n:
        page = get(session, f"/organizations?limit=50&offset={offset}")["items"]
        if not page:
            break
        for org in page:
            if org.get("kind", "customer") != "customer":
                continue
            tenants = get(session, f"/organizations/{org['id']}/tenants")["items"]
            ready = [t for t in tenants if t["status"] == "created"]
            if ready:
                out.append((org["id"], ready[0]["id"]))
            if len(out) == n:
                break
        offset += 50
    if not out:
        raise RuntimeError("no customer with a ready tenant; generate more events")
    return out


def big_customer(session: Session) -> str:
    page = get(session, "/organizations?q=Big%20Customer&limit=5")["items"]
    if not page:
        raise RuntimeError("the generated store has no big customer")
    return str(page[0]["id"])


def offer_id(session: Session) -> str:
    from csp.application.catalog import offer_id_for

    return str(offer_id_for(BUSINESS_PREMIUM_VENDOR_ID))


# --- load generation --------------------------------------------------------------------


async def closed_loop(
    clients: int, seconds: float, make: Callable[[int], Callable[[], Awaitable[bool]]]
) -> dict[str, Any]:
    """``clients`` concurrent loops of one operation each for ``seconds``: rate and latency."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def loop(i: int) -> None:
        nonlocal errors
        op = make(i)
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            ok = await op()
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    started = time.monotonic()
    await asyncio.gather(*(loop(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    return {"clients": clients, "per_second": round(len(latencies) / elapsed, 1), "errors": errors} | latency_ms(
        latencies
    )


async def open_loop(
    rate: float, seconds: float, op: Callable[[int], Awaitable[bool]], in_flight: int = 16
) -> dict[str, Any]:
    """Start one operation every ``1/rate`` s for ``seconds`` whatever the answers (no
    coordinated omission: latency counts from the scheduled start)."""
    latencies: list[float] = []
    errors = 0
    n = int(rate * seconds)
    t0 = time.perf_counter()

    # At most ``in_flight`` requests on the wire; the rest wait here, in a FIFO that costs
    # nothing per waiter (httpx's own pool queue degrades with thousands of waiters and
    # would make the load generator the bottleneck).
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        nonlocal errors
        scheduled = t0 + i / rate
        async with gate:
            ok = await op(i)
        if ok:
            latencies.append(time.perf_counter() - scheduled)
        else:
            errors += 1

    tasks = []
    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    # An overloaded server builds a backlog that would take minutes to drain: what is not
    # done ``grace`` seconds after the last start is given up and counted as unfinished.
    _, pending = await asyncio.wait(tasks, timeout=max(5.0, seconds))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.perf_counter() - t0
    return {
        "target_per_second": rate,
        "per_second": round(len(latencies) / elapsed, 1),
        "errors": errors,
        "unfinished": len(pending),
    } | latency_ms(latencies)


def order_op(client: httpx.AsyncClient, customer: tuple[str, str], offer: str) -> Callable[[], Awaitable[bool]]:
    """One order over HTTP: create the cart, add a line, place it (three commands)."""
    org, tenant = customer
    line = {"offer_id": offer, "tenant_id": tenant, "quantity": 3, "billing_cycle": "monthly", "term": "annual"}

    async def op() -> bool:
        try:
            r = await client.post(f"/organizations/{org}/orders", json={})
            if r.status_code != 201:
                return False
            oid = r.json()["id"]
            r = await client.post(f"/orders/{oid}/lines", json=line)
            if r.status_code != 201:
                return False
            r = await client.post(f"/orders/{oid}/place", json={"accept_terms": True})
        except httpx.HTTPError:
            return False  # a connection reset under overload: a failed order
        return r.status_code == 202

    return op


# --- the raw write baseline ------------------------------------------------------------


class RawOrder(Aggregate):
    """An order as bare eventsourcing: the same three steps, no rules, no HTTP."""

    @event("Created")
    def __init__(self, organization_id: UUID, number: str) -> None:
        self.organization_id = organization_id
        self.number = number
        self.lines: list[tuple[str, int, Decimal]] = []
        self.placed = False

    @event("LineAdded")
    def add_line(self, offer: str, quantity: int, price: Decimal) -> None:
        self.lines.append((offer, quantity, price))

    @event("Placed")
    def place(self) -> None:
        self.placed = True


class RawApp(Application[UUID]):
    name = "bench_raw"


def raw_writes(db: Database, raw_sqlite: str | None, clients: int, seconds: float) -> dict[str, Any]:
    """Orders per second as three ``save()``s each, from ``clients`` threads, on the same database."""
    env = eventsourcing_env(db)
    if raw_sqlite is not None:
        env["SQLITE_DBNAME"] = raw_sqlite  # SQLite's table names are fixed: a file beside the store's
    env["POSTGRES_POOL_SIZE"] = str(max(5, clients))
    app = RawApp(env=env)
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def work() -> None:
        mine: list[float] = []
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            order = RawOrder(uuid4(), "N-1")
            app.save(order)
            order.add_line("CFQ7TTC0LCHC:0002", 3, Decimal("15.58"))
            app.save(order)
            order.place()
            app.save(order)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    app.close()
    return {"clients": clients, "per_second": round(len(latencies) / elapsed, 1), "errors": 0} | latency_ms(latencies)


# --- projection lag ---------------------------------------------------------------------


class LagProbe:
    """Polls the log's head and the read side's position every ``interval`` s, and records how
    long each new head took to be applied (accuracy: about one interval)."""

    def __init__(self, read: ReadModels, interval: float = 0.002) -> None:
        self.read = read
        self.interval = interval
        self.lags: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-probe", daemon=True)

    def __enter__(self) -> LagProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        recorder = self.read.app.recorder
        pending: deque[tuple[int, float]] = deque()
        last = recorder.max_notification_id() or 0
        while not self._stop.is_set():
            head = recorder.max_notification_id() or 0
            now = time.perf_counter()
            if head > last:
                pending.append((head, now))
                last = head
            if pending:
                position = self.read.position()
                now = time.perf_counter()
                while pending and pending[0][0] <= position:
                    self.lags.append(now - pending.popleft()[1])
            time.sleep(self.interval)


# --- reads ------------------------------------------------------------------------------------


def page_ops(client: httpx.AsyncClient, org: str) -> Callable[[int], Awaitable[bool]]:
    """The Orders and the Subscriptions page (50 rows) of one customer, in turn."""
    paths = (f"/organizations/{org}/orders?limit=50", f"/organizations/{org}/subscriptions?limit=50")

    async def op(i: int) -> bool:
        try:
            r = await client.get(paths[i % 2])
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    return op


def direct_queries(read: ReadModels, org: UUID, seconds: float) -> dict[str, Any]:
    """The same two pages as SQL through the read side, no HTTP: the query's own ceiling."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    i = 0
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        if i % 2:
            read.subscriptions(org, limit=50)
        else:
            read.orders(org, limit=50)
        latencies.append(time.perf_counter() - t0)
        i += 1
    elapsed = time.monotonic() - started
    return {"per_second": round(len(latencies) / elapsed, 1)} | latency_ms(latencies)


def pgbench_select_only(postgres_url: str, seconds: float, clients: int = 8) -> dict[str, Any] | None:
    """``pgbench -S`` on a database of its own on the same server; None without pgbench or PostgreSQL."""
    from csp.persistence import parse_database_url

    if shutil.which("pgbench") is None:
        return None
    db = parse_database_url(postgres_url)
    dbname = f"{db.dbname}_pgbench"
    conn = ["-h", db.host or "127.0.0.1", "-p", str(db.port)] + (["-U", db.user] if db.user else [])
    env = None
    if db.password:
        import os

        env = dict(os.environ, PGPASSWORD=db.password)
    try:
        import psycopg

        admin = {"host": db.host, "port": db.port, "user": db.user or None, "password": db.password or None}
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **admin) as c:  # type: ignore[arg-type]
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
                c.execute(f'CREATE DATABASE "{dbname}"')
                subprocess.run(
                    ["pgbench", "-i", "-q", "-s", "10", *conn, dbname], env=env, check=True, capture_output=True
                )
        out = subprocess.run(
            ["pgbench", "-S", "-n", "-c", str(clients), "-j", "2", "-T", str(max(1, round(seconds))), *conn, dbname],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except Exception as e:
        log(f"pgbench not run: {e}")
        return None
    tps = re.search(r"tps = ([\d.]+)", out)
    lat = re.search(r"latency average = ([\d.]+) ms", out)
    return {
        "clients": clients,
        "tps": round(float(tps.group(1)), 1) if tps else None,
        "latency_avg_ms": float(lat.group(1)) if lat else None,
    }


def run_reads(
    session: Session, read: ReadModels, seconds: float, rate: float, concurrency: int, postgres_url: str | None
) -> dict[str, Any]:
    org = big_customer(session)
    total = read.subscriptions(UUID(org), limit=50)
    log(f"reads: big customer {org} ({total.total} subscriptions); closed loop, {concurrency} clients")

    async def go() -> tuple[dict[str, Any], dict[str, Any]]:
        async with session.client(concurrency * 2) as client:
            op = page_ops(client, org)
            for i in range(20):  # warm up
                await op(i)
            n = [0]

            def make(_: int) -> Callable[[], Awaitable[bool]]:
                async def step() -> bool:
                    n[0] += 1
                    return await op(n[0])

                return step

            closed = await closed_loop(concurrency, seconds, make)
            log(f"reads: open loop at {rate:.0f} req/s")
            opened = await open_loop(rate, seconds, op)
            return closed, opened

    closed, opened = asyncio.run(go())
    direct = direct_queries(read, UUID(org), min(seconds, 5))
    pg = pgbench_select_only(postgres_url, seconds) if postgres_url else None
    return {
        "rows_per_page": 50,
        "max": closed,
        "at_rate": opened,
        "sql_alone": direct,
        "pgbench_select_only": pg,
    }


def run_writes(
    session: Session,
    db: Database,
    raw_sqlite: str | None,
    read: ReadModels,
    seconds: float,
    client_counts: tuple[int, ...],
    rate: float,
    sustained_rate: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Orders over HTTP at 1/4/16 clients beside raw saves; then paced runs at ``rate`` and
    ``sustained_rate`` orders/s with the projection lag measured during each. Returns (writes, lag)."""
    offer = offer_id(session)
    custs = customers(session, max(client_counts))
    rows: list[dict[str, Any]] = []

    async def closed(clients: int) -> dict[str, Any]:
        async with session.client(clients * 2) as client:
            await order_op(client, custs[0], offer)()  # warm up
            return await closed_loop(clients, seconds, lambda i: order_op(client, custs[i % len(custs)], offer))

    for clients in client_counts:
        log(f"writes: {clients} HTTP clients for {seconds:.0f}s")
        http = asyncio.run(closed(clients))
        log(f"writes: raw save() from {clients} threads")
        raw = raw_writes(db, raw_sqlite, clients, seconds)
        share = round(100 * http["per_second"] / raw["per_second"], 1) if raw["per_second"] else None
        rows.append({"clients": clients, "http": http, "raw_save": raw, "percent_of_raw": share})

    async def paced(rate: float) -> dict[str, Any]:
        async with session.client(32) as client:
            ops = [order_op(client, c, offer) for c in custs]

            async def op(i: int) -> bool:
                return await ops[i % len(ops)]()

            return await open_loop(rate, seconds, op, in_flight=32)

    out: dict[str, Any] = {"by_clients": rows}
    lag: dict[str, Any] = {}
    # the target rate, then a rate below this machine's ceiling: what a client sees when
    # the server keeps up (the target rate may be past the ceiling, a backlog then grows)
    for key, r in (("at_rate", rate), ("at_sustained_rate", sustained_rate)):
        log(f"writes: open loop at {r:g} orders/s, projection lag probed")
        with LagProbe(read) as probe:
            out[key] = asyncio.run(paced(r))
        lag[key] = {"orders_per_second": r, "samples": len(probe.lags)} | latency_ms(probe.lags)
    return out, lag
