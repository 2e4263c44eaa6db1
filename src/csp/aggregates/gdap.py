"""GDAP relationships: the granular delegated admin rights a reseller asks of a customer tenant.

created ──sent to the vendor──▶ approval_pending ──the customer's global admin approves──▶ active
approval_pending ──not approved within 90 days of its creation at the vendor──▶ expired
active ──30 days before its end, when it does not auto-extend──▶ expiring ──its end──▶ expired
active ──its end, auto-extending──▶ active (180 days more, as Partner Center extends it)
created | approval_pending | active | expiring ──terminate──▶ terminated
expired and terminated are final.

The roles are Entra built-in roles from the vendor's list (``csp/data/partner_center.toml``),
Directory Readers by default (least privilege); the duration is 1 to 730 days; a
relationship with Global Administrator never auto-extends (Partner Center's rule). The
vendor is the truth for approval, extension and expiry: the saga reads them back and
records them here; ``expiring`` is the platform's own reminder point, an event the
notifications (``gdap_expiring``) react to.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Literal
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, utc
from csp.aggregates.errors import GdapNotActive, InvalidGdapTransition, InvalidInput

GdapStatus = Literal["created", "approval_pending", "active", "expiring", "expired", "terminated"]
GDAP_STATUSES: tuple[GdapStatus, ...] = ("created", "approval_pending", "active", "expiring", "expired", "terminated")
FINAL: tuple[GdapStatus, ...] = ("expired", "terminated")
MAX_DURATION_DAYS = 730
AUTO_EXTEND_DAYS = 180
EXPIRING_DAYS = 30
GLOBAL_ADMINISTRATOR = "Global Administrator"


@dataclass(frozen=True)
class EntraRole:
    name: str
    id: str  # the role template id
    least_privilege: bool = False


@cache
def entra_roles() -> dict[str, EntraRole]:
    """The vendor's list of roles a GDAP relationship may ask for, by name."""
    text = resources.files("csp.data").joinpath("partner_center.toml").read_text(encoding="utf-8")
    return {
        r["name"]: EntraRole(r["name"], r["id"], bool(r.get("least_privilege", False)))
        for r in tomllib.loads(text)["entra_roles"]
    }


def default_roles() -> tuple[str, ...]:
    return tuple(r.name for r in entra_roles().values() if r.least_privilege)


def check_roles(roles: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    known = entra_roles()
    if not roles:
        raise InvalidInput("roles", "ask for at least one role", value=[])
    for name in roles:
        if name not in known:
            raise InvalidInput("roles", f"{name!r} is not an Entra role the vendor offers", value=name)
    return tuple(dict.fromkeys(roles))  # once each, in the order asked


class GdapRelationship(CspAggregate):
    class Requested(CspAggregate.Created):
        tenant_id: UUID
        organization_id: UUID
        reseller_id: UUID
        roles: tuple[str, ...]
        duration_days: int
        auto_extend: bool
        security_group_ids: tuple[str, ...]

    @event(Requested)
    def __init__(
        self,
        tenant_id: UUID,
        organization_id: UUID,
        reseller_id: UUID,
        roles: tuple[str, ...],
        duration_days: int,
        auto_extend: bool,
        security_group_ids: tuple[str, ...],
        actor: Actor,
        at: datetime,
    ) -> None:
        self.tenant_id = tenant_id
        self.organization_id = organization_id
        self.reseller_id = reseller_id
        self.roles = tuple(roles)
        self.duration_days = duration_days
        self.auto_extend = auto_extend
        self.security_group_ids = tuple(security_group_ids)
        self.status: GdapStatus = "created"
        self.requested_at = at
        self.vendor_relationship_id: str | None = None
        self.approval_url: str | None = None
        self.starts_at: datetime | None = None
        self.ends_at: datetime | None = None
        self.terminated_at_vendor = False
        self.termination_reason = ""
        self.access_groups: tuple[str, ...] = ()

    @classmethod
    def request(
        cls,
        id: UUID,
        tenant_id: UUID,
        organization_id: UUID,
        reseller_id: UUID,
        roles: list[str] | tuple[str, ...],
        duration_days: int,
        auto_extend: bool,
        actor: Actor,
        at: datetime,
        security_group_ids: tuple[str, ...] = (),
    ) -> GdapRelationship:
        checked = check_roles(roles)
        groups = tuple(dict.fromkeys(g.strip() for g in security_group_ids))
        if any(not g or len(g) > 100 for g in groups):
            raise InvalidInput("security_group_ids", "each is a security group's id", value=list(security_group_ids))
        if not 1 <= duration_days <= MAX_DURATION_DAYS:
            raise InvalidInput("duration_days", f"must be 1 to {MAX_DURATION_DAYS} days (2 years)", value=duration_days)
        if auto_extend and GLOBAL_ADMINISTRATOR in checked:
            raise InvalidInput("auto_extend", "a relationship with Global Administrator cannot auto-extend", value=True)
        return cls._create(
            cls.Requested,
            id=id,
            tenant_id=tenant_id,
            organization_id=organization_id,
            reseller_id=reseller_id,
            roles=checked,
            duration_days=duration_days,
            auto_extend=auto_extend,
            security_group_ids=groups,
            actor=actor,
            at=utc(at),
        )

    @property
    def is_usable(self) -> bool:
        return self.status in ("active", "expiring")

    def require_usable(self) -> None:
        if not self.is_usable:
            raise GdapNotActive(
                f"the GDAP relationship is {self.status}; it gives access once the customer approved it",
                gdap_id=self.id,
                status=self.status,
            )

    def _require(self, *statuses: GdapStatus) -> None:
        if self.status not in statuses:
            raise InvalidGdapTransition(f"the GDAP relationship is {self.status}", gdap_id=self.id, status=self.status)

    def expiring_from(self) -> datetime | None:
        """When the reminder point falls: 30 days before the end, for one that will expire."""
        if self.ends_at is None or self.auto_extend:
            return None
        return self.ends_at - timedelta(days=EXPIRING_DAYS)

    # --- the vendor's answers -------------------------------------------------------

    class SentToVendor(CspAggregate.Event):
        vendor_relationship_id: str
        approval_url: str

    def record_sent(self, vendor_relationship_id: str, approval_url: str, actor: Actor, at: datetime) -> None:
        if self.vendor_relationship_id == vendor_relationship_id:
            return  # a repeated saga step
        self._require("created")
        self._record_sent(vendor_relationship_id=vendor_relationship_id, approval_url=approval_url, actor=actor, at=at)

    @event(SentToVendor)
    def _record_sent(self, vendor_relationship_id: str, approval_url: str, actor: Actor, at: datetime) -> None:
        self.status = "approval_pending"
        self.vendor_relationship_id = vendor_relationship_id
        self.approval_url = approval_url

    class Approved(CspAggregate.Event):
        """The customer's global admin approved: the vendor activated it for its duration."""

        starts_at: datetime
        ends_at: datetime

    def record_approved(self, starts_at: datetime, ends_at: datetime, actor: Actor, at: datetime) -> None:
        if self.is_usable:
            return
        self._require("approval_pending")
        if ends_at <= starts_at:
            raise InvalidInput("ends_at", "must be after starts_at", value=ends_at)
        self._record_approved(starts_at=utc(starts_at), ends_at=utc(ends_at), actor=actor, at=at)

    @event(Approved)
    def _record_approved(self, starts_at: datetime, ends_at: datetime, actor: Actor, at: datetime) -> None:
        self.status = "active"
        self.starts_at = starts_at
        self.ends_at = ends_at

    class ExpiringSoon(CspAggregate.Event):
        """The reminder point: within 30 days of the end of one that will not extend."""

        ends_at: datetime

    def mark_expiring(self, actor: Actor, at: datetime) -> bool:
        """True when it became ``expiring`` now."""
        if self.status != "active":
            return False
        start = self.expiring_from()
        if start is None or at < start:
            return False
        assert self.ends_at is not None
        self._mark_expiring(ends_at=self.ends_at, actor=actor, at=at)
        return True

    @event(ExpiringSoon)
    def _mark_expiring(self, ends_at: datetime, actor: Actor, at: datetime) -> None:
        self.status = "expiring"

    class Extended(CspAggregate.Event):
        ends_at: datetime

    def record_extended(self, ends_at: datetime, actor: Actor, at: datetime) -> None:
        if self.ends_at == ends_at:
            return
        self._require("active", "expiring")
        if not self.auto_extend:
            raise InvalidGdapTransition("this relationship does not auto-extend", gdap_id=self.id)
        if self.ends_at is not None and ends_at <= self.ends_at:
            raise InvalidGdapTransition("an extension moves the end later", gdap_id=self.id)
        self._record_extended(ends_at=utc(ends_at), actor=actor, at=at)

    @event(Extended)
    def _record_extended(self, ends_at: datetime, actor: Actor, at: datetime) -> None:
        self.status = "active"
        self.ends_at = ends_at

    class Expired(CspAggregate.Event):
        pass

    def record_expired(self, actor: Actor, at: datetime) -> None:
        if self.status == "expired":
            return
        self._require("active", "expiring")
        self._record_expired(actor=actor, at=at)

    @event(Expired)
    def _record_expired(self, actor: Actor, at: datetime) -> None:
        self.status = "expired"

    class ApprovalExpired(CspAggregate.Event):
        """The customer did not approve the request within 90 days: it expired at the vendor
        and can never become active (a new request is needed)."""

    def record_approval_expired(self, actor: Actor, at: datetime) -> None:
        if self.status == "expired":
            return
        self._require("approval_pending")
        self._record_approval_expired(actor=actor, at=at)

    @event(ApprovalExpired)
    def _record_approval_expired(self, actor: Actor, at: datetime) -> None:
        self.status = "expired"

    class AccessAssigned(CspAggregate.Event):
        """The relationship's roles given to one of the reseller's security groups."""

        security_group_id: str
        vendor_assignment_id: str
        roles: tuple[str, ...]

    def record_access_assigned(
        self, security_group_id: str, vendor_assignment_id: str, actor: Actor, at: datetime
    ) -> None:
        if security_group_id in self.access_groups:
            return
        self.require_usable()
        self._record_access_assigned(
            security_group_id=security_group_id,
            vendor_assignment_id=vendor_assignment_id,
            roles=self.roles,
            actor=actor,
            at=at,
        )

    @event(AccessAssigned)
    def _record_access_assigned(
        self, security_group_id: str, vendor_assignment_id: str, roles: tuple[str, ...], actor: Actor, at: datetime
    ) -> None:
        self.access_groups = (*self.access_groups, security_group_id)

    # --- the reseller's decision ------------------------------------------------------

    class Terminated(CspAggregate.Event):
        """Ended by the reseller, or by the platform when the vendor refused or ended it (``reason``)."""

        reason: str

    def terminate(self, actor: Actor, at: datetime, reason: str = "") -> None:
        if self.status in FINAL:
            raise InvalidGdapTransition(
                f"the GDAP relationship is already {self.status}", gdap_id=self.id, status=self.status
            )
        self._terminate(reason=reason, actor=actor, at=at)

    @event(Terminated)
    def _terminate(self, reason: str, actor: Actor, at: datetime) -> None:
        self.status = "terminated"
        self.termination_reason = reason

    class TerminationConfirmed(CspAggregate.Event):
        """The vendor ended it too (or never had it: terminated before it was sent)."""

    def confirm_termination(self, actor: Actor, at: datetime) -> None:
        if self.terminated_at_vendor:
            return
        self._require("terminated")
        self._confirm_termination(actor=actor, at=at)

    @event(TerminationConfirmed)
    def _confirm_termination(self, actor: Actor, at: datetime) -> None:
        self.terminated_at_vendor = True
