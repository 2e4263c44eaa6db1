"""The edit screen's **Upgrade** form (a transition to a higher offer of the family) and its
**Next term** section (the changes scheduled for the renewal, and their cancelling): forms
that post and redirect, so they work without JavaScript."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from csp.api import access
from csp.api.pages.subscriptions import PageDep, _edit, _subscription_command

router = APIRouter()

UPGRADE_FIELDS = {"offer_id": "upgrade_offer_id", "quantity": "upgrade_quantity"}
NEXT_TERM_FIELDS = {
    "offer_id": "next_offer_id",
    "quantity": "next_quantity",
    "term": "next_term",
    "billing_cycle": "next_billing_cycle",
}


@router.post("/subscriptions/{subscription_id}/upgrade")
def upgrade(subscription_id: UUID, page: PageDep) -> Response:
    app = page.app
    offer_id = page.uuid("upgrade_offer_id", "choose the offer to upgrade to")
    quantity = page.integer("upgrade_quantity", None, minimum=1)
    if page.errors or offer_id is None:
        caller = page.allow("subscriptions.write")
        return _edit(page, access.subscription(app, caller, subscription_id), 422)
    return _subscription_command(
        page,
        subscription_id,
        lambda sid, actor, version: app.request_transition(
            sid, offer_id, actor, quantity=quantity, expected_version=version
        ),
        "The upgrade is asked of the vendor; the licences move in a moment.",
        UPGRADE_FIELDS,
    )


@router.post("/subscriptions/{subscription_id}/next-term")
def set_next_term(subscription_id: UUID, page: PageDep) -> Response:
    app = page.app
    offer_id = page.uuid("next_offer_id")
    quantity = page.integer("next_quantity", None, minimum=1)
    term = page.value("next_term") or None
    cycle = page.value("next_billing_cycle") or None
    if term not in (None, "monthly", "annual"):
        page.errors["next_term"] = "is not one of the choices"
    if cycle not in (None, "monthly", "yearly"):
        page.errors["next_billing_cycle"] = "is not one of the choices"
    if page.errors:
        caller = page.allow("subscriptions.write")
        return _edit(page, access.subscription(app, caller, subscription_id), 422)
    return _subscription_command(
        page,
        subscription_id,
        lambda sid, actor, version: app.set_next_term(
            sid, actor, offer_id=offer_id, quantity=quantity, term=term, billing_cycle=cycle, expected_version=version
        ),
        "The changes are scheduled for the next term.",
        NEXT_TERM_FIELDS,
    )


@router.post("/subscriptions/{subscription_id}/next-term/cancel")
def cancel_next_term(subscription_id: UUID, page: PageDep) -> Response:
    app = page.app
    return _subscription_command(
        page,
        subscription_id,
        lambda sid, actor, version: app.cancel_next_term(sid, actor, expected_version=version),
        "Nothing is scheduled for the next term any more.",
    )
