"""What one order's three HTTP commands cost the server, deterministically: database round
trips (PostgreSQL) and CPU time, per command, in one process and one thread of requests.

Wall-clock figures on a shared machine are noisy; these are not (round trips exactly, CPU
within a few per cent). The same shape as the benchmark's writes: a store filled by
``bench.generate`` (small), the app as ``csp serve`` builds it behind a broker (sessions in
Redis, projections in-process, so their work counts in the CPU figure), and the order loop
*create cart → add line → place* through FastAPI's test client.

    python -m bench.costs --store postgres --postgres-url postgresql://root@127.0.0.1:5432/db
    python -m bench.costs --store sqlite

Two loops on the same store: over HTTP (the figures include the test client's own work,
about a third of the process's CPU, so they are for comparison only), then ``direct``: the
routes' bodies alone — the access checks (``csp.api.access``) and the command through the
command runner, as the routes call them, without the session look-up and with no
read-your-writes wait — in this one thread, CPU by ``time.thread_time()``.

Round trips are counted in libpq's pure-Python binding (``PSYCOPG_IMPL=python``, set by
``--round-trips``, which makes CPU figures meaningless): one per reply awaited after a send,
by thread. Without it, the CPU figures use the C binding, as the server does.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROUND_TRIPS: collections.Counter[str] = collections.Counter()
SENT: list[str] = []  # what was sent, with --trace


def count_round_trips(trace: bool = False) -> None:
    """Count, per thread, each reply awaited after something was sent (libpq in Python)."""
    os.environ["PSYCOPG_IMPL"] = "python"
    from psycopg.pq import pq_ctypes

    sent: set[int] = set()
    prepared: dict[tuple[int, bytes], bytes] = {}

    def on_send(name: str) -> None:
        orig = getattr(pq_ctypes.PGconn, name)

        def send(self: Any, *a: Any, **k: Any) -> Any:
            sent.add(id(self))
            if trace and _requests_thread(threading.current_thread().name):
                what = a[0] if a and isinstance(a[0], bytes) else b""
                if name == "send_prepare":
                    prepared[(id(self), what)] = a[1]
                elif name == "send_query_prepared":
                    what = prepared.get((id(self), what), what)
                SENT.append(f"{name} {what[:110].decode(errors='replace')}")
            return orig(self, *a, **k)

        setattr(pq_ctypes.PGconn, name, send)

    for name in ("send_query", "send_query_params", "send_prepare", "send_query_prepared", "pipeline_sync"):
        on_send(name)
    consume = pq_ctypes.PGconn.consume_input

    def consume_input(self: Any) -> Any:
        if id(self) in sent:
            sent.discard(id(self))
            ROUND_TRIPS[threading.current_thread().name] += 1
        return consume(self)

    pq_ctypes.PGconn.consume_input = consume_input  # type: ignore[method-assign]


def _requests_thread(name: str) -> bool:
    # FastAPI runs sync dependencies and routes in AnyIO's worker threads; the test
    # client's event loop runs in its portal thread.
    return name.startswith("AnyIO") or name == "MainThread" or "portal" in name.lower()


def direct(app: Any, custs: list[tuple[str, str]], offer: str, email: str, orders: int, rt: bool) -> dict[str, Any]:
    """The three commands as the routes run them (access checks, the command runner), in this thread."""
    import inspect
    from uuid import UUID

    from csp.api import access
    from csp.api.auth import Caller
    from csp.api.commands import Commands
    from csp.application import NewLineRequest

    # the same loop before and after the runner took the access-checked aggregates
    handing = len(inspect.signature(Commands.run).parameters) > 2
    commands = Commands(None, app) if "app" in inspect.signature(Commands.__init__).parameters else Commands(None)

    def run(fn: Any, *loaded: Any) -> Any:
        return commands.run(fn, *loaded) if handing else commands.run(fn)

    user = app.user_by_email(email)
    caller = Caller.of(user, "session")
    steps = ("create cart", "add line", "place")
    cpu: dict[str, list[float]] = {s: [] for s in steps}
    trips: dict[str, list[int]] = {s: [] for s in steps}
    me = threading.current_thread().name

    def timed(name: str, record: bool, fn: Any) -> Any:
        ROUND_TRIPS.clear()
        t0 = time.thread_time()
        out = fn()
        if record:
            cpu[name].append((time.thread_time() - t0) * 1000)
            trips[name].append(ROUND_TRIPS[me])
        return out

    def create(org_id: UUID) -> Any:
        org = access.organization(app, caller, org_id)
        return run(lambda: app.create_order(org_id, caller.actor), org)

    def add(order_id: UUID, tenant_id: UUID) -> Any:
        order = access.order(app, caller, order_id)
        tenant = access.tenant(app, caller, tenant_id)
        req = NewLineRequest(UUID(offer), tenant_id, 3, "monthly", "annual")
        return run(lambda: app.add_new_subscription_line(order_id, req, caller.actor), order, tenant)

    def place(order_id: UUID) -> Any:
        order = access.order(app, caller, order_id)
        return run(lambda: app.place_order(order_id, True, caller.actor), order)

    for i in range(10 + orders):
        record = i >= 10
        org, tenant = (UUID(x) for x in custs[i % len(custs)])
        order = timed("create cart", record, lambda org=org: create(org))
        timed("add line", record, lambda order=order, tenant=tenant: add(order.id, tenant))
        timed("place", record, lambda order=order: place(order.id))
    out: dict[str, Any] = {}
    for s in steps:
        out[s] = {"cpu_ms_median": round(statistics.median(cpu[s]), 3)}
        if rt:
            out[s]["round_trips"] = statistics.median(trips[s])
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/csp_bench")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    p.add_argument("--orders", type=int, default=60)
    p.add_argument("--events", type=int, default=3000)
    p.add_argument("--round-trips", action="store_true", help="count round trips (pure-Python libpq)")
    p.add_argument("--trace", action="store_true", help="with --round-trips: print what the last order sent")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.round_trips:
        count_round_trips(args.trace)

    from fastapi.testclient import TestClient

    from bench.generate import PASSWORD, START, generate, reseller_login
    from bench.http import BUSINESS_PREMIUM_VENDOR_ID
    from csp.application import CspApplication
    from csp.application.catalog import offer_id_for
    from csp.bootstrap import bootstrap, web_app
    from csp.clock import SettableClock
    from csp.persistence import eventsourcing_env, parse_database_url
    from csp.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="csp-costs-"))
    if args.store == "sqlite":
        url = f"sqlite:///{work / 'csp.db'}"
    else:
        import psycopg

        schema = f"costs_{uuid.uuid4().hex[:8]}"
        db = parse_database_url(args.postgres_url)
        with psycopg.connect(host=db.host, port=db.port, user=db.user or None, dbname=db.dbname, autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{args.postgres_url}?schema={schema}"
    db = parse_database_url(url)
    clock = SettableClock(START)
    filler = CspApplication(env=eventsourcing_env(db), clock=clock)
    generate(filler, clock, args.events, seed=1, billing_months=0)
    filler.close()

    prefix = f"csp-costs-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        data_dir=work,
        database_url=url,
        broker_url=args.redis_url,
        broker_namespace=prefix,
        redis_prefix=f"{prefix}:",
        projections_in_process=True,
        log_level="WARNING",
    )
    system = bootstrap(settings)
    assert system.projector is not None
    system.projector.start()
    results: dict[str, Any] = {"store": args.store, "orders": args.orders}
    try:
        client = TestClient(web_app(system), base_url="http://testserver/api/v1")
        r = client.post("/auth/login", json={"email": reseller_login(1, 0), "password": PASSWORD})
        r.raise_for_status()
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        custs: list[tuple[str, str]] = []
        for org in client.get("/organizations?limit=50").json()["items"]:
            if org.get("kind") == "customer":
                ready = [
                    t
                    for t in client.get(f"/organizations/{org['id']}/tenants").json()["items"]
                    if t["status"] == "created"
                ]
                if ready:
                    custs.append((org["id"], ready[0]["id"]))
        offer = str(offer_id_for(BUSINESS_PREMIUM_VENDOR_ID))
        line = {"offer_id": offer, "tenant_id": "", "quantity": 3, "billing_cycle": "monthly", "term": "annual"}
        steps = ("create cart", "add line", "place")
        cpu: dict[str, list[float]] = {s: [] for s in steps}
        trips: dict[str, list[int]] = {s: [] for s in steps}
        beside: dict[str, list[int]] = {s: [] for s in steps}

        def step(name: str, method: str, path: str, body: Any, status: int, record: bool) -> Any:
            ROUND_TRIPS.clear()
            SENT.clear()
            t0 = time.process_time()
            r = client.request(method, path, json=body)
            spent = time.process_time() - t0
            assert r.status_code == status, (path, r.status_code, r.text)
            if args.trace and record and i == 9 + args.orders:
                print(f"--- {name}", *SENT, sep="\n  ", file=sys.stderr)
            if record:
                cpu[name].append(spent * 1000)
                trips[name].append(sum(n for t, n in ROUND_TRIPS.items() if _requests_thread(t)))
                beside[name].append(sum(n for t, n in ROUND_TRIPS.items() if not _requests_thread(t)))
            return r.json()

        for i in range(10 + args.orders):
            record = i >= 10
            org, tenant = custs[i % len(custs)]
            order = step("create cart", "POST", f"/organizations/{org}/orders", {}, 201, record)
            step("add line", "POST", f"/orders/{order['id']}/lines", line | {"tenant_id": tenant}, 201, record)
            step("place", "POST", f"/orders/{order['id']}/place", {"accept_terms": True}, 202, record)
        for s in steps:
            row: dict[str, Any] = {"cpu_ms_median": round(statistics.median(cpu[s]), 2)}
            if args.round_trips:
                row["round_trips_request"] = statistics.median(trips[s])
                row["round_trips_request_max"] = max(trips[s])
                row["round_trips_projector"] = statistics.median(beside[s])
            results[s] = row
        results["direct"] = direct(system.app, custs, offer, reseller_login(1, 0), args.orders, args.round_trips)
    finally:
        system.close()
        if args.store == "postgres":
            with psycopg.connect(
                host=db.host, port=db.port, user=db.user or None, dbname=db.dbname, autocommit=True
            ) as c:
                c.execute(f'DROP SCHEMA "{schema}" CASCADE')
    if args.round_trips:
        print("(CPU figures under the pure-Python libpq: compare round trips only)", file=sys.stderr)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
