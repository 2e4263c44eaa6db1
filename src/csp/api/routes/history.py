"""History: every event of an order, subscription or tenant, and its state as of a moment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from csp.aggregates.base import CspAggregate
from csp.aggregates.errors import InvalidInput
from csp.aggregates.order import Order
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.api import access
from csp.api import schemas as s
from csp.api.deps import AppDep, HistoryReader
from csp.application import CspApplication
from csp.audit import history

router = APIRouter(tags=["history"])
AsOf = Annotated[datetime | None, Query(description="only the events at or before this instant, and the state then")]


def _history(app: CspApplication, aggregate_id: UUID, as_of: datetime | None, kind: type[CspAggregate]) -> Any:
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidInput("as_of", "must carry a timezone offset")
    return history(app, aggregate_id, as_of, kind=kind)


@router.get("/orders/{order_id}/history", response_model=s.HistoryPublic)
def order_history(order_id: UUID, caller: HistoryReader, app: AppDep, as_of: AsOf = None) -> Any:
    access.order(app, caller, order_id)
    return _history(app, order_id, as_of, Order)


@router.get("/subscriptions/{subscription_id}/history", response_model=s.HistoryPublic)
def subscription_history(subscription_id: UUID, caller: HistoryReader, app: AppDep, as_of: AsOf = None) -> Any:
    access.subscription(app, caller, subscription_id)
    return _history(app, subscription_id, as_of, Subscription)


@router.get("/tenants/{tenant_id}/history", response_model=s.HistoryPublic)
def tenant_history(tenant_id: UUID, caller: HistoryReader, app: AppDep, as_of: AsOf = None) -> Any:
    access.tenant(app, caller, tenant_id)
    return _history(app, tenant_id, as_of, Tenant)
