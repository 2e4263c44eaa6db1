"""``csp check``, ``csp secret-key`` and the catalog's commands: ``csp catalog import|list``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from csp.application.sealing import new_key
from csp.cli.common import clean_errors, console, system


def register(app: typer.Typer) -> None:
    catalog_app = typer.Typer(help="The catalog: import a file, list offers.", no_args_is_help=True)
    app.add_typer(catalog_app, name="catalog")

    @app.command()
    @clean_errors
    def check() -> None:
        """Check the settings and that the database answers."""
        s = system(load_catalog=False, role="tool")
        try:
            console.print(f"database: {s.database.describe()} — ok")
            console.print(f"events: {s.app.recorder.max_notification_id() or 0}")
            console.print(f"catalog: {'loaded' if s.app.has_catalog() else 'none (csp catalog import)'}")
            if s.secret_key is not None:
                console.print(f"secret key: {s.secret_key.source} (key id {s.secret_key.box.key_id})")
        finally:
            s.close()

    @app.command("secret-key")
    def secret_key() -> None:
        """Print a new secret key for CSP_SECRET_KEY (base64 of 32 random bytes)."""
        print(new_key())

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
