"""The customer agreement: recording the attestation, and the rule that orders need one."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from csp.aggregates.agreement import CustomerAgreement, agreement_id, attest
from csp.aggregates.base import Actor
from csp.aggregates.errors import AgreementMissing, OrganizationError
from csp.aggregates.organization import Organization
from csp.application.base import CspApplicationBase


def require_agreement(app: CspApplicationBase, organization: Organization) -> None:
    """A customer orders only once its Microsoft Customer Agreement acceptance is recorded;
    the reseller's own organization is exempt (it accepted the Microsoft Partner Agreement)."""
    if organization.kind != "customer":
        return
    if not app.exists(agreement_id(organization.id)):
        raise AgreementMissing(
            f"{organization.name} has not accepted the Microsoft Customer Agreement: record its acceptance "
            "(signatory, date, version) before the first order, as the vendor requires",
            organization_id=organization.id,
        )


class AgreementCommands(CspApplicationBase):
    def record_agreement(
        self,
        organization_id: UUID,
        first_name: str,
        last_name: str,
        email: str,
        phone: str,
        accepted_at: datetime,
        agreement_version: str,
        actor: Actor,
    ) -> CustomerAgreement:
        org = self.load(Organization, organization_id, "organization")
        if org.kind != "customer":
            raise OrganizationError(
                "the reseller's own organization accepts the Microsoft Partner Agreement, not the customer agreement",
                organization_id=organization_id,
            )
        now = self.now()
        attestation = attest(first_name, last_name, email, phone, accepted_at, agreement_version, now)
        existing = self.find(CustomerAgreement, agreement_id(organization_id), "agreement")
        if existing is None:
            agreement = CustomerAgreement.record(
                organization_id, org.owner_reseller_id, attestation, actor=actor, at=now
            )
        else:
            agreement = existing
            agreement.record_again(attestation, actor=actor, at=now)
        self.save(agreement)
        return agreement

    def customer_agreement(self, organization_id: UUID) -> CustomerAgreement | None:
        return self.find(CustomerAgreement, agreement_id(organization_id), "agreement", readonly=True)
