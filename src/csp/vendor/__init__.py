"""The vendor: the gateway port, its Partner Center-shaped HTTP client, and the simulator.

``VendorGateway`` (``gateway``) is the port the sagas call with idempotency keys; the
``client`` implements it over HTTP (httpx) against the real vendor or the simulator
(``simulator``: a FastAPI app with its own SQLite state, served by ``server`` or
``csp vendor-sim``). Data flows from the sagas' steps into the gateway and back as
plain values (no domain objects). The package imports only the stdlib, httpx,
FastAPI/uvicorn (the simulator), ``csp.clock``, ``csp.settings`` and ``csp.errors``;
never the application, the read side or the API.
"""

from csp.vendor.gateway import (
    AgreementAttestation,
    CompanyProfile,
    LineItem,
    RatedUsageLine,
    TenantUser,
    TransitionEligibility,
    VendorCustomer,
    VendorEntitlement,
    VendorError,
    VendorGateway,
    VendorGdapRelationship,
    VendorNotFound,
    VendorOrder,
    VendorRefused,
    VendorSubscription,
    VendorTransition,
    VendorUnavailable,
)

__all__ = [
    "AgreementAttestation",
    "CompanyProfile",
    "LineItem",
    "RatedUsageLine",
    "TenantUser",
    "TransitionEligibility",
    "VendorCustomer",
    "VendorEntitlement",
    "VendorError",
    "VendorGateway",
    "VendorGdapRelationship",
    "VendorNotFound",
    "VendorOrder",
    "VendorRefused",
    "VendorSubscription",
    "VendorTransition",
    "VendorUnavailable",
]
