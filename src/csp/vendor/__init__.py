"""The vendor: the gateway port, its Partner Center-shaped HTTP client, and the simulator."""

from csp.vendor.gateway import (
    CompanyProfile,
    LineItem,
    UsageRecord,
    VendorCustomer,
    VendorError,
    VendorGateway,
    VendorNotFound,
    VendorOrder,
    VendorRefused,
    VendorSubscription,
    VendorUnavailable,
)

__all__ = [
    "CompanyProfile",
    "LineItem",
    "UsageRecord",
    "VendorCustomer",
    "VendorError",
    "VendorGateway",
    "VendorNotFound",
    "VendorOrder",
    "VendorRefused",
    "VendorSubscription",
    "VendorUnavailable",
]
