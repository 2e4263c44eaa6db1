"""The portal's Azure pages without JavaScript: the plan's Azure subscriptions with their
budget and month-to-date cost, the form that adds one, and the usage page filtered by meter."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from fastapi import FastAPI

from csp.aggregates.azure import MeterReading
from csp.aggregates.order import Order
from csp.aggregates.subscription import Subscription
from csp.application import NewLineRequest
from tests.fixtures.api import Account
from tests.support import ACTOR, AZURE_PLAN
from tests.unit.test_portal_pages import log_in

VM = MeterReading("Virtual Machines D2s v5 hours", "Virtual Machines", "1 Hour", Decimal("10"), Decimal("0.0960"))
DISK = MeterReading("Storage LRS GB/month", "Storage", "1 GB/Month", Decimal("100"), Decimal("0.0184"))


def test_an_azure_plan_lists_its_subscriptions_adds_one_and_shows_usage_by_meter(api_app: FastAPI, account: Account):
    org = account.customer("Contoso SRL")["id"]
    tenant = account.ready_tenant(org)
    app = account.system.app
    order = app.create_order(UUID(org), actor=ACTOR)
    order = app.add_new_subscription_line(
        order.id, NewLineRequest(AZURE_PLAN, UUID(tenant["id"]), 1, "monthly", "monthly"), actor=ACTOR
    )
    app.place_order(order.id, accept_terms=True, actor=ACTOR)
    account.provision(str(order.id))
    sid = app.load(Order, order.id, "order").subscription_ids[0]
    boss = log_in(api_app, account.email)
    page = boss.page(f"/subscriptions/{sid}")
    assert "Azure subscriptions" in page
    assert "None yet." in page
    # a budget that is not a number is refused with the field; a good one is added
    bad = boss.submit(
        f"/subscriptions/{sid}/entitlements", {"entitlement_name": "Prod", "entitlement_budget": "-5"}, 422
    )
    assert "monthly_budget" in bad.text or "at least 0" in bad.text
    boss.submit(f"/subscriptions/{sid}/entitlements", {"entitlement_name": "Prod", "entitlement_budget": "50"})
    assert account.system.projector is not None
    account.system.projector.sync(5)
    page = boss.page(f"/subscriptions/{sid}")
    assert "Prod" in page
    assert "50.00" in page
    assert "Creating" in page
    # a day's usage, then the usage page and its meter filter
    (ent,) = app.load(Subscription, sid, "subscription").entitlements
    day = (app.now() - timedelta(days=1)).date().isoformat()
    app.record_daily_usage(sid, day, {ent.id: [VM, DISK]}, ACTOR)
    account.system.projector.sync(5)
    usage = boss.page(f"/o/{org}/usage")
    assert "Virtual Machines D2s v5 hours" in usage
    assert "Storage LRS GB/month" in usage
    assert "0.96" in usage
    assert "1.84" in usage
    only = boss.page(f"/o/{org}/usage?meter=Storage+LRS+GB%2Fmonth")
    assert "1 Hour</td>" not in only
    assert "1 GB/Month" in only
