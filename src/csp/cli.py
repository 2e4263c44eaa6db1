"""The ``csp`` command: run the services, manage the catalog, operate the store."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from csp.aggregates.errors import CspError
from csp.bootstrap import Role, System, bootstrap
from csp.errors import StartupError
from csp.settings import get_settings

app = typer.Typer(help="csp — the back office of a Microsoft CSP reseller platform.", no_args_is_help=True)
# Each area defines its commands in its own module (``csp/<area>/cli.py``) with a
# ``register(app)`` function, called at the end of this module.
catalog_app = typer.Typer(help="The catalog: import a file, list offers.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
console = Console()
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(fn: F) -> F:
    """Operators see one clear line for a start-up or domain error, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StartupError as e:
            err.print(f"[bold red]csp:[/] {e}")
            raise typer.Exit(2) from None
        except CspError as e:
            err.print(f"[bold red]csp:[/] {e.code}: {e.message}")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def system(load_catalog: bool = True, role: Role = "all") -> System:
    """What a command needs, built by the composition root for its ``role``."""
    return bootstrap(get_settings(), load_catalog=load_catalog, role=role)


@app.command()
@clean_errors
def check() -> None:
    """Check the settings and that the database answers."""
    s = system(load_catalog=False, role="tool")
    try:
        console.print(f"database: {s.database.describe()} — ok")
        console.print(f"events: {s.app.recorder.max_notification_id() or 0}")
        console.print(f"catalog: {'loaded' if s.app.has_catalog() else 'none (csp catalog import)'}")
    finally:
        s.close()


@catalog_app.command("import")
@clean_errors
def catalog_import(
    path: Annotated[Path | None, typer.Argument(help="a catalog TOML file (default: the bundled one)")] = None,
) -> None:
    """Import a catalog file: the first import creates the catalog, later ones replace it."""
    s = system(load_catalog=False, role="tool")
    try:
        catalog = s.app.import_catalog(path)
        console.print(
            f"imported {len(catalog.offers)} offers from {catalog.source} (catalog version {catalog.version})"
        )
    finally:
        s.close()


@catalog_app.command("list")
@clean_errors
def catalog_list() -> None:
    """List the offers with their partner price and ERP in force now."""
    s = system(role="tool")
    try:
        catalog = s.app.catalog()
        now = s.app.now()
        table = Table("offer", "segment", "terms", "partner", "ERP")
        for offer in sorted(catalog.offers.values(), key=lambda o: o.name):
            p = offer.price_at(now)
            table.add_row(
                offer.name, offer.segment, "/".join(offer.terms), str(p.partner_price), str(p.erp_price or "—")
            )
        console.print(table)
    finally:
        s.close()


def _register_areas() -> None:
    from csp.api.cli import register as register_api
    from csp.api.oidc_cli import register as register_oidc
    from csp.projections.cli import register as register_read_side
    from csp.workers.cli import register as register_sagas

    for register in (register_read_side, register_sagas, register_api, register_oidc):
        register(app)


_register_areas()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
