"""The command side: one method per command, load → decide → save.

``CspApplication`` (one eventsourcing ``Application``: one event log, one notification
sequence for every follower) puts together flat ``*Commands`` classes, each deriving
only from ``CspApplicationBase``; what they share is composed there as collaborators
(``pricing``, ``directory``, ``carts``), never reached through another mixin. Data
flows from the API and the sagas' steps into a command, which loads aggregates, lets
them decide, and saves their new events in one transaction; "not found" and
concurrency conflicts become domain errors. The package imports the aggregates,
``csp.clock``, ``csp.persistence`` (its transcodings) and eventsourcing; never the read
side, the workers or the API."""

from csp.application.accounts import AccountCommands
from csp.application.agreements import AgreementCommands
from csp.application.base import CspApplicationBase
from csp.application.billing import BillingCommands
from csp.application.carts import AddonRequest, NewLineRequest
from csp.application.catalog import CatalogCommands
from csp.application.credit import CreditCommands
from csp.application.customer_billing import CustomerBillingCommands
from csp.application.customization import CustomizationCommands
from csp.application.exchange_rates import ExchangeRateCommands
from csp.application.gdap import GdapCommands
from csp.application.licences import LicenceCommands
from csp.application.notify import NotifyCommands
from csp.application.orders import OrderCommands
from csp.application.organizations import OrganizationCommands
from csp.application.quotes import QuoteCommands, QuoteLineRequest
from csp.application.sign_in import SignInCommands
from csp.application.subscriptions import DueWorkReport, SubscriptionCommands
from csp.application.tenants import TenantCommands
from csp.application.transitions import TransitionCommands
from csp.application.vendor_sync import VendorSyncCommands


class CspApplication(
    SignInCommands,
    AccountCommands,
    QuoteCommands,
    CustomizationCommands,
    OrganizationCommands,
    TenantCommands,
    OrderCommands,
    SubscriptionCommands,
    LicenceCommands,
    TransitionCommands,
    CatalogCommands,
    VendorSyncCommands,
    BillingCommands,
    NotifyCommands,  # notices and webhook endpoints (issue 16, items 6 and 7)
    GdapCommands,  # issue 16: GDAP relationships
    AgreementCommands,  # issue 16: the customer agreement
    CustomerBillingCommands,
    ExchangeRateCommands,  # issue 18: the distributor's exchange rates
    CreditCommands,  # issue 18: credit limits and approvals
    CspApplicationBase,
):
    """Every aggregate of the platform in one application: one log, one sequence."""

    name = "csp"


__all__ = ["AddonRequest", "CspApplication", "DueWorkReport", "NewLineRequest", "QuoteLineRequest"]
