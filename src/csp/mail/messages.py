"""The platform's emails (DOMAIN.md, Notifications): invitation, tenant created, order
placed, licences provisioned, provisioning failed, a change the vendor refused; and the
account's own: a password reset link (or why there is none), a password changed, the link
that confirms a sign-up's address, and a notice to an address that has an account already
(someone signed up or was invited with it: the asker is never told)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str
    kind: str = "notification"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    headers: tuple[tuple[str, str], ...] = ()

    def to_email(self, sender: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = self.to
        msg["Subject"] = self.subject
        msg["Date"] = format_datetime(self.created_at)
        msg["Message-ID"] = make_msgid(domain="csp.localhost")
        msg["X-CSP-Kind"] = self.kind
        for k, v in self.headers:
            msg[k] = v
        msg.set_content(self.text)
        return msg


def _lines(*parts: str) -> str:
    return "\n".join(parts).strip() + "\n"


def _when(at: datetime) -> str:
    return f"{at.astimezone(UTC):%d %B %Y, %H:%M} UTC"


def invitation_message(to: str, inviter: str, organization_name: str, link: str, expires_at: datetime) -> Message:
    """The one-time link a new user follows to join an account (sent by the API)."""
    return Message(
        to=to,
        kind="invitation",
        subject=f"You are invited to {organization_name} on the CSP platform",
        text=_lines(
            "Hello,",
            "",
            f"{inviter} invites you to join {organization_name} on the CSP platform.",
            "",
            "Accept the invitation and set up your sign-in here:",
            link,
            "",
            f"The link can be used once and expires on {_when(expires_at)}.",
            "If you did not expect this invitation, ignore this email.",
        ),
    )


def email_confirmation_message(to: str, what: str, link: str, expires_at: datetime) -> Message:
    """The link that confirms the address of a sign-up (or self-registration)."""
    return Message(
        to=to,
        kind="email_confirmation",
        subject="Confirm your email for the CSP platform",
        text=_lines(
            "Hello,",
            "",
            f"Thank you for signing up: {what}.",
            "Confirm that this address is yours, then log in:",
            link,
            "",
            f"The link can be used once and expires on {_when(expires_at)}.",
            "If you did not sign up, ignore this email: nothing happens without the confirmation.",
        ),
    )


def address_taken_message(to: str, what: str, login_link: str, reset_link: str) -> Message:
    """Someone signed up with an address that has an account already: its owner is told
    (the one who signed up is answered as anyone else)."""
    return Message(
        to=to,
        kind="address_taken",
        subject="Someone signed up with your email on the CSP platform",
        text=_lines(
            "Hello,",
            "",
            f"Someone used this address to sign up on the CSP platform ({what}),",
            "but the address has an account here already, so no new account can use it.",
            "",
            f"If it was you: log in at {login_link}",
            f"or, if you forgot your password, choose a new one at {reset_link}",
            "If it was not you, ignore this email: your account is unchanged.",
        ),
    )


def invitation_to_taken_address_message(to: str, inviter: str, organization_name: str) -> Message:
    """An invitation to an address that belongs to a user of another account: no link
    (one address, one user), the owner is told instead (the inviter is not)."""
    return Message(
        to=to,
        kind="invitation_address_taken",
        subject=f"{inviter} invited you to {organization_name} on the CSP platform",
        text=_lines(
            "Hello,",
            "",
            f"{inviter} invited this address to join {organization_name} on the CSP platform.",
            "The address has an account on the platform already (with another account), and an",
            "address can belong to one account only, so the invitation cannot be accepted.",
            "",
            f"If you want to join {organization_name}, ask {inviter} to invite another address of yours.",
            "Your account is unchanged.",
        ),
    )


def password_reset_message(to: str, link: str, expires_at: datetime) -> Message:
    """The one-time link that sets a new password (asked for on the sign-in page)."""
    return Message(
        to=to,
        kind="password_reset",
        subject="Reset your CSP platform password",
        text=_lines(
            "Hello,",
            "",
            "Someone (we hope you) asked to reset the password of your CSP platform account.",
            "Choose a new password here:",
            link,
            "",
            f"The link can be used once and expires on {_when(expires_at)}.",
            "If you did not ask for it, ignore this email: your password stays as it is.",
        ),
    )


def password_reset_unavailable_message(to: str, reason: str) -> Message:
    """Asked for a reset link for an account that has no password here to reset."""
    return Message(
        to=to,
        kind="password_reset_unavailable",
        subject="About your CSP platform password",
        text=_lines(
            "Hello,",
            "",
            "Someone (we hope you) asked to reset the password of the CSP platform account of this address.",
            reason,
            "",
            "If you did not ask for it, ignore this email.",
        ),
    )


def password_changed_message(to: str, at: datetime, how: str) -> Message:
    """Tells the owner that the password changed (so that a change they did not make is noticed)."""
    return Message(
        to=to,
        kind="password_changed",
        subject="Your CSP platform password was changed",
        text=_lines(
            "Hello,",
            "",
            f"The password of your CSP platform account was changed on {_when(at)} ({how}).",
            "Every other sign-in of your account has been ended.",
            "",
            "If you did not do this, reset your password from the sign-in page at once and tell your account manager.",
        ),
    )


def tenant_created_message(
    to: str, organization_name: str, domain: str, admin_username: str, vendor_customer_id: str, at: datetime
) -> Message:
    return Message(
        to=to,
        kind="tenant_created",
        subject=f"Tenant {domain} is ready",
        text=_lines(
            "Hello,",
            "",
            f"The Microsoft Online Services tenant for {organization_name} has been created on {_when(at)}.",
            "",
            f"  Domain:               {domain}",
            f"  Administrator:        {admin_username}",
            f"  Vendor customer id:   {vendor_customer_id}",
            "",
            "The tenant can now be chosen when ordering licences for this customer.",
            "The administrator sets a password at the vendor's portal on first sign-in.",
        ),
    )


def _order_lines(lines: Sequence[tuple[str, str]]) -> list[str]:
    return [f"  {name}  {change}" for name, change in lines]


def order_placed_message(
    to: str,
    number: str,
    organization_name: str,
    placed_by: str,
    lines: Sequence[tuple[str, str]],
    total: str,
    at: datetime,
) -> Message:
    return Message(
        to=to,
        kind="order_placed",
        subject=f"Order {number} placed for {organization_name}",
        text=_lines(
            "Hello,",
            "",
            f"Order {number} for {organization_name} was placed on {_when(at)} by {placed_by}.",
            "",
            *_order_lines(lines),
            "",
            f"Total per month: {total}",
            "",
            "The licences are being provisioned; you will get another email when they are ready.",
        ),
    )


def licences_provisioned_message(
    to: str,
    number: str,
    organization_name: str,
    lines: Sequence[tuple[str, str]],
    tenant_domains: Sequence[str],
    at: datetime,
) -> Message:
    return Message(
        to=to,
        kind="licences_provisioned",
        subject=f"Order {number}: licences provisioned",
        text=_lines(
            "Hello,",
            "",
            f"The licences of order {number} for {organization_name} were provisioned on {_when(at)}",
            f"on {', '.join(sorted(set(tenant_domains)))}:",
            "",
            *_order_lines(lines),
        ),
    )


def provisioning_failed_message(
    to: str, number: str, organization_name: str, reason: str, line: str | None, at: datetime
) -> Message:
    return Message(
        to=to,
        kind="provisioning_failed",
        subject=f"Order {number}: provisioning failed",
        text=_lines(
            "Hello,",
            "",
            f"Provisioning order {number} for {organization_name} failed on {_when(at)}.",
            *([f"Line: {line}"] if line else []),
            f"Reason given by the vendor: {reason}",
            "",
            "Nothing more will be attempted unless you retry the failed lines from the order's page.",
        ),
    )


def partially_provisioned_message(
    to: str,
    number: str,
    organization_name: str,
    outcome: str,
    lines: list[tuple[str, str, str]],
    at: datetime,
) -> Message:
    """A partly provisioned order: ``2 of 3 lines provisioned · 1 failed: reason``, then
    each line with its outcome (``lines``: offer, requested change, outcome)."""
    return Message(
        to=to,
        kind="partially_provisioned",
        subject=f"Order {number}: partially provisioned",
        text=_lines(
            "Hello,",
            "",
            f"Order {number} for {organization_name} was partially provisioned on {_when(at)}.",
            outcome,
            "",
            *(f"  {offer}  {change}  {state}" for offer, change, state in lines),
            "",
            "The provisioned lines are live. From the order's page you can retry the failed lines"
            " (a new attempt at the vendor) or discard them.",
        ),
    )


def vendor_refused_message(
    to: str, offer_name: str, tenant_domain: str, change: str, reason: str, at: datetime
) -> Message:
    return Message(
        to=to,
        kind="vendor_refused",
        subject=f"{offer_name} on {tenant_domain}: the vendor refused a change",
        text=_lines(
            "Hello,",
            "",
            f"The vendor refused a change to {offer_name} on {tenant_domain} ({_when(at)}).",
            f"Change: {change}",
            f"Reason: {reason}",
            "",
            "The subscription was restored to what the vendor holds.",
        ),
    )
