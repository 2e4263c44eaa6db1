"""Which notices was this reseller sent, and which are unread? (the portal's Notifications)

A row per notice, newest first: its kind, subject, due instant, when it was sent (issued:
shown in the portal at once, the email follows through the mail queue) and read.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from csp.aggregates.notify import Notice
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, db_params, select_page, select_rows
from csp.projections.rows import Rows
from csp.projections.sql import Row, Table, cols

NOTICES = Table(
    "read_notices",
    cols(
        "id uuid!, reseller_id uuid!, kind text!, subject_id uuid!, due_at time!, sent_at time!, read_at time, "
        "title text!, detail text!"
    ),
    key=("id",),
    indexes=(("reseller_id", "sent_at"),),
)


class NoticesList(ReadModel):
    name = "notices_list"
    tables = (NOTICES,)

    @handles(Notice.Issued)
    def issued(self, e: Notice.Issued, rows: Rows) -> None:
        rows.put(
            NOTICES,
            {
                "id": e.originator_id,
                "reseller_id": e.reseller_id,
                "kind": e.kind,
                "subject_id": e.subject_id,
                "due_at": e.due_at,
                "sent_at": e.at,
                "read_at": None,
                "title": e.title,
                "detail": e.detail,
            },
        )

    @handles(Notice.Read)
    def read(self, e: Notice.Read, rows: Rows) -> None:
        row = rows.get(NOTICES, (e.originator_id,))
        if row is not None:
            row.update(read_at=e.at)
            rows.put(NOTICES, row)


def item(row: Row) -> dict[str, Any]:
    return dict(row)


def notices(view: Any, reseller_id: UUID, unread: bool = False, limit: int = 50, offset: int = 0) -> Page:
    where = '"reseller_id" = ?' + (' AND "read_at" IS NULL' if unread else "")
    found, total = select_page(
        view, NOTICES, where, db_params(view, NOTICES, reseller_id=reseller_id), '"sent_at" DESC, "id"', limit, offset
    )
    return Page([item(r) for r in found], total)


def unread_count(view: Any, reseller_id: UUID) -> int:
    return notices(view, reseller_id, unread=True, limit=1).total


def notice(view: Any, notice_id: UUID) -> dict[str, Any] | None:
    found = select_rows(view, NOTICES, '"id" = ?', db_params(view, NOTICES, id=notice_id))
    return item(found[0]) if found else None
