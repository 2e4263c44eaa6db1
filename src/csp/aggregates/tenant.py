"""Tenants: the vendor's online-services accounts where licences are provisioned.

Lifecycle: requested → verifying → created | rejected (domain taken);
a link request: requested → verifying → linked | rejected.
Once created or linked, each user a reseller creates in it at the vendor is recorded
(``UserCreated``: who created which user, when); the vendor keeps the users themselves.

While verifying, each vendor call the saga made is recorded once done (the customer
created at the vendor, its agreement accepted), so a retried step resumes after it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal, get_args
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate
from csp.aggregates.errors import InvalidInput, InvalidTenantTransition, TenantNotReady

TenantMode = Literal["create", "link"]
TenantStatus = Literal["requested", "verifying", "created", "rejected", "linked"]
RejectionCode = Literal["domain_taken", "tenant_not_found", "no_delegated_access", "vendor_refused"]
TENANT_MODES: tuple[TenantMode, ...] = get_args(TenantMode)
INITIAL_DOMAIN_SUFFIX = ".onmicrosoft.com"
_PREFIX = re.compile(r"^[a-z0-9]{1,27}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def normalize_domain(domain: str, mode: TenantMode) -> str:
    """A new tenant is ``<prefix>.onmicrosoft.com``; a linked one may have any domain."""
    domain = domain.strip().lower().rstrip(".")
    if mode not in TENANT_MODES:
        raise InvalidInput("mode", "must be create or link", value=mode)
    if mode == "create":
        prefix = domain.removesuffix(INITIAL_DOMAIN_SUFFIX)
        if not _PREFIX.match(prefix):
            raise InvalidInput(
                "domain",
                "a new tenant's name is 1 to 27 letters or digits, followed by .onmicrosoft.com",
                value=domain,
            )
        return prefix + INITIAL_DOMAIN_SUFFIX
    if not _DOMAIN.match(domain):
        raise InvalidInput("domain", "is not a valid domain name", value=domain)
    return domain


def parse_mode(value: str) -> TenantMode:
    if value not in TENANT_MODES:
        raise InvalidInput("mode", "must be create or link", value=value)
    return value


class Tenant(CspAggregate):
    class Requested(CspAggregate.Created):
        organization_id: UUID
        reseller_id: UUID
        domain: str
        mode: TenantMode

    @event(Requested)
    def __init__(
        self, organization_id: UUID, reseller_id: UUID, domain: str, mode: TenantMode, actor: Actor, at: datetime
    ) -> None:
        self.organization_id = organization_id
        self.reseller_id = reseller_id
        self.domain = domain
        self.mode = mode
        self.status: TenantStatus = "requested"
        self.vendor_customer_id: str | None = None
        self.admin_username: str | None = None
        self.rejection_reason: str | None = None
        self.rejection_code: RejectionCode | None = None
        self.requested_at = at
        self.ready_at: datetime | None = None
        self.agreement_accepted = False
        self.created_user_ids: tuple[str, ...] = ()  # the vendor's ids of the users created through us

    @classmethod
    def request(
        cls, id: UUID, organization_id: UUID, reseller_id: UUID, domain: str, mode: str, actor: Actor, at: datetime
    ) -> Tenant:
        m = parse_mode(mode)
        return cls._create(
            cls.Requested,
            id=id,
            organization_id=organization_id,
            reseller_id=reseller_id,
            domain=normalize_domain(domain, m),
            mode=m,
            actor=actor,
            at=at,
        )

    @property
    def is_usable(self) -> bool:
        """Orders can use a tenant only once it is created or linked."""
        return self.status in ("created", "linked")

    def require_usable(self) -> None:
        if not self.is_usable:
            raise TenantNotReady(
                f"tenant {self.domain} is {self.status}; it can be used once created or linked",
                tenant_id=self.id,
                status=self.status,
            )

    def _require(self, *statuses: TenantStatus) -> None:
        if self.status not in statuses:
            raise InvalidTenantTransition(
                f"tenant {self.domain} is {self.status}", tenant_id=self.id, status=self.status
            )

    class VerificationStarted(CspAggregate.Event):
        pass

    def start_verification(self, actor: Actor, at: datetime) -> None:
        if self.status == "verifying":
            return  # idempotent: a repeated saga step
        self._require("requested")
        self._start_verification(actor=actor, at=at)

    @event(VerificationStarted)
    def _start_verification(self, actor: Actor, at: datetime) -> None:
        self.status = "verifying"

    class VendorCustomerCreated(CspAggregate.Event):
        """The vendor answered the creation of the customer (the tenant is being set up there)."""

        vendor_customer_id: str
        admin_username: str

    def record_vendor_customer(self, vendor_customer_id: str, admin_username: str, actor: Actor, at: datetime) -> None:
        if self.vendor_customer_id == vendor_customer_id:
            return
        if self.mode != "create":
            raise InvalidTenantTransition("a linked tenant is not created", tenant_id=self.id)
        self._require("verifying")
        if self.vendor_customer_id is not None:
            raise InvalidTenantTransition(
                f"tenant {self.domain} is already vendor customer {self.vendor_customer_id}", tenant_id=self.id
            )
        self._record_vendor_customer(
            vendor_customer_id=vendor_customer_id, admin_username=admin_username, actor=actor, at=at
        )

    @event(VendorCustomerCreated)
    def _record_vendor_customer(self, vendor_customer_id: str, admin_username: str, actor: Actor, at: datetime) -> None:
        self.vendor_customer_id = vendor_customer_id
        self.admin_username = admin_username

    class VendorAgreementAccepted(CspAggregate.Event):
        """The customer's Microsoft Customer Agreement, accepted at the vendor."""

    def record_agreement_accepted(self, actor: Actor, at: datetime) -> None:
        if self.agreement_accepted:
            return
        self._require("verifying")
        if self.vendor_customer_id is None:
            raise InvalidTenantTransition("no vendor customer to accept the agreement for", tenant_id=self.id)
        self._record_agreement_accepted(actor=actor, at=at)

    @event(VendorAgreementAccepted)
    def _record_agreement_accepted(self, actor: Actor, at: datetime) -> None:
        self.agreement_accepted = True

    class CreatedAtVendor(CspAggregate.Event):
        vendor_customer_id: str
        admin_username: str

    def record_created(self, vendor_customer_id: str, admin_username: str, actor: Actor, at: datetime) -> None:
        if self.status == "created" and self.vendor_customer_id == vendor_customer_id:
            return
        if self.mode != "create":
            raise InvalidTenantTransition("a linked tenant is not created", tenant_id=self.id)
        self._require("verifying")
        if self.vendor_customer_id not in (None, vendor_customer_id):
            raise InvalidTenantTransition(
                f"tenant {self.domain} is vendor customer {self.vendor_customer_id}", tenant_id=self.id
            )
        self._record_created(vendor_customer_id=vendor_customer_id, admin_username=admin_username, actor=actor, at=at)

    @event(CreatedAtVendor)
    def _record_created(self, vendor_customer_id: str, admin_username: str, actor: Actor, at: datetime) -> None:
        self.status = "created"
        self.vendor_customer_id = vendor_customer_id
        self.admin_username = admin_username
        self.ready_at = at

    class Linked(CspAggregate.Event):
        vendor_customer_id: str

    def record_linked(self, vendor_customer_id: str, actor: Actor, at: datetime) -> None:
        if self.status == "linked" and self.vendor_customer_id == vendor_customer_id:
            return
        if self.mode != "link":
            raise InvalidTenantTransition("only a link request can be linked", tenant_id=self.id)
        self._require("verifying")
        self._record_linked(vendor_customer_id=vendor_customer_id, actor=actor, at=at)

    @event(Linked)
    def _record_linked(self, vendor_customer_id: str, actor: Actor, at: datetime) -> None:
        self.status = "linked"
        self.vendor_customer_id = vendor_customer_id
        self.ready_at = at

    class Rejected(CspAggregate.Event):
        """Version 2 added ``code`` (machine-readable reason); version 1 had only ``reason``."""

        reason: str
        code: RejectionCode

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            reason = str(state.get("reason", "")).lower()
            state["code"] = "domain_taken" if "taken" in reason or "exists" in reason else "vendor_refused"

    def reject(self, reason: str, actor: Actor, at: datetime, code: RejectionCode = "vendor_refused") -> None:
        if self.status == "rejected":
            return
        self._require("requested", "verifying")
        self._reject(reason=reason, code=code, actor=actor, at=at)

    @event(Rejected)
    def _reject(self, reason: str, code: RejectionCode, actor: Actor, at: datetime) -> None:
        self.status = "rejected"
        self.rejection_reason = reason
        self.rejection_code = code

    class UserCreated(CspAggregate.Event):
        """A user created in the tenant at the vendor, by whom and when (the vendor keeps it)."""

        vendor_user_id: str
        user_principal_name: str
        display_name: str

    def record_user_created(
        self, vendor_user_id: str, user_principal_name: str, display_name: str, actor: Actor, at: datetime
    ) -> None:
        if vendor_user_id in self.created_user_ids:
            return  # a repeated request: the vendor answered with the same user
        self.require_usable()
        if not vendor_user_id:
            raise InvalidInput("vendor_user_id", "the vendor's id of the user is required")
        self._record_user_created(
            vendor_user_id=vendor_user_id,
            user_principal_name=user_principal_name,
            display_name=display_name,
            actor=actor,
            at=at,
        )

    @event(UserCreated)
    def _record_user_created(
        self, vendor_user_id: str, user_principal_name: str, display_name: str, actor: Actor, at: datetime
    ) -> None:
        self.created_user_ids = (*self.created_user_ids, vendor_user_id)
