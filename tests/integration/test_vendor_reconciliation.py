"""The vendor reconciliation job: every customer's subscriptions at the vendor against the
platform's; orphans and ghosts planted directly in each store are found, and fixed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from csp.aggregates.base import SYSTEM_PROVISIONING, deterministic_id
from csp.aggregates.order import Order
from csp.aggregates.organization import Organization
from csp.aggregates.subscription import Subscription, subscription_terms_from_offer
from csp.application import NewLineRequest
from csp.workers.reconcile import VendorReconciliation
from tests.fixtures.sagas import world_through_sagas
from tests.support import ACTOR, BUSINESS_BASIC, BUSINESS_PREMIUM, postgres_schema


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'csp.db'}"
    else:
        url = request.getfixturevalue("postgres_dsn")
        with postgres_schema(url) as schema:
            yield f"{url}?schema={schema}"


def _plant_orphan(sim_state: Any, customer_id: str, quantity: int) -> str:
    """A subscription the vendor holds and bills, made by nothing the platform did."""
    vid, oid, now = str(uuid.uuid4()), str(uuid.uuid4()), time.time()
    with sim_state.tx() as c:
        c.execute(
            "INSERT INTO orders (id, customer_id, idempotency_key, created_at, complete_at, line_items) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (oid, customer_id, "portal-of-the-vendor", now - 60, now - 60, json.dumps([])),
        )
        c.execute(
            "INSERT INTO subscriptions (id, customer_id, order_id, line_number, offer_id, quantity, status, "
            "billing_cycle, term, auto_renew, parent_id, is_trial, created_at, ends_at, tranches) "
            "VALUES (?, ?, ?, 1, 'CFQ7TTC0LH18:0001', ?, 'active', 'monthly', 'P1Y', 1, NULL, 0, ?, ?, ?)",
            (vid, customer_id, oid, quantity, now - 60, now + 365 * 86400, json.dumps([[quantity, now - 60]])),
        )
    return vid


def _plant_ghost(app: Any, w: Any, tenant: Any) -> uuid.UUID:
    """A live subscription here, linked to a vendor subscription that does not exist."""
    offer = app.catalog().offer(BUSINESS_PREMIUM)
    buyer = app.load(Organization, w.customer_id, "organization")
    price = app.pricing.pricer(buyer, app.now())(offer, "annual", 4)
    terms = subscription_terms_from_offer(
        offer,
        organization_id=w.customer_id,
        reseller_id=w.reseller_id,
        tenant_id=tenant.id,
        tenant_domain=tenant.domain,
        order_id=None,
        line_no=None,
        term="annual",
        billing_cycle="monthly",
        quantity=4,
        price=price,
        vendor_subscription_id="ghost-" + uuid.uuid4().hex[:8],
    )
    sub = Subscription.provision(deterministic_id("ghost", tenant.id), terms, actor=SYSTEM_PROVISIONING, at=app.now())
    app.save(sub)
    return sub.id


def test_an_orphan_and_a_ghost_are_found_and_fix_resolves_both(saga_system_factory, database_url, tmp_path):
    system = saga_system_factory(database_url=database_url)
    w = world_through_sagas(system)
    app = w.app
    # given one order provisioned as usual (nothing to report about it)
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, w.tenant.id, 2, "monthly", "annual"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    assert app.load(Order, order.id, "order").status == "provision_finished"
    # and an orphan planted in the vendor's store, a ghost in the platform's
    sim_state = w.sagas._sim_server._server.config.app.state.sim
    orphan = _plant_orphan(sim_state, w.tenant.vendor_customer_id, 7)
    ghost = _plant_ghost(app, w, w.tenant)
    assert w.sagas.drain(30)
    job = VendorReconciliation(app, w.sagas.store, w.sagas.gateway)
    # when reconciling: both are found, nothing else
    report = job.reconcile()
    found = sorted(
        (d.kind, d.vendor_subscription_id if d.kind == "orphan" else d.subscription_id) for d in report.differences
    )
    assert found == [("ghost", ghost), ("orphan", orphan)]
    assert report.unresolved == report.differences
    # the operator's command, from another process, says the same (and exits 1)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CSP_")}}
    env.update(
        {"CSP_DATA_DIR": str(tmp_path), "CSP_DATABASE_URL": database_url, "CSP_VENDOR_URL": w.sagas.gateway().base_url}
    )
    out = subprocess.run(
        [sys.executable, "-m", "csp.cli", "vendor", "reconcile"], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 1, out.stderr
    assert orphan in out.stdout
    assert str(ghost) in out.stdout
    assert "1 orphan, 1 ghost" in out.stdout
    # with --fix: the orphan adopted (its event says so), the ghost ended here
    out = subprocess.run(
        [sys.executable, "-m", "csp.cli", "vendor", "reconcile", "--fix"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "adopted as subscription" in out.stdout
    adopted_id = deterministic_id("adopted-subscription", orphan)
    adopted = app.load(Subscription, adopted_id, "subscription")
    assert (adopted.vendor_subscription_id, adopted.quantity, adopted.status, adopted.tenant_id) == (
        orphan,
        7,
        "active",
        w.tenant.id,
    )
    assert adopted.offer_id == BUSINESS_BASIC
    assert any(isinstance(e, Subscription.AdoptedFromVendor) for e in app.repository.event_store.get(adopted_id))
    ended = app.load(Subscription, ghost, "subscription")
    assert ended.status == "cancelled"
    assert any(isinstance(e, Subscription.CorrectedFromVendor) for e in app.repository.event_store.get(ghost))
    # then nothing is left to find
    assert w.sagas.drain(30)
    again = job.reconcile()
    assert again.differences == [], [d.line() for d in again.differences]


def _provisioned(w: Any, offer_id: uuid.UUID, quantity: int) -> uuid.UUID:
    """A subscription ordered, placed and provisioned through the sagas."""
    order = w.app.create_order(w.customer_id, actor=ACTOR)
    w.app.add_new_subscription_line(
        order.id, NewLineRequest(offer_id, w.tenant.id, quantity, "monthly", "annual"), actor=ACTOR
    )
    w.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    return w.app.load(Order, order.id, "order").subscription_ids[0]  # type: ignore[no-any-return]


def test_quantity_and_status_differences_are_corrected_from_the_vendor(saga_system_factory):
    system = saga_system_factory()
    w = world_through_sagas(system)
    app = w.app
    sub = app.load(Subscription, _provisioned(w, BUSINESS_PREMIUM, 5), "subscription")
    sim_state = w.sagas._sim_server._server.config.app.state.sim
    with sim_state.tx() as c:  # someone changed it in the vendor's own portal
        c.execute(
            "UPDATE subscriptions SET quantity = 3, status = 'suspended' WHERE id = ?", (sub.vendor_subscription_id,)
        )
    job = VendorReconciliation(app, w.sagas.store, w.sagas.gateway)
    assert sorted(d.kind for d in job.reconcile().differences) == ["quantity", "status"]
    fixed = job.reconcile(fix=True)
    assert all(d.fixed for d in fixed.differences)
    sub = app.load(Subscription, sub.id, "subscription")
    assert (sub.quantity, sub.status, sum(t.quantity for t in sub.tranches)) == (3, "suspended", 3)
    assert w.sagas.drain(30)
    assert job.reconcile().differences == []


def test_a_subscription_cancelled_inside_its_window_is_no_difference(saga_system_factory):
    # given a subscription cancelled here and at the vendor (which keeps its last quantity,
    # as Partner Center does, where the platform counts no seats left)
    system = saga_system_factory()
    w = world_through_sagas(system)
    app = w.app
    sub_id = _provisioned(w, BUSINESS_BASIC, 2)
    app.cancel_subscription(sub_id, actor=ACTOR)
    assert w.sagas.drain(30)
    sub = app.load(Subscription, sub_id, "subscription")
    assert (sub.status, sub.quantity) == ("cancelled", 0)
    # when the vendor's subscriptions are compared with the platform's
    report = VendorReconciliation(app, w.sagas.store, w.sagas.gateway).reconcile()
    # then an ended subscription's quantity is not a difference
    assert report.differences == []
