"""The simulator's transitions (Partner Center's transitionEligibilities and transitions)
through the real HTTP client: only to upgrades, not a trial, not suspended, at most the
seats it has; the same rules as the platform's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from csp.settings import Settings
from csp.vendor import LineItem, VendorRefused
from csp.vendor.client import HttpVendorGateway
from csp.vendor.server import BackgroundServer
from csp.vendor.simulator import SimState, create_app, load_offers
from tests.unit.test_vendor_simulator import Clock, _ready_customer

BASIC = "CFQ7TTC0LH18:0001"
STANDARD = "CFQ7TTC0LDPB:0001"
PREMIUM = "CFQ7TTC0LCHC:0002"
PREMIUM_TRIAL = "CFQ7TTC0LCHC:0005"
TEAMS_PHONE = "CFQ7TTC0LHXM:0001"
E5 = "CFQ7TTC0LFLX:0002"


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


def _buy(g: HttpVendorGateway, clock: Clock, cid: str, items: list[LineItem], key: str) -> list[str]:
    order = g.place_order(cid, items, key)
    clock.now += 61
    return [li.subscription_id or "" for li in g.get_order(cid, order.id).line_items]


def test_eligibilities_list_the_upgrades_and_a_transition_moves_the_seats(sim):
    g, clock, url = sim
    cid = _ready_customer(g, clock)
    [sid, addon] = _buy(
        g,
        clock,
        cid,
        [LineItem(1, BASIC, 5, "monthly", "P1Y"), LineItem(2, TEAMS_PHONE, 2, "monthly", "P1Y", None, 1)],
        "o",
    )
    g.update_subscription(cid, sid, {"renewalQuantity": 4}, "n1")
    eligible = {e.offer_id: e for e in g.transition_eligibilities(cid, sid)}
    assert set(eligible) == {STANDARD, PREMIUM}
    assert eligible[STANDARD].eligible
    # when all seats move
    done = g.transition(cid, sid, STANDARD, 5, "t1")
    # then a new subscription has them, with the same term end; the old one ended, its add-on carried
    old, new = g.get_subscription(cid, sid), g.get_subscription(cid, done.to_subscription_id)
    assert (done.quantity, done.status, new.offer_id, new.quantity) == (5, "completed", STANDARD, 5)
    assert new.extra["commitmentEndDate"] == old.extra["commitmentEndDate"]
    assert (old.status, old.quantity) == ("expired", 0)
    assert "renewalQuantity" not in httpx.get(f"{url}/v1/customers/{cid}/subscriptions/{sid}").json()
    assert g.get_subscription(cid, addon).parent_subscription_id == new.id
    # and the same key answers the same transition
    assert g.transition(cid, sid, STANDARD, 5, "t1").to_subscription_id == new.id


def test_a_partial_transition_keeps_the_rest(sim):
    g, clock, _ = sim
    cid = _ready_customer(g, clock)
    [sid] = _buy(g, clock, cid, [LineItem(1, BASIC, 5, "monthly", "P1Y")], "o")
    done = g.transition(cid, sid, PREMIUM, 2, "t1")
    assert (g.get_subscription(cid, sid).quantity, g.get_subscription(cid, sid).status) == (3, "active")
    assert g.get_subscription(cid, done.to_subscription_id).quantity == 2


def test_it_refuses_a_downgrade_another_family_a_suspended_a_trial_and_too_many_seats(sim):
    g, clock, _ = sim
    cid = _ready_customer(g, clock)
    [premium, basic] = _buy(
        g, clock, cid, [LineItem(1, PREMIUM, 3, "monthly", "P1Y"), LineItem(2, BASIC, 3, "monthly", "P1Y")], "o"
    )
    [trial] = _buy(g, clock, cid, [LineItem(1, PREMIUM_TRIAL, 25, "monthly", "P1M")], "trial")

    def refused(sub: str, offer: str, quantity: int, key: str) -> str:
        with pytest.raises(VendorRefused) as e:
            g.transition(cid, sub, offer, quantity, f"transition:{key}")
        return e.value.code

    assert refused(premium, BASIC, 3, "down") == "NotAnUpgrade"
    assert refused(basic, E5, 3, "family") == "NotAnUpgrade"
    assert refused(trial, PREMIUM, 25, "trial") == "TrialSubscription"
    assert refused(basic, STANDARD, 4, "many") == "InvalidQuantity"
    g.update_subscription(cid, basic, {"status": "suspended"}, "s")
    assert refused(basic, STANDARD, 3, "suspended") == "SubscriptionSuspended"
    assert not any(e.eligible for e in g.transition_eligibilities(cid, basic))
    assert g.get_subscription(cid, basic).quantity == 3  # nothing moved


def test_the_next_terms_offer_must_be_of_the_same_family(sim):
    g, clock, url = sim
    cid = _ready_customer(g, clock)
    [sid] = _buy(g, clock, cid, [LineItem(1, PREMIUM, 3, "monthly", "P1Y")], "o")
    g.update_subscription(cid, sid, {"renewalOfferId": BASIC}, "n1")  # a downgrade at renewal is fine
    assert httpx.get(f"{url}/v1/customers/{cid}/subscriptions/{sid}").json()["renewalOfferId"] == BASIC
    with pytest.raises(VendorRefused) as e:
        g.update_subscription(cid, sid, {"renewalOfferId": E5}, "n2")
    assert e.value.code == "InvalidNextTermOffer"
