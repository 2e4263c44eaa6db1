"""Email: the mailer port (SMTP, or ``.eml`` files in an outbox folder) and the messages."""

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
