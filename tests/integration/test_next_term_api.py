"""Over HTTP, on SQLite and PostgreSQL: an immediate change clears the next term's changes,
the history shows why, and the subscriptions list no longer shows the scheduled quantity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from csp.bootstrap import System, bootstrap, web_app
from csp.settings import Settings
from tests.fixtures.api import Account, sign_up
from tests.support import BUSINESS_PREMIUM


@pytest.fixture
def system(store_url: str, tmp_path: Path) -> Iterator[System]:
    settings = Settings(data_dir=tmp_path, database_url=store_url, test_mode=True, public_url="http://testserver")
    system = bootstrap(settings)
    assert system.projector is not None
    system.projector.start()
    try:
        yield system
    finally:
        system.close()


def test_quantity_3_at_renewal_then_6_now_renews_6(system: System):
    acc: Account = sign_up(web_app(system), system)
    b = acc.boss
    customer = acc.customer()
    tenant = acc.ready_tenant(customer["id"])
    order = b.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    line = {"offer_id": str(BUSINESS_PREMIUM), "tenant_id": tenant["id"], "quantity": 4}
    b.ok("POST", f"/orders/{order['id']}/lines", 201, json={**line, "billing_cycle": "monthly", "term": "annual"})
    b.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
    acc.provision(order["id"])
    sid = b.ok("GET", f"/orders/{order['id']}")["subscription_ids"][0]

    b.ok("POST", f"/subscriptions/{sid}/quantity", json={"quantity": 3, "at_renewal": True})
    assert b.ok("GET", f"/subscriptions/{sid}")["renewal_quantity"] == 3
    rows = b.ok("GET", f"/organizations/{customer['id']}/subscriptions")["items"]
    assert [r["renewal_quantity"] for r in rows if r["id"] == sid] == [3]
    b.ok("POST", f"/subscriptions/{sid}/quantity", json={"quantity": 6})

    sub = b.ok("GET", f"/subscriptions/{sid}")
    assert (sub["purchased"], sub["renewal_quantity"]) == (6, None)
    history = b.ok("GET", f"/subscriptions/{sid}/history")
    cleared = [e for e in history["events"] if e["type"] == "NextTermCleared"]
    assert len(cleared) == 1
    assert cleared[0]["data"]["reason"] == "quantity_changed"
    assert cleared[0]["data"]["renewal_quantity"] == 3
    rows = b.ok("GET", f"/organizations/{customer['id']}/subscriptions")["items"]
    assert [(r["purchased"], r["renewal_quantity"]) for r in rows if r["id"] == sid] == [(6, None)]
