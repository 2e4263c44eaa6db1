"""What operators see: failed messages listed and retried, RabbitMQ supported, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from csp.aggregates.order import Order
from csp.application import NewLineRequest
from tests.fixtures.sagas import world_through_sagas
from tests.support import ACTOR, BUSINESS_PREMIUM


def _place(w):  # type: ignore[no-untyped-def]
    order = w.app.create_order(w.customer_id, actor=ACTOR)
    w.app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 1, "monthly", "annual"), actor=ACTOR
    )
    w.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    return order.id


def test_when_retries_run_out_the_order_fails_with_the_reason_and_the_message_is_listed(saga_system_factory, tmp_path):
    system = saga_system_factory(saga_max_retries=2)
    w = world_through_sagas(system)
    faults = w.sagas._sim_server._server.config.app.state.faults
    faults.error_rate = 1.0  # the vendor is down
    order_id = _place(w)
    deadline = time.monotonic() + 30
    while not w.sagas.store.failed() and time.monotonic() < deadline:
        time.sleep(0.05)
    # the retries ran out, but the vendor cannot be asked what became of the line: no verdict yet
    assert w.app.load(Order, order_id, "order").status == "provision_started"
    faults.error_rate = 0.0  # the vendor is back: it is asked, and holds nothing for the line
    assert w.sagas.drain(30)
    order = w.app.load(Order, order_id, "order")
    assert order.status == "provision_failed"
    assert "repeated attempts" in (order.failure_reason or "")
    assert "503" in (order.failure_reason or "")
    failed = w.sagas.store.failed()
    assert [(f.actor, f.args, f.retries) for f in failed] == [("provision_order", [str(order_id)], 3)]
    # the operator's view, from another process
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CSP_")}, "CSP_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "csp.cli", "sagas", "failed"], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "provision_order" in out.stdout
    assert failed[0].message_id[:8] in out.stdout
    # a retry from the CLI is picked up by the running service (in-process broker)
    out = subprocess.run(
        [sys.executable, "-m", "csp.cli", "sagas", "retry", failed[0].message_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "next scheduler tick" in out.stdout
    assert w.sagas.enqueue_requested_retries() == 1
    assert w.sagas.drain(30)
    assert w.sagas.store.failed() == []
    status = subprocess.run(
        [sys.executable, "-m", "csp.cli", "sagas", "status"], capture_output=True, text=True, env=env, timeout=60
    )
    assert "failed messages: 0" in status.stdout


def test_sagas_run_on_rabbitmq(saga_system_factory, rabbitmq_url):
    system = saga_system_factory(broker_url=rabbitmq_url)
    try:
        w = world_through_sagas(system)
        order_id = _place(w)
        assert w.sagas.drain(60)
        assert w.app.load(Order, order_id, "order").status == "provision_finished"
    finally:
        broker = system.sagas.broker
        for q in list(broker.get_declared_queues()):
            for name in (q, f"{q}.DQ", f"{q}.XQ"):
                broker.channel.queue_delete(name)
