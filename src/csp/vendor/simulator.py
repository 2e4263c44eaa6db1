"""The vendor simulator: the stand-in for Microsoft Partner Center (product code).

A FastAPI app serving the Partner Center-shaped API the gateway client calls, with
durable state in SQLite (``vendor-sim.db`` under the data dir by default). It behaves
like the vendor: domains are unique across all customers, creating a tenant takes
``CSP_VENDOR_SIM_DOMAIN_CHECK_SECONDS``, orders stay pending for
``CSP_VENDOR_SIM_ORDER_SECONDS``, a repeated idempotency key returns the first answer,
and it refuses what the vendor refuses (quantities outside the offer's bounds,
reductions of seats outside their 7-day window, changes to a suspended subscription…)
with the vendor's error shape ``{"code", "errorName", "description", "data"}``.

Faults are injected by settings on ``/v1`` calls: latency, a rate of 5xx answers and of
timeouts (neither processed), and a rate of answers lost after the work was done.
Its dates and rated usage (``csp.vendor.sim_azure``) follow the platform's clock (in test mode the stored-offset
test clock), its own delays real time.

A customer's tenant has users (``/v1/customers/{id}/users``; the administrator
``admin@<domain>`` from the start) and each user holds licences of the customer's
subscriptions (``/users/{id}/licenses``, Graph's assignLicense shape). A subscription's
``assignedLicenses`` is the number of its users: an assignment beyond the purchased
seats is refused (``NoAvailableLicenses``), and so is a reduction below the assigned
licences (``AssignedLicensesExceedQuantity``); a cancelled subscription's users lose
its licences. Nothing assigns licences on its own.

``/sim/...`` is the simulator's own control API (seed an existing tenant, give a number
of licences to generated users, read counters); it never fails on purpose.
"""

from __future__ import annotations

import html
import json
import random
import sqlite3
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from csp.clock import Clock
from csp.settings import Settings
from csp.vendor.sim_azure import DEFAULT_NAME, AzureState, mount_azure
from csp.vendor.sim_common import Refusal, _in_thread
from csp.vendor.sim_gdap import GdapState, mount_gdap

WINDOW_SECONDS = 168 * 3600
TERM_ISO = {"monthly": "P1M", "annual": "P1Y"}
TERM_SECONDS = {"P1M": 30 * 86400, "P1Y": 365 * 86400}
TRIAL_SECONDS = 30 * 86400

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY, domain TEXT NOT NULL UNIQUE, company TEXT NOT NULL, created_at REAL NOT NULL,
    ready_at REAL NOT NULL, delegated INTEGER NOT NULL, agreement INTEGER NOT NULL, ours INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, idempotency_key TEXT, created_at REAL NOT NULL,
    complete_at REAL NOT NULL, line_items TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subscriptions (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, order_id TEXT NOT NULL, line_number INTEGER NOT NULL,
    offer_id TEXT NOT NULL, quantity INTEGER NOT NULL, status TEXT NOT NULL, billing_cycle TEXT NOT NULL,
    term TEXT NOT NULL, auto_renew INTEGER NOT NULL, parent_id TEXT, is_trial INTEGER NOT NULL,
    created_at REAL NOT NULL, ends_at REAL NOT NULL, tranches TEXT NOT NULL, assigned INTEGER,
    scheduled TEXT NOT NULL DEFAULT '{}', UNIQUE (order_id, line_number));
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, upn TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
    created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS user_licenses (
    user_id TEXT NOT NULL, subscription_id TEXT NOT NULL, assigned_at REAL NOT NULL,
    PRIMARY KEY (user_id, subscription_id));
CREATE INDEX IF NOT EXISTS user_licenses_subscription ON user_licenses (subscription_id);
"""


@dataclass(frozen=True)
class SimOffer:
    id: str
    name: str
    min_quantity: int
    max_quantity: int
    terms: tuple[str, ...]  # P1M / P1Y
    billing_cycles: tuple[str, ...]
    is_trial: bool
    converts_to: str | None
    is_addon: bool
    addons: tuple[str, ...]
    usage_based: bool
    upgrades: tuple[str, ...] = ()  # the offers a subscription may transition to mid-term


def load_offers(path: Path | None = None) -> dict[str, SimOffer]:
    """The vendor's offer list: the same catalog file the platform imports."""
    text = (
        path.read_text(encoding="utf-8")
        if path is not None
        else resources.files("csp.data").joinpath("catalog.toml").read_text(encoding="utf-8")
    )
    offers = {}
    for o in tomllib.loads(text).get("offers", []):
        offers[o["vendor_offer_id"]] = SimOffer(
            id=o["vendor_offer_id"],
            name=o["name"],
            min_quantity=int(o.get("min_quantity", 1)),
            max_quantity=int(o.get("max_quantity", 10000)),
            terms=tuple(TERM_ISO[t] for t in o["terms"]),
            billing_cycles=tuple(o["billing_cycles"]),
            is_trial=bool(o.get("trial", False)),
            converts_to=o.get("converts_to"),
            is_addon=bool(o.get("addon", False)),
            addons=tuple(o.get("addons", [])),
            usage_based=o.get("type", "licence") == "usage",
            upgrades=tuple(o.get("upgrades", [])),
        )
    return offers


@dataclass
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    lost_answer_rate: float = 0.0
    hang_seconds: float = 15.0


class SimState:
    """The simulator's durable state: one SQLite file, writes serialised (BEGIN IMMEDIATE)."""

    def __init__(
        self,
        path: Path | str,
        offers: dict[str, SimOffer],
        domain_seconds: float = 1.0,
        order_seconds: float = 0.5,
        clock: Callable[[], float] = time.time,
        delay_clock: Callable[[], float] | None = None,
        legacy_delegated_access: bool = False,
    ) -> None:
        """``clock`` gives the vendor's dates (creation and term dates, seat windows,
        rated usage): the platform's clock. ``delay_clock``
        times the vendor's own work (a tenant being created, an order pending): real
        time, so a test clock that jumps or stands still neither skips nor stalls it
        (default: ``clock``)."""
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.offers = offers
        self.domain_seconds = domain_seconds
        self.order_seconds = order_seconds
        self.clock = clock
        self.delay_clock = delay_clock or clock
        # the old yes/no delegated admin flag (DAP) is reported only in legacy mode; else
        # admin rights are GDAP relationships (csp.vendor.sim_gdap, mounted by create_app)
        self.legacy_delegated_access = legacy_delegated_access
        self.gdap: GdapState | None = None
        self.azure: AzureState | None = None  # Azure plans' entitlements and rated usage (mount_azure)
        self._lock = threading.Lock()
        with self._connect() as c:
            c.execute("PRAGMA journal_mode=WAL")
            c.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        c = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        c.row_factory = sqlite3.Row
        return c

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (serialised within the process and across processes)."""
        with self._lock:
            c = self._connect()
            try:
                c.execute("BEGIN IMMEDIATE")
                yield c
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            finally:
                c.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        c = self._connect()
        try:
            yield c
        finally:
            c.close()

    def count(self, c: sqlite3.Connection, name: str, n: int = 1) -> None:
        c.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + ?",
            (name, n, n),
        )

    def counters(self) -> dict[str, int]:
        with self.read() as c:
            return {r["name"]: r["value"] for r in c.execute("SELECT name, value FROM counters")}

    # --- customers ----------------------------------------------------------

    def customer_json(self, row: sqlite3.Row) -> dict[str, Any]:
        now = self.delay_clock()
        company = json.loads(row["company"])
        return {
            "id": row["id"],
            "companyProfile": {"domain": row["domain"], "companyName": company.get("companyName", "")},
            "billingProfile": company.get("billingProfile", {}),
            "status": "active" if now >= row["ready_at"] else "pending",
            "userCredentials": {"userName": f"admin@{row['domain']}"},
            "allowDelegatedAccess": bool(row["delegated"]) and self.legacy_delegated_access,
            "relationshipToPartner": "reseller" if row["delegated"] else "none",
            "agreementAccepted": bool(row["agreement"]),
        }

    def customer_row(self, c: sqlite3.Connection, customer_id: str) -> sqlite3.Row:
        row = c.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
        if row is None:
            raise Refusal(404, "CustomerNotFound", f"no customer {customer_id}")
        return row

    def domain_taken(self, domain: str) -> bool:
        with self.read() as c:
            return c.execute("SELECT 1 FROM customers WHERE domain = ?", (domain.lower(),)).fetchone() is not None

    def create_customer(
        self,
        c: sqlite3.Connection,
        domain: str,
        company: dict[str, Any],
        *,
        ours: bool = True,
        delegated: bool = True,
        agreement: bool = False,
        ready: bool = False,
    ) -> dict[str, Any]:
        domain = domain.strip().lower()
        if not domain or "." not in domain:
            raise Refusal(400, "InvalidDomain", f"{domain!r} is not a domain name")
        if c.execute("SELECT 1 FROM customers WHERE domain = ?", (domain,)).fetchone():
            raise Refusal(409, "DomainAlreadyExists", f"the domain {domain} is already in use", domain=domain)
        now = self.clock()
        ready_from = self.delay_clock()
        cid = str(uuid.uuid4())
        c.execute(
            "INSERT INTO customers (id, domain, company, created_at, ready_at, delegated, agreement, ours) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cid,
                domain,
                json.dumps(company),
                now,
                ready_from if ready else ready_from + self.domain_seconds,
                int(delegated),
                int(agreement),
                int(ours),
            ),
        )
        # a new tenant starts with its global administrator
        self.add_user(c, cid, f"admin@{domain}", "Administrator")
        return self.customer_json(self.customer_row(c, cid))

    # --- a tenant's users and their licences ------------------------------------

    def user_json(self, c: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        held = c.execute(
            "SELECT l.subscription_id, s.offer_id FROM user_licenses l JOIN subscriptions s ON s.id = l.subscription_id "
            "WHERE l.user_id = ? ORDER BY l.assigned_at, l.subscription_id",
            (row["id"],),
        ).fetchall()
        return {
            "id": row["id"],
            "userPrincipalName": row["upn"],
            "displayName": row["display_name"],
            "assignedLicenses": [{"skuId": h["offer_id"], "subscriptionId": h["subscription_id"]} for h in held],
        }

    def user_row(self, c: sqlite3.Connection, customer_id: str, user_id: str) -> sqlite3.Row:
        row = c.execute("SELECT * FROM users WHERE id = ? AND customer_id = ?", (user_id, customer_id)).fetchone()
        if row is None:
            raise Refusal(404, "UserNotFound", f"no user {user_id} in this tenant")
        return row

    def list_users(self, c: sqlite3.Connection, customer_id: str) -> list[dict[str, Any]]:
        self.customer_row(c, customer_id)
        rows = c.execute("SELECT * FROM users WHERE customer_id = ? ORDER BY created_at, upn", (customer_id,))
        return [self.user_json(c, r) for r in rows.fetchall()]

    def add_user(self, c: sqlite3.Connection, customer_id: str, upn: str, display_name: str) -> dict[str, Any]:
        """A user of the tenant: its name must be in the tenant's domain, and unique."""
        customer = self.customer_row(c, customer_id)
        upn = upn.strip().lower()
        local, _, domain = upn.partition("@")
        if not local or domain != customer["domain"] or any(ch.isspace() for ch in upn):
            raise Refusal(
                400,
                "InvalidUserPrincipalName",
                f"the user principal name must be name@{customer['domain']}",
                userPrincipalName=upn,
            )
        if not display_name.strip():
            raise Refusal(400, "InvalidDisplayName", "a user has a display name")
        if c.execute("SELECT 1 FROM users WHERE upn = ?", (upn,)).fetchone():
            raise Refusal(409, "UserAlreadyExists", f"a user {upn} already exists", userPrincipalName=upn)
        uid = str(uuid.uuid4())
        c.execute(
            "INSERT INTO users (id, customer_id, upn, display_name, created_at) VALUES (?, ?, ?, ?, ?)",
            (uid, customer_id, upn, display_name.strip(), self.clock()),
        )
        return self.user_json(c, self.user_row(c, customer_id, uid))

    def update_licenses(
        self, c: sqlite3.Connection, customer_id: str, user_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Graph's assignLicense: ``addLicenses`` / ``removeLicenses``, each naming the
        subscription (``subscriptionId``) or only the product (``skuId``: the first of the
        customer's active subscriptions of it with a free seat)."""
        user = self.user_row(c, customer_id, user_id)
        add, remove = body.get("addLicenses", []), body.get("removeLicenses", [])
        if not isinstance(add, list) or not isinstance(remove, list) or not (add or remove):
            raise Refusal(400, "InvalidLicenseUpdate", "addLicenses and removeLicenses are lists, not both empty")
        for item in remove:
            sub = self._licensed_subscription(c, customer_id, item, for_removal=True)
            done = c.execute(
                "DELETE FROM user_licenses WHERE user_id = ? AND subscription_id = ?", (user_id, sub["id"])
            ).rowcount
            if not done:
                raise Refusal(
                    409,
                    "LicenseNotAssigned",
                    f"{user['upn']} has no licence of this subscription",
                    subscriptionId=sub["id"],
                )
        for item in add:
            sub = self._licensed_subscription(c, customer_id, item, for_removal=False)
            if c.execute(
                "SELECT 1 FROM user_licenses WHERE user_id = ? AND subscription_id = ?", (user_id, sub["id"])
            ).fetchone():
                continue  # already licensed: nothing to do, as Graph
            status = self.effective_status(c, sub)
            if status != "active":
                raise Refusal(409, "SubscriptionNotActive", f"the subscription is {status}", subscriptionId=sub["id"])
            if self.assigned(c, sub) >= int(sub["quantity"]):
                raise Refusal(
                    409,
                    "NoAvailableLicenses",
                    "License assignment failed because there are no available licenses.",
                    subscriptionId=sub["id"],
                    quantity=int(sub["quantity"]),
                )
            c.execute(
                "INSERT INTO user_licenses (user_id, subscription_id, assigned_at) VALUES (?, ?, ?)",
                (user_id, sub["id"], self.clock()),
            )
        return self.user_json(c, user)

    def _licensed_subscription(
        self, c: sqlite3.Connection, customer_id: str, item: Any, *, for_removal: bool
    ) -> sqlite3.Row:
        if not isinstance(item, dict):
            raise Refusal(400, "InvalidLicenseUpdate", "each licence is an object with subscriptionId or skuId")
        if item.get("subscriptionId"):
            return self.subscription_row(c, customer_id, str(item["subscriptionId"]))
        sku = str(item.get("skuId") or "")
        for row in c.execute(
            "SELECT * FROM subscriptions WHERE customer_id = ? AND offer_id = ? ORDER BY created_at", (customer_id, sku)
        ).fetchall():
            if for_removal or (self.effective_status(c, row) == "active" and self.assigned(c, row) < row["quantity"]):
                return row
        raise Refusal(409, "NoAvailableLicenses", f"no subscription of {sku or '(no skuId)'} has a free licence")

    def set_assigned(self, c: sqlite3.Connection, sub_id: str, count: int) -> None:
        """The control API's shortcut: generated users (``user<n>@<domain>``) hold exactly
        ``count`` licences of the subscription (at most its seats), as if assigned there."""
        row = c.execute("SELECT * FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
        if row is None:
            raise Refusal(404, "SubscriptionNotFound", f"no subscription {sub_id}")
        customer = self.customer_row(c, row["customer_id"])
        count = max(0, min(count, int(row["quantity"])))
        held = [
            r["user_id"]
            for r in c.execute(
                "SELECT user_id FROM user_licenses WHERE subscription_id = ? ORDER BY assigned_at DESC", (sub_id,)
            )
        ]
        for uid in held[: max(0, len(held) - count)]:
            c.execute("DELETE FROM user_licenses WHERE user_id = ? AND subscription_id = ?", (uid, sub_id))
        n = 0
        while self.assigned(c, row) < count:
            n += 1
            upn = f"user{n}@{customer['domain']}"
            user = c.execute("SELECT id FROM users WHERE upn = ?", (upn,)).fetchone()
            uid = user["id"] if user else self.add_user(c, row["customer_id"], upn, f"User {n}")["id"]
            c.execute(
                "INSERT OR IGNORE INTO user_licenses (user_id, subscription_id, assigned_at) VALUES (?, ?, ?)",
                (uid, sub_id, self.clock()),
            )

    # --- orders ---------------------------------------------------------------

    def order_json(self, c: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        completed = self.delay_clock() >= row["complete_at"]
        items = json.loads(row["line_items"])
        if not completed:
            items = [{k: v for k, v in i.items() if k != "subscriptionId"} for i in items]
        return {
            "id": row["id"],
            "customerId": row["customer_id"],
            "status": "completed" if completed else "pending",
            "creationDate": _iso(row["created_at"]),
            "idempotencyKey": row["idempotency_key"],
            "lineItems": items,
        }

    def place_order(
        self, c: sqlite3.Connection, customer_id: str, body: dict[str, Any], key: str | None
    ) -> dict[str, Any]:
        customer = self.customer_row(c, customer_id)
        now = self.clock()
        if self.delay_clock() < customer["ready_at"]:
            raise Refusal(409, "CustomerNotReady", "the customer's tenant is still being created")
        if not customer["delegated"] and not (self.gdap is not None and self.gdap.has_active(c, customer_id)):
            raise Refusal(403, "NoDelegatedAccess", "the customer has not granted this partner delegated access")
        if not customer["agreement"]:
            raise Refusal(400, "AgreementNotAccepted", "the customer has not accepted the Microsoft Customer Agreement")
        items = body.get("lineItems")
        if not isinstance(items, list) or not items:
            raise Refusal(400, "InvalidOrder", "an order has at least one line item")
        order_id = str(uuid.uuid4())
        complete_at = self.delay_clock() + self.order_seconds
        out = []
        for li in items:
            offer = self.offers.get(str(li.get("offerId")))
            if offer is None:
                raise Refusal(400, "OfferNotFound", f"no offer {li.get('offerId')}")
            qty = li.get("quantity")
            term = li.get("termDuration")
            cycle = li.get("billingCycle")
            if not isinstance(qty, int) or not offer.min_quantity <= qty <= offer.max_quantity:
                raise Refusal(
                    400,
                    "InvalidQuantity",
                    f"{offer.name}: quantity must be between {offer.min_quantity} and {offer.max_quantity}",
                    offerId=offer.id,
                )
            if term not in offer.terms:
                raise Refusal(400, "InvalidTermDuration", f"{offer.name} is not sold with term {term}")
            if cycle not in offer.billing_cycles or (term == "P1M" and cycle == "yearly"):
                raise Refusal(400, "InvalidBillingCycle", f"{offer.name} cannot be billed {cycle} on term {term}")
            parent_id = li.get("parentSubscriptionId")
            parent_line = li.get("parentLineItemNumber")
            if parent_line is not None and not parent_id:
                same = [x for x in out if x["lineItemNumber"] == parent_line]
                if not same:
                    raise Refusal(400, "ParentLineItemNotFound", f"no line item {parent_line} before this one")
                parent_id = same[0]["subscriptionId"]
            if offer.is_addon:
                if not parent_id:
                    raise Refusal(400, "ParentSubscriptionRequired", f"{offer.name} is an add-on")
                parent = self.subscription_row(c, customer_id, parent_id)
                if parent["order_id"] != order_id and self.effective_status(c, parent) != "active":
                    raise Refusal(409, "ParentSubscriptionNotActive", "the base subscription is not active")
                if offer.id not in self.offers[parent["offer_id"]].addons:
                    raise Refusal(400, "IncompatibleAddOn", f"{offer.name} cannot be added to this subscription")
                if qty > parent["quantity"]:
                    raise Refusal(400, "InvalidQuantity", "at most one add-on licence per base licence")
                ends_at = parent["ends_at"]
            elif offer.is_trial:
                ends_at = now + TRIAL_SECONDS
            else:
                ends_at = now + TERM_SECONDS[term]
            sub_id = str(uuid.uuid4())
            line_number = int(li.get("lineItemNumber", len(out)))
            c.execute(
                "INSERT INTO subscriptions (id, customer_id, order_id, line_number, offer_id, quantity, status, "
                "billing_cycle, term, auto_renew, parent_id, is_trial, created_at, ends_at, tranches) "
                "VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sub_id,
                    customer_id,
                    order_id,
                    line_number,
                    offer.id,
                    qty,
                    cycle,
                    term,
                    int(not offer.is_trial),
                    parent_id,
                    int(offer.is_trial),
                    now,
                    ends_at,
                    json.dumps([[qty, now]]),
                ),
            )
            if offer.usage_based and self.azure is not None:  # an Azure plan comes with one Azure subscription
                self.azure.create(c, customer_id, sub_id, DEFAULT_NAME)
            out.append(
                {
                    "lineItemNumber": line_number,
                    "offerId": offer.id,
                    "quantity": qty,
                    "billingCycle": cycle,
                    "termDuration": term,
                    "subscriptionId": sub_id,
                    **({"parentSubscriptionId": parent_id} if parent_id else {}),
                }
            )
        c.execute(
            "INSERT INTO orders (id, customer_id, idempotency_key, created_at, complete_at, line_items) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (order_id, customer_id, key, now, complete_at, json.dumps(out)),
        )
        return self.order_json(c, c.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone())

    def order_row(self, c: sqlite3.Connection, customer_id: str, order_id: str) -> sqlite3.Row:
        row = c.execute("SELECT * FROM orders WHERE id = ? AND customer_id = ?", (order_id, customer_id)).fetchone()
        if row is None:
            raise Refusal(404, "OrderNotFound", f"no order {order_id}")
        return row

    # --- subscriptions ----------------------------------------------------------

    def subscription_row(self, c: sqlite3.Connection, customer_id: str, sub_id: str) -> sqlite3.Row:
        row = c.execute(
            "SELECT * FROM subscriptions WHERE id = ? AND customer_id = ?", (sub_id, customer_id)
        ).fetchone()
        if row is None:
            raise Refusal(404, "SubscriptionNotFound", f"no subscription {sub_id}")
        return row

    def effective_status(self, c: sqlite3.Connection, row: sqlite3.Row) -> str:
        order = c.execute("SELECT complete_at FROM orders WHERE id = ?", (row["order_id"],)).fetchone()
        if order is not None and self.delay_clock() < order["complete_at"]:
            return "pending"
        if row["status"] in ("active", "suspended") and self.clock() >= row["ends_at"] and row["is_trial"]:
            return "expired"
        return str(row["status"])

    def assigned(self, c: sqlite3.Connection, row: sqlite3.Row) -> int:
        """The subscription's licences held by users of the tenant."""
        return int(
            c.execute("SELECT COUNT(*) FROM user_licenses WHERE subscription_id = ?", (row["id"],)).fetchone()[0]
        )

    def subscription_json(self, c: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": row["id"],
            "customerId": row["customer_id"],
            "orderId": row["order_id"],
            "offerId": row["offer_id"],
            "offerName": self.offers[row["offer_id"]].name if row["offer_id"] in self.offers else "",
            "quantity": row["quantity"],
            "status": self.effective_status(c, row),
            "billingCycle": row["billing_cycle"],
            "termDuration": row["term"],
            "autoRenewEnabled": bool(row["auto_renew"]),
            "assignedLicenses": self.assigned(c, row),
            "parentSubscriptionId": row["parent_id"],
            "isTrial": bool(row["is_trial"]),
            "creationDate": _iso(row["created_at"]),
            "commitmentEndDate": _iso(row["ends_at"]),
            **json.loads(row["scheduled"]),
        }

    def update_subscription(
        self, c: sqlite3.Connection, customer_id: str, sub_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        row = self.subscription_row(c, customer_id, sub_id)
        status = self.effective_status(c, row)
        offer = self.offers[row["offer_id"]]
        now = self.clock()
        if status == "pending":
            raise Refusal(409, "SubscriptionNotReady", "the subscription is still being provisioned")
        if status in ("cancelled", "expired"):
            raise Refusal(409, "SubscriptionNotActive", f"the subscription is {status}")
        tranches: list[list[float]] = json.loads(row["tranches"])
        quantity = int(row["quantity"])
        scheduled = json.loads(row["scheduled"])
        new_status = status
        auto_renew = bool(row["auto_renew"])
        if "status" in body:
            target = body["status"]
            if target == "suspended":
                if status == "active":
                    new_status = "suspended"
                elif status != "suspended":
                    raise Refusal(409, "InvalidStatusTransition", f"cannot suspend a {status} subscription")
            elif target == "active":
                if status == "suspended":
                    new_status = "active"
                elif status != "active":
                    raise Refusal(409, "InvalidStatusTransition", f"cannot reactivate a {status} subscription")
            elif target == "cancelled":
                if not row["is_trial"]:
                    refundable = sum(q for q, at in tranches if now < at + WINDOW_SECONDS)
                    if refundable < quantity:
                        raise Refusal(
                            409,
                            "OutsideCancellationWindow",
                            "seats outside their cancellation window cannot be cancelled",
                            refundable=refundable,
                        )
                new_status = "cancelled"
                # its users lose its licences
                c.execute("DELETE FROM user_licenses WHERE subscription_id = ?", (sub_id,))
            else:
                raise Refusal(400, "InvalidStatus", f"unknown status {target!r}")
        if "quantity" in body:
            target_q = body["quantity"]
            if not isinstance(target_q, int):
                raise Refusal(400, "InvalidQuantity", "quantity must be an integer")
            if target_q != quantity:
                if status != "active" or new_status != "active":
                    raise Refusal(409, "SubscriptionSuspended", "only an active subscription can change quantity")
                if row["is_trial"]:
                    raise Refusal(409, "TrialQuantityFixed", "a trial's quantity is fixed")
                if not offer.min_quantity <= target_q <= offer.max_quantity:
                    raise Refusal(
                        400,
                        "InvalidQuantity",
                        f"{offer.name}: quantity must be between {offer.min_quantity} and {offer.max_quantity}",
                    )
                if target_q > quantity:
                    tranches.append([target_q - quantity, now])
                elif target_q < self.assigned(c, row):
                    raise Refusal(
                        409,
                        "AssignedLicensesExceedQuantity",
                        f"{self.assigned(c, row)} licences are assigned to users; unassign them before reducing",
                        assignedLicenses=self.assigned(c, row),
                    )
                else:
                    tranches = _remove_seats(tranches, quantity - target_q, now)
                quantity = target_q
                _clear_next_term(scheduled, row, now)
        if "billingCycle" in body:
            cycle = body["billingCycle"]
            if cycle not in offer.billing_cycles or (row["term"] == "P1M" and cycle == "yearly"):
                raise Refusal(400, "InvalidBillingCycle", f"{offer.name} cannot be billed {cycle}")
            if cycle == row["billing_cycle"]:
                scheduled.pop("scheduledBillingCycle", None)
            else:
                if not _changes_at_renewal(row, now):
                    _clear_next_term(scheduled, row, now)
                scheduled["scheduledBillingCycle"] = cycle
        if "autoRenewEnabled" in body:
            if row["is_trial"]:
                raise Refusal(409, "TrialDoesNotRenew", "a trial does not renew")
            auto_renew = bool(body["autoRenewEnabled"])
        if "renewalQuantity" in body:
            rq = body["renewalQuantity"]
            if rq is not None and not (isinstance(rq, int) and offer.min_quantity <= rq <= offer.max_quantity):
                raise Refusal(400, "InvalidQuantity", "renewal quantity out of bounds")
            scheduled["renewalQuantity"] = rq
        if "renewalTermDuration" in body:
            if body["renewalTermDuration"] not in offer.terms:
                raise Refusal(400, "InvalidTermDuration", "term not sold")
            scheduled["renewalTermDuration"] = body["renewalTermDuration"]
        if "renewalOfferId" in body:
            # the next term's offer: an upgrade or a downgrade of the same family
            target_id = body["renewalOfferId"]
            if target_id is None or target_id == offer.id:
                scheduled.pop("renewalOfferId", None)
            else:
                target = self.offers.get(str(target_id))
                if target is None or (target.id not in offer.upgrades and offer.id not in target.upgrades):
                    raise Refusal(400, "InvalidNextTermOffer", f"{target_id} is not in the family of {offer.name}")
                scheduled["renewalOfferId"] = target.id
        c.execute(
            "UPDATE subscriptions SET quantity = ?, status = ?, auto_renew = ?, tranches = ?, scheduled = ? "
            "WHERE id = ?",
            (quantity, new_status, int(auto_renew), json.dumps(tranches), json.dumps(scheduled), sub_id),
        )
        return self.subscription_json(c, self.subscription_row(c, customer_id, sub_id))

    # --- transitions (Partner Center: transitionEligibilities, transitions) -------------

    def transition_errors(self, c: sqlite3.Connection, row: sqlite3.Row, target_id: str) -> list[dict[str, str]]:
        """Why the subscription cannot move to ``target_id`` now (empty: it can)."""
        offer = self.offers[row["offer_id"]]
        status = self.effective_status(c, row)
        errors = []
        if row["is_trial"]:
            errors.append({"code": "TrialSubscription", "description": "a trial cannot be upgraded; convert it first"})
        elif status == "suspended":
            errors.append({"code": "SubscriptionSuspended", "description": "a suspended subscription cannot move"})
        elif status != "active":
            errors.append({"code": "SubscriptionNotActive", "description": f"the subscription is {status}"})
        target = self.offers.get(target_id)
        if target is None or target.id not in offer.upgrades:
            errors.append({"code": "NotAnUpgrade", "description": f"{target_id} is not an upgrade of {offer.name}"})
        elif row["term"] not in target.terms or row["billing_cycle"] not in target.billing_cycles:
            errors.append({"code": "TermNotSold", "description": f"{target.name} is not sold with this term and cycle"})
        return errors

    def transition_eligibilities(self, c: sqlite3.Connection, customer_id: str, sub_id: str) -> dict[str, Any]:
        row = self.subscription_row(c, customer_id, sub_id)
        items = []
        for target_id in self.offers[row["offer_id"]].upgrades:
            errors = self.transition_errors(c, row, target_id)
            items.append(
                {
                    "catalogItemId": target_id,
                    "title": self.offers[target_id].name if target_id in self.offers else "",
                    "eligibilities": [
                        {"isEligible": not errors, "transitionType": "transition_only", "errors": errors}
                    ],
                }
            )
        return {"totalCount": len(items), "items": items}

    def transition(self, c: sqlite3.Connection, customer_id: str, sub_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Move ``quantity`` seats (all: the source ends) to a new subscription of an upgrade
        offer, with the same term end; a full move carries the add-ons, which the new offer
        must take. Scheduled next-term changes of the source are deleted."""
        row = self.subscription_row(c, customer_id, sub_id)
        target_id = str(body.get("toCatalogItemId"))
        errors = self.transition_errors(c, row, target_id)
        if errors:
            raise Refusal(409, errors[0]["code"], errors[0]["description"], errors=errors)
        target = self.offers[target_id]
        have = int(row["quantity"])
        qty = body.get("quantity", have)
        if not isinstance(qty, int) or not 1 <= qty <= have or not target.min_quantity <= qty <= target.max_quantity:
            raise Refusal(
                400, "InvalidQuantity", f"quantity must be between 1 and the {have} seat(s) of the subscription"
            )
        full = qty == have
        addons = c.execute(
            "SELECT * FROM subscriptions WHERE parent_id = ? AND status IN ('active', 'suspended')", (sub_id,)
        ).fetchall()
        for a in addons:
            if full and a["offer_id"] not in target.addons:
                raise Refusal(409, "IncompatibleAddOn", f"{self.offers[a['offer_id']].name} cannot go on {target.name}")
            if not full and a["quantity"] > have - qty:
                raise Refusal(409, "InvalidQuantity", "the add-ons need a seat each on the source subscription")
        now = self.clock()
        new_id = str(uuid.uuid4())
        c.execute(
            "INSERT INTO subscriptions (id, customer_id, order_id, line_number, offer_id, quantity, status, "
            "billing_cycle, term, auto_renew, parent_id, is_trial, created_at, ends_at, tranches) "
            "VALUES (?, ?, ?, 1, ?, ?, 'active', ?, ?, ?, NULL, 0, ?, ?, ?)",
            (
                new_id,
                customer_id,
                f"transition:{new_id}",
                target.id,
                qty,
                row["billing_cycle"],
                row["term"],
                row["auto_renew"],
                now,
                row["ends_at"],
                json.dumps([[qty, now]]),
            ),
        )
        tranches: list[list[float]] = json.loads(row["tranches"])
        left = qty
        for t in sorted(tranches, key=lambda t: t[1], reverse=True):  # newest first, whatever the window
            n = min(left, int(t[0]))
            t[0] -= n
            left -= n
        c.execute(
            "UPDATE subscriptions SET quantity = ?, status = ?, tranches = ?, scheduled = '{}' WHERE id = ?",
            (have - qty, "expired" if full else row["status"], json.dumps(tranches), sub_id),
        )
        if full:
            c.execute("UPDATE subscriptions SET parent_id = ? WHERE parent_id = ?", (new_id, sub_id))
        return {
            "id": new_id,
            "fromCatalogItemId": row["offer_id"],
            "toCatalogItemId": target.id,
            "fromSubscriptionId": sub_id,
            "toSubscriptionId": new_id,
            "quantity": qty,
            "transitionType": "transition_only",
            "status": "completed",
            "creationDate": _iso(now),
        }

    def convert_trial(
        self, c: sqlite3.Connection, customer_id: str, sub_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        row = self.subscription_row(c, customer_id, sub_id)
        if not row["is_trial"] or self.effective_status(c, row) != "active":
            raise Refusal(409, "NotATrial", "only a running trial can be converted")
        trial_offer = self.offers[row["offer_id"]]
        target = self.offers.get(str(body.get("targetOfferId")))
        if target is None or (trial_offer.converts_to and target.id != trial_offer.converts_to):
            raise Refusal(400, "InvalidConversion", "this trial converts only to its paid offer")
        qty, term, cycle = body.get("quantity"), body.get("termDuration"), body.get("billingCycle")
        if not isinstance(qty, int) or not target.min_quantity <= qty <= target.max_quantity:
            raise Refusal(
                400, "InvalidQuantity", f"quantity must be between {target.min_quantity} and {target.max_quantity}"
            )
        if term not in target.terms or cycle not in target.billing_cycles:
            raise Refusal(400, "InvalidTermDuration", "term or billing cycle not sold")
        now = self.clock()
        c.execute(
            "UPDATE subscriptions SET offer_id = ?, quantity = ?, billing_cycle = ?, term = ?, is_trial = 0, "
            "auto_renew = 1, created_at = ?, ends_at = ?, tranches = ? WHERE id = ?",
            (target.id, qty, cycle, term, now, now + TERM_SECONDS[term], json.dumps([[qty, now]]), sub_id),
        )
        return self.subscription_json(c, self.subscription_row(c, customer_id, sub_id))


def _changes_at_renewal(row: sqlite3.Row, now: float) -> bool:
    """Whether a billing-cycle change made now falls at the renewal: the next period of a
    yearly-billed subscription, or of one in its last month, is the next term."""
    return row["billing_cycle"] == "yearly" or now + 31 * 86400 >= row["ends_at"]


def _clear_next_term(scheduled: dict[str, Any], row: sqlite3.Row, now: float) -> None:
    """An immediate change deletes what was scheduled for the next term (as Partner
    Center does): the renewal quantity and term, and a billing cycle due at renewal."""
    scheduled.pop("renewalQuantity", None)
    scheduled.pop("renewalTermDuration", None)
    scheduled.pop("renewalOfferId", None)
    if _changes_at_renewal(row, now):
        scheduled.pop("scheduledBillingCycle", None)


def _remove_seats(tranches: list[list[float]], count: int, now: float) -> list[list[float]]:
    """Newest seats first, only from tranches still inside their window (else refused)."""
    refundable = sum(q for q, at in tranches if now < at + WINDOW_SECONDS)
    if count > refundable:
        raise Refusal(
            409,
            "OutsideCancellationWindow",
            f"only {int(refundable)} seat(s) are inside their cancellation window",
            refundable=int(refundable),
        )
    out = [list(t) for t in tranches]
    for t in sorted(out, key=lambda t: t[1], reverse=True):
        if count == 0:
            break
        if now < t[1] + WINDOW_SECONDS:
            n = min(count, int(t[0]))
            t[0] -= n
            count -= n
    return out


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def create_app(
    settings: Settings, *, state: SimState | None = None, seed: int | None = None, clock: Clock | None = None
) -> FastAPI:
    """The simulator's FastAPI app, from settings (``CSP_VENDOR_SIM_*``).

    ``clock`` is the platform's (in test mode the stored-offset test clock every process
    reads): the vendor's dates, pending orders and tenants and rated usage follow it, so moving the test clock moves the vendor too. Without it, wall
    time."""
    state = state or SimState(
        settings.resolved_vendor_sim_db(),
        load_offers(),
        domain_seconds=settings.vendor_sim_domain_check_seconds,
        order_seconds=settings.vendor_sim_order_seconds,
        clock=(lambda: clock.now().timestamp()) if clock is not None else time.time,
        delay_clock=time.time,
    )
    state.legacy_delegated_access = settings.vendor_sim_legacy_delegated_access
    faults = Faults(
        latency_ms=settings.vendor_sim_latency_ms,
        error_rate=settings.vendor_sim_error_rate,
        timeout_rate=settings.vendor_sim_timeout_rate,
        lost_answer_rate=settings.vendor_sim_lost_answer_rate,
        hang_seconds=settings.vendor_sim_hang_seconds,
    )
    rng = random.Random(seed)
    rng_lock = threading.Lock()
    app = FastAPI(title="CSP vendor simulator (Partner Center-shaped)", version="1")
    app.state.sim = state
    app.state.faults = faults

    def roll() -> float:
        with rng_lock:
            return rng.random()

    def serve(request: Request, work: Callable[[sqlite3.Connection], tuple[int, Any]], mutating: bool) -> Response:
        """Inject faults, replay idempotent answers, run the work, maybe lose the answer."""
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        r = roll()
        if r < faults.error_rate:
            with state.tx() as c:
                state.count(c, "fault_5xx")
            return JSONResponse({"code": 503, "errorName": "ServiceUnavailable", "description": "try again"}, 503)
        if r < faults.error_rate + faults.timeout_rate:
            with state.tx() as c:
                state.count(c, "fault_timeout")
            time.sleep(faults.hang_seconds)
            return JSONResponse({"code": 504, "errorName": "GatewayTimeout", "description": "timed out"}, 504)
        key = request.headers.get("idempotency-key")
        path = request.url.path
        if not mutating:
            try:
                with state.read() as c:
                    status, body = work(c)
            except Refusal as e:
                return e.response()
            return _answer(status, body)
        with state.tx() as c:
            state.count(c, f"{request.method} {_route_name(path)}")
            if key:
                prior = c.execute("SELECT * FROM idempotency WHERE key = ?", (key,)).fetchone()
                if prior is not None:
                    if prior["method"] != request.method or prior["path"] != path:
                        return Refusal(
                            422, "IdempotencyKeyReused", "this idempotency key was used for another request"
                        ).response()
                    state.count(c, "idempotent_replay")
                    lost = roll() < faults.lost_answer_rate
                    if lost:
                        state.count(c, "fault_lost_answer")
                    status, body = prior["status"], json.loads(prior["body"])
                    return _lost() if lost else _answer(status, body)
            c.execute("SAVEPOINT work")
            try:
                status, body = work(c)
                c.execute("RELEASE work")
            except Refusal as e:
                c.execute("ROLLBACK TO work")
                c.execute("RELEASE work")
                status, body = (
                    e.status,
                    {
                        "code": e.status,
                        "errorName": e.name,
                        "description": e.description,
                        "data": e.data,
                    },
                )
            if key:
                c.execute(
                    "INSERT INTO idempotency (key, method, path, status, body) VALUES (?, ?, ?, ?, ?)",
                    (key, request.method, path, status, json.dumps(body)),
                )
            lost = roll() < faults.lost_answer_rate
            if lost:
                state.count(c, "fault_lost_answer")
        return _lost() if lost else _answer(status, body)

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise Refusal(400, "InvalidJson", "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refusal(400, "InvalidJson", "the body must be a JSON object")
        return data

    @app.exception_handler(Refusal)
    async def refusal_handler(request: Request, exc: Refusal) -> JSONResponse:
        return exc.response()

    # GDAP relationships and customer agreements (csp.vendor.sim_gdap)
    gdap = state.gdap = mount_gdap(app, state, serve, body_of, state.clock)
    state.azure = mount_azure(app, state, serve, body_of, state.clock)

    @app.head("/v1/domains/{domain}")
    def domain_head(domain: str, request: Request) -> Response:
        answer = serve(request, lambda c: (200, {}) if state.domain_taken(domain) else (404, {}), mutating=False)
        return Response(status_code=answer.status_code)

    # --- reseller relationships (delegated admin rights) -----------------------------

    @app.get("/v1/customers/relationshiprequests")
    def relationship_request(request: Request) -> Response:
        """Partner Center's reseller-relationship link; here, the simulator's own page where a
        customer's admin accepts (Microsoft's is on admin.microsoft.com)."""
        url = str(request.url_for("relationship_page"))
        return serve(request, lambda c: (200, {"url": url}), mutating=False)

    @app.get("/sim/relationships/accept", name="relationship_page", response_class=HTMLResponse)
    def relationship_page() -> str:
        return _relationship_html("")

    @app.post("/sim/relationships/accept", response_class=HTMLResponse)
    async def accept_relationship(request: Request) -> HTMLResponse:
        """The customer's admin accepts: its tenant now has this partner as reseller, with
        delegated admin rights."""
        form = await request.form()
        domain = str(form.get("domain") or "").strip().lower()
        if domain and "." not in domain:
            domain += ".onmicrosoft.com"
        with state.tx() as c:
            done = c.execute("UPDATE customers SET delegated = 1 WHERE lower(domain) = ?", (domain,)).rowcount
        if not done:
            return HTMLResponse(_relationship_html(f"No tenant named {domain or '(empty)'} at the vendor."), 404)
        return HTMLResponse(_relationship_html(f"Accepted: {domain} granted delegated admin rights.", done=True))

    @app.post("/v1/customers")
    async def create_customer(request: Request) -> Response:
        body = await body_of(request)
        domain = str(body.get("companyProfile", {}).get("domain", ""))
        company = {
            "companyName": body.get("companyProfile", {}).get("companyName", ""),
            "billingProfile": body.get("billingProfile", {}),
        }
        return await _in_thread(
            lambda: serve(request, lambda c: (201, state.create_customer(c, domain, company)), True)
        )

    @app.get("/v1/customers")
    def find_customers(request: Request, domain: str = "") -> Response:
        """By domain: any tenant of that name (to link it); without: this partner's customers."""

        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            if domain:
                rows = c.execute("SELECT * FROM customers WHERE domain = ?", (domain.lower(),)).fetchall()
            else:
                rows = c.execute(
                    "SELECT * FROM customers WHERE ours = 1 OR delegated = 1 ORDER BY created_at"
                ).fetchall()
            items = [state.customer_json(r) for r in rows]
            return 200, {"totalCount": len(items), "items": items}

        return serve(request, work, mutating=False)

    @app.get("/v1/customers/{customer_id}")
    def get_customer(customer_id: str, request: Request) -> Response:
        return serve(request, lambda c: (200, state.customer_json(state.customer_row(c, customer_id))), False)

    @app.post("/v1/customers/{customer_id}/agreements")
    async def accept_agreement(customer_id: str, request: Request) -> Response:
        body = await body_of(request)

        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            state.customer_row(c, customer_id)
            return 201, gdap.record_agreement(c, customer_id, body)

        return await _in_thread(lambda: serve(request, work, True))

    @app.post("/v1/customers/{customer_id}/orders")
    async def place_order(customer_id: str, request: Request) -> Response:
        body = await body_of(request)
        key = request.headers.get("idempotency-key")
        return await _in_thread(
            lambda: serve(request, lambda c: (201, state.place_order(c, customer_id, body, key)), True)
        )

    @app.get("/v1/customers/{customer_id}/users")
    def list_users(customer_id: str, request: Request) -> Response:
        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            items = state.list_users(c, customer_id)
            return 200, {"totalCount": len(items), "items": items}

        return serve(request, work, mutating=False)

    @app.post("/v1/customers/{customer_id}/users")
    async def create_user(customer_id: str, request: Request) -> Response:
        body = await body_of(request)
        upn, name = str(body.get("userPrincipalName") or ""), str(body.get("displayName") or "")
        return await _in_thread(
            lambda: serve(request, lambda c: (201, state.add_user(c, customer_id, upn, name)), True)
        )

    @app.get("/v1/customers/{customer_id}/users/{user_id}/licenses")
    def user_licenses(customer_id: str, user_id: str, request: Request) -> Response:
        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            items = state.user_json(c, state.user_row(c, customer_id, user_id))["assignedLicenses"]
            return 200, {"totalCount": len(items), "items": items}

        return serve(request, work, mutating=False)

    @app.post("/v1/customers/{customer_id}/users/{user_id}/licenses")
    async def update_user_licenses(customer_id: str, user_id: str, request: Request) -> Response:
        body = await body_of(request)
        return await _in_thread(
            lambda: serve(request, lambda c: (200, state.update_licenses(c, customer_id, user_id, body)), True)
        )

    @app.get("/v1/customers/{customer_id}/orders")
    def list_orders(customer_id: str, request: Request, idempotencyKey: str = "") -> Response:
        """The customer's orders, oldest first; ``idempotencyKey`` finds the one a request made."""

        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            state.customer_row(c, customer_id)
            sql, args = "SELECT * FROM orders WHERE customer_id = ?", [customer_id]
            if idempotencyKey:
                sql, args = sql + " AND idempotency_key = ?", [*args, idempotencyKey]
            rows = c.execute(sql + " ORDER BY created_at", args).fetchall()
            items = [state.order_json(c, r) for r in rows]
            return 200, {"totalCount": len(items), "items": items}

        return serve(request, work, mutating=False)

    @app.get("/v1/customers/{customer_id}/orders/{order_id}")
    def get_order(customer_id: str, order_id: str, request: Request) -> Response:
        return serve(request, lambda c: (200, state.order_json(c, state.order_row(c, customer_id, order_id))), False)

    @app.get("/v1/customers/{customer_id}/subscriptions")
    def list_subscriptions(customer_id: str, request: Request) -> Response:
        def work(c: sqlite3.Connection) -> tuple[int, Any]:
            state.customer_row(c, customer_id)
            rows = c.execute("SELECT * FROM subscriptions WHERE customer_id = ? ORDER BY created_at", (customer_id,))
            items = [state.subscription_json(c, r) for r in rows.fetchall()]
            return 200, {"totalCount": len(items), "items": items}

        return serve(request, work, mutating=False)

    @app.get("/v1/customers/{customer_id}/subscriptions/{sub_id}")
    def get_subscription(customer_id: str, sub_id: str, request: Request) -> Response:
        return serve(
            request, lambda c: (200, state.subscription_json(c, state.subscription_row(c, customer_id, sub_id))), False
        )

    @app.patch("/v1/customers/{customer_id}/subscriptions/{sub_id}")
    async def patch_subscription(customer_id: str, sub_id: str, request: Request) -> Response:
        body = await body_of(request)
        return await _in_thread(
            lambda: serve(request, lambda c: (200, state.update_subscription(c, customer_id, sub_id, body)), True)
        )

    @app.post("/v1/customers/{customer_id}/subscriptions/{sub_id}/conversions")
    async def convert(customer_id: str, sub_id: str, request: Request) -> Response:
        body = await body_of(request)
        return await _in_thread(
            lambda: serve(request, lambda c: (200, state.convert_trial(c, customer_id, sub_id, body)), True)
        )

    @app.get("/v1/customers/{customer_id}/subscriptions/{sub_id}/transitionEligibilities")
    def transition_eligibilities(customer_id: str, sub_id: str, request: Request) -> Response:
        return serve(request, lambda c: (200, state.transition_eligibilities(c, customer_id, sub_id)), False)

    @app.post("/v1/customers/{customer_id}/subscriptions/{sub_id}/transitions")
    async def transition(customer_id: str, sub_id: str, request: Request) -> Response:
        body = await body_of(request)
        return await _in_thread(
            lambda: serve(request, lambda c: (201, state.transition(c, customer_id, sub_id, body)), True)
        )

    # --- the simulator's own control API ------------------------------------------

    @app.post("/sim/customers")
    async def seed_customer(request: Request) -> Response:
        """An existing tenant of the vendor (to link), with or without delegated access for us."""
        body = await body_of(request)
        with state.tx() as c:
            customer = state.create_customer(
                c,
                str(body.get("domain", "")),
                {"companyName": body.get("companyName", "")},
                ours=False,
                delegated=bool(body.get("delegatedAccess", True)),
                agreement=True,
                ready=True,
            )
        return JSONResponse(customer, 201)

    @app.put("/sim/subscriptions/{sub_id}/assigned")
    async def set_assigned(sub_id: str, request: Request) -> Response:
        body = await body_of(request)
        with state.tx() as c:
            state.set_assigned(c, sub_id, int(body["assignedLicenses"]))
        return Response(status_code=204)

    @app.get("/sim/stats")
    def stats() -> dict[str, Any]:
        with state.read() as c:
            subs = c.execute("SELECT COUNT(*) FROM subscriptions").fetchone()[0]
            orders = c.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
            customers = c.execute("SELECT COUNT(*) FROM customers").fetchone()[0]
        return {"customers": customers, "orders": orders, "subscriptions": subs, "counters": state.counters()}

    @app.get("/sim/orders")
    def all_orders() -> dict[str, Any]:
        """Every order with its idempotency key and line count (for duplicate checks)."""
        with state.read() as c:
            rows = c.execute(
                "SELECT o.id, o.idempotency_key, o.customer_id, COUNT(s.id) AS subscriptions FROM orders o "
                "LEFT JOIN subscriptions s ON s.order_id = o.id GROUP BY o.id ORDER BY o.created_at"
            ).fetchall()
        return {"items": [dict(r) for r in rows]}

    return app


def _relationship_html(message: str, done: bool = False) -> str:
    form = (
        ""
        if done
        else '<form method="post"><label for="domain">Your tenant (domain)</label> '
        '<input id="domain" name="domain" required placeholder="contoso.onmicrosoft.com"> '
        "<button>Accept and authorize delegated admin</button></form>"
    )
    note = f'<p role="status">{html.escape(message)}</p>' if message else ""
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Accept partner invitation</title>'
        "<h1>Accept the reseller's invitation</h1>"
        "<p>The partner will be your reseller, with delegated admin rights on your tenant.</p>"
        f"{note}{form}</html>"
    )


def _lost() -> Response:
    """The work was done and committed; the caller never hears of it."""
    return JSONResponse({"code": 502, "errorName": "BadGateway", "description": "connection reset"}, 502)


def _answer(status: int, body: Any) -> Response:
    if status == 204:
        return Response(status_code=204)
    return JSONResponse(body, status_code=status)


def _route_name(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    names = {"v1", "customers", "orders", "subscriptions", "agreements", "conversions", "domains", "users", "licenses"}
    names |= {"tenantRelationships", "delegatedAdminRelationships", "requests", "accessAssignments"}
    return "/" + "/".join(p if p in names else "{id}" for p in parts)
