"""Who has access to this account, or to this organization? (the Users screen)"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from csp.aggregates.user import User
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, db_params, select_page
from csp.projections.rows import Rows
from csp.projections.sql import Row, Table, cols
from csp.projections.store import ReadView

USERS = Table(
    "read_users",
    cols(
        "id uuid!, reseller_id uuid!, organization_id uuid!, email text!, role text!, status text!, "
        "first_name text!, last_name text!, sign_in_method text!, primary_contact bool!, "
        "invitation_expires_at time, created_at time!, activated_at time, updated_at time!"
    ),
    key=("id",),
    indexes=(("reseller_id", "email"), ("organization_id", "email")),
)


class UsersList(ReadModel):
    name = "users_list"
    version = 2  # 2: a user's sign-in method changes
    tables = (USERS,)

    @handles(User.Added)
    def added(self, e: User.Added, rows: Rows) -> None:
        invited = e.invitation_hash is not None
        rows.put(
            USERS,
            {
                "id": e.originator_id,
                "reseller_id": e.reseller_id,
                "organization_id": e.organization_id,
                "email": e.email,
                "role": e.role,
                "status": "invited" if invited else "active",
                "first_name": e.first_name,
                "last_name": e.last_name,
                "sign_in_method": e.sign_in_method,
                "primary_contact": e.primary_contact,
                "invitation_expires_at": e.expires_at,
                "created_at": e.at,
                "activated_at": None if invited else e.at,
                "updated_at": e.at,
            },
        )

    def _update(self, e: Any, rows: Rows, **changes: Any) -> None:
        row = rows.get(USERS, (e.originator_id,))
        if row is None:
            return
        row.update(updated_at=e.at, **changes)
        rows.put(USERS, row)

    @handles(User.InvitationReissued)
    def reissued(self, e: User.InvitationReissued, rows: Rows) -> None:
        self._update(
            e,
            rows,
            role=e.role,
            organization_id=e.organization_id,
            sign_in_method=e.sign_in_method,
            invitation_expires_at=e.expires_at,
        )

    @handles(User.InvitationAccepted)
    def accepted(self, e: User.InvitationAccepted, rows: Rows) -> None:
        self._update(
            e,
            rows,
            status="active",
            first_name=e.first_name,
            last_name=e.last_name,
            invitation_expires_at=None,
            activated_at=e.at,
        )

    @handles(User.EmailConfirmed)
    def email_confirmed(self, e: User.EmailConfirmed, rows: Rows) -> None:
        self._update(e, rows, status="active", invitation_expires_at=None, activated_at=e.at)

    @handles(User.RoleChanged)
    def role_changed(self, e: User.RoleChanged, rows: Rows) -> None:
        self._update(e, rows, role=e.role)

    @handles(User.SignInMethodChanged)
    def sign_in_method_changed(self, e: User.SignInMethodChanged, rows: Rows) -> None:
        self._update(e, rows, sign_in_method=e.sign_in_method)

    @handles(User.Disabled)
    def disabled(self, e: User.Disabled, rows: Rows) -> None:
        self._update(e, rows, status="disabled")

    @handles(User.Enabled)
    def enabled(self, e: User.Enabled, rows: Rows) -> None:
        row = rows.get(USERS, (e.originator_id,))
        if row is not None:
            self._update(e, rows, status="active" if row["activated_at"] is not None else "invited")


def item(row: Row) -> dict[str, Any]:
    return {k: row[k] for k in USERS.column_names if k != "updated_at"}


def users(
    view: ReadView, reseller_id: UUID, organization_id: UUID | None = None, limit: int = 50, offset: int = 0
) -> Page:
    """The account's users (or one organization's), by email."""
    if organization_id is None:
        where, params = '"reseller_id" = ?', db_params(view, USERS, reseller_id=reseller_id)
    else:
        where = '"reseller_id" = ? AND "organization_id" = ?'
        params = db_params(view, USERS, reseller_id=reseller_id, organization_id=organization_id)
    found, total = select_page(view, USERS, where, params, '"email", "id"', limit, offset)
    return Page([item(r) for r in found], total)
