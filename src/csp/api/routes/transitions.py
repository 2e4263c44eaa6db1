"""Upgrades mid-term (transitions) and the next term's scheduled changes of a subscription.

The application decides (only upgrades the catalog names; a downgrade waits for the
renewal) and a saga asks the vendor; the next term is the one resource that holds every
change scheduled for the renewal (offer, quantity, term, billing cycle)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from csp.api import access
from csp.api import schemas as s
from csp.api.deps import AppDep, CommandsDep, IfMatch, SubscriptionsReader, SubscriptionsWriter
from csp.api.routes.organizations import etag
from csp.application.transitions import NextTerm, transition_subscription_id

router = APIRouter(tags=["subscriptions"])


def next_term_public(n: NextTerm) -> s.NextTermPublic:
    return s.NextTermPublic(
        subscription_id=n.subscription.id,
        scheduled=n.scheduled,
        applies_at=n.applies_at,
        offer_id=n.offer_id,
        offer_name=n.offer_name,
        quantity=n.quantity,
        term=n.term,
        billing_cycle=n.billing_cycle,
        version=n.subscription.version,
    )


@router.get("/subscriptions/{subscription_id}/transitions", response_model=s.TransitionOptionsPublic)
def transitions(subscription_id: UUID, caller: SubscriptionsReader, app: AppDep) -> s.TransitionOptionsPublic:
    """The offers this subscription may be upgraded to now (none for a trial, a suspended
    or ended subscription, an add-on, or while a transition is under way)."""
    access.subscription(app, caller, subscription_id)
    items = [
        s.TransitionOptionPublic(
            offer_id=o.offer.id,
            offer_name=o.offer.name,
            partial_allowed=o.partial_allowed,
            unit_partner_price=None if caller.is_customer else o.price.partner_price,
            unit_customer_price=o.price.customer_price,
            terms=list(o.offer.terms),
            billing_cycles=list(o.offer.billing_cycles),
        )
        for o in app.transition_options(subscription_id)
    ]
    return s.TransitionOptionsPublic(items=items, total=len(items))


@router.post(
    "/subscriptions/{subscription_id}/transitions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=s.TransitionAccepted,
)
def request_transition(
    subscription_id: UUID,
    body: s.TransitionCreate,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.TransitionAccepted:
    """Move the seats (all, or ``quantity`` of them) to an upgrade; the vendor does it.
    409 ``transition_not_allowed`` with ``details.reason``: not_an_upgrade, downgrade,
    trial, suspended, not_active, addon, transition_pending, term_not_sold,
    billing_cycle_not_sold, addon_not_allowed, addon_exceeds_seats."""
    checked = access.subscription(app, caller, subscription_id)
    sub, request = commands.run(
        lambda: app.request_transition(
            subscription_id, body.offer_id, caller.actor, quantity=body.quantity, expected_version=version
        ),
        checked,
    )
    etag(response, sub.version)
    return s.TransitionAccepted(
        transition_id=request.transition_id,
        subscription_id=sub.id,
        new_subscription_id=transition_subscription_id(request.transition_id),
        offer_id=request.offer_id,
        quantity=request.quantity,
        kind=request.kind,
    )


@router.get("/subscriptions/{subscription_id}/next-term", response_model=s.NextTermPublic)
def next_term(subscription_id: UUID, caller: SubscriptionsReader, app: AppDep, response: Response) -> s.NextTermPublic:
    access.subscription(app, caller, subscription_id)
    n = app.next_term(subscription_id)
    etag(response, n.subscription.version)
    return next_term_public(n)


def _answer(n: NextTerm, response: Response) -> s.NextTermPublic:
    etag(response, n.subscription.version)
    return next_term_public(n)


@router.put("/subscriptions/{subscription_id}/next-term", response_model=s.NextTermPublic)
def set_next_term(
    subscription_id: UUID,
    body: s.NextTermChange,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.NextTermPublic:
    """Replace the next term's changes by these (a field left out renews as it is now)."""
    checked = access.subscription(app, caller, subscription_id)
    n = commands.run(
        lambda: app.set_next_term(
            subscription_id,
            caller.actor,
            offer_id=body.offer_id,
            quantity=body.quantity,
            term=body.term,
            billing_cycle=body.billing_cycle,
            expected_version=version,
        ),
        checked,
    )
    return _answer(n, response)


@router.delete("/subscriptions/{subscription_id}/next-term", response_model=s.NextTermPublic)
def cancel_next_term(
    subscription_id: UUID,
    caller: SubscriptionsWriter,
    app: AppDep,
    commands: CommandsDep,
    version: IfMatch,
    response: Response,
) -> s.NextTermPublic:
    """Withdraw every change scheduled for the renewal."""
    checked = access.subscription(app, caller, subscription_id)
    n = commands.run(lambda: app.cancel_next_term(subscription_id, caller.actor, expected_version=version), checked)
    return _answer(n, response)
