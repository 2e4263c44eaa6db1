"""``csp serve`` (the HTTP API on uvicorn) and ``csp demo`` (a living account to look at)."""

from __future__ import annotations

import atexit
import os
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from csp.cli.common import clean_errors
from csp.errors import StartupError

if TYPE_CHECKING:
    from fastapi import FastAPI

# soft_wrap: lines (a URL, the demo's credentials) are never cut at 80 columns, even when
# the output is a file or a pipe
console = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:

    @app.command()
    @clean_errors
    def serve(
        host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port to listen on", min=1, max=65535)] = 8000,
        workers: Annotated[
            str,
            typer.Option(
                help="API processes on the port: a number, or auto (one per core); above 1 the projections, "
                "sagas and vendor simulator run as supervised processes of their own"
            ),
        ] = "1",
    ) -> None:
        """Run the HTTP API (and, on the embedded default, everything else in-process)."""
        import uvicorn

        from csp.api.observability import configure_logging
        from csp.bootstrap import bootstrap, web_app
        from csp.settings import get_settings

        n = parse_workers(workers)
        settings = get_settings()
        configure_logging(settings.log_level, settings.log_format, settings.log_requests)
        if n > 1:
            serve_many(host, port, n)
            return
        system = bootstrap(settings)
        console.print(serving_banner(host, port, system.database.describe(), settings.test_mode))
        try:
            # Projections, relay, workers, scheduler, simulator: in this process unless a broker is
            # set (then csp project, relay, worker, scheduler run them); each start() knows.
            if system.projector is not None:
                system.projector.start()
            if system.sagas is not None:
                system.sagas.start()
            api = web_app(system)
            uvicorn.run(api, host=host, port=port, log_config=None, proxy_headers=True, server_header=False)
        finally:
            system.close()

    @app.command()
    @clean_errors
    def demo() -> None:
        """Fill the store with a demo account, through the real commands, and print its login."""
        from csp.api.demo import run_demo
        from csp.bootstrap import bootstrap, web_services
        from csp.settings import get_settings

        system = bootstrap(get_settings())
        try:
            run_demo(web_services(system), console)
        finally:
            system.close()


def parse_workers(value: str) -> int:
    from csp.cli.fleet import cores

    if value.strip().lower() == "auto":
        return cores()
    try:
        n = int(value)
    except ValueError:
        raise typer.BadParameter(f"a number of processes or auto, not {value!r}", param_hint="--workers") from None
    if n < 1:
        raise typer.BadParameter("at least 1", param_hint="--workers")
    return n


def serve_many(host: str, port: int, n: int) -> None:
    """N API processes (uvicorn's workers) and the fleet beside them (``csp.cli.fleet``)."""
    import uvicorn

    from csp.bootstrap import bootstrap
    from csp.cli.fleet import plan
    from csp.persistence import parse_database_url
    from csp.settings import get_settings

    settings = get_settings()
    db = parse_database_url(settings.resolved_database_url())
    if db.is_sqlite and db.path is None:
        raise StartupError("--workers above 1 needs a database file or PostgreSQL (processes share no memory)")
    # the schema and the catalog, once, before any process starts
    bootstrap(settings, role="tool").close()
    from csp.vendor.server import remembered_port

    fleet, api_env = plan(
        os.environ,
        settings.vendor_url,
        settings.run_projections_in_process(),
        settings.run_sagas_in_process(),
        sim_port=0 if settings.vendor_url else remembered_port(settings.resolved_vendor_sim_db()),
    )
    fleet.start()
    try:
        beside = ", ".join(f"{name} (pid {pid})" for name, pid in fleet.pids().items())
        console.print(serving_banner(host, port, db.describe(), settings.test_mode))
        console.print(f"     {n} API processes" + (f"; beside them: {beside}" if beside else ""))
        os.environ.clear()
        os.environ.update(api_env)  # what uvicorn's processes start with
        uvicorn.run(
            "csp.cli.serve:worker_app",
            factory=True,
            workers=n,
            host=host,
            port=port,
            log_config=None,
            proxy_headers=True,
            server_header=False,
        )
    finally:
        fleet.stop()


def worker_app() -> FastAPI:
    """One API process of ``csp serve --workers N`` (uvicorn imports and calls this)."""
    from csp.api.observability import configure_logging
    from csp.bootstrap import bootstrap, web_app
    from csp.cli.fleet import die_with_parent
    from csp.settings import get_settings

    die_with_parent()
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, settings.log_requests)
    system = bootstrap(settings, load_catalog=False)
    atexit.register(system.close)
    return web_app(system)


def serving_banner(host: str, port: int, database: str, test_mode: bool) -> str:
    """What ``csp serve`` says first: the portal's address to open, then the API's."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    mode = "test mode (test clock on)" if test_mode else "live"
    everywhere = f" (listening on every address, {host})" if shown != host else ""
    return (
        f"csp: the portal is at {base}{everywhere}\n"
        f"     the JSON API at {base}/api/v1 and its docs at {base}/docs\n"
        f"     on {database}, {mode}; Ctrl+C stops it"
    )
