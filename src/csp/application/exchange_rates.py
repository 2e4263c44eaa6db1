"""The distributor's exchange rates (operator data): set one, import a month's file, read them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from csp.aggregates.base import Actor
from csp.aggregates.currency import (
    EXCHANGE_RATES_ID,
    AppliedRate,
    ExchangeRates,
    RateSource,
    check_currency,
    check_month,
    check_rate,
)
from csp.aggregates.errors import InvalidInput
from csp.application.base import CspApplicationBase

IMPORT_COLUMNS = ("month", "currency", "rate")


@dataclass(frozen=True)
class RateRow:
    month: str
    currency: str
    rate: str


def parse_rates_csv(text: str) -> list[RateRow]:
    """The rows of a rates file (header ``month,currency,rate``), each checked; the first bad
    one is refused with its row number (2 = the first after the header) and field."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple((h or "").strip().lower() for h in reader.fieldnames or ())
    missing = [c for c in IMPORT_COLUMNS if c not in header]
    if missing:
        raise InvalidInput("file", f"needs the columns {','.join(IMPORT_COLUMNS)} (missing: {', '.join(missing)})")
    rows = []
    for n, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not any(row.get(c) for c in IMPORT_COLUMNS):
            continue  # a blank line
        try:
            month = check_month(row["month"])
            currency = check_currency(row["currency"])
            rate = str(check_rate(row["rate"]))
        except InvalidInput as e:
            raise type(e)(f"row {n}: {e.field}", e.reason, row=n, value=row.get(e.field, "")) from e
        rows.append(RateRow(month, currency, rate))
    if not rows:
        raise InvalidInput("file", "has no rates")
    return rows


class ExchangeRateCommands(CspApplicationBase):
    def exchange_rates(self) -> ExchangeRates | None:
        return self.find(ExchangeRates, EXCHANGE_RATES_ID, "exchange rates", readonly=True)

    def applied_rate(self, currency: str, month: str) -> AppliedRate | None:
        """``EUR→currency`` for ``month`` (or the latest earlier month's); None for EUR or none."""
        rates = self.exchange_rates()
        return rates.rate_for(currency, month) if rates is not None else None

    def set_exchange_rate(
        self, month: str, currency: str, rate: object, actor: Actor, source: RateSource = "operator"
    ) -> ExchangeRates:
        return self.set_exchange_rates([RateRow(month, currency, str(rate))], actor, source)

    def set_exchange_rates(self, rows: Iterable[RateRow], actor: Actor, source: RateSource = "import") -> ExchangeRates:
        """Set every row's rate in one transaction: all of them, or (a bad row) none."""
        todo = list(rows)

        def attempt() -> ExchangeRates:
            now = self.now()
            found = self.find(ExchangeRates, EXCHANGE_RATES_ID, "exchange rates")
            rates = found if found is not None else ExchangeRates.open(actor=actor, at=now)
            for row in todo:
                rates.set_rate(row.month, row.currency, row.rate, source, actor, now)
            self.save(rates)
            return rates

        return self.retrying(attempt)
