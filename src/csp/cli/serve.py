"""``csp serve`` (the HTTP API on uvicorn) and ``csp demo`` (a living account to look at)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from csp.cli.common import clean_errors

# soft_wrap: lines (a URL, the demo's credentials) are never cut at 80 columns, even when
# the output is a file or a pipe
console = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:

    @app.command()
    @clean_errors
    def serve(
        host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port to listen on", min=1, max=65535)] = 8000,
    ) -> None:
        """Run the HTTP API (and, on the embedded default, everything else in-process)."""
        import uvicorn

        from csp.api.observability import configure_logging
        from csp.bootstrap import bootstrap, web_app
        from csp.settings import get_settings

        settings = get_settings()
        configure_logging(settings.log_level, settings.log_format, settings.log_requests)
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
