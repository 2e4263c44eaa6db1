"""Azure plans: daily rated usage, its reconciliation file, and a plan's entitlements."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from csp.aggregates.errors import InvalidInput, NotFound
from csp.aggregates.invoice import parse_period
from csp.api import access
from csp.api.deps import AppDep, CommandsDep, InvoicesReader, ReadModelsDep, SubscriptionsReader, SubscriptionsWriter
from csp.api.queries import reconciliation_rate
from csp.api.schemas import DecimalIn, Row

router = APIRouter(tags=["azure"])
CSV = {"text/csv": {"schema": {"type": "string"}}}


class UsageRowPublic(Row):
    date: str
    subscription_id: UUID
    organization_id: UUID
    entitlement_id: UUID
    entitlement_name: str
    meter: str
    meter_category: str
    quantity: Decimal
    unit: str
    unit_price: Decimal | None = Field(None, description="the vendor's unit price (null for customer users)")
    partner_cost: Decimal | None = Field(None, description="the reseller's cost (null for customer users)")
    customer_price: Decimal


class UsagePublic(BaseModel):
    items: list[UsageRowPublic]
    total: int
    partner_cost: Decimal | None
    customer_price: Decimal


class EntitlementCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    monthly_budget: DecimalIn | None = None


class EntitlementPublic(Row):
    id: UUID
    name: str
    monthly_budget: Decimal | None
    vendor_entitlement_id: str | None
    month_to_date: Decimal = Field(description="the customer price of the month so far (UTC days)")


class EntitlementsPublic(BaseModel):
    items: list[EntitlementPublic]


@router.get("/usage", response_model=UsagePublic)
def usage(
    caller: SubscriptionsReader,
    app: AppDep,
    read: ReadModelsDep,
    organization_id: UUID | None = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    meter: Annotated[str | None, Query(max_length=120)] = None,
    subscription_id: UUID | None = None,
) -> Any:
    """Daily rated rows (day × entitlement × meter), oldest first; ``from``/``to`` included."""
    if caller.is_customer:
        if organization_id is not None and organization_id != caller.organization_id:
            raise NotFound("organization", organization_id)
        organization_id = caller.organization_id
    elif organization_id is not None:
        access.check_organization(app, caller, organization_id)
    if subscription_id is not None:
        access.subscription(app, caller, subscription_id)
    if date_from is not None and date_to is not None and date_to < date_from:
        raise InvalidInput("to", "must not be before from")
    rows = read.usage(caller.reseller_id, organization_id, date_from, date_to, meter, subscription_id)
    items = [
        {
            **r,
            "date": r["day"],
            "unit_price": None if caller.is_customer else r["unit_price"],
            "partner_cost": None if caller.is_customer else r["partner_cost"],
        }
        for r in rows
    ]
    return {
        "items": items,
        "total": len(items),
        "partner_cost": None if caller.is_customer else sum((r["partner_cost"] for r in rows), Decimal("0.00")),
        "customer_price": sum((r["customer_price"] for r in rows), Decimal("0.00")),
    }


@router.get("/usage/reconciliation", responses={200: {"content": CSV}})
def reconciliation(
    caller: InvoicesReader, app: AppDep, read: ReadModelsDep, period: Annotated[str, Query(max_length=7)]
) -> PlainTextResponse:
    """Partner Center's daily rated usage reconciliation for a month, as CSV: one row per
    day × meter × entitlement; ``BillingPreTaxTotal`` (EUR) sums to the EUR usage lines,
    ``InvoicePreTaxTotal`` to the invoice's usage lines in its currency."""
    parse_period(period)
    rate = reconciliation_rate(app, read, caller.reseller_id, period)
    return PlainTextResponse(
        read.usage_reconciliation_csv(caller.reseller_id, period, rate),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="daily-rated-usage-{period}.csv"'},
    )


def _entitlements(app: AppDep, read: ReadModelsDep, subscription_id: UUID) -> dict[str, Any]:
    return {"items": read.azure_entitlements(subscription_id, f"{app.now():%Y-%m}")}


@router.get("/azure-plans/{subscription_id}/entitlements", response_model=EntitlementsPublic)
def list_entitlements(subscription_id: UUID, caller: SubscriptionsReader, app: AppDep, read: ReadModelsDep) -> Any:
    """The Azure subscriptions under the plan, with their budgets and month-to-date cost."""
    sub = access.subscription(app, caller, subscription_id)
    if sub.type != "usage":
        raise NotFound("Azure plan", subscription_id)
    return _entitlements(app, read, subscription_id)


@router.post("/azure-plans/{subscription_id}/entitlements", response_model=EntitlementPublic, status_code=201)
def add_entitlement(
    subscription_id: UUID,
    body: EntitlementCreate,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    read: ReadModelsDep,
    response: Response,
) -> Any:
    """Another Azure subscription under the plan; created at the vendor by the sagas."""
    sub = access.subscription(app, caller, subscription_id)
    if sub.type != "usage":
        raise NotFound("Azure plan", subscription_id)
    ent = commands.run(lambda: app.add_entitlement(subscription_id, body.name, body.monthly_budget, caller.actor))
    response.headers["Location"] = f"/api/v1/azure-plans/{subscription_id}/entitlements"
    for e in _entitlements(app, read, subscription_id)["items"]:
        if e["id"] == ent.id:
            return e
    return {  # the read side did not catch up in time: the entitlement as recorded
        "id": ent.id,
        "name": ent.name,
        "monthly_budget": ent.monthly_budget,
        "vendor_entitlement_id": ent.vendor_entitlement_id,
        "month_to_date": Decimal("0.00"),
    }
