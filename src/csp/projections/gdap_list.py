"""Which GDAP relationships has this tenant, in which state, until when?"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from csp.aggregates.gdap import GdapRelationship
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, db_params, select_page
from csp.projections.rows import Rows
from csp.projections.sql import Row, Table, cols

GDAP = Table(
    "read_gdap",
    cols(
        "id uuid!, tenant_id uuid!, organization_id uuid!, reseller_id uuid!, status text!, roles json!, "
        "duration_days int!, auto_extend bool!, security_group_ids json!, access_groups json!, "
        "approval_url text, starts_at time, ends_at time, termination_reason text, created_at time!, updated_at time!"
    ),
    key=("id",),
    indexes=(("tenant_id", "created_at"),),
)


class GdapList(ReadModel):
    name = "gdap_list"
    tables = (GDAP,)

    @handles(GdapRelationship.Requested)
    def requested(self, e: GdapRelationship.Requested, rows: Rows) -> None:
        rows.put(
            GDAP,
            {
                "id": e.originator_id,
                "tenant_id": e.tenant_id,
                "organization_id": e.organization_id,
                "reseller_id": e.reseller_id,
                "status": "created",
                "roles": list(e.roles),
                "duration_days": e.duration_days,
                "auto_extend": e.auto_extend,
                "security_group_ids": list(e.security_group_ids),
                "access_groups": [],
                "approval_url": None,
                "starts_at": None,
                "ends_at": None,
                "termination_reason": None,
                "created_at": e.at,
                "updated_at": e.at,
            },
        )

    def _update(self, e: Any, rows: Rows, **changes: Any) -> None:
        row = rows.get(GDAP, (e.originator_id,))
        if row is None:
            return
        row.update(updated_at=e.at, **changes)
        rows.put(GDAP, row)

    @handles(GdapRelationship.SentToVendor)
    def sent(self, e: GdapRelationship.SentToVendor, rows: Rows) -> None:
        self._update(e, rows, status="approval_pending", approval_url=e.approval_url)

    @handles(GdapRelationship.Approved)
    def approved(self, e: GdapRelationship.Approved, rows: Rows) -> None:
        self._update(e, rows, status="active", starts_at=e.starts_at, ends_at=e.ends_at)

    @handles(GdapRelationship.ExpiringSoon)
    def expiring(self, e: GdapRelationship.ExpiringSoon, rows: Rows) -> None:
        self._update(e, rows, status="expiring")

    @handles(GdapRelationship.Extended)
    def extended(self, e: GdapRelationship.Extended, rows: Rows) -> None:
        self._update(e, rows, status="active", ends_at=e.ends_at)

    @handles(GdapRelationship.Expired)
    def expired(self, e: GdapRelationship.Expired, rows: Rows) -> None:
        self._update(e, rows, status="expired")

    @handles(GdapRelationship.ApprovalExpired)
    def approval_expired(self, e: GdapRelationship.ApprovalExpired, rows: Rows) -> None:
        self._update(e, rows, status="expired")

    @handles(GdapRelationship.Terminated)
    def terminated(self, e: GdapRelationship.Terminated, rows: Rows) -> None:
        self._update(e, rows, status="terminated", termination_reason=e.reason or None)

    @handles(GdapRelationship.AccessAssigned)
    def access(self, e: GdapRelationship.AccessAssigned, rows: Rows) -> None:
        row = rows.get(GDAP, (e.originator_id,))
        if row is not None:
            self._update(e, rows, access_groups=[*row["access_groups"], e.security_group_id])


def item(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "tenant_id": row["tenant_id"],
        "status": row["status"],
        "roles": row["roles"],
        "duration_days": row["duration_days"],
        "auto_extend": row["auto_extend"],
        "security_group_ids": row["security_group_ids"],
        "access_groups": row["access_groups"],
        "approval_url": row["approval_url"],
        "starts_at": row["starts_at"],
        "ends_at": row["ends_at"],
        "termination_reason": row["termination_reason"],
        "created_at": row["created_at"],
    }


def relationships(view: Any, tenant_id: UUID, limit: int = 50, offset: int = 0) -> Page:
    found, total = select_page(
        view,
        GDAP,
        '"tenant_id" = ?',
        db_params(view, GDAP, tenant_id=tenant_id),
        '"created_at" DESC, "id"',
        limit,
        offset,
    )
    return Page([item(r) for r in found], total)
