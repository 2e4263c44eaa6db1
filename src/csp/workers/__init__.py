"""The sagas: broker, relay, workers, scheduler, vendor gateway and mailer, built from settings.

Everything the outside world sees (the vendor's API, email) is driven from here, and
data flows one way: the event log → the relay (a tracked position, ``relay``) → one
Dramatiq message per event that needs work (``broker``: Redis, RabbitMQ or in-process)
→ idempotent saga actors (``actors``, ``steps``) that call the vendor gateway and the
mailer → back into the application as new events; ``scheduler`` adds time-driven work
and ``reconcile`` compares with the vendor. The package imports the application,
``csp.vendor``, ``csp.mail``, ``csp.persistence`` and settings; never the API or the
read side. ``Sagas(settings, database, app, clock, mailer, run_in_process=...)`` builds
them without starting anything (``csp.bootstrap`` does, for the roles that need them);
``Sagas.start()`` runs, in this process, what ``run_in_process`` asks for (the embedded
default: relay, worker threads on the in-process broker, scheduler, and the vendor
simulator when ``CSP_VENDOR_URL`` is empty). In production each runs as its own process:
``csp relay``, ``csp worker``, ``csp scheduler``, ``csp vendor-sim``.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import dramatiq
from dramatiq.brokers.stub import StubBroker

from csp.clock import Clock
from csp.mail import Mailer
from csp.persistence import Database
from csp.settings import Settings
from csp.vendor import VendorGateway
from csp.vendor.client import HttpVendorGateway
from csp.workers.actors import register_actors
from csp.workers.broker import broker_kind, build_broker
from csp.workers.control import SagasControlClient
from csp.workers.gdap_steps import MAX_POLLS, GdapJob
from csp.workers.notices import NoticeJob, NoticeSteps
from csp.workers.reconcile import VendorReconciliation
from csp.workers.relay import Relay
from csp.workers.scheduler import BillingJob, DueReport, DueWorkJob, Job, Scheduler, VendorSyncJob
from csp.workers.steps import SagaSteps
from csp.workers.store import SagaStore
from csp.workers.usage import UsageImportJob
from csp.workers.webhook_store import Delivery, WebhookStore
from csp.workers.webhooks import WebhookSteps

if TYPE_CHECKING:
    from csp.application import CspApplication
    from csp.vendor.server import BackgroundServer

log = logging.getLogger("csp.sagas")


class Sagas:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        app: CspApplication,
        clock: Clock,
        mailer: Mailer,
        *,
        run_in_process: bool,
    ) -> None:
        self.settings = s = settings
        self.app = app
        self.clock = clock
        self.run_in_process = run_in_process
        self.kind = broker_kind(s.broker_url)
        self.broker = build_broker(s)
        self.store = SagaStore(database)
        self.mailer = mailer
        self._stopped = False
        self._gateway: VendorGateway | None = None
        self._gateway_lock = threading.Lock()
        self._sim_server: BackgroundServer | None = None
        self.steps = SagaSteps(
            self.app,
            self.store,
            self.gateway,
            self.mailer,
            self.send,
            poll_ms=s.saga_poll_ms,
            reconcile_ms=s.saga_max_backoff_ms,
            settle_ms=s.saga_settle_ms,
            public_url=s.public_url,
        )
        # notifications and webhooks (issue 16, items 6 and 7)
        self.webhook_store = WebhookStore(self.store)
        self.webhook_steps = WebhookSteps(
            self.app,
            self.webhook_store,
            self.send,
            disable_after=s.webhook_disable_after,
            timeout_seconds=s.webhook_timeout_seconds,
        )
        self.actors = register_actors(
            self.broker,
            self.steps,
            s,
            self.store,
            clock,
            webhooks=self.webhook_steps,
            notices=NoticeSteps(self.app, self.store),
        )
        self.relay = Relay(self.app, self.store, lambda actor, args: self.send(actor, *args))
        jobs: list[Job] = [
            DueWorkJob(self.app, self.store),
            VendorSyncJob(self.store, self.send, s.vendor_sync_interval_seconds),
            UsageImportJob(self.steps.azure, self.store),  # Azure usage: before billing, so a month is whole
            BillingJob(self.app, self.store),
            NoticeJob(self.app, self.store),
            VendorReconciliation(self.app, self.store, self.gateway, s.vendor_reconcile_interval_seconds),
            GdapJob(self.app, self.store, self.send),  # issue 16: GDAP reminders, expiry, approvals
        ]
        self.scheduler = Scheduler(jobs, self.app.now, s.scheduler_interval_seconds)
        self.scheduler.on_tick.append(self.enqueue_requested_retries)
        self.scheduler.on_tick.append(self.enqueue_requested_replays)
        self.worker: dramatiq.Worker | None = None
        self._relationship_url: str | None = None
        self._running: set[str] = set()
        # API processes of csp serve --workers on the in-process broker: the sagas' queues
        # are in another process, asked through its control port (csp.workers.control)
        self.remote: SagasControlClient | None = None
        if s.sagas_control_url and not run_in_process:
            self.remote = SagasControlClient(s.sagas_control_url, s.sagas_control_token)

    # --- the vendor ------------------------------------------------------------

    def gateway(self) -> VendorGateway:
        """The vendor gateway; with no ``CSP_VENDOR_URL``, the simulator served in this process."""
        with self._gateway_lock:
            if self._gateway is None:
                url = self.settings.vendor_url or self._start_simulator()
                self._gateway = HttpVendorGateway(url, timeout=self.settings.vendor_timeout_seconds)
            return self._gateway

    def relationship_request_url(self) -> str:
        """The vendor's reseller-relationship link (for delegated admin rights); it names
        the partner, not the customer, so it is asked once and kept."""
        if self._relationship_url is None:
            self._relationship_url = self.gateway().relationship_request_url()
        return self._relationship_url

    def approve_gdap_as_customer(self, gdap_id: str, approval_url: str, timeout: float = 30.0) -> bool:
        """Test mode (``POST /test/gdap/{id}/approve``): what the customer's global admin does
        at the approval link (the simulator's page posts the same form), then the GDAP saga
        asks the vendor at once instead of at its next poll."""
        import httpx

        from csp.aggregates.errors import GdapApprovalExpired, InvalidGdapTransition
        from csp.aggregates.gdap import GdapRelationship
        from csp.vendor.gateway import VendorError

        rel = self.app.load(GdapRelationship, UUID(gdap_id), "GDAP relationship")
        if rel.vendor_relationship_id is not None:
            # the vendor's link as it gives it now (the embedded simulator's port changes per run)
            approval_url = self.gateway().get_gdap_relationship(rel.vendor_relationship_id).approval_url
        try:
            answer = httpx.post(approval_url, timeout=self.settings.vendor_timeout_seconds)
        except httpx.HTTPError as e:
            raise VendorError(f"{type(e).__name__}: {e}") from None
        if answer.status_code == 409:  # refused there (expired unapproved): the platform learns why now
            self.steps.gdap.sync_gdap(gdap_id, MAX_POLLS)
            rel = self.app.load(GdapRelationship, UUID(gdap_id), "GDAP relationship")
            if rel.status == "expired":
                raise GdapApprovalExpired(
                    "the customer did not approve this GDAP request within 90 days: it expired; ask again",
                    gdap_id=rel.id,
                    status=rel.status,
                )
            raise InvalidGdapTransition(
                f"the vendor refused the approval: the GDAP relationship is {rel.status}",
                gdap_id=rel.id,
                status=rel.status,
            )
        if answer.status_code >= 400:
            raise VendorError(f"the approval page answered {answer.status_code}")
        if "worker" in self._running:
            self.send("sync_gdap", gdap_id, 0)
        else:  # an API process of csp serve --workers, or without workers: the step runs here
            self.steps.gdap.sync_gdap(gdap_id, 0)
        # wait for this relationship only (others may be polling the vendor for a while)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rel = self.app.load(GdapRelationship, UUID(gdap_id), "GDAP relationship")
            if rel.status != "approval_pending":
                return True
            time.sleep(0.05)
        return False

    def _start_simulator(self) -> str:
        from csp.vendor.server import BackgroundServer, remembered_port
        from csp.vendor.simulator import create_app

        # the vendor follows the platform's clock (the test clock, in test mode), on the
        # port it had last time for this state (the links it gave still work)
        port = remembered_port(self.settings.resolved_vendor_sim_db())
        self._sim_server = BackgroundServer(create_app(self.settings, clock=self.clock), port=port)
        url = self._sim_server.start()
        log.info("vendor simulator serving at %s (state in %s)", url, self.settings.resolved_vendor_sim_db())
        return url

    # --- messages ---------------------------------------------------------------

    def send(self, actor_name: str, *args: Any, delay_ms: int | None = None) -> None:
        actor = self.actors[actor_name]
        actor.send_with_options(args=args, delay=delay_ms)

    def retry(self, message_id: str) -> str:
        """Re-enqueue a failed message (``csp sagas retry``). With the in-process broker the
        running service picks the request up on its next scheduler tick."""
        failed = self.store.failed_message(message_id)
        if failed is None:
            raise KeyError(message_id)
        if self.kind == "stub" and "worker" not in self._running:
            self.store.request_retry(failed.message_id, self.app.now())
            return "requested"
        self.send(failed.actor, *failed.args)
        self.store.mark_retried(failed.message_id, self.app.now())
        return "enqueued"

    def enqueue_requested_retries(self) -> int:
        n = 0
        for f in self.store.retry_requests():
            self.send(f.actor, *f.args)
            self.store.mark_retried(f.message_id, self.app.now())
            n += 1
        return n

    # --- webhook deliveries (the web layer's port: csp.api.ports.Webhooks) ------------

    def deliveries(self, endpoint_id: UUID, limit: int = 50, offset: int = 0) -> tuple[list[Delivery], int]:
        return self.webhook_store.deliveries(endpoint_id, limit, offset)

    def delivery(self, delivery_id: UUID) -> Delivery | None:
        return self.webhook_store.delivery(delivery_id)

    def replay_delivery(self, delivery_id: UUID) -> str:
        """Send a delivery again, with its webhook-id and body. With the in-process broker
        and no worker here, the running service sends it on its next scheduler tick."""
        later = self.kind == "stub" and "worker" not in self._running
        self.webhook_store.request_replay(delivery_id, requested=later)
        if later:
            return "requested"
        self.send("deliver_webhook", str(delivery_id))
        return "enqueued"

    def enqueue_requested_replays(self) -> int:
        n = 0
        for delivery_id in self.webhook_store.replay_requests():
            self.webhook_store.clear_replay_request(delivery_id)
            self.send("deliver_webhook", str(delivery_id))
            n += 1
        return n

    # --- running -----------------------------------------------------------------

    def start(self) -> None:
        """Start what this process runs: everything in the embedded default, else nothing
        (the API process then only sends and waits; the CLI starts each role)."""
        if self.run_in_process:
            self.start_worker(self.settings.worker_threads)
            self.start_relay()
            self.start_scheduler()

    def start_relay(self) -> None:
        self.relay.start()
        self._running.add("relay")

    def start_worker(self, threads: int) -> None:
        self.gateway()
        self.worker = dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=100)
        self.worker.start()
        self._running.add("worker")

    def start_scheduler(self) -> None:
        self.scheduler.start()
        self._running.add("scheduler")

    def stop(self) -> None:
        """Stop what runs and close the broker and the store (once: a second call does nothing)."""
        if self._stopped:
            return
        self._stopped = True
        if "scheduler" in self._running:
            self.scheduler.stop()
        if "relay" in self._running:
            self.relay.stop()
        if self.worker is not None:
            self.worker.stop(timeout=10_000)
            self.worker = None
        self._running.clear()
        if self._sim_server is not None:
            self._sim_server.stop()
            self._sim_server = None
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None
        self.webhook_steps.close()
        if self.remote is not None:
            self.remote.close()
            self.remote = None
        self.broker.close()
        self.store.close()

    # --- waiting (tests, e2e, the test clock) ----------------------------------------

    def _relay_caught_up(self, target: int, deadline: float) -> bool:
        while True:
            remaining = deadline - time.monotonic()
            if "relay" in self._running:
                if self.relay.wait(target, timeout=max(0.0, min(remaining, 0.5))):
                    return True
            elif (self.store.position() or 0) >= target:
                return True
            else:
                time.sleep(0.05)
            if time.monotonic() >= deadline:
                return False

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the relay has processed every event and the queues are empty, again
        and again until no new event appears. True if everything settled in time."""
        if self.remote is not None:
            return self.remote.drain(timeout)
        deadline = time.monotonic() + timeout
        while True:
            target = self.app.recorder.max_notification_id() or 0
            if not self._relay_caught_up(target, deadline):
                return False
            for queue in sorted(self.broker.get_declared_queues()):
                remaining_ms = int((deadline - time.monotonic()) * 1000)
                if remaining_ms <= 0:
                    return False
                try:
                    if isinstance(self.broker, StubBroker):
                        self.broker.join(queue, timeout=remaining_ms, fail_fast=False)
                    else:
                        self.broker.join(queue, timeout=remaining_ms)  # type: ignore[call-arg]
                except dramatiq.errors.QueueJoinTimeout:
                    return False
            if (self.app.recorder.max_notification_id() or 0) == target:
                return True

    def run_due(self, now: datetime, timeout: float = 30.0) -> DueReport:
        """Run every due job synchronously for ``now`` (the test clock calls this), then wait
        until the messages they caused were processed (in this process, or by the worker
        processes on a Redis broker, or by the sagas' process through its control port)."""
        if self.remote is not None:
            return self.remote.run_due(now, timeout)
        report = DueReport(now=now)
        settled = self.drain(timeout)  # what came before the jump first
        report.jobs = self.scheduler.run_jobs(now)
        settled = self.drain(timeout) and settled
        # work that became due because of what just ran (e.g. a renewal's new windows)
        again = self.scheduler.run_jobs(now)
        if any(v.get("changes") for v in again.values()):
            report.jobs = {k: {**report.jobs.get(k, {}), "again": v} for k, v in again.items()}
            settled = self.drain(timeout) and settled
        report.drained = settled
        return report


__all__ = ["DueReport", "Sagas"]
