"""Orders provisioned end to end by separate processes: the vendor simulator (with added
latency), the relay and worker processes on Redis, as compose.yaml runs them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from eventsourcing.utils import get_topic

from bench.common import csp_env, drop_redis_keys, free_port, log, processes, redis_namespace, wait_http
from csp.aggregates.agreement import latest_agreement_version
from csp.aggregates.order import Order
from csp.aggregates.organization import Address, OrganizationProfile
from csp.aggregates.tenant import Tenant
from csp.application import NewLineRequest
from csp.application.catalog import offer_id_for
from csp.bootstrap import bootstrap
from csp.settings import Settings

ACTOR = "system:bench"
DONE_TOPICS = [get_topic(Order.ProvisionFinished), get_topic(Order.ProvisionFailed)]


def _profile(name: str) -> OrganizationProfile:
    from csp.aggregates.catalog import Eligibility

    return OrganizationProfile(
        name=name,
        country="RO",
        address=Address(line1="Str. Fabricii 46", city="Bucharest", postal_code="060822"),
        contact_email="office@bench.example",
        contact_phone="+40 21 555 0100",
        industry="retail",
        eligibility=Eligibility(),
    )


def run_sagas(
    database_url: str,
    workdir: Path,
    redis_url: str,
    orders: int,
    latency_ms: int = 50,
    workers: int = 2,
    threads: int = 8,
    clients: int = 8,
) -> dict[str, Any]:
    namespace = redis_namespace()
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    env = csp_env(
        database_url,
        workdir,
        CSP_BROKER_URL=redis_url,
        CSP_BROKER_NAMESPACE=namespace,
        CSP_REDIS_PREFIX=f"{namespace}:",
        CSP_VENDOR_URL=sim_url,
        CSP_VENDOR_SIM_DB=str(workdir / "vendor-sim.db"),
        CSP_VENDOR_SIM_LATENCY_MS=str(latency_ms),
    )
    settings = Settings(
        data_dir=workdir,
        database_url=database_url,
        broker_url=redis_url,
        broker_namespace=namespace,
        redis_prefix=f"{namespace}:",
        vendor_url=sim_url,
    )
    try:
        with processes(workdir / "logs") as procs:
            procs.start("vendor-sim", ["vendor-sim", "--port", str(sim_port)], env)
            system = bootstrap(settings)
            try:
                wait_http(f"{sim_url}/sim/stats")
                procs.start("relay", ["relay"], env)
                for _ in range(workers):
                    procs.start("worker", ["worker", "--threads", str(threads)], env)
                app = system.app
                reseller = app.register_reseller(_profile("Bench Reseller"), actor=ACTOR)
                customer = app.register_customer(reseller.id, _profile("Bench Customer"), actor=ACTOR)
                app.record_agreement(
                    customer.id,
                    "Ana",
                    "Pop",
                    "ana.pop@example.com",
                    "+40 21 555 0100",
                    app.now(),
                    latest_agreement_version(),
                    ACTOR,
                )
                tenant = app.request_tenant(customer.id, f"bench{namespace[-10:]}", "create", actor=ACTOR)
                deadline = time.monotonic() + 120
                while app.load(Tenant, tenant.id, "tenant").status != "created":
                    if time.monotonic() > deadline:
                        raise RuntimeError("the tenant saga did not finish in 120 s; see the logs under var/")
                    time.sleep(0.2)
                log(f"sagas: tenant ready; placing {orders} orders")
                offer = offer_id_for("CFQ7TTC0LCHC:0002")
                start = app.recorder.max_notification_id() or 0
                started = time.monotonic()

                def place(_: int) -> None:
                    order = app.create_order(customer.id, actor=ACTOR)
                    app.add_new_subscription_line(
                        order.id, NewLineRequest(offer, tenant.id, 1, "monthly", "annual"), actor=ACTOR
                    )
                    app.place_order(order.id, accept_terms=True, actor=ACTOR)

                # placed from several clients at once, as a busy portal would
                with ThreadPoolExecutor(clients) as pool:
                    list(pool.map(place, range(orders)))
                placed = time.monotonic() - started
                log(f"sagas: {orders} placed in {placed:.1f}s; waiting for provisioning")
                finished, failed = _wait_done(app, start, orders, timeout=max(120.0, orders * 0.5))
                seconds = time.monotonic() - started
            finally:
                system.close()
    finally:
        drop_redis_keys(redis_url, namespace)
    return {
        "orders": orders,
        "finished": finished,
        "failed": failed,
        "seconds": round(seconds, 1),
        "placing_seconds": round(placed, 1),
        "orders_per_second": round(finished / seconds, 1) if seconds else 0,
        "vendor_latency_ms": latency_ms,
        "worker_processes": workers,
        "threads_per_worker": threads,
        "placing_clients": clients,
    }


def _wait_done(app: Any, start: int, orders: int, timeout: float) -> tuple[int, int]:
    """Count the orders' final events after ``start`` until all are in (or the timeout)."""
    finished = failed = 0
    position = start
    deadline = time.monotonic() + timeout
    last_log = time.monotonic()
    while finished + failed < orders and time.monotonic() < deadline:
        found = app.recorder.select_notifications(position, 1000, topics=DONE_TOPICS, inclusive_of_start=False)
        for n in found:
            if n.topic == DONE_TOPICS[0]:
                finished += 1
            else:
                failed += 1
            position = n.id
        if not found:
            time.sleep(0.1)
        if time.monotonic() - last_log > 5:
            last_log = time.monotonic()
            log(f"sagas: {finished + failed}/{orders} done")
    return finished, failed
