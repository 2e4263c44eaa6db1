"""Crashes and a failing vendor: workers killed mid-run, the relay killed, faults injected.

These run separate processes (``csp relay``, ``csp worker``, ``csp vendor-sim``) on a real
Redis broker, each test in its own Redis namespace. The figures they print (orders,
kills, retries, duplicates) are the ones reported for the issue.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.common import Processes, wait_http

from csp.aggregates.order import Order
from csp.aggregates.subscription import Subscription
from csp.application import NewLineRequest
from csp.bootstrap import System, bootstrap
from csp.settings import Settings
from tests.fixtures.sagas import drop_redis_namespace, fast_settings, world_through_sagas
from tests.support import ACTOR, BUSINESS_PREMIUM, make_world, postgres_schema


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSP_")}
    env.update(
        {
            "CSP_DATA_DIR": str(settings.data_dir),
            "CSP_DATABASE_URL": settings.database_url,
            "CSP_BROKER_URL": settings.broker_url,
            "CSP_BROKER_NAMESPACE": settings.broker_namespace,
            "CSP_BROKER_HEARTBEAT_MS": str(settings.broker_heartbeat_ms),
            "CSP_VENDOR_URL": settings.vendor_url,
            "CSP_VENDOR_TIMEOUT_SECONDS": str(settings.vendor_timeout_seconds),
            "CSP_VENDOR_SIM_ORDER_SECONDS": str(settings.vendor_sim_order_seconds),
            "CSP_VENDOR_SIM_DOMAIN_CHECK_SECONDS": str(settings.vendor_sim_domain_check_seconds),
            "CSP_SAGA_POLL_MS": str(settings.saga_poll_ms),
            "CSP_SAGA_MIN_BACKOFF_MS": str(settings.saga_min_backoff_ms),
            "CSP_SAGA_MAX_BACKOFF_MS": str(settings.saga_max_backoff_ms),
            "CSP_SAGA_MAX_RETRIES": str(settings.saga_max_retries),
            "CSP_SAGA_SETTLE_MS": str(settings.saga_settle_ms),
            "CSP_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    ps = Processes(tmp_path)
    yield ps
    ps.stop_all()


def _place(system: System, customer_id: uuid.UUID, tenant_id: uuid.UUID) -> uuid.UUID:
    app = system.app
    order = app.create_order(customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, tenant_id, 1, "monthly", "annual"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    return order.id


def _queued_messages(url: str, namespace: str) -> list[dict[str, Any]]:
    import redis
    from dramatiq import Message

    client = redis.Redis.from_url(url)
    out = []
    for key in client.scan_iter(match=f"{namespace}:*.msgs"):
        for raw in client.hvals(key):
            out.append(Message.decode(raw).asdict())
    return out


def test_killing_the_relay_and_restarting_it_loses_no_event(tmp_path, redis_url, processes):
    settings = fast_settings(tmp_path, broker_url=redis_url, database_url=f"sqlite:///{tmp_path / 'csp.db'}")
    system = bootstrap(settings)
    try:
        world = make_world(system.app, system.clock)  # type: ignore[arg-type]
        env = _env(settings)
        relay = processes.start("relay", ["relay"], env)
        placed = [_place(system, world.customer.id, world.tenant.id) for _ in range(15)]
        deadline = time.monotonic() + 30
        while (system.sagas.store.position() or 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        placed += [_place(system, world.customer.id, world.tenant.id) for _ in range(5)]
        relay.send_signal(signal.SIGKILL)  # mid-run: some events relayed, some not
        relay.wait(timeout=10)
        killed_at = system.sagas.store.position() or 0
        placed += [_place(system, world.customer.id, world.tenant.id) for _ in range(10)]
        processes.start("relay", ["relay"], env)
        head = system.app.recorder.max_notification_id() or 0
        deadline = time.monotonic() + 60
        while (system.sagas.store.position() or 0) < head and time.monotonic() < deadline:
            time.sleep(0.2)
        assert system.sagas.store.position() == head
        assert 0 < killed_at < head
        messages = _queued_messages(redis_url, settings.broker_namespace)
        provision = Counter(m["args"][0] for m in messages if m["actor_name"] == "provision_order")
        assert set(provision) == {str(o) for o in placed}  # every order's message is there
        mails = Counter(tuple(m["args"]) for m in messages if m["actor_name"] == "send_mail")
        assert {a[1] for a in mails if a[0] == "order_placed"} == {str(o) for o in placed}
        print(
            f"\nrelay kill: {len(placed)} orders, killed at notification {killed_at} of {head}; "
            f"{sum(provision.values())} provision messages for {len(provision)} orders "
            f"({sum(provision.values()) - len(provision)} duplicates, expected after a kill)"
        )
    finally:
        system.close()
        drop_redis_namespace(redis_url, settings.broker_namespace)


def _vendor_orders(sim_url: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{sim_url}/sim/orders", timeout=10).json()["items"])


def test_200_orders_survive_a_worker_killed_mid_run(tmp_path, redis_url, postgres_dsn, processes):
    with postgres_schema(postgres_dsn) as schema:
        sim_port = _free_port()
        sim_url = f"http://127.0.0.1:{sim_port}"
        settings = fast_settings(
            tmp_path,
            broker_url=redis_url,
            broker_heartbeat_ms=3000,
            database_url=f"{postgres_dsn}?schema={schema}&pool_size=4&max_overflow=8",
            vendor_url=sim_url,
            saga_max_retries=20,
        )
        env = _env(settings, CSP_VENDOR_SIM_DB=str(tmp_path / "vendor-sim.db"))
        processes.start("vendor-sim", ["vendor-sim", "--port", str(sim_port)], env)
        wait_http(f"{sim_url}/sim/stats", timeout=20)
        system = bootstrap(settings)
        try:
            processes.start("relay", ["relay"], env)
            first = processes.start("worker", ["worker", "--threads", "6"], env)
            world = world_through_sagas(system)
            first.send_signal(signal.SIGTERM)  # the orders pile up first, then two workers run
            first.wait(timeout=30)
            placed = [_place(system, world.customer_id, world.tenant.id) for _ in range(200)]
            app = system.app
            store = system.sagas.store

            def statuses() -> Counter[str]:
                return Counter(app.load(Order, o, "order").status for o in placed)

            def open_orders() -> int:
                return sum(1 for kind, _, _ in store.pending() if kind == "order")

            deadline = time.monotonic() + 30
            while open_orders() < 200 and time.monotonic() < deadline:
                time.sleep(0.1)
            started = time.monotonic()
            workers = [processes.start("worker", ["worker", "--threads", "6"], env) for _ in range(2)]
            # kill one worker with SIGKILL mid-run (a quarter done), then start a new one
            deadline = time.monotonic() + 60
            while open_orders() > 150 and time.monotonic() < deadline:
                time.sleep(0.05)
            at_kill = 200 - open_orders()
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(timeout=10)
            time.sleep(0.5)
            processes.start("worker", ["worker", "--threads", "6"], env)
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                s = statuses()
                if s["provision_finished"] + s["provision_failed"] == len(placed):
                    break
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            final = statuses()
            assert final == Counter({"provision_finished": 200}), final
            # the vendor holds exactly one order and one subscription per order line
            keys = {f"{o}:1" for o in placed}
            vendor = [v for v in _vendor_orders(sim_url) if v["idempotency_key"] in keys]
            assert len(vendor) == 200
            assert Counter(v["idempotency_key"] for v in vendor).most_common(1)[0][1] == 1
            assert all(v["subscriptions"] == 1 for v in vendor)
            linked = {
                app.load(
                    Subscription, app.load(Order, o, "order").subscription_ids[0], "subscription"
                ).vendor_subscription_id
                for o in placed
            }
            assert len(linked) == 200
            counters = httpx.get(f"{sim_url}/sim/stats").json()["counters"]
            print(
                f"\nworker kill: 200 orders, 1 worker SIGKILLed with {at_kill} done; "
                f"all finished in {elapsed:.1f} s; vendor orders {len(vendor)}, duplicates 0, "
                f"idempotent replays {counters.get('idempotent_replay', 0)}"
            )
        finally:
            system.close()
            drop_redis_namespace(redis_url, settings.broker_namespace)


def test_200_orders_against_a_failing_vendor_all_end_finished_or_failed_with_reason(saga_system_factory):
    system = saga_system_factory(
        worker_threads=8,
        vendor_timeout_seconds=0.5,
        vendor_sim_hang_seconds=0.6,
        saga_max_retries=10,
        saga_min_backoff_ms=20,
        saga_max_backoff_ms=200,
    )
    w = world_through_sagas(system)
    # the vendor starts failing: 20 % 5xx, 10 % timeouts, 5 % answers lost after the work
    sim_app = w.sagas._sim_server._server.config.app
    faults = sim_app.state.faults
    faults.error_rate, faults.timeout_rate, faults.lost_answer_rate = 0.20, 0.10, 0.05
    started = time.monotonic()
    placed = [_place(system, w.customer_id, w.tenant.id) for _ in range(200)]
    assert w.sagas.drain(240)
    elapsed = time.monotonic() - started
    app = w.app
    orders = [app.load(Order, o, "order") for o in placed]
    outcome = Counter(o.status for o in orders)
    assert outcome["provision_finished"] + outcome["provision_failed"] == 200, outcome
    assert all(o.failure_reason for o in orders if o.status == "provision_failed")
    # no duplicates at the vendor: one vendor order per order line, one subscription each
    sim = w.sagas.gateway().base_url  # type: ignore[attr-defined]
    keys = {f"{o}:1" for o in placed}
    vendor = [v for v in _vendor_orders(sim) if v["idempotency_key"] in keys]
    assert Counter(v["idempotency_key"] for v in vendor).most_common(1)[0][1] == 1
    assert all(v["subscriptions"] == 1 for v in vendor)
    finished_links = [
        app.load(Subscription, o.subscription_ids[0], "subscription").vendor_subscription_id
        for o in orders
        if o.status == "provision_finished"
    ]
    assert len(set(finished_links)) == len(finished_links) == outcome["provision_finished"]
    counters = httpx.get(f"{sim}/sim/stats").json()["counters"]
    failed = w.sagas.store.failed()
    print(
        f"\nfaulty vendor: 200 orders in {elapsed:.1f} s: {outcome['provision_finished']} finished, "
        f"{outcome['provision_failed']} failed with reason; vendor orders {len(vendor)}, duplicates 0; "
        f"injected 5xx {counters.get('fault_5xx', 0)}, timeouts {counters.get('fault_timeout', 0)}, "
        f"lost answers {counters.get('fault_lost_answer', 0)}, idempotent replays {counters.get('idempotent_replay', 0)}; "
        f"messages failed for good {len(failed)}"
    )
