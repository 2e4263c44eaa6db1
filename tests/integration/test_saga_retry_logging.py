"""A transient vendor failure logs one warning line per retry and the error once when the
saga gives up, never dramatiq's "unhandled exception" traceback."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from csp.aggregates.order import Order
from csp.application import NewLineRequest
from csp.bootstrap import System
from tests.fixtures.sagas import world_through_sagas
from tests.support import ACTOR, BUSINESS_PREMIUM


def test_a_vendor_5xx_is_a_warning_per_retry_and_one_error_when_it_gives_up(
    saga_system_factory: Callable[..., System], caplog: pytest.LogCaptureFixture
):
    system = saga_system_factory(saga_max_retries=2)
    w = world_through_sagas(system)
    w.sagas._sim_server._server.config.app.state.faults.error_rate = 1.0  # the vendor answers 503
    order = w.app.create_order(w.customer_id, actor=ACTOR)
    w.app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 2, "monthly", "annual"), actor=ACTOR
    )
    caplog.set_level(logging.INFO)
    caplog.clear()
    w.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    deadline = time.monotonic() + 30
    while not w.sagas.store.failed() and time.monotonic() < deadline:
        time.sleep(0.05)
    w.sagas._sim_server._server.config.app.state.faults.error_rate = 0.0  # back: asked, it holds nothing
    assert w.sagas.drain(30)
    assert w.app.load(Order, order.id, "order").status == "provision_failed"

    mine = [r for r in caplog.records if "provision_order" in r.getMessage() or r.exc_info]
    assert not [r for r in caplog.records if "unhandled exception" in r.getMessage()]
    assert not [r for r in caplog.records if r.exc_info]  # no traceback at all
    warnings = [r for r in mine if r.levelno == logging.WARNING and r.name == "csp.workers"]
    errors = [r for r in mine if r.levelno >= logging.ERROR]
    assert [r.getMessage().split("; ")[-1] for r in warnings] == ["retry 1 of 2", "retry 2 of 2"]
    assert all("503" in r.getMessage() and "\n" not in r.getMessage() for r in warnings)
    assert len(errors) == 1
    assert "gave up after 2 retries" in errors[0].getMessage()
    assert "VendorUnavailable" in errors[0].getMessage()
