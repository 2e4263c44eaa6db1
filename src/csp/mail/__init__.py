"""Email: the mailer port (SMTP, or ``.eml`` files in an outbox folder) and the messages.

``messages`` builds each email from plain values (who, what, links); ``mailer`` sends
it (``SmtpMailer``) or writes it to the outbox (``OutboxMailer``), chosen from settings
by ``build_mailer``. Data flows from the sagas (and the account commands' side effects,
through the workers) into a message and out to SMTP. The package imports only the
stdlib's ``email``/``smtplib``, ``csp.settings`` and ``csp.errors``; nothing above it.
"""

from csp.mail.mailer import Mailer, OutboxMailer, SmtpMailer, build_mailer
from csp.mail.messages import (
    Message,
    address_taken_message,
    email_confirmation_message,
    invitation_message,
    invitation_to_taken_address_message,
    licences_provisioned_message,
    order_placed_message,
    partially_provisioned_message,
    password_changed_message,
    password_reset_message,
    password_reset_unavailable_message,
    provisioning_failed_message,
    tenant_created_message,
    vendor_refused_message,
)

__all__ = [
    "Mailer",
    "Message",
    "OutboxMailer",
    "SmtpMailer",
    "address_taken_message",
    "build_mailer",
    "email_confirmation_message",
    "invitation_message",
    "invitation_to_taken_address_message",
    "licences_provisioned_message",
    "order_placed_message",
    "partially_provisioned_message",
    "password_changed_message",
    "password_reset_message",
    "password_reset_unavailable_message",
    "provisioning_failed_message",
    "tenant_created_message",
    "vendor_refused_message",
]
