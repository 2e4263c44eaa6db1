"""Which tenants has this organization, and are they ready for orders?"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from csp.aggregates.tenant import Tenant
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, db_params, select_page, select_rows
from csp.projections.rows import Rows
from csp.projections.sql import Row, Table, cols
from csp.projections.store import ReadView

TENANTS = Table(
    "read_tenants",
    cols(
        "id uuid!, organization_id uuid!, reseller_id uuid!, domain text!, status text!, mode text!, "
        "vendor_customer_id text, rejection_reason text, rejection_code text, created_at time!, ready_at time, "
        "updated_at time!"
    ),
    key=("id",),
    indexes=(("organization_id", "created_at"),),
)


class TenantsList(ReadModel):
    name = "tenants_list"
    tables = (TENANTS,)

    @handles(Tenant.Requested)
    def requested(self, e: Tenant.Requested, rows: Rows) -> None:
        rows.put(
            TENANTS,
            {
                "id": e.originator_id,
                "organization_id": e.organization_id,
                "reseller_id": e.reseller_id,
                "domain": e.domain,
                "status": "requested",
                "mode": e.mode,
                "vendor_customer_id": None,
                "rejection_reason": None,
                "rejection_code": None,
                "created_at": e.at,
                "ready_at": None,
                "updated_at": e.at,
            },
        )

    def _update(self, e: Any, rows: Rows, **changes: Any) -> None:
        row = rows.get(TENANTS, (e.originator_id,))
        if row is None:
            return
        row.update(updated_at=e.at, **changes)
        rows.put(TENANTS, row)

    @handles(Tenant.VerificationStarted)
    def verifying(self, e: Tenant.VerificationStarted, rows: Rows) -> None:
        self._update(e, rows, status="verifying")

    @handles(Tenant.CreatedAtVendor)
    def created(self, e: Tenant.CreatedAtVendor, rows: Rows) -> None:
        self._update(e, rows, status="created", vendor_customer_id=e.vendor_customer_id, ready_at=e.at)

    @handles(Tenant.Linked)
    def linked(self, e: Tenant.Linked, rows: Rows) -> None:
        self._update(e, rows, status="linked", vendor_customer_id=e.vendor_customer_id, ready_at=e.at)

    @handles(Tenant.Rejected)
    def rejected(self, e: Tenant.Rejected, rows: Rows) -> None:
        self._update(e, rows, status="rejected", rejection_reason=e.reason, rejection_code=e.code)


def item(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "domain": row["domain"],
        "status": row["status"],
        "mode": row["mode"],
        "created_at": row["created_at"],
        "organization_id": row["organization_id"],
        "ready_at": row["ready_at"],
        "rejection_reason": row["rejection_reason"],
        "rejection_code": row["rejection_code"],
    }


def tenants(view: ReadView, organization_id: UUID, limit: int = 50, offset: int = 0) -> Page:
    found, total = select_page(
        view,
        TENANTS,
        '"organization_id" = ?',
        db_params(view, TENANTS, organization_id=organization_id),
        '"created_at", "domain", "id"',
        limit,
        offset,
    )
    return Page([item(r) for r in found], total)


def tenant(view: ReadView, tenant_id: UUID) -> dict[str, Any] | None:
    found = select_rows(view, TENANTS, '"id" = ?', db_params(view, TENANTS, id=tenant_id))
    return item(found[0]) if found else None
