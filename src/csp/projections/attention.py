"""What needs a reseller's attention now? (the home page after sign-in)

Queries over the read models that already exist, no table of their own: orders being
provisioned or failed lately, tenants still being verified, subscriptions renewing soon,
trials ending soon, and the subscriptions whose seats may still be inside their 7-day
cancellation window (changed within the last 7 days: the caller asks the aggregate which
windows close when, so the rule stays the domain's). Limited to a reseller, or to one of
its organizations for a customer user.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from csp.projections import orders_list, subscriptions_list, tenants_list
from csp.projections.orders_list import ORDERS
from csp.projections.query import db_params, in_list, select_page
from csp.projections.store import ReadView
from csp.projections.subscriptions_list import SUBSCRIPTIONS
from csp.projections.tenants_list import TENANTS

PENDING_ORDERS = ("placed", "provision_started")
FAILED_LATELY = timedelta(days=30)
LIMIT = 20


def _scope(view: ReadView, table: Any, reseller_id: UUID, organization_id: UUID | None) -> tuple[str, list[Any]]:
    if organization_id is not None:
        return '"organization_id" = ?', db_params(view, table, organization_id=organization_id)
    return '"reseller_id" = ?', db_params(view, table, reseller_id=reseller_id)


def orders_needing_attention(
    view: ReadView, reseller_id: UUID, now: datetime, organization_id: UUID | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Orders being provisioned, and those whose provisioning failed in the last 30 days."""
    where, params = _scope(view, ORDERS, reseller_id, organization_id)
    where += f' AND ("status" IN {in_list(len(PENDING_ORDERS))} OR ("status" = ? AND "updated_at" >= ?))'
    params += [*PENDING_ORDERS, "provision_failed", view.dialect.to_db("time", now - FAILED_LATELY)]
    found, total = select_page(view, ORDERS, where, params, '"updated_at" DESC, "number" DESC', LIMIT, 0)
    return [{**orders_list.item(r), "updated_at": r["updated_at"]} for r in found], total


def tenants_being_verified(
    view: ReadView, reseller_id: UUID, organization_id: UUID | None = None
) -> tuple[list[dict[str, Any]], int]:
    where, params = _scope(view, TENANTS, reseller_id, organization_id)
    where += ' AND "status" IN (?, ?)'
    params += ["requested", "verifying"]
    found, total = select_page(view, TENANTS, where, params, '"created_at", "domain"', LIMIT, 0)
    return [tenants_list.item(r) for r in found], total


def subscriptions_ending(
    view: ReadView,
    reseller_id: UUID,
    statuses: tuple[str, ...],
    start: datetime,
    end: datetime,
    organization_id: UUID | None = None,
    auto_renew: bool | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Subscriptions of these statuses whose term ends in [start, end): renewals (active or
    suspended, auto-renew on) or trials, soonest first."""
    d = view.dialect
    where, params = _scope(view, SUBSCRIPTIONS, reseller_id, organization_id)
    where += f' AND "status" IN {in_list(len(statuses))} AND "ends_at" >= ? AND "ends_at" < ?'
    params += [*statuses, d.to_db("time", start), d.to_db("time", end)]
    if auto_renew is not None:
        where += ' AND "auto_renew" = ?'
        params.append(d.to_db("bool", auto_renew))
    found, total = select_page(view, SUBSCRIPTIONS, where, params, '"ends_at", "offer_name", "id"', LIMIT, 0)
    return [subscriptions_list.item(r, []) for r in found], total


def recently_changed_subscriptions(
    view: ReadView, reseller_id: UUID, since: datetime, organization_id: UUID | None = None, limit: int = 200
) -> list[UUID]:
    """Live paid subscriptions changed since ``since``: the only ones that can have seats
    still inside a cancellation window opened after it."""
    d = view.dialect
    where, params = _scope(view, SUBSCRIPTIONS, reseller_id, organization_id)
    where += ' AND "status" IN (?, ?) AND "updated_at" >= ?'
    params += ["active", "suspended", d.to_db("time", since)]
    found, _ = select_page(view, SUBSCRIPTIONS, where, params, '"updated_at" DESC, "id"', limit, 0)
    return [r["id"] for r in found]
