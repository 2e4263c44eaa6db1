"""A command loads each aggregate once: what the access check loaded is handed to the
command (``Commands.run(fn, *loaded)``), the aggregates a line is priced from are read once
and not copied, and a retry after a conflict loads afresh."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from uuid import UUID

import pytest

from csp.aggregates.agreement import agreement_id
from csp.aggregates.order import Order
from csp.aggregates.organization import Organization
from csp.aggregates.tenant import Tenant
from csp.api import access
from csp.api.auth import Caller
from csp.api.commands import Commands
from csp.application import CspApplication, NewLineRequest
from csp.clock import SettableClock
from tests.support import ACTOR, BUSINESS_PREMIUM, World, make_world, memory_app


@pytest.fixture
def world(clock: SettableClock) -> World:
    return make_world(memory_app(clock), clock)


@contextmanager
def selects(app: CspApplication, calls: list[tuple[UUID, int | None]] | None = None) -> Iterator[Counter[UUID]]:
    """How many times each aggregate's events were selected from the store meanwhile
    (and, in ``calls``, after which version)."""
    seen: Counter[UUID] = Counter()
    real = app.recorder.select_events

    def counting(originator_id, **kw):  # type: ignore[no-untyped-def]
        seen[originator_id] += 1
        if calls is not None:
            calls.append((originator_id, kw.get("gt")))
        return real(originator_id, **kw)

    app.recorder.select_events = counting  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        del app.recorder.select_events


def reseller_caller(w: World) -> Caller:
    return Caller(
        UUID(ACTOR.removeprefix("user:")), "boss@example.com", "account_manager", w.reseller.id, w.reseller.id, "token"
    )


def line(w: World) -> NewLineRequest:
    return NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 2, "monthly", "annual", Decimal(5))


def test_each_command_of_an_order_loads_each_aggregate_once_with_its_access_check(world: World):
    app, caller = world.app, reseller_caller(world)
    commands = Commands(None, app)
    app.catalog()  # the catalog's version is asked per line: not an aggregate load

    with selects(app) as seen:
        org = access.organization(app, caller, world.customer.id)
        order = commands.run(lambda: app.create_order(org.id, caller.actor), org)
    assert seen[world.customer.id] == 1, seen

    with selects(app) as seen:
        checked = access.order(app, caller, order.id)
        tenant = access.tenant(app, caller, world.tenant.id)
        order = commands.run(
            lambda: app.add_new_subscription_line(order.id, line(world), caller.actor), checked, tenant
        )
    assert order.lines[0].quantity == 2
    assert max(seen.values()) == 1, seen  # the order, the tenant, the buyer, the reseller, keys: once each
    assert (seen[order.id], seen[world.tenant.id], seen[world.customer.id]) == (1, 1, 1)

    with selects(app) as seen:
        checked = access.order(app, caller, order.id)
        order = commands.run(lambda: app.place_order(order.id, True, caller.actor), checked)
    assert order.status == "placed"
    # the order, and (issue 16) the customer and its agreement, which placing checks: once each
    assert dict(seen) == {order.id: 1, world.customer.id: 1, agreement_id(world.customer.id): 1}


def test_a_retry_after_a_conflict_loads_afresh_instead_of_reusing_the_stale_copy(world: World):
    # given the route's access check loaded a cart of one line, then another writer added one
    app, caller = world.app, reseller_caller(world)
    order = world.order_with_line()
    stale = access.order(app, caller, order.id)
    app.add_new_subscription_line(order.id, line(world), actor=ACTOR)
    # when the command runs on the stale copy, its save conflicts and it runs again
    placed = Commands(None, app).run(lambda: app.place_order(order.id, True, caller.actor), stale)
    # then the retry decided on the stored state: the other writer's line is placed too
    assert placed.status == "placed"
    assert len(placed.lines) == 2
    assert app.load(Order, order.id, "order").version == placed.version


def test_a_stale_if_match_is_still_refused_with_the_handed_copy(world: World):
    from csp.aggregates.errors import ConcurrentModification

    app, caller = world.app, reseller_caller(world)
    order = world.order_with_line()
    checked = access.order(app, caller, order.id)
    with pytest.raises(ConcurrentModification):
        Commands(None, app).run(lambda: app.place_order(order.id, True, caller.actor, order.version - 1), checked)


def test_read_gives_the_cached_instance_and_load_a_copy_of_its_own(world: World):
    app = world.app
    assert app.read(Tenant, world.tenant.id, "tenant") is app.read(Tenant, world.tenant.id, "tenant")
    a = app.load(Tenant, world.tenant.id, "tenant")
    assert a is not app.load(Tenant, world.tenant.id, "tenant")
    assert a is not app.read(Tenant, world.tenant.id, "tenant")


def test_a_unit_of_work_refuses_the_caches_own_instance(world: World):
    app = world.app
    shared = app.read(Organization, world.customer.id, "organization")
    with pytest.raises(ValueError, match="not a copy"), app.unit_of_work(shared):
        pass


def test_a_handed_copy_is_used_once_then_loading_loads(world: World):
    app = world.app
    copy = app.load(Order, world.order_with_line().id, "order")
    with app.unit_of_work(copy):
        assert app.load(Order, copy.id, "order") is copy
        assert app.load(Order, copy.id, "order") is not copy


def test_find_answers_none_for_a_missing_aggregate_and_remembers_it_in_the_unit_of_work(world: World):
    app = world.app
    missing = UUID(int=7)
    with selects(app) as seen, app.unit_of_work():
        assert app.find(Organization, missing, "organization", readonly=True) is None
        assert app.find(Organization, missing, "organization", readonly=True) is None
    assert seen[missing] == 1


def test_a_new_aggregate_is_cached_when_saved_so_its_next_load_reads_only_what_is_new(world: World):
    app = world.app
    order = app.create_order(world.customer.id, actor=ACTOR)
    calls: list[tuple[UUID, int | None]] = []
    with selects(app, calls):
        loaded = app.load(Order, order.id, "order")
    assert loaded.number == order.number
    assert loaded is not order
    assert calls == [(order.id, order.version)]  # a fast-forward from the saved version, no replay
    order.discard(actor=ACTOR, at=app.now())  # the caller's copy is its own: the cache is untouched
    assert app.load(Order, order.id, "order").status == "draft"
