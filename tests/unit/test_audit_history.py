"""An auditor replays any order, subscription or tenant, as of any instant."""

import json
from datetime import timedelta

import pytest

from csp.aggregates.errors import NotFound
from csp.aggregates.order import Order
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.audit import history
from csp.clock import SettableClock
from tests.support import ACTOR, make_world, memory_app


def test_the_history_of_an_order_lists_every_event_and_the_state_after_the_last():
    clock = SettableClock()
    app = memory_app(clock)
    w = make_world(app, clock)
    order = w.order_with_line(quantity=2)
    drafted_at = clock.now()
    clock.advance(timedelta(hours=1))
    app.place_order(order.id, accept_terms=True, actor=ACTOR)

    h = history(app, order.id, kind=Order)
    assert [(e["version"], e["type"]) for e in h["events"]] == [
        (1, "Drafted"),
        (2, "LineAdded"),
        (3, "TermsAccepted"),
        (4, "Placed"),
    ]
    placed = h["events"][-1]
    assert (placed["actor"], placed["at"], placed["data"]) == (ACTOR, clock.now().isoformat(), {"total": "31.16"})
    assert h["events"][1]["data"]["line"]["quantity"] == 2
    assert h["state"]["status"] == "placed"
    assert h["state"]["version"] == 4
    json.dumps(h)  # every value is JSON

    # as of the moment it was drafted: the draft, before it was placed
    before = history(app, order.id, as_of=drafted_at, kind=Order)
    assert [e["type"] for e in before["events"]] == ["Drafted", "LineAdded"]
    assert before["state"]["status"] == "draft"
    assert before["state"]["version"] == 2
    assert history(app, order.id, as_of=drafted_at - timedelta(days=1))["state"] is None


def test_the_history_is_only_served_for_the_kind_asked_for():
    clock = SettableClock()
    app = memory_app(clock)
    w = make_world(app, clock)
    sub = w.buy(1)
    assert history(app, sub.id, kind=Subscription)["state"]["quantity"] == 1
    assert history(app, w.tenant.id, kind=Tenant)["state"]["status"] == "created"
    with pytest.raises(NotFound):
        history(app, sub.id, kind=Order)
    with pytest.raises(NotFound):
        history(app, w.customer.id, kind=Tenant)
