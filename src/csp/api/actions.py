"""Actions the JSON API and the portal share (the routes and the pages both call these,
never each other): inviting a user, changing the account's settings, an order line
request from a form or a body."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from csp.aggregates.errors import InvalidInput
from csp.aggregates.order import NewSubscriptionLine
from csp.aggregates.organization import Organization, ResellerSettings
from csp.aggregates.user import User
from csp.api import access
from csp.api import schemas as s
from csp.api.auth import Caller
from csp.api.commands import Commands
from csp.api.errors import NotAllowed
from csp.api.presenters import user_public
from csp.application import AddonRequest, CspApplication, NewLineRequest
from csp.application.accounts import Invitation

if TYPE_CHECKING:
    from csp.mail import Mailer
    from csp.projections import ReadModels

log = logging.getLogger("csp.api")


def send_invitation(
    mailer: Mailer | None, public_url: str, invitation: Invitation, inviter: User, organization_name: str
) -> bool:
    """Email the one-time link (the token exists only in this email). False if it could
    not be sent: inviting again sends a new link. An address that belongs to a user of
    another account gets a notice instead of the link (the inviter is answered the same)."""
    if mailer is None:
        return False
    from csp.mail import invitation_message, invitation_to_taken_address_message

    user = invitation.user
    link = f"{public_url.rstrip('/')}/invitations/{invitation.token}"
    inviter_name = f"{inviter.first_name} {inviter.last_name}".strip() or inviter.email
    assert user.invitation_expires_at is not None
    try:
        if invitation.taken_by is not None:
            mailer.send(invitation_to_taken_address_message(user.email, inviter_name, organization_name))
            return True
        mailer.send(invitation_message(user.email, inviter_name, organization_name, link, user.invitation_expires_at))
    except Exception:  # the invitation stands; the inviter can send it again
        log.exception("invitation email not sent", extra={"user_id": str(user.id)})
        return False
    return True


class Invitations:
    """Inviting users (the API's and the portal's): the email carries a one-time link; in
    test mode (``show_tokens``) the answer also carries its token (tests have no mailbox)."""

    def __init__(
        self, app: CspApplication, commands: Commands, mailer: Mailer | None, public_url: str, show_tokens: bool
    ) -> None:
        self.app = app
        self.commands = commands
        self.mailer = mailer
        self.public_url = public_url
        self.show_tokens = show_tokens

    def invite(self, caller: Caller, body: s.InvitationCreate) -> s.InvitationPublic:
        app = self.app
        org = access.organization(app, caller, body.organization_id)
        invitation = self.commands.run(
            lambda: app.invite_user(caller.user_id, body.email, body.role, body.organization_id, body.sign_in_method),
        )
        user = invitation.user
        sent = send_invitation(self.mailer, self.public_url, invitation, app.user(caller.user_id), org.name)
        assert user.invitation_expires_at is not None
        return s.InvitationPublic(
            user=user_public(user),
            expires_at=user.invitation_expires_at,
            email_sent=sent,
            accept_token=invitation.token if self.show_tokens else None,
        )


def change_settings(
    app: CspApplication,
    commands: Commands,
    caller: Caller,
    body: s.SettingsUpdate,
    version: int | None,
    offered: Sequence[str],
) -> Organization:
    """The account's settings changed by the fields the body names (API and portal)."""
    current = access.reseller(app, caller).reseller_settings()
    changes = body.model_dump(exclude_none=True)
    if "sign_in_methods" in changes:
        changes["sign_in_methods"] = tuple(changes["sign_in_methods"])
    new: ResellerSettings = current.replace(**changes)
    return commands.run(
        lambda: app.change_settings(
            caller.reseller_id, new, caller.actor, expected_version=version, offered_methods=offered
        ),
    )


def new_line_request(
    caller: Caller,
    body: s.OrderLineCreate | s.OrderLineUpdate,
    base: NewSubscriptionLine | None = None,
) -> NewLineRequest:
    """An order line request from a body; a PATCH of ``base`` keeps what it does not name
    (``NewLineRequest.amend``), defaults are the domain's."""
    if caller.is_customer and (body.markup_percent is not None or body.target_price is not None):
        raise NotAllowed(
            "a customer orders at its own price; markup_percent and target_price are for the reseller",
            code="forbidden",
        )
    addons = tuple(AddonRequest(a.offer_id, a.quantity) for a in body.addons) if body.addons is not None else None
    if base is not None:
        return NewLineRequest.amend(
            base,
            quantity=body.quantity,
            billing_cycle=body.billing_cycle,
            term=body.term,
            markup_percent=body.markup_percent,
            target_price=body.target_price,
            addons=addons,
            parent_subscription_id=getattr(body, "parent_subscription_id", None),
        )
    offer_id = getattr(body, "offer_id", None)
    tenant_id = getattr(body, "tenant_id", None)
    if offer_id is None:
        raise InvalidInput("offer_id", "is required for a new subscription (or give subscription_id for a change)")
    if tenant_id is None:
        raise InvalidInput("tenant_id", "is required: the tenant where the licences are provisioned")
    return NewLineRequest(
        offer_id=offer_id,
        tenant_id=tenant_id,
        quantity=body.quantity,
        billing_cycle=body.billing_cycle,
        term=body.term,
        markup_percent=body.markup_percent,
        target_price=body.target_price,
        addons=addons or (),
        parent_subscription_id=getattr(body, "parent_subscription_id", None),
    )


def live_subscriptions(read: ReadModels | None, caller: Caller, organization_id: UUID) -> list[UUID]:
    """The organization's billed subscriptions, for the credit check of an order its own
    customer user places (the application decides whether the check applies; reseller
    staff are never limited, so their orders skip the query)."""
    return read.live_subscription_ids(organization_id) if caller.is_customer and read is not None else []
