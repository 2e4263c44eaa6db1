"""The simulator's Azure plans: entitlements (Azure subscriptions) and daily rated usage.

An Azure plan subscription comes with one entitlement ("Azure subscription 1"); more are
created with ``POST /v1/customers/{c}/subscriptions/{s}/azureEntitlements``
``{"friendlyName"}`` (idempotent by the ``MS-RequestId``-style key, as every write here).
Rated usage (``GET .../ratedUsage?usageDate=YYYY-MM-DD``) is Partner Center's daily
rated usage line item: one per entitlement × meter for a day that is over on the
platform's clock and that the entitlement existed in; the quantities are stable per
entitlement, meter and day (seeded by them), the unit prices are the vendor's
(``METERS``), so a rebuild or a second fetch gives the same numbers.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from csp.vendor.sim_common import Refusal, _in_thread
from csp.vendor.sim_gdap import BodyOf, Serve

SCHEMA = """
CREATE TABLE IF NOT EXISTS azure_entitlements (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, subscription_id TEXT NOT NULL, friendly_name TEXT NOT NULL,
    created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS azure_entitlements_subscription ON azure_entitlements (subscription_id);
"""
DEFAULT_NAME = "Azure subscription 1"


@dataclass(frozen=True)
class Meter:
    id: str
    category: str
    name: str
    unit: str
    unit_price: Decimal  # the partner's price per unit, EUR
    max_daily: int  # the most a day consumes (the seeded quantity is below it)


# The vendor's price data for the meters the simulator rates (EUR, partner prices).
METERS: tuple[Meter, ...] = (
    Meter("d2sv5-hours", "Virtual Machines", "Virtual Machines D2s v5 hours", "1 Hour", Decimal("0.0960"), 48),
    Meter("lrs-gb-month", "Storage", "Storage LRS GB/month", "1 GB/Month", Decimal("0.0184"), 500),
    Meter("bandwidth-gb", "Bandwidth", "Bandwidth GB", "1 GB", Decimal("0.0870"), 40),
)
DAY = 86400.0


def quantity(entitlement_id: str, day: str, meter: Meter) -> Decimal:
    """A day's consumption of one meter: stable per entitlement, day and meter."""
    h = int(hashlib.sha256(f"{entitlement_id}/{day}/{meter.id}".encode()).hexdigest()[:12], 16)
    return Decimal(h % (meter.max_daily * 10000)) / Decimal(10000)


class AzureState:
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now

    def create(self, c: sqlite3.Connection, customer_id: str, subscription_id: str, name: str) -> dict[str, Any]:
        name = " ".join(str(name or "").split())
        if not name:
            raise Refusal(400, "InvalidFriendlyName", "an Azure subscription has a friendly name")
        eid = str(uuid.uuid4())
        c.execute(
            "INSERT INTO azure_entitlements (id, customer_id, subscription_id, friendly_name, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (eid, customer_id, subscription_id, name[:64], self.now()),
        )
        return self.as_json(c.execute("SELECT * FROM azure_entitlements WHERE id = ?", (eid,)).fetchone())

    def as_json(self, row: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": row["id"],
            "friendlyName": row["friendly_name"],
            "entitlementType": "asset",
            "status": "active",
            "subscriptionId": row["subscription_id"],
            "creationDate": datetime.fromtimestamp(row["created_at"], UTC).isoformat(),
        }

    def of_plan(self, c: sqlite3.Connection, subscription_id: str) -> list[sqlite3.Row]:
        return c.execute(
            "SELECT * FROM azure_entitlements WHERE subscription_id = ? ORDER BY created_at, id", (subscription_id,)
        ).fetchall()

    def rated_usage(self, c: sqlite3.Connection, sub: sqlite3.Row, day: str) -> list[dict[str, Any]]:
        try:
            d = date.fromisoformat(day)
        except ValueError:
            raise Refusal(400, "InvalidDate", f"{day!r} is not a date (YYYY-MM-DD)") from None
        start = datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
        if start + DAY > self.now():
            return []  # the day is not over: its rated usage is not final
        out = []
        for ent in self.of_plan(c, sub["id"]):
            if ent["created_at"] >= start + DAY:
                continue  # created after that day
            for m in METERS:
                q = quantity(ent["id"], day, m)
                out.append(
                    {
                        "usageDate": day,
                        "customerId": sub["customer_id"],
                        "subscriptionId": sub["id"],
                        "entitlementId": ent["id"],
                        "entitlementDescription": ent["friendly_name"],
                        "meterId": m.id,
                        "meterName": m.name,
                        "meterCategory": m.category,
                        "unitOfMeasure": m.unit,
                        "quantity": str(q),
                        "unitPrice": str(m.unit_price),
                        "pricingCurrency": "EUR",
                        "chargeType": "new",
                    }
                )
        return out


def mount_azure(
    app: FastAPI,
    state: Any,
    serve: Serve,
    body_of: BodyOf,
    now: Callable[[], float],
) -> AzureState:
    azure = AzureState(now)
    with state.read() as c:
        c.executescript(SCHEMA)
    base = "/v1/customers/{customer_id}/subscriptions/{sub_id}"

    def plan(c: sqlite3.Connection, customer_id: str, sub_id: str) -> sqlite3.Row:
        row: sqlite3.Row = state.subscription_row(c, customer_id, sub_id)
        if not state.offers[row["offer_id"]].usage_based:
            raise Refusal(400, "NotAnAzurePlan", "only an Azure plan has Azure subscriptions")
        return row

    @app.get(base + "/azureEntitlements")
    def list_entitlements(customer_id: str, sub_id: str, request: Request) -> Response:
        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            plan(c, customer_id, sub_id)
            items = [azure.as_json(r) for r in azure.of_plan(c, sub_id)]
            return 200, {"totalCount": len(items), "items": items}

        return serve(request, work, False)

    @app.post(base + "/azureEntitlements")
    async def create_entitlement(customer_id: str, sub_id: str, request: Request) -> Response:
        body = await body_of(request)

        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            row = plan(c, customer_id, sub_id)
            if state.effective_status(c, row) != "active":
                raise Refusal(409, "SubscriptionNotActive", "the Azure plan is not active")
            return 201, azure.create(c, customer_id, sub_id, str(body.get("friendlyName", "")))

        return await _in_thread(lambda: serve(request, work, True))

    @app.get(base + "/ratedUsage")
    def rated_usage(customer_id: str, sub_id: str, request: Request, usageDate: str = "") -> Response:
        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            items = azure.rated_usage(c, plan(c, customer_id, sub_id), usageDate)
            return 200, {"totalCount": len(items), "items": items}

        return serve(request, work, False)

    return azure
