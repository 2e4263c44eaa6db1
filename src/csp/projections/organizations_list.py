"""Which organizations does this reseller manage? (the Organizations screen)

The reseller's own account first (the manual lists it too), then its customers by name.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from csp.aggregates.organization import Organization, OrganizationProfile
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, db_params, select_page, select_rows
from csp.projections.rows import Rows
from csp.projections.sql import Row, Table, cols, like_pattern
from csp.projections.store import ReadView

ORGANIZATIONS = Table(
    "read_organizations",
    cols(
        "id uuid!, reseller_id uuid!, kind text!, name text!, slug text, country text!, industry text!, "
        "eligibility json!, contact_email text!, contact_phone text!, address json!, self_registered bool!, "
        "created_at time!, updated_at time!, search text!"
    ),
    key=("id",),
    indexes=(("reseller_id", "kind", "search"),),
)


def _profile(p: OrganizationProfile) -> dict[str, Any]:
    return {
        "name": p.name,
        "country": p.country,
        "industry": p.industry,
        "eligibility": {
            "academic": p.eligibility.academic,
            "government": p.eligibility.government,
            "nonprofit": p.eligibility.nonprofit,
        },
        "contact_email": p.contact_email,
        "contact_phone": p.contact_phone,
        "address": {
            "line1": p.address.line1,
            "line2": p.address.line2,
            "city": p.address.city,
            "postal_code": p.address.postal_code,
            "region": p.address.region,
        },
        "search": f"{p.name} {p.contact_email}".casefold(),
    }


class OrganizationsList(ReadModel):
    name = "organizations_list"
    tables = (ORGANIZATIONS,)

    @handles(Organization.Registered)
    def registered(self, e: Organization.Registered, rows: Rows) -> None:
        rows.put(
            ORGANIZATIONS,
            {
                "id": e.originator_id,
                "reseller_id": e.reseller_id if e.reseller_id is not None else e.originator_id,
                "kind": e.kind,
                "slug": e.slug,
                "self_registered": e.self_registered,
                "created_at": e.at,
                "updated_at": e.at,
                **_profile(e.profile),
            },
        )

    @handles(Organization.ProfileChanged)
    def profile_changed(self, e: Organization.ProfileChanged, rows: Rows) -> None:
        row = rows.get(ORGANIZATIONS, (e.originator_id,))
        if row is None:
            return
        row.update(updated_at=e.at, **_profile(e.profile))
        rows.put(ORGANIZATIONS, row)


def item(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        "country": row["country"],
        "industry": row["industry"],
        "eligibility": row["eligibility"],
        "contact_email": row["contact_email"],
        "created_at": row["created_at"],
        "contact_phone": row["contact_phone"],
        "address": row["address"],
        "slug": row["slug"],
        "reseller_id": row["reseller_id"],
    }


def organizations(view: ReadView, reseller_id: UUID, q: str | None = None, limit: int = 50, offset: int = 0) -> Page:
    where = '"reseller_id" = ?'
    params = db_params(view, ORGANIZATIONS, reseller_id=reseller_id)
    if q:
        where += " AND \"search\" LIKE ? ESCAPE '\\'"
        params.append(like_pattern(q))
    order = 'CASE "kind" WHEN \'reseller\' THEN 0 ELSE 1 END, "search", "id"'
    found, total = select_page(view, ORGANIZATIONS, where, params, order, limit, offset)
    return Page([item(r) for r in found], total)


def organization(view: ReadView, organization_id: UUID) -> dict[str, Any] | None:
    found = select_rows(view, ORGANIZATIONS, '"id" = ?', db_params(view, ORGANIZATIONS, id=organization_id))
    return item(found[0]) if found else None


def organization_names(view: ReadView, reseller_id: UUID) -> dict[UUID, Row]:
    """The reseller's organizations (itself included) by id, as stored."""
    found = select_rows(
        view, ORGANIZATIONS, '"reseller_id" = ?', db_params(view, ORGANIZATIONS, reseller_id=reseller_id)
    )
    return {r["id"]: r for r in found}
