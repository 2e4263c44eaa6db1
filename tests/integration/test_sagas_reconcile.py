"""Sagas that reconcile before they give up: when the retries run out, the vendor is asked
what became of the line (by its idempotency key) before anything is failed."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx

from csp.aggregates.order import Order
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.application import NewLineRequest
from csp.vendor import LineItem, VendorOrder, VendorUnavailable
from tests.fixtures.sagas import world_through_sagas
from tests.support import ACTOR, BUSINESS_PREMIUM, BUSINESS_PREMIUM_TRIAL, profile, record_agreement


class FlakyVendor:
    """The real gateway (the simulator), with a vendor outage on orders: the first order
    call is done at the vendor but its answer is lost (``lose_first``), and every order
    call after it fails, until ``outage`` is cleared. Everything else passes through."""

    def __init__(self, real: Any, lose_first: bool = True) -> None:
        self.real = real
        self.lose_first = lose_first
        self.outage = True
        self.place_calls = 0
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def place_order(self, customer_id: str, line_items: list[LineItem], idempotency_key: str) -> VendorOrder:
        with self.lock:
            self.place_calls += 1
            first = self.place_calls == 1
        if first and self.lose_first:
            self.real.place_order(customer_id, line_items, idempotency_key)
            raise VendorUnavailable("POST orders: connection reset (the answer was lost)")
        if self.outage:
            raise VendorUnavailable("POST orders: the vendor answered 503")
        return self.real.place_order(customer_id, line_items, idempotency_key)  # type: ignore[no-any-return]


def _order(app: Any, w: Any, offer: Any = BUSINESS_PREMIUM, quantity: int | None = 3, term: str = "annual") -> Any:
    order = app.create_order(w.customer_id, actor=ACTOR)
    app.add_new_subscription_line(order.id, NewLineRequest(offer, w.tenant.id, quantity, "monthly", term), actor=ACTOR)
    return order


def _vendor_subscriptions(system: Any, customer_id: str) -> list[dict[str, Any]]:
    base = system.sagas.gateway().base_url
    items: list[dict[str, Any]] = httpx.get(f"{base}/v1/customers/{customer_id}/subscriptions").json()["items"]
    return items


def test_retries_that_run_out_after_a_lost_answer_end_with_the_line_provisioned_once(saga_system_factory):
    system = saga_system_factory(saga_max_retries=2, saga_min_backoff_ms=20, saga_max_backoff_ms=100)
    w = world_through_sagas(system)
    app = w.app
    flaky = FlakyVendor(system.sagas.gateway())
    system.sagas._gateway = flaky
    # given an order whose vendor order was accepted, its answer lost, then an outage
    order = _order(app, w)
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    # when the retries run out
    assert w.sagas.drain(30)
    # then the vendor was asked before the order failed: the line is provisioned
    assert flaky.place_calls >= 3  # the first and every retry
    order = app.load(Order, order.id, "order")
    assert order.status == "provision_finished", order.failure_reason
    sub = app.load(Subscription, order.subscription_ids[0], "subscription")
    vendor = _vendor_subscriptions(system, w.tenant.vendor_customer_id)
    assert [(v["id"], v["quantity"], v["status"]) for v in vendor] == [(sub.vendor_subscription_id, 3, "active")]
    assert [f.actor for f in w.sagas.store.failed()] == ["provision_order"]  # the operator still sees it


class LateVendor(FlakyVendor):
    """The first order call gets no answer in time, and the vendor does its work only
    ``late`` seconds later (a request queued at the vendor after the caller gave up on it);
    every order call after it fails until ``outage`` is cleared."""

    def __init__(self, real: Any, late: float) -> None:
        super().__init__(real, lose_first=False)
        self.late = late
        self.worker: threading.Thread | None = None

    def place_order(self, customer_id: str, line_items: list[LineItem], idempotency_key: str) -> VendorOrder:
        with self.lock:
            self.place_calls += 1
            first = self.place_calls == 1
        if first:

            def work() -> None:
                time.sleep(self.late)
                self.real.place_order(customer_id, line_items, idempotency_key)

            self.worker = threading.Thread(target=work, daemon=True)
            self.worker.start()
            raise VendorUnavailable("POST orders: timed out after 0.5 s")
        return super().place_order(customer_id, line_items, idempotency_key)


def test_a_request_the_vendor_works_on_after_the_retries_ran_out_ends_provisioned_not_failed(saga_system_factory):
    system = saga_system_factory(
        saga_max_retries=2, saga_min_backoff_ms=20, saga_max_backoff_ms=100, saga_settle_ms=1500
    )
    w = world_through_sagas(system)
    app = w.app
    late = LateVendor(system.sagas.gateway(), late=0.6)
    system.sagas._gateway = late
    # given an order whose first vendor call times out, the vendor doing the work later
    order = _order(app, w)
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    # when the retries run out before the vendor has done it
    assert w.sagas.drain(30)
    assert late.worker is not None
    late.worker.join(5)
    # then the line is not failed while the vendor may still be working: the second look finds it
    order = app.load(Order, order.id, "order")
    assert order.status == "provision_finished", order.failure_reason
    sub = app.load(Subscription, order.subscription_ids[0], "subscription")
    vendor = _vendor_subscriptions(system, w.tenant.vendor_customer_id)
    assert [(v["id"], v["status"]) for v in vendor] == [(sub.vendor_subscription_id, "active")]


def test_a_line_the_vendor_never_received_fails_with_the_vendors_last_answer(saga_system_factory):
    system = saga_system_factory(saga_max_retries=2, saga_min_backoff_ms=20, saga_max_backoff_ms=100)
    w = world_through_sagas(system)
    app = w.app
    system.sagas._gateway = FlakyVendor(system.sagas.gateway(), lose_first=False)
    order = _order(app, w)
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    order = app.load(Order, order.id, "order")
    assert order.status == "provision_failed"
    assert order.failed_line_no == 1
    assert "the vendor answered 503" in (order.failure_reason or "")
    assert _vendor_subscriptions(system, w.tenant.vendor_customer_id) == []


def test_what_the_vendor_holds_and_the_platform_cannot_accept_is_cancelled_at_the_vendor(saga_system_factory):
    system = saga_system_factory()
    w = world_through_sagas(system)
    app = w.app
    # two carts with the same trial: the platform accepts one trial per offer per customer
    first = _order(app, w, BUSINESS_PREMIUM_TRIAL, None, "monthly")
    second = _order(app, w, BUSINESS_PREMIUM_TRIAL, None, "monthly")
    app.place_order(first.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    app.place_order(second.id, accept_terms=True, actor=ACTOR)
    assert w.sagas.drain(30)
    # the vendor made the second trial too; the platform refused it, so it was cancelled there
    first, second = (app.load(Order, o.id, "order") for o in (first, second))
    assert first.status == "provision_finished"
    assert second.status == "provision_failed"
    assert "cancelled at the vendor" in (second.failure_reason or "")
    assert "trial" in (second.failure_reason or "")
    vendor = _vendor_subscriptions(system, w.tenant.vendor_customer_id)
    kept = app.load(Subscription, first.subscription_ids[0], "subscription").vendor_subscription_id
    assert sorted((v["id"] == kept, v["status"]) for v in vendor) == [(False, "cancelled"), (True, "active")]


class CountingVendor:
    """The real gateway, counting the tenant saga's vendor calls; ``accept_agreement`` fails
    (transiently) while ``agreement_outage`` is set, after doing nothing."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: Counter[str] = Counter()
        self.agreement_outage = True

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if name == "accept_agreement" and self.agreement_outage:
                raise VendorUnavailable("POST agreements: the vendor answered 503")
            return attr(*args, **kwargs)

        return call


def test_the_tenant_saga_resumes_after_the_last_vendor_call_done_and_is_not_rejected_for_an_outage(
    saga_system_factory,
):
    system = saga_system_factory(saga_max_retries=2, saga_min_backoff_ms=20, saga_max_backoff_ms=100)
    app = system.app
    vendor = CountingVendor(system.sagas.gateway())
    system.sagas._gateway = vendor
    reseller = app.register_reseller(profile(), actor=ACTOR)
    customer = app.register_customer(reseller.id, profile("Contoso SRL", "retail"), actor=ACTOR)
    record_agreement(app, customer.id)  # sent to the vendor as the tenant is created
    tenant = app.request_tenant(customer.id, "resumes", "create", actor=ACTOR)
    # when accepting the agreement fails until the retries run out, and then some
    deadline = time.monotonic() + 30
    while vendor.calls["accept_agreement"] < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    # then the tenant is still being verified (the vendor never refused), the customer made once
    assert app.load(Tenant, tenant.id, "tenant").status == "verifying"
    assert system.sagas.store.failed()  # retries ran out at least once
    vendor.agreement_outage = False
    assert system.sagas.drain(30)
    tenant = app.load(Tenant, tenant.id, "tenant")
    assert tenant.status == "created", tenant.rejection_reason
    assert (vendor.calls["domain_exists"], vendor.calls["create_customer"]) == (1, 1)
    events = [type(e).__name__ for e in app.repository.event_store.get(tenant.id)]
    assert events[-3:] == ["VendorCustomerCreated", "VendorAgreementAccepted", "CreatedAtVendor"]
