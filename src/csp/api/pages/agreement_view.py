"""What the customer's page shows of its Microsoft Customer Agreement (issue 16)."""

from __future__ import annotations

from typing import Any

from csp.aggregates.agreement import agreement_versions, latest_agreement_version
from csp.api.pages.web import Page


def agreement_context(page: Page, org: Any) -> dict[str, Any]:
    """What the customer's page shows of its agreement, and the form's choices."""
    return {
        "agreement": page.app.customer_agreement(org.id) if org.kind == "customer" else None,
        "agreement_versions": sorted(agreement_versions(), reverse=True),
        "agreement_default_version": latest_agreement_version(),
        "can_record_agreement": org.kind == "customer" and page.may("organizations.write"),
    }
