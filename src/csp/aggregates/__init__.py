"""The event-sourced domain: aggregates, values, rules and pricing (no I/O here)."""

from csp.aggregates import (  # noqa: F401
    billing,
    catalog,
    customization,
    index,
    invoice,
    order,
    organization,
    quote,
    subscription,
    tenant,
    user,
)
from csp.aggregates.catalog import Catalog, Offer
from csp.aggregates.customization import CatalogCustomization, CustomerSegment
from csp.aggregates.index import Counter, UniqueKey
from csp.aggregates.invoice import Invoice, InvoiceBook
from csp.aggregates.order import Order
from csp.aggregates.organization import Organization
from csp.aggregates.quote import Quote
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.aggregates.user import User

__all__ = [
    "Catalog",
    "CatalogCustomization",
    "Counter",
    "CustomerSegment",
    "Invoice",
    "InvoiceBook",
    "Offer",
    "Order",
    "Organization",
    "Quote",
    "Subscription",
    "Tenant",
    "UniqueKey",
    "User",
]
