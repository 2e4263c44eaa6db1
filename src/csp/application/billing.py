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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, Notification, StoredEvent
from eventsourcing.utils import get_topic

from csp.aggregates.base import SYSTEM_BILLING, Actor
from csp.aggregates.billing import LEDGER_IGNORES, Charge, Tick, charges_until
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

R = TypeVar("R")

PROVISIONED_TOPIC = get_topic(Subscription.Provisioned)
INVOICE_ISSUED_TOPIC = get_topic(Invoice.Issued)
_PAGE = 1000
_HISTORY_BATCH = 500  # subscriptions whose events one query reads


# A run folds in a pool of processes from this many batches (smaller runs: not worth the start-up).
PARALLEL_FROM_BATCHES = 8


def fold_charges(app: CspApplicationBase, ids: list[UUID], end: datetime) -> list[Charge]:
    """The charges before ``end`` of a batch of subscriptions (one query for their histories)."""
    histories = select_histories(app.recorder, ids)
    out: list[Charge] = []
    for subscription_id in ids:
        events = [_ledger_event(app.mapper, e) for e in histories.get(subscription_id, ())]
        out += charges_until(subscription_id, events, end)
    return out


def _ledger_event(mapper: Mapper[UUID], stored: StoredEvent) -> Any:
    """The event for the ledger: one it only advances to (``LEDGER_IGNORES``) as a ``Tick``
    of its time, read from the stored JSON by a plain parse; any other decoded in full
    (so is one of another shape: compressed, say)."""
    if stored.topic in LEDGER_IGNORES:
        try:
            at = orjson.loads(stored.state)["at"]
            if at["_type_"] == "datetime_iso":
                return Tick(datetime.fromisoformat(at["_data_"]))
        except (ValueError, KeyError, TypeError):
            pass
    return mapper.to_domain_event(stored)


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


def _app_in_worker(env: dict[str, str]) -> CspApplicationBase:
    """This pool process's application on the same store (opened once per process)."""
    global _worker_app
    if _worker_app is None:
        from csp.application import CspApplication

        _worker_app = CspApplication(env=env)
    return _worker_app


def _bill_in_worker(job: tuple[dict[str, str], BillingJob]) -> tuple[Invoice | None, int | None]:
    """One reseller's month, in a process of the pool: its invoice (or None) and the
    notification id of the save (for the caller's read-your-writes)."""
    env, billing_job = job
    app = _app_in_worker(env)
    assert isinstance(app, BillingCommands)
    app.forget_last_notification_id()
    return app.bill_reseller(billing_job), app.last_notification_id()


@dataclass(frozen=True)
class BillingJob:
    """One reseller's month to bill: its subscriptions, at ``now`` (the caller's clock)."""

    reseller_id: UUID
    subscription_ids: list[UUID]
    period: str
    end: datetime
    now: datetime
    actor: Actor


def _stored_charge_ids(stored: list[StoredEvent]) -> set[UUID]:
    """The charge ids of an issued invoice, read from its stored JSON (its one event, as the
    transcoder writes it): decoding its thousands of lines in full cost a tenth of a run,
    and more every month. Raises on any other shape, for the caller to decode instead."""
    if len(stored) != 1 or stored[0].topic != INVOICE_ISSUED_TOPIC:
        raise ValueError("not an invoice's one Issued event")
    state = orjson.loads(stored[0].state)
    if state.get("class_version", 1) != Invoice.Issued.class_version:
        raise ValueError("an earlier version of the event")
    return {UUID(hex=c["_data_"]) for line in state["lines"] for c in line["_data_"]["charge_ids"]}


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
        billed: dict[UUID, bool] = {}
        todo: dict[UUID, list[UUID]] = defaultdict(list)
        for subscription_id, reseller_id in self.subscriptions_by_reseller():
            if reseller_id not in billed:
                billed[reseller_id] = self.exists(invoice_id_for(reseller_id, period))
            if not billed[reseller_id]:  # a reseller's month invoiced already: nothing to fold
                todo[reseller_id].append(subscription_id)
        jobs = [BillingJob(r, todo[r], period, end, now, actor) for r in sorted(todo, key=str)]
        return [invoice for invoice in self._bill(jobs) if invoice is not None]

    def _bill(self, jobs: list[BillingJob]) -> Iterator[Invoice | None]:
        """Each reseller's invoice (or None), in the jobs' order: billed here, or, for a big
        run on a store other processes can open, in a pool of processes (one per core:
        decoding and folding the histories, then writing the invoices, is all CPU), each
        process billing whole resellers, the biggest first."""
        # (a pool pays for its start-up from PARALLEL_FROM_BATCHES batches' worth of subscriptions,
        # however few each reseller has)
        batches = -(-sum(len(j.subscription_ids) for j in jobs) // _HISTORY_BATCH)
        processes = _fold_processes(batches, self.env)
        if processes <= 1 or len(jobs) < 2:
            for job in jobs:
                yield self.bill_reseller(job)
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        env = {**self.env, "CREATE_TABLE": "no"}
        order = sorted(range(len(jobs)), key=lambda k: -len(jobs[k].subscription_ids))
        with ProcessPoolExecutor(min(processes, len(jobs)), mp_context=multiprocessing.get_context("spawn")) as pool:
            done = dict(zip(order, pool.map(_bill_in_worker, [(env, jobs[k]) for k in order]), strict=True))
        positions = [position for _, position in done.values() if position is not None]
        if positions:  # what the pool saved, for this thread's read-your-writes
            self._local.last_notification_id = max(positions)
        for k in range(len(jobs)):
            yield done[k][0]

    def bill_reseller(self, job: BillingJob) -> Invoice | None:
        """One reseller's invoice of ``job.period`` and its customers' drafts (None: nothing
        to invoice, or invoiced already)."""
        charges: list[Charge] = []
        ids = job.subscription_ids
        for i in range(0, len(ids), _HISTORY_BATCH):
            charges += fold_charges(self, ids[i : i + _HISTORY_BATCH], job.end)
        if not charges:
            return None
        rates = self.find(ExchangeRates, EXCHANGE_RATES_ID, "exchange rates", readonly=True)
        issue = functools.partial(self._issue_invoice, job.reseller_id, job.period, charges, job.actor, rates, job.now)
        return self.retrying(functools.partial(self._in_unit_of_work, issue))

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
        ids = list(book.invoice_ids)
        histories = select_histories(self.recorder, ids)  # (one query for all of them)
        for invoice_id in ids:  # issued invoices never change: no copy to read them
            try:
                out |= _stored_charge_ids(histories.get(invoice_id, []))
            except (ValueError, KeyError, TypeError):  # another shape (compressed, an older version)
                out |= self.read(Invoice, invoice_id, "invoice").charge_ids
        return out

    def _in_unit_of_work(self, command: Callable[[], R]) -> R:
        with self.unit_of_work():  # (an attempt each: a retry reads afresh)
            return command()

    def _issue_invoice(
        self,
        reseller_id: UUID,
        period: str,
        charges: list[Charge],
        actor: Actor,
        rates: ExchangeRates | None,
        now: datetime,
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
        # The customers' drafts of the same charges, in the same transaction: both or neither
        # (their organizations read beforehand in a few queries, not one each).
        self.prefetch(c.organization_id for c in new)
        drafts = self.customer_invoicing.drafts(reseller_id, period, new, actor, now, rates)
        self.save(invoice, book, *drafts)
        return invoice
