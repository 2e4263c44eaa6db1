"""How values read on the portal's pages: money, dates, statuses and roles in words."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

LABELS = {
    # order statuses, as the manual's Orders screen writes them
    "draft": "Draft",
    "placed": "Placed",
    "provision_started": "Provision started",
    "provision_finished": "Provision finished",
    "partially_provisioned": "Partially provisioned",
    "provision_failed": "Provision failed",
    "awaiting_approval": "Awaiting approval",  # above the customer's credit limit
    "approved": "Approved",
    # an order line's outcome
    "failed": "Failed",
    "discarded": "Discarded",
    # subscriptions, tenants, users
    "trial": "Trial",
    "active": "Active",
    "suspended": "Suspended",
    "expired": "Expired",
    "disabled": "Disabled",
    "cancelled": "Cancelled",
    "transitioned": "Upgraded",
    "requested": "Requested",
    "verifying": "Verifying",
    "created": "Created",
    "rejected": "Rejected",
    "linked": "Linked",
    "invited": "Invited",
    "open": "Open",
    "accepted": "Accepted",
    # roles
    "account_manager": "Account manager",
    "order_manager": "Order manager",
    "billing": "Billing",
    "read_only": "Read only",
    "customer_admin": "Customer admin",
    "customer_user": "Customer user",
    # sign-in methods, as the manual's Log in page names them
    "local": "Account created here",
    "microsoft_personal": "Personal email (Live ID)",
    "microsoft_work": "Work email (AAD Account)",
    # catalog
    "monthly": "Monthly",
    "yearly": "Yearly",
    "annual": "Annual",
    "licence": "Licence",
    "usage": "Usage-based",
    "commercial": "Commercial",
    "academic": "Academic",
    "government": "Government",
    "nonprofit": "Non-profit",
    "reseller": "Reseller",
    "customer": "Customer",
    "it_services": "IT services",
    "professional_services": "Professional services",
}


def label(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return LABELS.get(text, text.replace("_", " ").capitalize())


def money(value: Any) -> str:
    """15.58 (two decimals, as the manual's order screen); empty for none."""
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)):.2f}"


def _dt(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def date(value: Any) -> str:
    """05.05.2020, as the manual's screens."""
    d = _dt(value)
    return f"{d:%d.%m.%Y}" if d else ""


def when(value: Any) -> str:
    d = _dt(value)
    return f"{d:%d.%m.%Y %H:%M:%S} UTC" if d else ""


def left(value: Any) -> str:
    """4-June-2020, as the Subscriptions screen's LEFT column."""
    d = _dt(value)
    return f"{d.day}-{d:%B-%Y}" if d else ""


def actor(value: Any, names: dict[str, str] | None = None) -> str:
    """Who did it: a user's name, or the platform for a system step."""
    text = str(value or "")
    if names and text in names:
        return names[text]
    if text.startswith("system:"):
        return "CSP Platform"
    return text.removeprefix("user:")


def sentence(message: str) -> str:
    message = message.strip()
    return message[:1].upper() + message[1:] if message else message
