"""The vendor simulator through the real HTTP client: uniqueness, idempotency, refusals, faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from csp.settings import Settings
from csp.vendor import AgreementAttestation, CompanyProfile, LineItem, VendorRefused, VendorUnavailable
from csp.vendor.client import HttpVendorGateway
from csp.vendor.server import BackgroundServer
from csp.vendor.simulator import SimState, create_app, load_offers

PREMIUM = "CFQ7TTC0LCHC:0002"  # max 300
TEAMS_PHONE = "CFQ7TTC0LHXM:0001"
PROFILE = CompanyProfile("Contoso SRL", "office@contoso.ro", "RO")
ATTESTATION = AgreementAttestation(
    "Ana", "Popescu", "ana@contoso.ro", "+40 21 555 0101", "2026-01-05", "117a77b0-9360-443b-8795-c6dedc750cf9"
)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[HttpVendorGateway, Clock, str]]:
    clock = Clock()
    state = SimState(tmp_path / "vendor-sim.db", load_offers(), domain_seconds=60, order_seconds=60, clock=clock)
    server = BackgroundServer(create_app(Settings(data_dir=tmp_path), state=state))
    url = server.start()
    gateway = HttpVendorGateway(url, timeout=5)
    yield gateway, clock, url
    gateway.close()
    server.stop()


def _ready_customer(g: HttpVendorGateway, clock: Clock, domain: str = "contoso.onmicrosoft.com") -> str:
    c = g.create_customer(domain, PROFILE, f"c:{domain}")
    assert c.status == "pending"
    clock.now += 61  # creating a tenant takes its time
    assert g.get_customer(c.id).is_active
    g.accept_agreement(c.id, ATTESTATION, f"a:{domain}")
    return c.id


def test_domains_are_unique_across_all_customers(sim):
    g, clock, _ = sim
    assert not g.domain_exists("contoso.onmicrosoft.com")
    _ready_customer(g, clock)
    assert g.domain_exists("contoso.onmicrosoft.com")
    with pytest.raises(VendorRefused) as e:
        g.create_customer("contoso.onmicrosoft.com", PROFILE, "another-key")
    assert (e.value.status, e.value.code) == (409, "DomainAlreadyExists")


def test_a_repeated_idempotency_key_returns_the_first_answer(sim):
    g, clock, url = sim
    cid = _ready_customer(g, clock)
    first = g.place_order(cid, [LineItem(1, PREMIUM, 3, "monthly", "P1Y")], "order-1:1")
    again = g.place_order(cid, [LineItem(1, PREMIUM, 3, "monthly", "P1Y")], "order-1:1")
    assert again == first
    assert first.status == "pending"
    clock.now += 61
    done = g.get_order(cid, first.id)
    assert done.is_completed
    assert done.line_items[0].subscription_id
    stats = httpx.get(f"{url}/sim/stats").json()
    assert (stats["orders"], stats["subscriptions"], stats["counters"]["idempotent_replay"]) == (1, 1, 1)


def test_it_refuses_what_the_vendor_refuses_in_the_vendors_error_shape(sim):
    g, clock, url = sim
    cid = _ready_customer(g, clock)
    with pytest.raises(VendorRefused) as e:
        g.place_order(cid, [LineItem(1, PREMIUM, 301, "monthly", "P1Y")], "too-many")
    assert e.value.code == "InvalidQuantity"
    assert "300" in e.value.message
    raw = httpx.post(f"{url}/v1/customers/{cid}/orders", json={"lineItems": [{"offerId": TEAMS_PHONE, "quantity": 1}]})
    assert raw.status_code == 400
    assert set(raw.json()) == {"code", "errorName", "description", "data"}
    order = g.place_order(cid, [LineItem(1, PREMIUM, 5, "monthly", "P1Y")], "ok")
    clock.now += 61
    sid = g.get_order(cid, order.id).line_items[0].subscription_id
    assert sid
    # seats inside their 7-day window may go; after it, they may not
    assert g.update_subscription(cid, sid, {"quantity": 4}, "p1").quantity == 4
    clock.now += 8 * 86400
    with pytest.raises(VendorRefused) as e:
        g.update_subscription(cid, sid, {"quantity": 3}, "p2")
    assert e.value.code == "OutsideCancellationWindow"
    g.update_subscription(cid, sid, {"status": "suspended"}, "p3")
    with pytest.raises(VendorRefused) as e:
        g.update_subscription(cid, sid, {"quantity": 10}, "p4")
    assert e.value.code == "SubscriptionSuspended"


def test_an_add_on_needs_its_base_in_the_same_order_or_active(sim):
    g, clock, _ = sim
    cid = _ready_customer(g, clock)
    order = g.place_order(
        cid,
        [LineItem(1, PREMIUM, 5, "monthly", "P1Y"), LineItem(2, TEAMS_PHONE, 2, "monthly", "P1Y", None, 1)],
        "with-addon",
    )
    clock.now += 61
    lines = g.get_order(cid, order.id).line_items
    base = g.get_subscription(cid, lines[0].subscription_id or "")
    addon = g.get_subscription(cid, lines[1].subscription_id or "")
    assert addon.parent_subscription_id == base.id
    with pytest.raises(VendorRefused) as e:
        g.place_order(cid, [LineItem(1, TEAMS_PHONE, 6, "monthly", "P1Y", base.id)], "too-many-addons")
    assert "one add-on licence per base licence" in e.value.message


def test_faults_lost_answers_are_done_once_and_replayed_by_their_key(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, vendor_sim_lost_answer_rate=1.0, vendor_sim_domain_check_seconds=0)
    server = BackgroundServer(create_app(settings, seed=1))
    url = server.start()
    g = HttpVendorGateway(url, timeout=5)
    try:
        for _ in range(3):  # every answer is lost, yet the work is done once
            with pytest.raises(VendorUnavailable):
                g.create_customer("lost.onmicrosoft.com", PROFILE, "the-key")
        stats = httpx.get(f"{url}/sim/stats").json()
        assert stats["customers"] == 1
        assert stats["counters"]["fault_lost_answer"] == 3
        assert stats["counters"]["idempotent_replay"] == 2
    finally:
        g.close()
        server.stop()


def test_faults_5xx_and_timeouts_do_no_work(tmp_path: Path):
    settings = Settings(
        data_dir=tmp_path, vendor_sim_error_rate=0.5, vendor_sim_timeout_rate=0.5, vendor_sim_hang_seconds=0.5
    )
    server = BackgroundServer(create_app(settings, seed=7))
    url = server.start()
    g = HttpVendorGateway(url, timeout=0.2)
    try:
        for i in range(6):
            with pytest.raises(VendorUnavailable):
                g.create_customer(f"x{i}.onmicrosoft.com", PROFILE, f"k{i}")
        stats = httpx.get(f"{url}/sim/stats").json()
        assert stats["customers"] == 0
        assert stats["counters"]["fault_5xx"] + stats["counters"]["fault_timeout"] == 6
        assert stats["counters"]["fault_5xx"] > 0
        assert stats["counters"]["fault_timeout"] > 0
    finally:
        g.close()
        server.stop()


def test_state_is_durable_across_restarts(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, vendor_sim_domain_check_seconds=0)
    for attempt in range(2):
        server = BackgroundServer(create_app(settings))
        g = HttpVendorGateway(server.start(), timeout=5)
        try:
            if attempt == 0:
                g.create_customer("durable.onmicrosoft.com", PROFILE, "k")
            else:
                assert g.domain_exists("durable.onmicrosoft.com")
                assert (settings.data_dir / "vendor-sim.db").exists()
        finally:
            g.close()
            server.stop()


def test_an_immediate_change_deletes_what_was_scheduled_for_the_next_term(sim):
    g, clock, url = sim
    cid = _ready_customer(g, clock)
    order = g.place_order(cid, [LineItem(1, PREMIUM, 4, "monthly", "P1Y")], "next-term")
    clock.now += 61
    sid = g.get_order(cid, order.id).line_items[0].subscription_id or ""
    clock.now += 8 * 86400  # the first seats' window has closed

    def scheduled() -> dict[str, object]:
        body = httpx.get(f"{url}/v1/customers/{cid}/subscriptions/{sid}").json()
        return {k: body.get(k) for k in ("renewalQuantity", "renewalTermDuration", "scheduledBillingCycle")}

    # given a reduction scheduled for the renewal
    g.update_subscription(cid, sid, {"renewalQuantity": 3}, "n1")
    assert scheduled()["renewalQuantity"] == 3
    # when the quantity changes now
    assert g.update_subscription(cid, sid, {"quantity": 6}, "n2").quantity == 6
    # then the scheduled change is gone: the vendor renews 6
    assert scheduled()["renewalQuantity"] is None
    # a billing-cycle change inside the term deletes it too; one due at the renewal does not
    g.update_subscription(cid, sid, {"renewalQuantity": 5}, "n3")
    g.update_subscription(cid, sid, {"billingCycle": "yearly"}, "n4")
    assert scheduled() == {"renewalQuantity": None, "renewalTermDuration": None, "scheduledBillingCycle": "yearly"}


def test_orders_and_subscriptions_are_listed_per_customer_and_an_order_is_found_by_its_key(sim):
    g, clock, _ = sim
    cid = _ready_customer(g, clock)
    other = _ready_customer(g, clock, "fabrikam.onmicrosoft.com")
    first = g.place_order(cid, [LineItem(1, PREMIUM, 3, "monthly", "P1Y")], "order-1:1")
    g.place_order(cid, [LineItem(1, PREMIUM, 4, "monthly", "P1Y")], "order-2:1")
    g.place_order(other, [LineItem(1, PREMIUM, 5, "monthly", "P1Y")], "order-3:1")
    clock.now += 61
    found = g.find_order(cid, "order-1:1")
    assert found is not None
    assert (found.id, found.idempotency_key, found.is_completed) == (first.id, "order-1:1", True)
    assert g.find_order(cid, "order-3:1") is None  # another customer's order
    assert g.find_order(cid, "never-sent") is None
    assert [o.idempotency_key for o in g.list_orders(cid)] == ["order-1:1", "order-2:1"]
    assert sorted(s.quantity for s in g.list_subscriptions(cid)) == [3, 4]
    assert {c.domain for c in g.list_customers()} == {"contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com"}
