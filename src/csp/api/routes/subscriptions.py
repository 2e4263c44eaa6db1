"""Subscriptions: the edit screen's changes (quantity, billing cycle, status, price,
auto-renew, trial conversion, add-ons). The aggregate decides; a saga tells the vendor."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from csp.aggregates.subscription import Subscription
from csp.api import access
from csp.api import schemas as s
from csp.api.auth import Caller
from csp.api.commands import Commands
from csp.api.deps import (
    After,
    AppDep,
    CommandsDep,
    IfMatch,
    Limit,
    Offset,
    ReadModelsDep,
    SubscriptionsReader,
    SubscriptionsReading,
    SubscriptionsWriter,
    in_thread,
)
from csp.api.lists import NOT_MODIFIED, list_response
from csp.api.presenters import subscription_public
from csp.api.queries import subscription_rows
from csp.api.routes.organizations import etag
from csp.application import CspApplication

router = APIRouter(tags=["subscriptions"])


def answer(app: CspApplication, sub: Subscription, caller: Caller, response: Response) -> s.SubscriptionPublic:
    etag(response, sub.version)
    addons = [app.load(Subscription, a, "subscription") for a in sub.addon_ids]
    return subscription_public(sub, addons, caller, app.now())


@router.get(
    "/organizations/{organization_id}/subscriptions", response_model=s.SubscriptionsPublic, responses=NOT_MODIFIED
)
async def subscriptions(
    organization_id: UUID,
    permit: SubscriptionsReading,
    app: AppDep,
    read: ReadModelsDep,
    request: Request,
    q: Annotated[str | None, Query(max_length=100)] = None,
    status_: Annotated[s.SubscriptionStatus | None, Query(alias="status")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> Response:
    """One flat row per subscription (the portal groups them by product and domain);
    ``ETag``, 304 on ``If-None-Match``."""

    def answer() -> Response:
        rows = subscription_rows(app, read, permit(), organization_id, q, status_, limit, offset, after)
        return list_response(request, rows, keyset=True)

    return await in_thread(answer)


@router.get("/subscriptions/{subscription_id}", response_model=s.SubscriptionPublic)
def get_subscription(
    subscription_id: UUID, caller: SubscriptionsReader, app: AppDep, response: Response
) -> s.SubscriptionPublic:
    return answer(app, access.subscription(app, caller, subscription_id), caller, response)


def _run(
    app: CspApplication, commands: Commands, caller: Caller, subscription_id: UUID, fn: Any, response: Response
) -> s.SubscriptionPublic:
    checked = access.subscription(app, caller, subscription_id)
    sub = commands.run(fn, checked)
    return answer(app, sub, caller, response)


@router.post("/subscriptions/{subscription_id}/quantity", response_model=s.SubscriptionPublic)
def change_quantity(
    subscription_id: UUID,
    body: s.QuantityChange,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.SubscriptionPublic:
    """An increase applies now; a decrease only by seats inside their 7-day window (else 409
    ``outside_cancellation_window``), or at the renewal with ``at_renewal``."""
    return _run(
        app,
        commands,
        caller,
        subscription_id,
        lambda: app.change_subscription_quantity(
            subscription_id, body.quantity, caller.actor, at_renewal=body.at_renewal, expected_version=version
        ),
        response,
    )


@router.post("/subscriptions/{subscription_id}/billing-cycle", response_model=s.SubscriptionPublic)
def change_billing_cycle(
    subscription_id: UUID,
    body: s.BillingCycleChange,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.SubscriptionPublic:
    """Effective at the next billing period."""
    return _run(
        app,
        commands,
        caller,
        subscription_id,
        lambda: app.change_subscription_billing_cycle(subscription_id, body.billing_cycle, caller.actor, version),
        response,
    )


@router.post("/subscriptions/{subscription_id}/suspend", response_model=s.SubscriptionPublic)
def suspend(
    subscription_id: UUID,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.SubscriptionPublic:
    """Suspend (billing goes on), with its add-ons."""
    return _run(
        app,
        commands,
        caller,
        subscription_id,
        lambda: app.suspend_subscription(subscription_id, caller.actor, version),
        response,
    )


@router.post("/subscriptions/{subscription_id}/reactivate", response_model=s.SubscriptionPublic)
def reactivate(
    subscription_id: UUID,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.SubscriptionPublic:
    return _run(
        app,
        commands,
        caller,
        subscription_id,
        lambda: app.reactivate_subscription(subscription_id, caller.actor, version),
        response,
    )


@router.post("/subscriptions/{subscription_id}/cancel", response_model=s.SubscriptionPublic)
def cancel(
    subscription_id: UUID,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.SubscriptionPublic:
    """Cancel now: every seat must be inside its window (409 ``outside_cancellation_window``)."""
    return _run(
        app,
        commands,
        caller,
        subscription_id,
        lambda: app.cancel_subscription(subscription_id, caller.actor, version),
        response,
    )


@router.post("/subscriptions/{subscription_id}/convert-trial", response_model=s.SubscriptionPublic)
def convert_trial(
    subscription_id: UUID,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
    body: s.TrialConversion | None = None,
) -> s.SubscriptionPublic:
    """A paid subscription from now on (default: the trial's paid offer)."""
    b = body or s.TrialConversion()
    return _run(
        app,
        commands,
        caller,
        subscription_id,
        lambda: app.convert_trial(
            subscription_id,
            caller.actor,
            offer_id=b.offer_id,
            quantity=b.quantity,
            billing_cycle=b.billing_cycle,
            term=b.term,
            markup_percent=b.markup_percent,
            expected_version=version,
        ),
        response,
    )


@router.put("/subscriptions/{subscription_id}/price", response_model=s.SubscriptionPublic)
def change_price(
    subscription_id: UUID,
    body: s.PriceChange,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.SubscriptionPublic:
    """The customer price from now on (the partner price stays locked for the term)."""
    return _run(
        app,
        commands,
        caller,
        subscription_id,
        lambda: app.change_subscription_price(
            subscription_id, caller.actor, body.unit_customer_price, body.markup_percent, version
        ),
        response,
    )


@router.put("/subscriptions/{subscription_id}/auto-renew", response_model=s.SubscriptionPublic)
def set_auto_renew(
    subscription_id: UUID,
    body: s.AutoRenewChange,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.SubscriptionPublic:
    return _run(
        app,
        commands,
        caller,
        subscription_id,
        lambda: app.set_subscription_auto_renew(subscription_id, body.auto_renew, caller.actor, version),
        response,
    )


@router.post(
    "/subscriptions/{subscription_id}/addons", status_code=status.HTTP_201_CREATED, response_model=s.SubscriptionPublic
)
def add_addon(
    subscription_id: UUID,
    body: s.AddonCreate,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.SubscriptionPublic:
    """A new add-on subscription on this base, coterminous with it (the answer is the add-on)."""
    return _run(
        app,
        commands,
        caller,
        subscription_id,
        lambda: app.add_subscription_addon(subscription_id, body.offer_id, body.quantity, caller.actor, version),
        response,
    )


@router.delete("/subscriptions/{subscription_id}/addons/{addon_id}", response_model=s.SubscriptionPublic)
def remove_addon(
    subscription_id: UUID,
    addon_id: UUID,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.SubscriptionPublic:
    """Remove an add-on now (its seats must be inside their window); the answer is the base."""
    return _run(
        app,
        commands,
        caller,
        subscription_id,
        lambda: app.remove_subscription_addon(subscription_id, addon_id, caller.actor, version),
        response,
    )
