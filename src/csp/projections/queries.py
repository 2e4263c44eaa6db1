"""The read side's queries: ``ReadModels``, what the web layer reads, and read-your-writes.

``ReadModels(database=..., app=...)`` opens the read models' store (creating missing
tables), answers the queries (each a ``Page`` or a row; API.md's field names), and
waits for the projections to apply a command's events (``wait``/``wait_for``). It never
applies an event itself: that is the ``Projector``'s work (``csp.projections.projector``),
which tells it, when it runs in this process, each position it commits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, Recording
from eventsourcing.utils import Environment

from csp.aggregates.currency import AppliedRate
from csp.aggregates.errors import InvalidInput, NotFound
from csp.aggregates.subscription import UnusedSeats
from csp.persistence import Database, eventsourcing_env
from csp.persistence.signals import position_signal
from csp.projections import (
    approvals_list,
    charges_ledger,
    customer_invoices,
    gdap_list,
    invoice_history,
    licence_seats,
    notices_list,
    orders_list,
    organizations_list,
    quotes_list,
    reports_consumption,
    reports_subscriptions,
    subscriptions_list,
    tenants_list,
    users_list,
    webhooks_list,
)
from csp.projections.approvals_list import ApprovalsList
from csp.projections.audit_chain import AuditChain
from csp.projections.charges_ledger import ChargesLedger
from csp.projections.customer_invoices import CustomerInvoices
from csp.projections.gdap_list import GdapList
from csp.projections.invoice_history import InvoiceHistory
from csp.projections.licence_seats import LicenceSeats
from csp.projections.model import ReadModelGroup
from csp.projections.notices_list import NoticesList
from csp.projections.orders_list import OrdersList
from csp.projections.organizations_list import OrganizationsList
from csp.projections.query import Page, check_paging, csv_text
from csp.projections.quotes_list import QuotesList
from csp.projections.reports import REPORTS, TIMED_REPORTS, report_columns, sort_rows
from csp.projections.reports_consumption import ReportsConsumption
from csp.projections.schema import META, ensure_schema
from csp.projections.store import APPLICATION_NAME, PostgresReadView, ReadView, SQLiteReadView
from csp.projections.subscriptions_list import SubscriptionsList
from csp.projections.tenants_list import TenantsList
from csp.projections.users_list import UsersList
from csp.projections.webhooks_list import WebhooksList

if TYPE_CHECKING:
    from csp.application import CspApplication

GROUP_NAME = "read"
WAIT_POLL_SECONDS = 0.02
# With a position signal, how often a waiter re-reads the tracking position anyway (a
# signal lost while a listener reconnects costs this much, never a wrong answer).
SIGNAL_SAFETY_SECONDS = 0.5


def _check_report(name: str, date_from: date | datetime | None, date_to: date | datetime | None) -> None:
    if name not in REPORTS:
        raise InvalidInput("name", f"must be one of {', '.join(REPORTS)}", value=name)
    if date_from is not None and date_to is not None and date_to < date_from:
        raise InvalidInput("to", "must not be before from")


def read_models() -> ReadModelGroup:
    """The read models of the platform, one group: one subscription, one position."""
    return ReadModelGroup(
        GROUP_NAME,
        (
            OrdersList(),
            SubscriptionsList(),
            OrganizationsList(),
            TenantsList(),
            UsersList(),
            QuotesList(),
            ChargesLedger(),
            InvoiceHistory(),
            CustomerInvoices(),
            ReportsConsumption(),
            AuditChain(),
            LicenceSeats(),
            NoticesList(),  # notifications and webhooks (issue 16)
            WebhooksList(),
            GdapList(),  # issue 16
            ApprovalsList(),  # issue 18: credit limits
        ),
    )


def read_env(db: Database) -> dict[str, str]:
    """The eventsourcing environment of the read side: the events' store to follow, and
    (prefixed ``READ_``) where the read models and their tracking live."""
    env = eventsourcing_env(db)
    if db.is_sqlite:
        path = db.sibling("read")
        env["READ_SQLITE_DBNAME"] = str(path) if path is not None else "file:csp-read-memory?mode=memory&cache=shared"
    else:
        # Small pools: each application object opens its own (docs/operations.md budget).
        env["READ_POSTGRES_POOL_SIZE"] = "1"
        env["READ_POSTGRES_MAX_OVERFLOW"] = "3"
    return env


class ReadModels:
    """The queries on the read models, and read-your-writes.

    ``applying`` is set while a projector in this process leads (it applies the events
    and calls ``committed`` after each commit): ``wait`` then waits on a condition that
    ``committed`` signals. Otherwise another process applies them, and tells each
    committed position through the database's position signal (``NOTIFY`` on
    PostgreSQL, datagram sockets beside a SQLite file: ``csp.persistence.signals``):
    ``wait`` waits for it, re-reading the tracking position only as a safety net.
    """

    def __init__(self, *, database: Database, app: CspApplication, group: ReadModelGroup | None = None) -> None:
        self.database = database
        self.app = app
        self.group = group or read_models()
        self.env = read_env(database)
        self._factory = InfrastructureFactory.construct(Environment(GROUP_NAME, self.env))
        view_class = SQLiteReadView if database.is_sqlite else PostgresReadView
        self.view: ReadView = self._factory.tracking_recorder(view_class)  # type: ignore[arg-type,assignment]
        self.applying = threading.Event()
        self._cond = threading.Condition()
        self._position = self.view.max_tracking_id(APPLICATION_NAME) or 0
        self._signal = position_signal(database, GROUP_NAME)
        self._listening = False
        with self.view.tx(write=True) as tx:
            ensure_schema(tx, self.group, self._position)

    def close(self) -> None:
        if self._signal is not None:
            self._signal.close()
        self._factory.close()

    # --- read-your-writes ------------------------------------------------------------

    def committed(self, position: int) -> None:
        """The projector in this process has committed ``position``: wake the waiters,
        here and (through the position signal) in every other process."""
        self._advance(position)
        if self._signal is not None:
            self._signal.publish(position)

    def _advance(self, position: int | None) -> None:
        """A position committed (``None``: unknown, read it from the tracking table)."""
        if position is None:
            position = self.view.max_tracking_id(APPLICATION_NAME) or 0
        with self._cond:
            if position > self._position:
                self._position = position
                self._cond.notify_all()

    def position(self) -> int:
        """The last notification applied to the read models (0: none)."""
        if self.applying.is_set():
            with self._cond:
                return self._position
        return self.view.max_tracking_id(APPLICATION_NAME) or 0

    def lag(self) -> int:
        """How many notifications the read models are behind the log (for readiness checks)."""
        return max(0, (self.app.recorder.max_notification_id() or 0) - self.position())

    def wait(self, notification_id: int | None, timeout: float = 2.0) -> bool:
        """Wait until the read models have applied ``notification_id``; False on timeout.

        In the process running the projections this waits on a condition the runner
        signals after each commit; elsewhere on the position signal of the process that
        runs them (polling the tracking position only where there is none).
        """
        if notification_id is None:
            return True
        deadline = time.monotonic() + timeout
        if self.applying.is_set():
            with self._cond:
                if self._cond.wait_for(lambda: self._position >= notification_id, timeout):
                    return True
        elif self._signal is not None:
            return self._wait_signalled(notification_id, deadline)
        while True:
            if (self.view.max_tracking_id(APPLICATION_NAME) or 0) >= notification_id:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(WAIT_POLL_SECONDS, left))

    def _wait_signalled(self, notification_id: int, deadline: float) -> bool:
        if not self._listening:
            with self._cond:
                start, self._listening = not self._listening, True
            if start:
                assert self._signal is not None
                self._signal.listen(self._advance)
        while True:
            with self._cond:
                left = deadline - time.monotonic()
                if self._cond.wait_for(
                    lambda: self._position >= notification_id, max(0.0, min(left, SIGNAL_SAFETY_SECONDS))
                ):
                    return True
            self._advance(None)  # the safety net: a signal may have been lost
            with self._cond:
                if self._position >= notification_id:
                    return True
            if time.monotonic() >= deadline:
                return False

    def wait_for(self, recordings: Sequence[Recording[Any]], timeout: float = 2.0) -> bool:
        """Wait for what these recordings feed (a group that filters topics never sees the rest)."""
        fed = [r.notification.id for r in recordings if self.group.feeds(r.notification.topic)]
        return self.wait(max(fed), timeout) if fed else True

    # --- the models ------------------------------------------------------------------

    def stale_models(self) -> list[str]:
        """Read models waiting for a rebuild (new, or their tables or handlers changed)."""
        d = self.view.dialect
        with self.view.tx(write=False) as tx:
            found = tx.query(d.q(f'SELECT "model" FROM {d.qualify(META.name)} WHERE "status" = ?'), ["stale"])
        return sorted(str(r["model"]) for r in found)

    def model_names(self) -> list[str]:
        return [m.name for m in self.group.models]

    def model_names_check(self, name: str) -> None:
        if name not in self.model_names():
            raise InvalidInput("name", f"must be one of {', '.join(self.model_names())}", value=name)

    # --- queries (API.md's field names; money Decimal, ids UUID, times aware) ------------

    def orders(
        self,
        organization_id: UUID,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        after: str | None = None,
    ) -> Page:
        return orders_list.orders(self.view, organization_id, status, limit, offset, after)

    def approvals(self, reseller_id: UUID, status: str | None = None, limit: int = 50, offset: int = 0) -> Page:
        check_paging(limit, offset)
        return approvals_list.approvals(self.view, reseller_id, status, limit, offset)

    def approval(self, approval_id: UUID) -> dict[str, Any] | None:
        return approvals_list.approval(self.view, approval_id)

    def live_subscription_ids(self, organization_id: UUID) -> list[UUID]:
        """The organization's billed subscriptions, for the credit check when it orders."""
        return subscriptions_list.live_subscription_ids(self.view, organization_id)

    def subscriptions(
        self,
        organization_id: UUID,
        q: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
        after: str | None = None,
    ) -> Page:
        return subscriptions_list.subscriptions(self.view, organization_id, q, status, limit, offset, after)

    def subscription(self, subscription_id: UUID) -> dict[str, Any] | None:
        return subscriptions_list.subscription(self.view, subscription_id)

    def unused_seats(self, subscription_ids: list[UUID]) -> dict[UUID, UnusedSeats]:
        """Unassigned seats still inside their 7-day window, now (``licence_seats``)."""
        return licence_seats.unused(self.view, subscription_ids, self.app.now())

    def subscriptions_by_vendor_id(self, tenant_id: UUID) -> dict[str, UUID]:
        return licence_seats.by_vendor_id(self.view, tenant_id)

    def organizations(self, reseller_id: UUID, q: str | None = None, limit: int = 50, offset: int = 0) -> Page:
        return organizations_list.organizations(self.view, reseller_id, q, limit, offset)

    def organization(self, organization_id: UUID) -> dict[str, Any] | None:
        return organizations_list.organization(self.view, organization_id)

    def tenants(self, organization_id: UUID, limit: int = 50, offset: int = 0) -> Page:
        return tenants_list.tenants(self.view, organization_id, limit, offset)

    def tenant(self, tenant_id: UUID) -> dict[str, Any] | None:
        return tenants_list.tenant(self.view, tenant_id)

    def gdap_relationships(self, tenant_id: UUID, limit: int = 50, offset: int = 0) -> Page:
        return gdap_list.relationships(self.view, tenant_id, limit, offset)

    def users(self, reseller_id: UUID, organization_id: UUID | None = None, limit: int = 50, offset: int = 0) -> Page:
        return users_list.users(self.view, reseller_id, organization_id, limit, offset)

    # --- notices and webhook endpoints (issue 16) ---

    def notices(self, reseller_id: UUID, unread: bool = False, limit: int = 50, offset: int = 0) -> Page:
        return notices_list.notices(self.view, reseller_id, unread, limit, offset)

    def unread_notices(self, reseller_id: UUID) -> int:
        return notices_list.unread_count(self.view, reseller_id)

    def notice(self, notice_id: UUID) -> dict[str, Any] | None:
        return notices_list.notice(self.view, notice_id)

    def webhooks(self, reseller_id: UUID, limit: int = 50, offset: int = 0) -> Page:
        return webhooks_list.webhooks(self.view, reseller_id, limit, offset)

    def quotes(self, organization_id: UUID, limit: int = 50, offset: int = 0) -> Page:
        return quotes_list.quotes(self.view, organization_id, self.app.now(), limit, offset)

    def invoices(self, reseller_id: UUID, limit: int = 50, offset: int = 0, with_lines: bool = False) -> Page:
        return invoice_history.invoices(self.view, reseller_id, limit, offset, with_lines)

    def invoices_csv(self, reseller_id: UUID) -> str:
        return invoice_history.invoices_csv(self.view, reseller_id)

    def invoice(self, invoice_id: UUID) -> dict[str, Any] | None:
        return invoice_history.invoice(self.view, invoice_id)

    def invoice_csv(self, invoice_id: UUID) -> str:
        text = invoice_history.invoice_csv(self.view, invoice_id)
        if text is None:
            raise NotFound("invoice", invoice_id)
        return text

    def period_invoices(self, period: str, reseller_id: UUID | None = None) -> list[dict[str, Any]]:
        return invoice_history.period_invoices(self.view, period, reseller_id)

    # --- customer invoices (issue 18) ---------------------------------------------------

    def customer_invoices(
        self,
        reseller_id: UUID,
        organization_id: UUID | None = None,
        period: str | None = None,
        status: str | None = None,
        issued_only: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        return customer_invoices.customer_invoices(
            self.view, reseller_id, organization_id, period, status, issued_only, limit, offset
        )

    def customer_invoices_csv(
        self,
        reseller_id: UUID,
        organization_id: UUID | None = None,
        period: str | None = None,
        status: str | None = None,
        issued_only: bool = False,
    ) -> str:
        return customer_invoices.customer_invoices_csv(
            self.view, reseller_id, organization_id, period, status, issued_only
        )

    def customer_invoice(self, invoice_id: UUID) -> dict[str, Any] | None:
        return customer_invoices.customer_invoice(self.view, invoice_id)

    def customer_invoice_ids_by_number(self, reseller_id: UUID, numbers: list[str]) -> dict[str, UUID]:
        return customer_invoices.customer_invoice_ids_by_number(self.view, reseller_id, numbers)

    def customer_invoice_csv(self, invoice_id: UUID) -> str:
        text = customer_invoices.customer_invoice_csv(self.view, invoice_id)
        if text is None:
            raise NotFound("customer invoice", invoice_id)
        return text

    def charges(
        self,
        reseller_id: UUID,
        date_from: date | datetime | None = None,
        date_to: date | datetime | None = None,
        subscription_id: UUID | None = None,
        include_scheduled: bool = True,
    ) -> Page:
        return charges_ledger.charges(
            self.view, self.app.now(), reseller_id, date_from, date_to, subscription_id, include_scheduled
        )

    def attention(self, reseller_id: UUID, organization_id: UUID | None = None) -> dict[str, Any]:
        """What needs attention now (the home page): orders being provisioned or failed in the
        last 30 days, tenants being verified, seats whose 7-day cancellation window closes in
        the next 48 hours, renewals in the next 30 days, trials ending in the next 30 days; of
        a reseller's organizations, or of one of them."""
        from datetime import timedelta

        from csp.aggregates.subscription import Subscription
        from csp.projections import attention as q

        now = self.app.now()
        orders, orders_total = q.orders_needing_attention(self.view, reseller_id, now, organization_id)
        tenants, tenants_total = q.tenants_being_verified(self.view, reseller_id, organization_id)
        soon = now + timedelta(days=30)
        renewals, renewals_total = q.subscriptions_ending(
            self.view, reseller_id, ("active", "suspended"), now, soon, organization_id, auto_renew=True
        )
        trials, trials_total = q.subscriptions_ending(self.view, reseller_id, ("trial",), now, soon, organization_id)
        # a window is 7 days long: only a subscription changed in the last 7 days can have one
        # open; the aggregate says which of its windows close in the next 48 hours
        windows: list[dict[str, Any]] = []
        within = now + timedelta(hours=48)
        for sid in q.recently_changed_subscriptions(self.view, reseller_id, now - timedelta(days=7), organization_id):
            sub = self.app.repository.get(sid)
            if not isinstance(sub, Subscription):
                continue
            for t in sub.open_windows(now):
                if t.window_ends_at <= within:
                    row = self.subscription(sid) or {}
                    windows.append({**row, "seats": t.quantity, "window_ends_at": t.window_ends_at})
        windows.sort(key=lambda w: (w["window_ends_at"], w.get("offer_name", "")))
        return {
            "now": now,
            "orders": orders,
            "orders_total": orders_total,
            "tenants": tenants,
            "tenants_total": tenants_total,
            "windows": windows,
            "renewals": renewals,
            "renewals_total": renewals_total,
            "trials": trials,
            "trials_total": trials_total,
        }

    # --- Azure usage (csp.projections.reports_consumption) ---

    def usage(
        self,
        reseller_id: UUID,
        organization_id: UUID | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        meter: str | None = None,
        subscription_id: UUID | None = None,
    ) -> list[dict[str, Any]]:
        return reports_consumption.daily_usage(
            self.view, reseller_id, organization_id, date_from, date_to, meter, subscription_id
        )

    def usage_reconciliation_csv(self, reseller_id: UUID, period: str, rate: AppliedRate | None = None) -> str:
        return reports_consumption.reconciliation_csv(self.view, reseller_id, period, rate)

    def azure_entitlements(self, subscription_id: UUID, month: str) -> list[dict[str, Any]]:
        return reports_consumption.entitlements(self.view, subscription_id, month)

    def report(
        self,
        name: str,
        reseller_id: UUID,
        organization_id: UUID | None = None,
        date_from: date | datetime | None = None,
        date_to: date | datetime | None = None,
        sort: str | None = None,
        descending: bool = False,
    ) -> Page:
        """A report's rows (``customers``, ``subscriptions``, ``licenses``, ``consumption``,
        ``evolution``), in the report's order or by the column ``sort``."""
        _check_report(name, date_from, date_to)
        query = REPORTS[name][1]
        if name in TIMED_REPORTS:
            rows = query(self.view, reseller_id, organization_id, date_from, date_to, now=self.app.now())
        else:
            rows = query(self.view, reseller_id, organization_id, date_from, date_to)
        rows = sort_rows(name, rows, sort, descending)
        return Page(rows, len(rows))

    def report_page(
        self,
        name: str,
        reseller_id: UUID,
        organization_id: UUID | None = None,
        date_from: date | datetime | None = None,
        date_to: date | datetime | None = None,
        sort: str | None = None,
        descending: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """A page of ``report``: filtered, ordered and cut in SQL where the report's rows
        are rows of a table (``subscriptions`` in its own order); else computed whole, then cut."""
        _check_report(name, date_from, date_to)
        check_paging(limit, offset)
        if name == "subscriptions" and not sort:
            return reports_subscriptions.page(
                self.view, reseller_id, organization_id, date_from, date_to, limit, offset
            )
        found = self.report(name, reseller_id, organization_id, date_from, date_to, sort, descending)
        return Page(found.items[offset : offset + limit], found.total)

    def report_csv(
        self,
        name: str,
        reseller_id: UUID,
        organization_id: UUID | None = None,
        date_from: date | datetime | None = None,
        date_to: date | datetime | None = None,
        columns: Sequence[str] | None = None,
        sort: str | None = None,
        descending: bool = False,
    ) -> str:
        """The report as CSV: the chosen columns in the chosen order (default all)."""
        if name not in REPORTS:
            raise InvalidInput("name", f"must be one of {', '.join(REPORTS)}", value=name)
        chosen = report_columns(name, columns)
        page = self.report(name, reseller_id, organization_id, date_from, date_to, sort, descending)
        return csv_text(chosen, page.items)
