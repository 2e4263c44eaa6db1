"""Customer payments imported from a CSV file (columns ``number, paid_at, amount``, as a
bank export cut to them): each row marks the reseller's issued invoice of that number
paid, in its own command, so a refused row (not found, not issued, another amount) is
reported and writes nothing while the others are recorded."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from csp.aggregates.errors import CspError, InvalidInput, NotFound
from csp.api.auth import Caller
from csp.api.commands import Commands
from csp.api.errors import status_for
from csp.application import CspApplication
from csp.projections import ReadModels

COLUMNS = ("number", "paid_at", "amount")
MAX_ROWS = 5000


def parse_rows(raw: bytes) -> list[dict[str, str]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("file", "must be a UTF-8 CSV file") from None
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise InvalidInput(
                "file", f"the first row must name the columns {', '.join(COLUMNS)} (missing: {', '.join(missing)})"
            )
        rows = [
            {k.strip().lower(): v.strip() if isinstance(v, str) else "" for k, v in r.items() if isinstance(k, str)}
            for r in reader
        ]
    except csv.Error as e:
        raise InvalidInput("file", f"is not a readable CSV file ({e})") from None
    if len(rows) > MAX_ROWS:
        raise InvalidInput("file", f"at most {MAX_ROWS} rows at a time")
    return rows


def _paid_at(value: str) -> datetime:
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        t = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("paid_at", "must be a date (2026-02-15) or a time with its offset", value=value) from None
    if t.tzinfo is None:
        raise InvalidInput("paid_at", "a time must carry its offset, e.g. 2026-02-15T10:00:00+00:00", value=value)
    return t


def _amount(value: str) -> Decimal:
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise InvalidInput("amount", "must be a decimal number such as 150.58", value=value) from None
    if not d.is_finite():
        raise InvalidInput("amount", "must be a decimal number such as 150.58", value=value)
    return d


def import_payments(
    app: CspApplication, read: ReadModels, commands: Commands, caller: Caller, raw: bytes
) -> dict[str, Any]:
    rows = parse_rows(raw)
    ids = read.customer_invoice_ids_by_number(caller.reseller_id, [r.get("number", "") for r in rows])
    report: list[dict[str, Any]] = []
    for n, row in enumerate(rows, start=2):  # the row numbers of a spreadsheet (1 is the header)
        number = row.get("number", "")
        entry: dict[str, Any] = {"row": n, "number": number}
        try:
            invoice_id: UUID | None = ids.get(number)
            if invoice_id is None:
                raise NotFound("customer invoice", number)
            paid_at, amount = _paid_at(row.get("paid_at", "")), _amount(row.get("amount", ""))
            commands.run(
                lambda i=invoice_id, p=paid_at, a=amount: app.pay_customer_invoice(
                    i, caller.actor, paid_at=p, amount=a, reference="payments import"
                )
            )
            entry.update(status="paid", status_code=200)
        except CspError as e:
            entry.update(
                status="refused",
                status_code=status_for(e),
                error={"code": e.code, "message": e.message, "details": e.details},
            )
        report.append(entry)
    return {"paid": sum(1 for e in report if e["status"] == "paid"), "rows": report}
