"""The distributor's exchange rates ``EUR→X`` per month: the operators' API (issue 18)."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from csp.aggregates.currency import AppliedRate, check_currency, check_month
from csp.aggregates.invoice import period_of
from csp.api.deps import AppDep, CommandsDep, ExchangeRatesReader, ExchangeRatesWriter
from csp.api.schemas import In, RateIn

router = APIRouter(tags=["exchange rates"])


class ExchangeRateIn(In):
    rate: Annotated[RateIn, Field(description='EUR→currency, a decimal string: > 0, at most 6 decimals, e.g. "4.9750"')]


class ExchangeRatePublic(BaseModel):
    currency: str
    rate: Decimal
    month: str = Field(description="the month asked for")
    exchange_rate_month: str = Field(description="the month the rate was set for (an earlier one: a fallback)")
    fallback: bool


class ExchangeRatesPublic(BaseModel):
    month: str
    base_currency: str = "EUR"
    items: list[ExchangeRatePublic]


def _public(r: AppliedRate) -> ExchangeRatePublic:
    return ExchangeRatePublic(
        currency=r.currency, rate=r.rate, month=r.for_month, exchange_rate_month=r.month, fallback=r.fallback
    )


@router.put("/exchange-rates/{month}/{currency}", response_model=ExchangeRatePublic)
def put_rate(
    month: str, currency: str, body: ExchangeRateIn, caller: ExchangeRatesWriter, app: AppDep, commands: CommandsDep
) -> ExchangeRatePublic:
    """Set the distributor's rate EUR→``currency`` for ``month`` (``YYYY-MM``); 422 with the
    field: a bad month, rate, or a code ISO 4217 does not know (``unknown_currency``)."""
    month, code = check_month(month), check_currency(currency)
    rates = commands.run(lambda: app.set_exchange_rate(month, code, body.rate, caller.actor))
    found = rates.rate_for(code, month)
    assert found is not None
    return _public(found)


@router.get("/exchange-rates", response_model=ExchangeRatesPublic)
def get_rates(
    caller: ExchangeRatesReader,
    app: AppDep,
    month: Annotated[str | None, Query(description="YYYY-MM (default: this month)")] = None,
) -> ExchangeRatesPublic:
    """Every currency's rate for the month: the one set for it, else the latest earlier
    month's (``fallback``: true); a currency with no rate by then is not listed."""
    month = check_month(month) if month is not None else period_of(app.now().astimezone(UTC))
    rates = app.exchange_rates()
    return ExchangeRatesPublic(month=month, items=[_public(r) for r in (rates.table(month) if rates else [])])
