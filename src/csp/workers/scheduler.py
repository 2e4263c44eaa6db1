"""The scheduler: time-driven work, each job idempotent per period.

- ``due-work``: ``run_due_work`` for every base subscription whose next due time (kept
  by the relay in ``saga_schedule``) has passed: billing-cycle changes, closing
  windows, renewals, trial expiry, disabling suspended subscriptions at term end.
- ``vendor-sync``: once per sync interval, a sync message per live subscription
  (assigned licences, Azure usage).
- ``billing``: month M is invoiced at 00:00 UTC on the 1st of M+1, by
  ``CspApplication.run_billing("YYYY-MM")`` (every month not yet run, in order).

More jobs: anything with ``name`` and ``run(now) -> dict``, added to ``Scheduler.jobs``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from csp.aggregates.errors import CspError, NotFound
from csp.application import CspApplication
from csp.workers.store import SagaStore

log = logging.getLogger("csp.scheduler")


class Job(Protocol):
    name: str

    def run(self, now: datetime) -> dict[str, Any]: ...


class DueWorkJob:
    name = "due-work"

    def __init__(self, app: CspApplication, store: SagaStore) -> None:
        self.app = app
        self.store = store

    def run(self, now: datetime) -> dict[str, Any]:
        ran = changed = failed = 0
        for sid in self.store.due(now):
            ran += 1
            try:
                # a long jump of the clock may need several renewals in a row
                for _ in range(100):
                    report = self.app.retrying(lambda sid=sid: self.app.run_due_work(sid, now=now))
                    if not report.changed:
                        break
                    changed += 1
            except NotFound:
                continue
            except CspError as e:
                failed += 1
                log.warning("due work for subscription %s failed: %s: %s", sid, e.code, e.message)
        return {"due": ran, "changes": changed, "failed": failed}


class VendorSyncJob:
    name = "vendor-sync"

    def __init__(self, store: SagaStore, send: Callable[..., None], interval_seconds: float) -> None:
        self.store = store
        self.send = send
        self.interval = max(60.0, interval_seconds)

    def run(self, now: datetime) -> dict[str, Any]:
        period = str(int(now.timestamp() // self.interval))
        if self.store.job_done(self.name, period):
            return {"sent": 0}
        subs = self.store.live_subscriptions()
        for sid, _ in subs:
            self.send("sync_subscription", str(sid))
        self.store.record_job(self.name, period, now)
        return {"sent": len(subs)}


def month_of(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m}"


def next_month(period: str) -> str:
    y, m = (int(x) for x in period.split("-"))
    return f"{y + m // 12}-{m % 12 + 1:02d}"


class BillingJob:
    """Runs ``app.run_billing(period)`` for each month that has ended, once each."""

    name = "billing"

    def __init__(self, app: CspApplication, store: SagaStore) -> None:
        self.app = app
        self.store = store

    def _first_period(self) -> str | None:
        first = self.app.recorder.select_notifications(start=1, limit=1)
        if not first:
            return None
        return month_of(self.app.mapper.to_domain_event(first[0]).at)  # type: ignore[attr-defined]

    def run(self, now: datetime) -> dict[str, Any]:
        last = self.store.last_job_period(self.name)
        period = next_month(last) if last else self._first_period()
        current = month_of(now)
        issued: list[str] = []
        while period is not None and period < current:
            self.app.run_billing(period)
            self.store.record_job(self.name, period, now)
            issued.append(period)
            period = next_month(period)
        return {"periods": issued}


@dataclass
class DueReport:
    """What ``Sagas.run_due`` did."""

    now: datetime
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    drained: bool = True


class Scheduler:
    def __init__(self, jobs: list[Job], clock: Callable[[], datetime], interval_seconds: float) -> None:
        self.jobs = jobs
        self.clock = clock
        self.interval = interval_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.on_tick: list[Callable[[], None]] = []

    def run_jobs(self, now: datetime) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        with self._lock:  # the loop and run_due never run the jobs at once
            for job in self.jobs:
                try:
                    out[job.name] = job.run(now)
                except Exception as e:
                    log.exception("scheduler job %s failed", job.name)
                    out[job.name] = {"error": f"{type(e).__name__}: {e}"}
        return out

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self.run_forever, name="scheduler", daemon=True)
        self._thread.start()

    def run_forever(self) -> None:
        while not self._stopping.is_set():
            for hook in self.on_tick:
                try:
                    hook()
                except Exception:
                    log.exception("scheduler hook failed")
            self.run_jobs(self.clock())
            self._stopping.wait(self.interval)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
