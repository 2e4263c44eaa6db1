"""The event-sourced domain: aggregates, values, rules and pricing (no I/O here).

``Order``, ``Subscription``, ``Tenant``, ``Organization``, users, quotes, invoices and
the catalog settings are ``eventsourcing.domain.Aggregate``s with explicit past-tense
event classes; checks live in their public methods, the ``@event`` methods only assign,
and every event carries who and when (time and actor come in as arguments). The pure
rules (money, markup, pro-rating, windows, terms) sit beside them. Data flows in as a
command's arguments and out as new events; the application saves them, and the
projections and sagas follow them. The package imports only the stdlib,
``eventsourcing.domain`` and pydantic; nothing else of ``csp``.
"""

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
