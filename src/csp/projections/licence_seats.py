"""Which unassigned seats are still cheap to cut? (the licences' 7-day windows)

One row per subscription: its tranches' seats and window close instants, and the
vendor's assigned figure. ``unused_in_window`` is decided by the aggregates' own rule
(``csp.aggregates.subscription.unused_seats``) at the moment of the query, so a window
closing needs no event: unassigned seats inside an open window, and until when all of
them can go.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from csp.aggregates.subscription import Subscription, Tranche, UnusedSeats, unused_seats
from csp.projections.model import ReadModel, handles
from csp.projections.query import in_list, select_rows
from csp.projections.rows import Rows
from csp.projections.sql import Table, cols
from csp.projections.store import ReadView

SEATS = Table(
    "read_licence_seats",
    cols(
        "id uuid!, tenant_id uuid!, vendor_subscription_id text, status text!, purchased int!, assigned int!, tranches json!"
    ),
    key=("id",),
    indexes=(("tenant_id",),),
)


def _tranches(tranches: tuple[Tranche, ...]) -> list[list[Any]]:
    return [[t.number, t.quantity, t.window_ends_at.isoformat()] for t in tranches]


class LicenceSeats(ReadModel):
    name = "licence_seats"
    tables = (SEATS,)

    def _update(self, e: Any, rows: Rows, **changes: Any) -> None:
        row = rows.get(SEATS, (e.originator_id,))
        if row is None:
            return
        row.update(**changes)
        rows.put(SEATS, row)

    @handles(Subscription.Provisioned)
    def provisioned(self, e: Subscription.Provisioned, rows: Rows) -> None:
        rows.put(
            SEATS,
            {
                "id": e.originator_id,
                "tenant_id": e.terms.tenant_id,
                "vendor_subscription_id": e.terms.vendor_subscription_id,
                "status": e.status,
                "purchased": e.tranche.quantity,
                "assigned": 0,
                "tranches": _tranches((e.tranche,)),
            },
        )

    @handles(Subscription.SeatsAdded)
    def added(self, e: Subscription.SeatsAdded, rows: Rows) -> None:
        row = rows.get(SEATS, (e.originator_id,))
        if row is not None:
            self._update(e, rows, purchased=e.quantity, tranches=[*row["tranches"], *_tranches((e.tranche,))])

    @handles(Subscription.SeatsRemoved, Subscription.Cancelled)
    def removed(self, e: Subscription.SeatsRemoved, rows: Rows) -> None:
        row = rows.get(SEATS, (e.originator_id,))
        if row is None:
            return
        taken = {r.tranche_number: r.quantity for r in e.removals}
        tranches = [[n, q - taken.get(n, 0), end] for n, q, end in row["tranches"]]
        changes: dict[str, Any] = {"tranches": tranches, "purchased": sum(q for _, q, _ in tranches)}
        if isinstance(e, Subscription.Cancelled):
            changes["status"] = "cancelled"
        self._update(e, rows, **changes)

    @handles(Subscription.Renewed, Subscription.TrialConverted)
    def new_term(self, e: Subscription.Renewed, rows: Rows) -> None:
        self._update(e, rows, status="active", purchased=e.tranche.quantity, tranches=_tranches((e.tranche,)))

    @handles(Subscription.VendorChangeRefused, Subscription.CorrectedFromVendor)
    def restored(self, e: Subscription.VendorChangeRefused, rows: Rows) -> None:
        self._update(e, rows, status=e.status, purchased=e.quantity, tranches=_tranches(e.tranches))

    @handles(Subscription.Suspended, Subscription.Reactivated, Subscription.Expired, Subscription.Disabled)
    def status(self, e: Any, rows: Rows) -> None:
        status = {
            Subscription.Suspended: "suspended",
            Subscription.Reactivated: "active",
            Subscription.Expired: "expired",
            Subscription.Disabled: "disabled",
        }[type(e)]
        self._update(e, rows, status=status)

    @handles(Subscription.VendorSubscriptionLinked)
    def linked(self, e: Subscription.VendorSubscriptionLinked, rows: Rows) -> None:
        self._update(e, rows, vendor_subscription_id=e.vendor_subscription_id)

    @handles(Subscription.AssignedLicencesSynced)
    def assigned(self, e: Subscription.AssignedLicencesSynced, rows: Rows) -> None:
        self._update(e, rows, assigned=e.assigned)


def unused_in_window(row: dict[str, Any], at: datetime) -> UnusedSeats:
    if row["status"] not in ("active", "suspended"):
        return UnusedSeats(0, None)
    unassigned = max(0, row["purchased"] - row["assigned"])
    return unused_seats(unassigned, [(q, datetime.fromisoformat(end)) for _, q, end in row["tranches"]], at)


def unused(view: ReadView, subscription_ids: list[UUID], at: datetime) -> dict[UUID, UnusedSeats]:
    """Each subscription's unassigned seats still inside their window at ``at``."""
    if not subscription_ids:
        return {}
    d = view.dialect
    found = select_rows(
        view, SEATS, f'"id" IN {in_list(len(subscription_ids))}', [d.to_db("uuid", i) for i in subscription_ids]
    )
    return {r["id"]: unused_in_window(r, at) for r in found}


def by_vendor_id(view: ReadView, tenant_id: UUID) -> dict[str, UUID]:
    """The tenant's subscriptions by the vendor's subscription id (to name a user's licences)."""
    found = select_rows(view, SEATS, '"tenant_id" = ?', [view.dialect.to_db("uuid", tenant_id)])
    return {r["vendor_subscription_id"]: r["id"] for r in found if r["vendor_subscription_id"]}
