"""``csp serve`` (the HTTP API on uvicorn) and ``csp demo`` (a living account to look at)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

console = Console()


def register(app: typer.Typer) -> None:
    from csp.cli import clean_errors

    @app.command()
    @clean_errors
    def serve(
        host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port to listen on", min=1, max=65535)] = 8000,
    ) -> None:
        """Run the HTTP API (and, on the embedded default, everything else in-process)."""
        import uvicorn

        from csp.api import create_app
        from csp.api.observability import configure_logging
        from csp.bootstrap import bootstrap
        from csp.settings import get_settings

        settings = get_settings()
        configure_logging(settings.log_level, settings.log_format)
        system = bootstrap(settings)
        try:
            # Projections, relay, workers, scheduler, simulator: in this process unless a broker is
            # set (then csp project, relay, worker, scheduler run them); each start() knows.
            if system.read is not None:
                system.read.start()
            if system.sagas is not None:
                system.sagas.start()
            api = create_app(system)
            mode = "test mode (test clock on)" if settings.test_mode else "live"
            console.print(
                f"csp: serving http://{host}:{port}/api/v1 (docs at /docs) on {system.database.describe()}, {mode}"
            )
            uvicorn.run(api, host=host, port=port, log_config=None, proxy_headers=True, server_header=False)
        finally:
            system.close()

    @app.command()
    @clean_errors
    def demo() -> None:
        """Fill the store with a demo account, through the real commands, and print its login."""
        from csp.api.demo import run_demo
        from csp.bootstrap import bootstrap
        from csp.settings import get_settings

        system = bootstrap(get_settings())
        try:
            run_demo(system, console)
        finally:
            system.close()
