"""Which subscriptions has this organization, and what do they cost? (the Subscriptions screen)

A flat row per subscription (add-ons included), with the manual's columns: status, the
renewal or expiry date, assigned and purchased licences, add-ons, vendor, type, and the
unit, monthly and yearly costs at the customer price and at the reseller's (partner)
price; a trial has no price. Ordered by product group, tenant domain and offer name, as
the portal groups them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from csp.aggregates.catalog import Catalog
from csp.aggregates.pricing import money
from csp.aggregates.subscription import SUBSCRIPTION_STATUSES, Subscription, is_billed
from csp.projections.model import ReadModel, handles
from csp.projections.query import (
    Page,
    check_choice,
    check_paging,
    cursor_of,
    db_params,
    in_list,
    select_rows,
    values_of_cursor,
)
from csp.projections.rows import Rows
from csp.projections.sql import ColumnType, Row, Table, cols, like_pattern
from csp.projections.store import ReadView

SUBSCRIPTIONS = Table(
    "read_subscriptions",
    cols(
        "id uuid!, organization_id uuid!, reseller_id uuid!, tenant_id uuid!, tenant_domain text!, parent_id uuid, "
        "order_id uuid, offer_id uuid!, offer_name text!, product_group_id uuid!, vendor text!, type text!, "
        "status text!, is_trial bool!, term text!, billing_cycle text!, pending_billing_cycle text, "
        "pending_billing_cycle_at time, starts_at time!, ends_at time!, auto_renew bool!, purchased int!, "
        "assigned int!, renewal_quantity int, unit_partner_price money!, unit_customer_price money!, "
        "erp_price money, markup_percent decimal!, addon_ids json!, vendor_subscription_id text, "
        "suspended_at time, ended_at time, created_at time!, updated_at time!, search text!, "
        "transitioned_from uuid, transitioned_to uuid"
    ),
    key=("id",),
    indexes=(
        ("organization_id", "tenant_domain", "offer_name"),
        ("reseller_id", "starts_at"),
        ("parent_id",),
    ),
)
PRODUCT_GROUPS = Table("read_product_groups", cols("id uuid!, name text!, search text!"), key=("id",))

LIVE = ("trial", "active", "suspended")


def _search(offer_name: str, tenant_domain: str) -> str:
    return f"{offer_name} {tenant_domain}".casefold()


class SubscriptionsList(ReadModel):
    name = "subscriptions_list"
    tables = (SUBSCRIPTIONS, PRODUCT_GROUPS)

    @handles(Catalog.Imported, Catalog.Reimported)
    def catalog(self, e: Catalog.Imported, rows: Rows) -> None:
        for category in e.categories:
            for g in category.product_groups:
                rows.put(PRODUCT_GROUPS, {"id": g.id, "name": g.name, "search": g.name.casefold()})

    @handles(Subscription.Provisioned)
    def provisioned(self, e: Subscription.Provisioned, rows: Rows) -> None:
        t = e.terms
        rows.put(
            SUBSCRIPTIONS,
            {
                "id": e.originator_id,
                "organization_id": t.organization_id,
                "reseller_id": t.reseller_id,
                "tenant_id": t.tenant_id,
                "tenant_domain": t.tenant_domain,
                "parent_id": t.parent_id,
                "order_id": t.order_id,
                "offer_id": t.offer_id,
                "offer_name": t.offer_name,
                "product_group_id": t.product_group_id,
                "vendor": t.vendor,
                "type": t.type,
                "status": e.status,
                "is_trial": t.is_trial,
                "term": t.term,
                "billing_cycle": t.billing_cycle,
                "pending_billing_cycle": None,
                "pending_billing_cycle_at": None,
                "starts_at": e.starts_at,
                "ends_at": e.ends_at,
                "auto_renew": not t.is_trial,
                "purchased": e.tranche.quantity,
                "assigned": 0,
                "renewal_quantity": None,
                "unit_partner_price": t.unit_partner_price,
                "unit_customer_price": t.unit_customer_price,
                "erp_price": t.erp_price,
                "markup_percent": t.markup_percent,
                "addon_ids": [],
                "vendor_subscription_id": t.vendor_subscription_id,
                "suspended_at": None,
                "ended_at": None,
                "transitioned_from": t.transitioned_from,
                "transitioned_to": None,
                "created_at": e.at,
                "updated_at": e.at,
                "search": _search(t.offer_name, t.tenant_domain),
            },
        )

    def _update(self, e: Any, rows: Rows, **changes: Any) -> None:
        row = rows.get(SUBSCRIPTIONS, (e.originator_id,))
        if row is None:
            return
        row.update(updated_at=e.at, **changes)
        rows.put(SUBSCRIPTIONS, row)

    @handles(Subscription.SeatsAdded, Subscription.SeatsRemoved)
    def seats(self, e: Subscription.SeatsAdded, rows: Rows) -> None:
        self._update(e, rows, purchased=e.quantity)

    @handles(Subscription.Cancelled)
    def cancelled(self, e: Subscription.Cancelled, rows: Rows) -> None:
        row = rows.get(SUBSCRIPTIONS, (e.originator_id,))
        if row is None:
            return
        purchased = row["purchased"] - sum(r.quantity for r in e.removals)
        self._update(e, rows, status="cancelled", purchased=purchased, ended_at=e.at)

    @handles(Subscription.Suspended)
    def suspended(self, e: Subscription.Suspended, rows: Rows) -> None:
        self._update(e, rows, status="suspended", suspended_at=e.at)

    @handles(Subscription.Reactivated)
    def reactivated(self, e: Subscription.Reactivated, rows: Rows) -> None:
        self._update(e, rows, status="active", suspended_at=None)

    @handles(Subscription.Expired)
    def expired(self, e: Subscription.Expired, rows: Rows) -> None:
        self._update(e, rows, status="expired", ended_at=e.at)

    @handles(Subscription.Disabled)
    def disabled(self, e: Subscription.Disabled, rows: Rows) -> None:
        self._update(e, rows, status="disabled", ended_at=e.at)

    @handles(Subscription.Renewed)
    def renewed(self, e: Subscription.Renewed, rows: Rows) -> None:
        self._update(
            e,
            rows,
            starts_at=e.starts_at,
            ends_at=e.ends_at,
            term=e.term,
            billing_cycle=e.billing_cycle,
            purchased=e.tranche.quantity,
            unit_partner_price=e.unit_partner_price,
            erp_price=e.erp_price,
            unit_customer_price=e.unit_customer_price,
            pending_billing_cycle=None,
            pending_billing_cycle_at=None,
            renewal_quantity=None,
            **({"markup_percent": e.markup_percent} if e.markup_percent is not None else {}),
        )

    @handles(Subscription.TrialConverted)
    def trial_converted(self, e: Subscription.TrialConverted, rows: Rows) -> None:
        t = e.terms
        row = rows.get(SUBSCRIPTIONS, (e.originator_id,))
        if row is None:
            return
        self._update(
            e,
            rows,
            offer_id=t.offer_id,
            offer_name=t.offer_name,
            product_group_id=t.product_group_id,
            type=t.type,
            term=t.term,
            billing_cycle=t.billing_cycle,
            is_trial=False,
            unit_partner_price=t.unit_partner_price,
            erp_price=t.erp_price,
            unit_customer_price=t.unit_customer_price,
            markup_percent=t.markup_percent,
            status="active",
            starts_at=e.starts_at,
            ends_at=e.ends_at,
            purchased=e.tranche.quantity,
            auto_renew=True,
            search=_search(t.offer_name, row["tenant_domain"]),
        )

    @handles(Subscription.BillingCycleChangeScheduled)
    def cycle_scheduled(self, e: Subscription.BillingCycleChangeScheduled, rows: Rows) -> None:
        self._update(e, rows, pending_billing_cycle=e.billing_cycle, pending_billing_cycle_at=e.effective_at)

    @handles(Subscription.BillingCycleChanged)
    def cycle_changed(self, e: Subscription.BillingCycleChanged, rows: Rows) -> None:
        self._update(e, rows, billing_cycle=e.billing_cycle, pending_billing_cycle=None, pending_billing_cycle_at=None)

    @handles(Subscription.RenewalQuantityScheduled)
    def renewal_quantity(self, e: Subscription.RenewalQuantityScheduled, rows: Rows) -> None:
        self._update(e, rows, renewal_quantity=e.quantity)

    @handles(Subscription.NextTermCleared)
    def next_term_cleared(self, e: Subscription.NextTermCleared, rows: Rows) -> None:
        changes: dict[str, Any] = {"renewal_quantity": None}
        if e.billing_cycle is not None:
            changes.update(pending_billing_cycle=None, pending_billing_cycle_at=None)
        self._update(e, rows, **changes)

    # --- transitions (upgrades) and the next term's offer -------------------------

    @handles(Subscription.TransitionCompleted)
    def transition_completed(self, e: Subscription.TransitionCompleted, rows: Rows) -> None:
        changes: dict[str, Any] = {"purchased": e.quantity, "transitioned_to": e.new_subscription_id}
        if e.kind == "full":
            changes.update(status="transitioned", ended_at=e.at, renewal_quantity=None, pending_billing_cycle=None)
        self._update(e, rows, **changes)

    @handles(Subscription.MovedToBase)
    def moved_to_base(self, e: Subscription.MovedToBase, rows: Rows) -> None:
        self._update(e, rows, parent_id=e.parent_id)

    @handles(Subscription.RenewalOfferApplied)
    def renewal_offer_applied(self, e: Subscription.RenewalOfferApplied, rows: Rows) -> None:
        row = rows.get(SUBSCRIPTIONS, (e.originator_id,))
        if row is None:
            return
        self._update(
            e,
            rows,
            offer_id=e.offer_id,
            offer_name=e.offer_name,
            product_group_id=e.product_group_id,
            search=_search(e.offer_name, row["tenant_domain"]),
        )

    @handles(Subscription.CustomerPriceChanged)
    def price(self, e: Subscription.CustomerPriceChanged, rows: Rows) -> None:
        self._update(e, rows, unit_customer_price=e.unit_customer_price, markup_percent=e.markup_percent)

    @handles(Subscription.AutoRenewChanged)
    def auto_renew(self, e: Subscription.AutoRenewChanged, rows: Rows) -> None:
        self._update(e, rows, auto_renew=e.auto_renew)

    @handles(Subscription.AssignedLicencesSynced)
    def assigned(self, e: Subscription.AssignedLicencesSynced, rows: Rows) -> None:
        self._update(e, rows, assigned=e.assigned)

    @handles(Subscription.AddonAttached)
    def addon_attached(self, e: Subscription.AddonAttached, rows: Rows) -> None:
        row = rows.get(SUBSCRIPTIONS, (e.originator_id,))
        if row is not None and str(e.addon_id) not in row["addon_ids"]:
            self._update(e, rows, addon_ids=[*row["addon_ids"], str(e.addon_id)])

    @handles(Subscription.AddonDetached)
    def addon_detached(self, e: Subscription.AddonDetached, rows: Rows) -> None:
        row = rows.get(SUBSCRIPTIONS, (e.originator_id,))
        if row is not None:
            self._update(e, rows, addon_ids=[a for a in row["addon_ids"] if a != str(e.addon_id)])

    @handles(Subscription.AddonRefused)
    def addon_refused(self, e: Subscription.AddonRefused, rows: Rows) -> None:
        row = rows.get(SUBSCRIPTIONS, (e.originator_id,))
        if row is not None and e.detached:
            self._update(e, rows, addon_ids=[a for a in row["addon_ids"] if a != str(e.addon_id)])

    @handles(Subscription.VendorSubscriptionLinked)
    def vendor_linked(self, e: Subscription.VendorSubscriptionLinked, rows: Rows) -> None:
        self._update(e, rows, vendor_subscription_id=e.vendor_subscription_id)

    @handles(Subscription.VendorChangeRefused)
    def refused(self, e: Subscription.VendorChangeRefused, rows: Rows) -> None:
        changes: dict[str, Any] = {
            "status": e.status,
            "purchased": e.quantity,
            "pending_billing_cycle": e.pending_billing_cycle,
            "pending_billing_cycle_at": e.pending_billing_cycle_at,
            "auto_renew": e.auto_renew,
            "renewal_quantity": e.renewal_quantity,
        }
        if e.status != "cancelled":
            changes["ended_at"] = None
        if e.status != "suspended":
            changes["suspended_at"] = None
        self._update(e, rows, **changes)

    @handles(Subscription.CorrectedFromVendor)
    def corrected(self, e: Subscription.CorrectedFromVendor, rows: Rows) -> None:
        changes: dict[str, Any] = {"status": e.status, "purchased": e.quantity, "term": e.term}
        if e.status in ("cancelled", "expired", "disabled"):
            changes["ended_at"] = e.at
        if e.status == "suspended":
            changes["suspended_at"] = e.at
        self._update(e, rows, **changes)


# --- queries ------------------------------------------------------------------------


def _costs(row: Row) -> dict[str, Decimal | None]:
    """The money columns of the manual's screen (a trial shows "Trial": no price)."""
    if row["is_trial"]:
        return dict.fromkeys(
            (
                "unit_cost",
                "monthly_cost",
                "yearly_cost",
                "unit_reseller_price",
                "monthly_reseller_price",
                "yearly_reseller_price",
            )
        )
    # an ended subscription keeps its unit prices but costs nothing any more
    n = row["purchased"] if is_billed(row["status"]) else 0
    monthly = row["billing_cycle"] == "monthly"
    customer, partner = row["unit_customer_price"], row["unit_partner_price"]
    zero = Decimal("0.00")
    return {
        "unit_cost": money(customer),
        "monthly_cost": money(customer * n) if monthly else zero,
        "yearly_cost": zero if monthly else money(customer * n * 12),
        "unit_reseller_price": money(partner),
        "monthly_reseller_price": money(partner * n) if monthly else zero,
        "yearly_reseller_price": zero if monthly else money(partner * n * 12),
    }


def item(row: Row, addons: list[dict[str, Any]]) -> dict[str, Any]:
    renews = row["status"] in ("active", "suspended") and row["auto_renew"]
    return {
        "id": row["id"],
        "offer_id": row["offer_id"],
        "offer_name": row["offer_name"],
        "product_group": row["product_group_id"],
        "product_group_name": row.get("product_group") or "",
        "tenant_domain": row["tenant_domain"],
        "status": row["status"],
        "starts_at": row["starts_at"],
        "ends_at": row["ends_at"],
        "renews_at": row["ends_at"] if renews else None,
        "auto_renew": row["auto_renew"],
        "billing_cycle": row["billing_cycle"],
        "pending_billing_cycle": row["pending_billing_cycle"],
        "term": row["term"],
        "assigned": row["assigned"],
        "purchased": row["purchased"],
        "renewal_quantity": row["renewal_quantity"],
        "addons": addons,
        "vendor": row["vendor"],
        "type": row["type"],
        **_costs(row),
        "organization_id": row["organization_id"],
        "tenant_id": row["tenant_id"],
        "parent_id": row["parent_id"],
        "order_id": row["order_id"],
        "is_trial": row["is_trial"],
        "transitioned_from": row["transitioned_from"],
        "transitioned_to": row["transitioned_to"],
    }


_COLUMNS = ", ".join(f's."{c}"' for c in SUBSCRIPTIONS.column_names)


def _from(view: ReadView) -> str:
    d = view.dialect
    return f'FROM {d.qualify(SUBSCRIPTIONS.name)} s LEFT JOIN {d.qualify(PRODUCT_GROUPS.name)} g ON g."id" = s."product_group_id"'


def _decode(view: ReadView, found: list[Any]) -> list[Row]:
    types = SUBSCRIPTIONS.types()
    out = []
    for r in found:
        row = view.dialect.decode_row(types, r)
        row["product_group"] = r["product_group"]
        out.append(row)
    return out


def _addons(view: ReadView, rows: list[Row]) -> dict[str, list[dict[str, Any]]]:
    ids = sorted({a for r in rows for a in r["addon_ids"]})
    if not ids:
        return {}
    d = view.dialect
    with view.tx(write=False) as tx:
        found = tx.query(
            d.q(
                f'SELECT "id", "offer_id", "offer_name", "purchased", "status" FROM {d.qualify(SUBSCRIPTIONS.name)} '
                f'WHERE "id" IN {in_list(len(ids))}'
            ),
            [d.to_db("uuid", UUID(a)) for a in ids],
        )
    by_id = {}
    for r in found:
        a = d.decode_row(SUBSCRIPTIONS.types(), r)
        by_id[str(a["id"])] = a
    return {
        str(r["id"]): [
            {
                "id": by_id[a]["id"],
                "offer_id": by_id[a]["offer_id"],
                "offer_name": by_id[a]["offer_name"],
                "quantity": by_id[a]["purchased"],
                "status": by_id[a]["status"],
            }
            for a in r["addon_ids"]
            if a in by_id
        ]
        for r in rows
    }


# The screen's order: by product group, domain, offer, start, id (an empty group name first,
# on both stores: SQLite sorts NULL first, PostgreSQL last).
_SORT_KEY = ("COALESCE(g.\"name\", '')", 's."tenant_domain"', 's."offer_name"', 's."starts_at"', 's."id"')
_SORT_KINDS: tuple[ColumnType, ...] = ("text", "text", "text", "time", "uuid")


def subscriptions(
    view: ReadView,
    organization_id: UUID,
    q: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    after: str | None = None,
) -> Page:
    """A page of the organization's subscriptions in the screen's order: ``offset`` rows in,
    or (keyset paging) after the row whose cursor is ``after``; ``total`` counts them all."""
    check_paging(limit, offset)
    check_choice("status", status, SUBSCRIPTION_STATUSES)
    d = view.dialect
    where = 's."organization_id" = ?'
    params = db_params(view, SUBSCRIPTIONS, organization_id=organization_id)
    if status is not None:
        where += ' AND s."status" = ?'
        params.append(status)
    if q:
        where += " AND (s.\"search\" LIKE ? ESCAPE '\\' OR g.\"search\" LIKE ? ESCAPE '\\')"
        params += [like_pattern(q), like_pattern(q)]
    page_where, page_params = where, list(params)
    if after is not None:
        page_where += f" AND ({', '.join(_SORT_KEY)}) > ({', '.join('?' for _ in _SORT_KEY)})"
        page_params += values_of_cursor(view, after, _SORT_KINDS)
    with view.tx(write=False) as tx:
        total = tx.query(d.q(f"SELECT COUNT(*) AS n {_from(view)} WHERE {where}"), params)
        found = tx.query(
            d.q(
                f'SELECT {_COLUMNS}, g."name" AS product_group {_from(view)} WHERE {page_where} '
                f"ORDER BY {', '.join(_SORT_KEY)} LIMIT ? OFFSET ?"
            ),
            [*page_params, limit + 1, offset],
        )
    more = len(found) > limit
    rows = _decode(view, found[:limit])
    addons = _addons(view, rows)
    last = rows[-1] if rows and more else None
    cursor = None
    if last is not None:
        cursor = cursor_of(
            [last["product_group"] or "", last["tenant_domain"], last["offer_name"], last["starts_at"], last["id"]]
        )
    return Page([item(r, addons.get(str(r["id"]), [])) for r in rows], int(total[0]["n"]), cursor)


def subscription(view: ReadView, subscription_id: UUID) -> dict[str, Any] | None:
    d = view.dialect
    with view.tx(write=False) as tx:
        found = tx.query(
            d.q(f'SELECT {_COLUMNS}, g."name" AS product_group {_from(view)} WHERE s."id" = ?'),
            [d.to_db("uuid", subscription_id)],
        )
    rows = _decode(view, found)
    if not rows:
        return None
    return item(rows[0], _addons(view, rows).get(str(rows[0]["id"]), []))


def reseller_subscriptions(view: ReadView, reseller_id: UUID) -> list[Row]:
    """Every subscription of a reseller's organizations (for reports), with its group name."""
    d = view.dialect
    with view.tx(write=False) as tx:
        found = tx.query(
            d.q(
                f'SELECT {_COLUMNS}, g."name" AS product_group {_from(view)} WHERE s."reseller_id" = ? '
                'ORDER BY s."organization_id", g."name", s."tenant_domain", s."offer_name", s."id"'
            ),
            [d.to_db("uuid", reseller_id)],
        )
    return _decode(view, found)


def live_subscription_ids(view: ReadView, organization_id: UUID) -> list[UUID]:
    """The organization's subscriptions that are billed now (active or suspended; add-ons
    included): what a credit check reads, on the command side, to sum their monthly cost."""
    found = select_rows(
        view,
        SUBSCRIPTIONS,
        '"organization_id" = ? AND "status" IN (?, ?)',
        [*db_params(view, SUBSCRIPTIONS, organization_id=organization_id), "active", "suspended"],
    )
    return [r["id"] for r in found]
