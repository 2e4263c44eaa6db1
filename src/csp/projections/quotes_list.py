"""Which quotes has this organization, and where is each? (the portal's Quotes screen)

A row per quote: its lines' offers, total, validity, and whether it was accepted (and
into which order), newest first. "Expired" is worked out when read (it depends on now).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from csp.aggregates.pricing import money
from csp.aggregates.quote import Quote
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, db_params, select_page
from csp.projections.rows import Rows
from csp.projections.sql import Row, Table, cols
from csp.projections.store import ReadView

QUOTES = Table(
    "read_quotes",
    cols(
        "id uuid!, organization_id uuid!, reseller_id uuid!, offers json!, total money!, valid_until time!, "
        "note text!, created_by text!, created_at time!, order_id uuid, accepted_at time"
    ),
    key=("id",),
    indexes=(("organization_id", "created_at"),),
)


class QuotesList(ReadModel):
    name = "quotes_list"
    tables = (QUOTES,)

    @handles(Quote.Created)
    def created(self, e: Quote.Created, rows: Rows) -> None:
        rows.put(
            QUOTES,
            {
                "id": e.originator_id,
                "organization_id": e.organization_id,
                "reseller_id": e.reseller_id,
                "offers": [f"{x.quantity} × {x.offer_name}" for x in e.lines],
                "total": money(sum((x.unit_customer_price * x.quantity for x in e.lines), Decimal(0))),
                "valid_until": e.valid_until,
                "note": e.note,
                "created_by": e.actor,
                "created_at": e.at,
                "order_id": None,
                "accepted_at": None,
            },
        )

    @handles(Quote.Accepted)
    def accepted(self, e: Quote.Accepted, rows: Rows) -> None:
        row = rows.get(QUOTES, (e.originator_id,))
        if row is not None:
            row.update(order_id=e.order_id, accepted_at=e.at)
            rows.put(QUOTES, row)


def item(row: Row, now: datetime) -> dict[str, Any]:
    status = "accepted" if row["order_id"] is not None else ("expired" if now > row["valid_until"] else "open")
    return {**row, "status": status}


def quotes(view: ReadView, organization_id: UUID, now: datetime, limit: int = 50, offset: int = 0) -> Page:
    found, total = select_page(
        view,
        QUOTES,
        '"organization_id" = ?',
        db_params(view, QUOTES, organization_id=organization_id),
        '"created_at" DESC, "id"',
        limit,
        offset,
    )
    return Page([item(r, now) for r in found], total)
