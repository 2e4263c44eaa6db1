"""What has each subscription charged the reseller, and what will it charge? (the ledger)

The stored form of ``csp.aggregates.billing``: the charges each subscription's events
emitted (facts that never change), and each subscription's fold state. Period charges
depend on time as well: those whose period starts after the subscription's last event
are derived from its state when queried (the ones already passed, and those still ahead
if nothing changes, flagged ``scheduled``). Charges dated before an instant are
therefore the same here as in the billing run's own fold.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from csp.aggregates.billing import BILLING_EVENTS, Charge, SubscriptionLedger
from csp.aggregates.subscription import Subscription
from csp.projections.model import ReadModel, handles
from csp.projections.query import Page, db_params, in_list, select_rows
from csp.projections.rows import Rows
from csp.projections.sql import Row, Table, as_utc, chunks, cols
from csp.projections.store import ReadView

BILLING_STATE = Table(
    "read_billing_state",
    cols("subscription_id uuid!, reseller_id uuid!, state json!"),
    key=("subscription_id",),
    indexes=(("reseller_id",),),
)
CHARGES = Table(
    "read_charges",
    cols(
        "id uuid!, subscription_id uuid!, reseller_id uuid!, organization_id uuid!, kind text!, description text!, "
        "quantity decimal!, unit_price money, days int!, amount money!, charged_at time!, period_start time!, "
        "period_end time!, meter text"
    ),
    key=("id",),
    indexes=(("reseller_id", "charged_at"), ("subscription_id", "charged_at")),
)


def charge_row(c: Charge) -> Row:
    return {
        "id": c.id,
        "subscription_id": c.subscription_id,
        "reseller_id": c.reseller_id,
        "organization_id": c.organization_id,
        "kind": c.kind,
        "description": c.description,
        "quantity": c.quantity,
        "unit_price": c.unit_price,
        "days": c.days,
        "amount": c.amount,
        "charged_at": c.charged_at,
        "period_start": c.period_start,
        "period_end": c.period_end,
        "meter": c.meter,
    }


class ChargesLedger(ReadModel):
    name = "charges_ledger"
    # 2: add-ons on their base's billing dates, every part period pro rata by day; 3: customer
    # prices in the fold; 4: usage rows rated 0.00 are charges too (of nothing)
    version = 4
    tables = (BILLING_STATE, CHARGES)
    cost = 8  # the billing fold of every subscription event: half a rebuild's work

    @handles(*BILLING_EVENTS)
    def billing_event(self, e: Subscription.Event, rows: Rows) -> None:
        sid = e.originator_id
        if isinstance(e, Subscription.Provisioned):
            ledger = SubscriptionLedger(sid)  # a subscription's first event: nothing to read
        else:
            found = rows.get(BILLING_STATE, (sid,))
            if found is None:
                return
            state = found["state"]
            # The fold stays live in the rows of a batch (and its cache): its state is
            # encoded once when the batch is written, not decoded and encoded per event.
            ledger = state if isinstance(state, SubscriptionLedger) else SubscriptionLedger.from_state(state)
        for c in ledger.apply(e):
            rows.put(CHARGES, charge_row(c))
        rows.put(BILLING_STATE, {"subscription_id": sid, "reseller_id": ledger.reseller_id, "state": ledger})


def charges(
    view: ReadView,
    now: datetime,
    reseller_id: UUID,
    date_from: date | datetime | None = None,
    date_to: date | datetime | None = None,
    subscription_id: UUID | None = None,
    include_scheduled: bool = True,
) -> Page:
    """The reseller's charges dated in ``[date_from, date_to]`` (dates are whole days, UTC),
    oldest first, each with the invoice that billed it (``invoice_id``, None if not yet)
    and whether it is still ahead of ``now`` (``scheduled``: it happens if nothing changes)."""
    from csp.projections.invoice_history import INVOICE_CHARGES

    d = view.dialect
    start, end = as_utc(date_from), as_utc(date_to, end=True)
    if not include_scheduled:
        end = min(end, now) if end is not None else now
    where, params = '"reseller_id" = ?', db_params(view, CHARGES, reseller_id=reseller_id)
    if subscription_id is not None:
        where += ' AND "subscription_id" = ?'
        params += db_params(view, CHARGES, subscription_id=subscription_id)
    emitted = select_rows(view, CHARGES, where, params)
    derived: list[Row] = []
    for state in select_rows(view, BILLING_STATE, where, params):
        ledger = SubscriptionLedger.from_state(state["state"])
        horizon = end if end is not None else ledger.term_ends_at
        if horizon is not None:
            derived += [charge_row(c) for c in ledger.clone().advance(horizon)]
    items = [
        dict(r)
        for r in (*emitted, *derived)
        if (start is None or r["charged_at"] >= start) and (end is None or r["charged_at"] < end)
    ]
    invoiced: dict[UUID, UUID] = {}
    ids = [i["id"] for i in items]
    for chunk in chunks(ids, 500):
        for r in select_rows(
            view, INVOICE_CHARGES, f'"charge_id" IN {in_list(len(chunk))}', [d.to_db("uuid", c) for c in chunk]
        ):
            invoiced[r["charge_id"]] = r["invoice_id"]
    for i in items:
        i["invoice_id"] = invoiced.get(i["id"])
        i["scheduled"] = i["charged_at"] > now
    items.sort(key=lambda i: (i["charged_at"], str(i["subscription_id"]), i["kind"], str(i["id"])))
    return Page(items, len(items))
