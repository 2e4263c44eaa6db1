"""The monthly billing run: one immutable invoice per reseller and month, from the ledger.

Month M is invoiced once it has ended (00:00 UTC on the 1st of M+1). The ledger is the
pure fold of each subscription's events (``csp.aggregates.billing``), computed here from
the event store itself, so a run never depends on a read model having caught up. An
invoice bills every charge dated before the end of its month that no earlier invoice of
the reseller billed: a correction that arrives late lands on the next invoice. Re-running
a month issues nothing twice (deterministic invoice ids, and the reseller's invoice book
saved with each invoice). The same run drafts the month's customer invoices from the same
charges at the customer prices (``csp.application.customer_invoicing``), saved with the
reseller's invoice.
"""

from __future__ import annotations

import functools
import json
import os
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from csp.aggregates.base import SYSTEM_BILLING, Actor
from csp.aggregates.billing import Charge, charges_until
from csp.aggregates.currency import BASE_CURRENCY, EXCHANGE_RATES_ID, AppliedRate, ExchangeRates
from csp.aggregates.errors import Conflict
from csp.aggregates.invoice import (
    Invoice,
    InvoiceBook,
    invoice_book_id_for,
    invoice_id_for,
    lines_from_charges,
    parse_period,
    periods_ended_between,
)
from csp.aggregates.organization import Organization
from csp.aggregates.subscription import Subscription
from csp.application.base import CspApplicationBase
from csp.persistence import select_histories

PROVISIONED_TOPIC = get_topic(Subscription.Provisioned)
_PAGE = 1000
_HISTORY_BATCH = 500  # subscriptions whose events one query reads


# A run folds in a pool of processes from this many batches (smaller runs: not worth the start-up).
PARALLEL_FROM_BATCHES = 8


def fold_charges(app: CspApplicationBase, ids: list[UUID], end: datetime) -> list[Charge]:
    """The charges before ``end`` of a batch of subscriptions (one query for their histories)."""
    histories = select_histories(app.recorder, ids)
    out: list[Charge] = []
    for subscription_id in ids:
        events = [app.mapper.to_domain_event(e) for e in histories.get(subscription_id, ())]
        out += charges_until(subscription_id, events, end)
    return out


def _fold_processes(batches: int, env: dict[str, str] | object) -> int:
    if batches < PARALLEL_FROM_BATCHES:
        return 1
    get = getattr(env, "get", lambda _k, d=None: d)
    module = get("PERSISTENCE_MODULE") or ""
    name = get("SQLITE_DBNAME") or ""
    if module.endswith("postgres") or (module.endswith("sqlite") and "mode=memory" not in name):
        try:
            return min(len(os.sched_getaffinity(0)), batches)
        except AttributeError:  # pragma: no cover - not Linux
            return min(os.cpu_count() or 1, batches)
    return 1  # the in-memory stores live in this process only


_worker_app: CspApplicationBase | None = None


def _fold_in_worker(job: tuple[dict[str, str], list[UUID], datetime]) -> list[Charge]:
    """One batch, in a process of the pool (its own application on the same store, opened once)."""
    global _worker_app
    env, ids, end = job
    if _worker_app is None:
        from csp.application import CspApplication

        _worker_app = CspApplication(env=env)
    return fold_charges(_worker_app, ids, end)


class PeriodNotEnded(Conflict):
    code = "period_not_ended"


class BillingCommands(CspApplicationBase):
    def run_billing(self, period: str, actor: Actor = SYSTEM_BILLING) -> list[Invoice]:
        """Issue the invoices of month ``period`` (``YYYY-MM``) that are not issued yet.

        Returns the invoices this run issued (none when the month was already billed).
        """
        _, end = parse_period(period)
        now = self.now()
        if now < end:
            raise PeriodNotEnded(
                f"{period} is invoiced from {end:%Y-%m-%d} 00:00 UTC; it is {now:%Y-%m-%d %H:%M} UTC now",
                period=period,
            )
        due: dict[UUID, list[Charge]] = defaultdict(list)
        billed: dict[UUID, bool] = {}
        todo: list[UUID] = []
        for subscription_id, reseller_id in self.subscriptions_by_reseller():
            if reseller_id not in billed:
                billed[reseller_id] = self.exists(invoice_id_for(reseller_id, period))
            if not billed[reseller_id]:  # a reseller's month invoiced already: nothing to fold
                todo.append(subscription_id)
        batches = [todo[i : i + _HISTORY_BATCH] for i in range(0, len(todo), _HISTORY_BATCH)]
        for charges in self._fold_batches(batches, end):
            for charge in charges:
                due[charge.reseller_id].append(charge)
        issued: list[Invoice] = []
        rates = self.find(ExchangeRates, EXCHANGE_RATES_ID, "exchange rates", readonly=True) if due else None
        for reseller_id in sorted(due, key=str):
            charges = due[reseller_id]
            invoice = self.retrying(functools.partial(self._issue_invoice, reseller_id, period, charges, actor, rates))
            if invoice is not None:
                issued.append(invoice)
        return issued

    def _fold_batches(self, batches: list[list[UUID]], end: datetime) -> Iterator[list[Charge]]:
        """Each batch's charges, in order: folded here, or, for a big run on a store other
        processes can open, in a pool of processes (one per core: decoding and folding the
        histories is most of a run's CPU)."""
        processes = _fold_processes(len(batches), self.env)
        if processes <= 1:
            for ids in batches:
                yield fold_charges(self, ids, end)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        env = {**self.env, "CREATE_TABLE": "no"}
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield from pool.map(_fold_in_worker, [(env, ids, end) for ids in batches])

    def run_due_billing(self, since: datetime, actor: Actor = SYSTEM_BILLING) -> list[Invoice]:
        """Bill every month that ended after ``since`` and by now, oldest first (for the
        scheduler, and the test clock moving forward). Idempotent like ``run_billing``."""
        issued: list[Invoice] = []
        for period in periods_ended_between(since, self.now()):
            issued += self.run_billing(period, actor)
        return issued

    def subscriptions_by_reseller(self) -> Iterator[tuple[UUID, UUID]]:
        """Every subscription ever provisioned, with its reseller, in the order they were."""
        start = 0
        while True:
            page = self.recorder.select_notifications(
                start, _PAGE, topics=[PROVISIONED_TOPIC], inclusive_of_start=False
            )
            for n in page:
                yield UUID(str(n.originator_id)), self._provisioned_reseller_id(n)
            if len(page) < _PAGE:
                return
            start = page[-1].id

    def _provisioned_reseller_id(self, notification: Notification) -> UUID:
        """The reseller of a ``Subscription.Provisioned``: read from the stored JSON when it
        has the shape the transcoder writes (a plain ``json.loads`` is ~5x cheaper than
        decoding the whole event, a sixth of a billing run), else by decoding the event."""
        try:
            terms = json.loads(notification.state)["terms"]["_data_"]
            return UUID(hex=terms["reseller_id"]["_data_"])
        except (ValueError, KeyError, TypeError):
            event = self.mapper.to_domain_event(notification)
            return event.terms.reseller_id  # type: ignore[attr-defined,no-any-return]

    def invoiced_charge_ids(self, reseller_id: UUID) -> set[UUID]:
        """Every charge already on one of the reseller's invoices."""
        book_id = invoice_book_id_for(reseller_id)
        if not self.exists(book_id):
            return set()
        book = self.read(InvoiceBook, book_id, "invoice book")
        out: set[UUID] = set()
        for invoice_id in book.invoice_ids:  # issued invoices never change: no copy to read them
            out |= self.read(Invoice, invoice_id, "invoice").charge_ids
        return out

    def _issue_invoice(
        self,
        reseller_id: UUID,
        period: str,
        charges: list[Charge],
        actor: Actor,
        rates: ExchangeRates | None = None,
    ) -> Invoice | None:
        if self.exists(invoice_id_for(reseller_id, period)):
            return None
        billed = self.invoiced_charge_ids(reseller_id)
        new = [c for c in charges if c.id not in billed]
        # A charge only the customer pays for (a free partner price) is not on the reseller's
        # invoice; a usage row rated 0.00 is (its quantity and day belong to its meter's line).
        lines = lines_from_charges(c for c in new if c.amount != 0 or c.kind == "usage")
        if not lines:
            return None
        now = self.now()
        book_id = invoice_book_id_for(reseller_id)
        if self.exists(book_id):
            book = self.load(InvoiceBook, book_id, "invoice book")
        else:
            book = InvoiceBook.open(reseller_id, actor=actor, at=now)
        currency = BASE_CURRENCY
        reseller = self.find(Organization, reseller_id, "organization", readonly=True)
        if reseller is not None and reseller.settings is not None:
            currency = reseller.settings.currency
        # One rate per invoice (the month's, or the latest earlier one's; none: in EUR).
        rate: AppliedRate | None = rates.rate_for(currency, period) if rates is not None else None
        invoice = Invoice.issue(reseller_id, period, book.number_for(period), lines, actor=actor, at=now, rate=rate)
        book.add(invoice, actor=actor, at=now)
        # The customers' drafts of the same charges, in the same transaction: both or neither.
        drafts = self.customer_invoicing.drafts(reseller_id, period, new, actor, now, rates)
        self.save(invoice, book, *drafts)
        return invoice
