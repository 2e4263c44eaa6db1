"""Commands of the sagas: ``csp relay``, ``csp worker``, ``csp scheduler``, ``csp vendor-sim``,
``csp sagas status|failed|retry``.

``csp worker --processes N`` keeps its own small supervisor (``_supervise``) rather than
handing over to Dramatiq's process model (``dramatiq`` / ``dramatiq.cli.main`` with
``--processes/--threads``), read in dramatiq 2.2's ``cli.py``: when one of its worker
processes exits unexpectedly (a SIGKILL, the OOM killer) it logs "exited
unexpectedly" and shuts all the others down, restarting nothing (only ``--watch``
reloads, and only on file changes); ``docs/sagas.md`` promises that one dead worker is
restarted while the others keep working. Its CLI also imports a module that declares a
broker at import time, where ours is built from ``Settings`` by the composition root
(``csp.workers.broker``, through ``csp.bootstrap``: namespace, heartbeat, middleware), with
nothing connecting at import. Each child is a plain ``csp worker --processes 1``, so a
worker is the same code in-process (``csp serve``), alone, or supervised.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from typing import Annotated

import typer
from rich.console import Console

from csp.cli.common import clean_errors, system
from csp.errors import StartupError

console = Console()


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _wait_for_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    while not stop.wait(1.0):
        pass


def _require_broker(role: str) -> None:
    from csp.settings import get_settings

    if not get_settings().broker_url:
        raise StartupError(
            f"csp {role} runs on its own only with a broker: set CSP_BROKER_URL (redis://… or amqp://…); "
            "without one, csp serve runs the relay, workers and scheduler in-process"
        )


def register(app: typer.Typer) -> None:

    sagas_app = typer.Typer(help="Operate the sagas: pending work and failed messages.", no_args_is_help=True)
    app.add_typer(sagas_app, name="sagas")
    vendor_app = typer.Typer(help="Compare with the vendor, the truth for what it bills.", no_args_is_help=True)
    app.add_typer(vendor_app, name="vendor")

    @vendor_app.command("reconcile")
    @clean_errors
    def reconcile(
        fix: Annotated[bool, typer.Option("--fix", help="adopt orphans, correct the platform")] = False,
    ) -> None:
        """Every customer's subscriptions at the vendor against the platform's: orphans, ghosts, differences."""
        from csp.workers.reconcile import run_reconciliation

        def say(line: str) -> None:
            console.print(line, markup=False, highlight=False, soft_wrap=True)

        raise typer.Exit(run_reconciliation(system(load_catalog=False, role="sagas"), fix, say))

    @app.command()
    @clean_errors
    def relay() -> None:
        """Follow the event log and enqueue the outside work events call for (until stopped)."""
        _require_broker("relay")
        s = system(load_catalog=False, role="sagas")
        _logging(s.settings.log_level)
        assert s.sagas is not None
        s.sagas.start_relay()
        console.print(f"relay: following {s.database.describe()} from notification {s.sagas.store.position() or 0}")
        try:
            _wait_for_signal()
        finally:
            s.close()

    @app.command()
    @clean_errors
    def worker(
        processes: Annotated[int, typer.Option(help="worker processes")] = 1,
        threads: Annotated[int | None, typer.Option(help="threads per process (default CSP_WORKER_THREADS)")] = None,
    ) -> None:
        """Run saga workers (Dramatiq) until stopped; several processes are supervised and restarted."""
        _require_broker("worker")
        if processes < 1:
            raise typer.BadParameter("at least one process")
        if processes > 1:
            _supervise(processes, threads)
            return
        s = system(load_catalog=False, role="sagas")
        _logging(s.settings.log_level)
        assert s.sagas is not None
        n = threads or s.settings.worker_threads
        s.sagas.start_worker(n)
        console.print(f"worker: {n} thread(s) on {s.sagas.kind} ({s.settings.broker_namespace})")
        try:
            _wait_for_signal()
        finally:
            s.close()

    @app.command()
    @clean_errors
    def scheduler() -> None:
        """Run time-driven work (renewals, expiries, windows, vendor sync, billing) until stopped."""
        _require_broker("scheduler")
        s = system(load_catalog=False, role="sagas")
        _logging(s.settings.log_level)
        assert s.sagas is not None
        s.sagas.start_scheduler()
        jobs = ", ".join(j.name for j in s.sagas.scheduler.jobs)
        console.print(f"scheduler: every {s.settings.scheduler_interval_seconds:g} s: {jobs}")
        try:
            _wait_for_signal()
        finally:
            s.close()

    @sagas_app.command("run")
    @clean_errors
    def run(
        control_port: Annotated[
            int | None,
            typer.Option(help="serve the control port (drain, run due work) on 127.0.0.1 at this port; 0: any free"),
        ] = None,
    ) -> None:
        """Run the relay, the saga workers and the scheduler in this one process (until stopped).

        ``csp serve --workers N`` runs this beside its API processes on the embedded default
        (the in-process broker lives here), with a control port they ask to drain and to run
        due work, behind the bearer token in CSP_SAGAS_CONTROL_TOKEN."""
        import os

        s = system(load_catalog=False, role="sagas")
        _logging(s.settings.log_level)
        assert s.sagas is not None
        server = None
        try:
            s.sagas.start_worker(s.settings.worker_threads)
            s.sagas.start_relay()
            s.sagas.start_scheduler()
            where = ""
            if control_port is not None:
                from csp.vendor.server import BackgroundServer
                from csp.workers.control import control_app

                token = os.environ.get("CSP_SAGAS_CONTROL_TOKEN", "")
                if not token:
                    raise StartupError("csp sagas run --control-port needs CSP_SAGAS_CONTROL_TOKEN (a shared secret)")
                server = BackgroundServer(control_app(s.sagas, token), port=control_port)
                where = f"; control port {server.start()}"
            console.print(
                f"sagas: relay, {s.settings.worker_threads} worker thread(s) on {s.sagas.kind} and the scheduler{where}",
                soft_wrap=True,
            )
            _wait_for_signal()
        finally:
            if server is not None:
                server.stop()
            s.close()

    @app.command("vendor-sim")
    @clean_errors
    def vendor_sim(
        host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port")] = 8100,
    ) -> None:
        """Serve the vendor simulator (Partner Center-shaped API; state in CSP_VENDOR_SIM_DB)."""
        import uvicorn

        from csp.bootstrap import build_clock
        from csp.persistence import parse_database_url
        from csp.settings import get_settings
        from csp.vendor.simulator import create_app

        settings = get_settings()
        _logging(settings.log_level)
        # the platform's clock: with CSP_TEST_MODE, the test clock's offset in its database
        clock = build_clock(settings, parse_database_url(settings.resolved_database_url()))
        console.print(f"vendor simulator on http://{host}:{port} (state in {settings.resolved_vendor_sim_db()})")
        uvicorn.run(create_app(settings, clock=clock), host=host, port=port, log_level="warning")

    @sagas_app.command("status")
    @clean_errors
    def status() -> None:
        """The relay's position, pending saga work and failed messages."""
        s = system(load_catalog=False, role="sagas")
        try:
            assert s.sagas is not None
            store = s.sagas.store
            head = s.app.recorder.max_notification_id() or 0
            console.print(f"relay position: {store.position() or 0} of {head} events")
            counts: dict[str, int] = {}
            for kind, _, _ in store.pending():
                counts[kind] = counts.get(kind, 0) + 1
            console.print("pending: " + (", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none"))
            console.print(f"failed messages: {len(store.failed())}")
        finally:
            s.close()

    @sagas_app.command("failed")
    @clean_errors
    def failed(all_: Annotated[bool, typer.Option("--all", help="include those already retried")] = False) -> None:
        """List the messages that exhausted their retries."""
        s = system(load_catalog=False, role="sagas")
        try:
            assert s.sagas is not None
            rows = s.sagas.store.failed(include_retried=all_)
            if not rows:
                console.print("no failed messages")
                return
            for f in rows:  # one line each, whole ids: easy to grep and to paste into retry
                args = ", ".join(repr(a) for a in f.args)
                retried = " (retried)" if f.retried_at else ""
                console.print(
                    f"{f.message_id}  {f.actor}({args})  retries={f.retries}  "
                    f"failed={f.failed_at:%Y-%m-%d %H:%M:%S}{retried}  {f.error[:200]}",
                    soft_wrap=True,
                    markup=False,
                    highlight=False,
                )
        finally:
            s.close()

    @sagas_app.command("retry")
    @clean_errors
    def retry(
        message_id: Annotated[str, typer.Argument(help="the id shown by csp sagas failed (a prefix will do)")],
    ) -> None:
        """Re-enqueue one failed message."""
        s = system(load_catalog=False, role="sagas")
        try:
            assert s.sagas is not None
            try:
                outcome = s.sagas.retry(message_id)
            except KeyError:
                console.print(f"[bold red]csp:[/] no failed message {message_id}")
                raise typer.Exit(1) from None
            if outcome == "requested":
                console.print(f"{message_id}: the running service re-enqueues it on its next scheduler tick")
            else:
                console.print(f"{message_id}: re-enqueued")
        finally:
            s.close()


def _supervise(processes: int, threads: int | None) -> None:
    """Run N single-process workers; restart one that dies; stop them all on a signal."""
    _logging("INFO")
    log = logging.getLogger("csp.workers")
    cmd = [sys.executable, "-m", "csp.cli", "worker", "--processes", "1"]
    if threads:
        cmd += ["--threads", str(threads)]
    children = [subprocess.Popen(cmd) for _ in range(processes)]
    stopping = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    try:
        while not stopping.wait(1.0):
            for i, child in enumerate(children):
                code = child.poll()
                if code is not None:
                    log.warning("worker process %d exited with %s; restarting it", child.pid, code)
                    time.sleep(1.0)
                    children[i] = subprocess.Popen(cmd)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
