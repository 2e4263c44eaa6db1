"""How values read on the portal's pages: money, dates, statuses and roles in words."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency

from csp.aggregates.currency import BASE_CURRENCY, AppliedRate

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


# The locale money in a currency is written in (docs/currencies.md): the currency's home
# convention; any other currency is written the English (Ireland) way, as EUR is.
CURRENCY_LOCALES = {"EUR": "en_IE", "USD": "en_US", "GBP": "en_GB", "RON": "ro_RO"}
DEFAULT_LOCALE = "en_IE"


def locale_for(currency: str, locale: str | None = None) -> str:
    """The account's locale if it has one, else the currency's (``CURRENCY_LOCALES``)."""
    return locale or CURRENCY_LOCALES.get(str(currency).upper(), DEFAULT_LOCALE)


def amount(value: Any, currency: str | None = "EUR", locale: str | None = None) -> str:
    """Money in its currency, formatted by Babel for the locale: €1,234.50 (en_IE),
    $1,234.50 (en_US), £1,234.50 (en_GB), 1.234,50 RON (ro_RO); the currency's minor
    unit gives the decimals (JPY none). Empty for none."""
    if value is None or value == "":
        return ""
    code = str(currency or "EUR").upper()
    return str(format_currency(Decimal(str(value)), code, locale=locale_for(code, locale)))


def shown(value: Any, rate: AppliedRate | None, label: bool = False) -> str:
    """An amount of the platform (EUR) as the account sees it: converted with ``rate``
    (the account's currency at this month's rate, rounded half-up to its minor unit, each
    amount on its own as the catalog's prices) and written with ``amount`` (its currency
    shown); without a rate, in EUR as the pages always wrote it (``money``: 15.58, the
    footer's "prices in EUR unless stated"), `` EUR`` after it with ``label``. Empty for none."""
    if value is None or value == "":
        return ""
    if rate is None:
        return f"{money(value)} {BASE_CURRENCY}" if label else money(value)
    return amount(rate.convert(Decimal(str(value))), rate.currency)


def rate(value: Any) -> str:
    """An exchange rate without its trailing zeros: 4.975 (stored 4.975000)."""
    if value is None or value == "":
        return ""
    d = Decimal(str(value)).normalize()
    return f"{d:f}"


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
