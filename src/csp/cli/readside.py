"""Commands of the read side: ``csp project``, ``csp rebuild``, ``csp audit``, ``csp billing``."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from csp.aggregates.errors import InvalidInput
from csp.aggregates.invoice import period_of
from csp.aggregates.terms import add_months
from csp.cli.common import clean_errors, console, err, system


def _parse_uuid(value: str, field: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput(field, "is not an id (a UUID)", value=value) from None


def _parse_time(value: str, field: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "is not a time like 2026-03-01T12:00:00+00:00", value=value) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def register(app: typer.Typer) -> None:

    audit_app = typer.Typer(help="Auditing: the history of any aggregate; tamper evidence.", no_args_is_help=True)
    billing_app = typer.Typer(help="Billing: the monthly invoices, and their export.", no_args_is_help=True)
    app.add_typer(audit_app, name="audit")
    app.add_typer(billing_app, name="billing")

    @app.command()
    @clean_errors
    def project() -> None:
        """Run the projections (read models) until stopped; replicas stand by."""
        s = system(role="read")
        logging.basicConfig(
            level=s.settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        read, projector = s.read, s.projector
        assert read is not None
        assert projector is not None
        err.print(f"csp project: following {s.database.describe()} into {read.view.describe()} (Ctrl-C stops)")
        try:
            projector.run(stop)
        except KeyboardInterrupt:
            stop.set()
        finally:
            s.close()

    @app.command()
    @clean_errors
    def rebuild(
        names: Annotated[list[str] | None, typer.Argument(help="read models to rebuild (see --list)")] = None,
        all_models: Annotated[bool, typer.Option("--all", help="rebuild every read model")] = False,
        list_models: Annotated[bool, typer.Option("--list", help="list the read models")] = False,
    ) -> None:
        """Replay the log into fresh tables and swap them in; the live models keep serving."""
        s = system(role="read")
        read, projector = s.read, s.projector
        assert read is not None
        assert projector is not None
        try:
            if list_models:
                for n in read.model_names():
                    console.print(n)
                return
            chosen = read.model_names() if all_models else list(names or [])
            if not chosen:
                raise InvalidInput("names", "name the read models to rebuild, or give --all")
            for name in chosen:
                read.model_names_check(name)
            stop = threading.Event()
            columns = (
                TextColumn("[bold]rebuild[/] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>8.0f} events/s"),
                TimeRemainingColumn(),
            )
            with Progress(*columns, console=err, transient=False) as bar:
                task = bar.add_task(
                    ", ".join(chosen) if len(chosen) <= 3 else f"{len(chosen)} read models", total=None, rate=0.0
                )

                def show(p: Any) -> None:
                    bar.update(task, completed=p.done, total=max(p.total, 1), rate=p.rate)

                try:
                    result = projector.rebuild(chosen, progress=show, stop=stop)
                except KeyboardInterrupt:
                    stop.set()
                    err.print("[bold red]csp:[/] rebuild interrupted; the live read models are untouched")
                    raise typer.Exit(130) from None
            console.print(
                f"rebuilt {', '.join(result.models)}: {result.events} events to position {result.position} "
                f"in {result.seconds:.1f}s ({result.rate:.0f} events/s)"
            )
            head = s.app.recorder.max_notification_id() or 0
            if result.position < head:
                err.print(
                    f"the log is at {head}: the projections (csp project, or csp serve) apply the rest; "
                    "a rebuild stops where the live read models are"
                )
        finally:
            s.close()

    @audit_app.command("show")
    @clean_errors
    def audit_show(
        aggregate_id: Annotated[str, typer.Argument(help="an order, subscription or tenant id")],
        as_of: Annotated[str | None, typer.Option("--as-of", help="replay up to this time (ISO 8601)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the whole history as JSON")] = False,
    ) -> None:
        """Every event of an aggregate (version, type, time, actor) and its state, as of a time."""
        from csp.audit import history

        s = system(load_catalog=False, role="tool")
        try:
            h = history(
                s.app,
                _parse_uuid(aggregate_id, "id"),
                _parse_time(as_of, "as_of") if as_of else None,
            )
        finally:
            s.close()
        if as_json:
            console.print_json(json.dumps(h))
            return
        table = Table("version", "type", "at", "actor", "data", title=f"{h['type'] or 'not yet created'} {h['id']}")
        for e in h["events"]:
            table.add_row(str(e["version"]), e["type"], e["at"], e["actor"] or "", json.dumps(e["data"])[:120])
        console.print(table)
        console.print_json(json.dumps(h["state"]))

    @audit_app.command("verify")
    @clean_errors
    def audit_verify() -> None:
        """Recompute the hash chain from the stored events; exit 1 naming the first tampered one."""
        s = system(load_catalog=False, role="read")
        try:
            projector = s.projector
            assert projector is not None
            if not projector.sync():
                err.print("csp: the read side is behind the log; verifying what it has chained")
            result = projector.verify_audit()
        finally:
            s.close()
        if not result.ok:
            console.print(f"[bold red]{result.message}[/]")
            raise typer.Exit(1)
        console.print(result.message)

    @billing_app.command("run")
    @clean_errors
    def billing_run(
        period: Annotated[str | None, typer.Option(help="the month to invoice, YYYY-MM (default: last month)")] = None,
    ) -> None:
        """Issue the month's invoices (one per reseller); a month already billed issues nothing."""
        s = system(load_catalog=False, role="tool")
        try:
            month = period or period_of(add_months(s.app.now().replace(day=1), -1))
            issued = s.app.run_billing(month)
        finally:
            s.close()
        if not issued:
            console.print(f"{month}: nothing to invoice (already invoiced, or no charges)")
            return
        table = Table("reseller", "invoice", "lines", "total", title=f"invoices for {month}")
        for inv in issued:
            table.add_row(str(inv.reseller_id), inv.number, str(len(inv.lines)), f"{inv.total} {inv.currency}")
        console.print(table)

    @billing_app.command("export")
    @clean_errors
    def billing_export(
        period: Annotated[str, typer.Option(help="the month, YYYY-MM")],
        reseller: Annotated[str | None, typer.Option(help="one reseller's id (default: all)")] = None,
        output: Annotated[Path | None, typer.Option("--output", "-o", help="a CSV file (default: stdout)")] = None,
    ) -> None:
        """The month's invoices as CSV, a row per invoice line."""
        from csp.aggregates.invoice import parse_period
        from csp.projections.query import csv_text

        parse_period(period)
        s = system(load_catalog=False, role="read")
        try:
            read, projector = s.read, s.projector
            assert read is not None
            assert projector is not None
            projector.sync()
            invoices = read.period_invoices(period, _parse_uuid(reseller, "reseller") if reseller else None)
        finally:
            s.close()
        columns = ("invoice_id", "reseller_id", "number", "period", "issued_at", "currency", "line_no")
        line_columns = ("subscription_id", "organization_id", "description", "quantity", "unit_price", "days", "amount")
        rows = (
            {"invoice_id": inv["id"], **{k: inv[k] for k in columns[1:6]}, **line}
            for inv in invoices
            for line in inv["lines"]
        )
        text = csv_text((*columns, *line_columns), rows)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
            err.print(f"wrote {sum(len(i['lines']) for i in invoices)} lines of {len(invoices)} invoices to {output}")
