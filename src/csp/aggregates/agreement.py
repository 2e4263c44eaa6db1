"""A customer's Microsoft Customer Agreement acceptance, as the vendor requires before it sells.

recorded ──record again (a correction, or a new version accepted)──▶ recorded

One per customer organization (its id derives from the organization's), its own
aggregate rather than events on ``Organization``: the attestation has its own history,
its own saga (sent to the vendor for each of the customer's tenants) and its own
version number; ordering only asks whether it exists. The reseller's own organization
has none: a partner's tenant accepts the Microsoft Partner Agreement instead.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from uuid import UUID

from eventsourcing.domain import event

from csp.aggregates.base import Actor, CspAggregate, Value, deterministic_id, utc
from csp.aggregates.errors import InvalidInput
from csp.aggregates.organization import check_email

_PHONE = re.compile(r"^\+?[0-9 ()./-]{5,32}$")


@dataclass(frozen=True)
class AgreementVersion:
    version: str
    template_id: str
    link: str


@cache
def agreement_versions() -> dict[str, AgreementVersion]:
    """The vendor's known versions of the Microsoft Customer Agreement."""
    text = resources.files("csp.data").joinpath("partner_center.toml").read_text(encoding="utf-8")
    return {
        a["version"]: AgreementVersion(a["version"], a["template_id"], a["link"])
        for a in tomllib.loads(text)["agreements"]
    }


def latest_agreement_version() -> str:
    return max(agreement_versions())


def agreement_id(organization_id: UUID) -> UUID:
    return deterministic_id("customer-agreement", organization_id)


@dataclass(frozen=True)
class Attestation(Value):
    """Who signed for the customer, when, and which version."""

    first_name: str
    last_name: str
    email: str
    phone: str
    accepted_at: datetime
    agreement_version: str
    template_id: str

    @property
    def accepted_on(self) -> date:
        return self.accepted_at.date()


def attest(
    first_name: str,
    last_name: str,
    email: str,
    phone: str,
    accepted_at: datetime,
    agreement_version: str,
    now: datetime,
) -> Attestation:
    """The checked attestation: names required, email and phone syntax, a known version, a
    date not in the future (by the clock)."""
    first, last = first_name.strip(), last_name.strip()
    if not first or len(first) > 100:
        raise InvalidInput("first_name", "is required (up to 100 characters)", value=first_name)
    if not last or len(last) > 100:
        raise InvalidInput("last_name", "is required (up to 100 characters)", value=last_name)
    mail = check_email(email, field="email")
    tel = phone.strip()
    if not _PHONE.match(tel):
        raise InvalidInput("phone", "is not a phone number", value=phone)
    at = utc(accepted_at)
    if at > now:
        raise InvalidInput("accepted_at", "must not be in the future", value=accepted_at, now=now)
    known = agreement_versions()
    if agreement_version not in known:
        raise InvalidInput(
            "agreement_version",
            f"must be one of the vendor's versions: {', '.join(sorted(known))}",
            value=agreement_version,
        )
    return Attestation(first, last, mail, tel, at, agreement_version, known[agreement_version].template_id)


class CustomerAgreement(CspAggregate):
    class Recorded(CspAggregate.Created):
        organization_id: UUID
        reseller_id: UUID
        attestation: Attestation

    @event(Recorded)
    def __init__(
        self, organization_id: UUID, reseller_id: UUID, attestation: Attestation, actor: Actor, at: datetime
    ) -> None:
        self.organization_id = organization_id
        self.reseller_id = reseller_id
        self.attestation = attestation
        self.recorded_by = actor
        self.recorded_at = at

    @classmethod
    def record(
        cls, organization_id: UUID, reseller_id: UUID, attestation: Attestation, actor: Actor, at: datetime
    ) -> CustomerAgreement:
        return cls._create(
            cls.Recorded,
            id=agreement_id(organization_id),
            organization_id=organization_id,
            reseller_id=reseller_id,
            attestation=attestation,
            actor=actor,
            at=at,
        )

    class Rerecorded(CspAggregate.Event):
        """A correction, or a newer version accepted: the latest attestation counts."""

        attestation: Attestation

    def record_again(self, attestation: Attestation, actor: Actor, at: datetime) -> None:
        if attestation == self.attestation:
            return
        self._record_again(attestation=attestation, actor=actor, at=at)

    @event(Rerecorded)
    def _record_again(self, attestation: Attestation, actor: Actor, at: datetime) -> None:
        self.attestation = attestation
        self.recorded_by = actor
        self.recorded_at = at
