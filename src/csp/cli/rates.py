"""The distributor's exchange rates: ``csp rates set|import|list`` (docs/currencies.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from csp.aggregates.errors import InvalidInput
from csp.aggregates.invoice import period_of
from csp.application.exchange_rates import RateRow, parse_rates_csv
from csp.cli.common import clean_errors, console, system

OPERATOR = "system:operator"


def register(app: typer.Typer) -> None:
    rates_app = typer.Typer(help="Exchange rates EUR→X per month (the distributor's).", no_args_is_help=True)
    app.add_typer(rates_app, name="rates")

    @rates_app.command("set")
    @clean_errors
    def rates_set(
        month: Annotated[str, typer.Option(help="the month, YYYY-MM")],
        currency: Annotated[str, typer.Option(help="an ISO 4217 code, e.g. RON")],
        rate: Annotated[str, typer.Option(help="EUR→currency, > 0, at most 6 decimals, e.g. 4.9750")],
    ) -> None:
        """Set the rate EUR→CURRENCY for MONTH (again: it replaces the month's rate)."""
        s = system(load_catalog=False, role="tool")
        try:
            rates = s.app.set_exchange_rate(month, currency, rate, OPERATOR)
            found = rates.rate_for(currency.strip().upper(), month.strip())
            assert found is not None
            console.print(f"{found.month}: 1 EUR = {found.rate} {found.currency}")
        finally:
            s.close()

    @rates_app.command("import")
    @clean_errors
    def rates_import(
        path: Annotated[Path, typer.Argument(help="a CSV file with the columns month,currency,rate")],
    ) -> None:
        """Import rates from a CSV file: every row, or (a bad row) none."""
        try:
            rows: list[RateRow] = parse_rates_csv(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise InvalidInput("file", f"cannot be read: {e.strerror or e}") from e
        s = system(load_catalog=False, role="tool")
        try:
            s.app.set_exchange_rates(rows, OPERATOR, source="import")
            console.print(f"imported {len(rows)} rate(s) from {path}")
        finally:
            s.close()

    @rates_app.command("list")
    @clean_errors
    def rates_list(month: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month)")] = None) -> None:
        """Each currency's rate for MONTH (an earlier month's where it has none)."""
        s = system(load_catalog=False, role="tool")
        try:
            rates = s.app.exchange_rates()
            month = month or period_of(s.app.now())
            table = Table("currency", "rate", "set for")
            for r in rates.table(month) if rates is not None else []:
                table.add_row(r.currency, str(r.rate), r.month + (" (earlier month)" if r.fallback else ""))
            console.print(f"rates EUR→X for {month}")
            console.print(table)
        finally:
            s.close()
