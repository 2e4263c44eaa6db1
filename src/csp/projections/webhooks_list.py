"""Which webhook endpoints has this reseller registered? (the portal's Webhooks screen)

A row per endpoint not deleted: URL, kinds, enabled (and why not, when the platform
turned it off), oldest first. The secret is never in a read model.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from csp.aggregates.notify import WebhookEndpoint
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, db_params, select_page
from csp.projections.rows import Rows
from csp.projections.sql import Row, Table, cols

WEBHOOKS = Table(
    "read_webhooks",
    cols(
        "id uuid!, reseller_id uuid!, url text!, events json!, enabled bool!, disabled_reason text!, "
        "created_at time!, version int!"
    ),
    key=("id",),
    indexes=(("reseller_id", "created_at"),),
)


class WebhooksList(ReadModel):
    name = "webhooks_list"
    tables = (WEBHOOKS,)

    @handles(WebhookEndpoint.Registered)
    def registered(self, e: WebhookEndpoint.Registered, rows: Rows) -> None:
        rows.put(
            WEBHOOKS,
            {
                "id": e.originator_id,
                "reseller_id": e.reseller_id,
                "url": e.url,
                "events": list(e.events),
                "enabled": True,
                "disabled_reason": "",
                "created_at": e.at,
                "version": e.originator_version,
            },
        )

    @handles(WebhookEndpoint.Changed)
    def changed(self, e: WebhookEndpoint.Changed, rows: Rows) -> None:
        row = rows.get(WEBHOOKS, (e.originator_id,))
        if row is not None:
            reason = "" if e.enabled else row["disabled_reason"]
            row.update(url=e.url, events=list(e.events), enabled=e.enabled, disabled_reason=reason)
            row.update(version=e.originator_version)
            rows.put(WEBHOOKS, row)

    @handles(WebhookEndpoint.Disabled)
    def disabled(self, e: WebhookEndpoint.Disabled, rows: Rows) -> None:
        row = rows.get(WEBHOOKS, (e.originator_id,))
        if row is not None:
            row.update(enabled=False, disabled_reason=e.reason, version=e.originator_version)
            rows.put(WEBHOOKS, row)

    @handles(WebhookEndpoint.Deleted)
    def deleted(self, e: WebhookEndpoint.Deleted, rows: Rows) -> None:
        rows.delete(WEBHOOKS, (e.originator_id,))


def item(row: Row) -> dict[str, Any]:
    return dict(row)


def webhooks(view: Any, reseller_id: UUID, limit: int = 50, offset: int = 0) -> Page:
    found, total = select_page(
        view,
        WEBHOOKS,
        '"reseller_id" = ?',
        db_params(view, WEBHOOKS, reseller_id=reseller_id),
        '"created_at", "id"',
        limit,
        offset,
    )
    return Page([item(r) for r in found], total)
