"""The charges ledger as a pure fold of one subscription's events: what the reseller owes, and when.

The reseller buys at the partner price, per licence per month (DOMAIN.md, "Invoice"):

- seats are charged per tranche, at the tranche's locked partner price;
- a billing period is charged at its start: a monthly cycle one month at a time, a yearly
  cycle the rest of the term at once (12 months for a fresh annual term). A period runs
  between billing dates on the calendar of its anchor (the term start: the same day of
  every month), so its price is always whole months: unit price × months;
- an add-on is billed on its base's calendar (``BillingDates``, recorded when it was
  added): its first charge covers the days from its start to the base's next billing
  date, then it is charged each period as the base is;
- every part of a period (an increase, an add-on's first days, a refund) is charged by
  the one rule ``prorate``: period price × seats × days / days in the period, rounded
  half-up once, per line — never whole months plus a fraction of one;
- a mid-term increase is charged pro rata by day to the end of the current period;
- seats removed inside their cancellation window are refunded pro rata by day from the
  removal to the end of the period they were charged for;
- a suspended subscription is still charged; trials are free; an expired, disabled or
  cancelled one is not charged for later periods;
- seats moved by a transition (an upgrade) are credited like a removal, from the
  transition to the end of the period they were charged for; a full move ends the
  billing (the new subscription is billed from the transition, on the same calendar);
- a usage-based (Azure) subscription is charged what the vendor rated, on the day of use:
  one charge per day × entitlement × meter, at the partner cost and customer price the
  import rated and recorded on ``UsageRecorded`` (``csp.aggregates.azure``);
- a change the vendor refused is reversed: what it charged or refunded is given back (an
  add-on the vendor refused to create: all it was charged, and nothing after).

The same pass prices each charge for the customer too (``customer_amount``): the
customer's unit price recorded on the subscription (at provisioning, renewal, trial
conversion, and from an "Edit price" on: ``CustomerPriceChanged``), by the same rule and
the same days; a tranche's refund or reversal gives back what that tranche was charged.
Usage is priced for the customer at the subscription's total markup.

Periodic charges depend on time as well as on events: ``advance(until)`` emits the period
starts that ``until`` has passed, and ``schedule()`` the ones still ahead of the term if
nothing else happens. Every charge has a deterministic id, so folding the same events
twice gives the same ledger, and an invoice can name the charges it billed.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from eventsourcing.utils import get_topic

from csp.aggregates.base import CspAggregate, deterministic_id
from csp.aggregates.pricing import days_between, money, prorate
from csp.aggregates.subscription import Subscription, Tranche
from csp.aggregates.terms import BillingCycle, BillingDates, add_months

ChargeKind = Literal["period", "increase", "refund", "reversal", "usage"]
BILLABLE = ("active", "suspended")

# The events that change what is charged; every other subscription event only lets time pass.
BILLING_EVENTS: tuple[type[Subscription.Event], ...] = (
    Subscription.Provisioned,
    Subscription.SeatsAdded,
    Subscription.SeatsRemoved,
    Subscription.Cancelled,
    Subscription.Suspended,
    Subscription.Reactivated,
    Subscription.Expired,
    Subscription.Disabled,
    Subscription.Renewed,
    Subscription.TrialConverted,
    Subscription.BillingCycleChangeScheduled,
    Subscription.BillingCycleChanged,
    Subscription.UsageReported,
    Subscription.UsageRecorded,
    Subscription.VendorChangeRefused,
    Subscription.TransitionCompleted,
    Subscription.CustomerPriceChanged,
)


@dataclass(frozen=True)
class Charge:
    """One entry of the ledger: a charge (positive) or a credit (negative), in EUR."""

    id: UUID
    subscription_id: UUID
    reseller_id: UUID
    organization_id: UUID
    kind: ChargeKind
    description: str
    quantity: Decimal  # seats (negative for a refund), or the usage quantity
    unit_price: Decimal | None  # partner price per unit per month; None for usage
    days: int  # days charged or refunded (0 for a reversal)
    amount: Decimal
    charged_at: datetime
    period_start: datetime
    period_end: datetime
    meter: str | None = None
    entitlement_id: UUID | None = None  # usage: the Azure subscription (entitlement) of the plan
    # The same charge at the customer's price (the customer invoice's line): unit price
    # per unit per month (None for usage) and amount, by the same days and rounding.
    customer_unit_price: Decimal | None = None
    customer_amount: Decimal = Decimal(0)

    @property
    def month(self) -> str:
        """The invoice month this charge falls in (``YYYY-MM``, UTC)."""
        return f"{self.charged_at.astimezone(UTC):%Y-%m}"


@dataclass
class _Tranche:
    number: int
    quantity: int
    unit_price: Decimal
    purchased_at: datetime
    net_charged: Decimal = Decimal(0)
    customer_price: Decimal = Decimal(0)  # the customer's unit price its last charge used
    customer_net_charged: Decimal = Decimal(0)


@dataclass
class _Removal:
    tranche: int
    quantity: int
    amount: Decimal  # the (negative) refund
    at: datetime
    customer_amount: Decimal = Decimal(0)


def billing_date(anchor: datetime, k: int) -> datetime:
    """The ``k``-th monthly billing date of a calendar anchored at ``anchor`` (its day of
    the month, clamped to the month's last day)."""
    return add_months(anchor, k, anchor.day)


def month_index(anchor: datetime, at: datetime) -> int:
    """``k`` of the last monthly billing date at or before ``at``."""
    k = (at.year - anchor.year) * 12 + at.month - anchor.month
    while billing_date(anchor, k) > at:
        k -= 1
    while billing_date(anchor, k + 1) <= at:
        k += 1
    return k


def calendar_period(anchor: datetime, start: datetime, end: datetime) -> tuple[int, datetime]:
    """The whole months and the end of the calendar period that ``[start, end)`` is: ``end``
    itself when it is a billing date (always, but for add-ons recorded before they followed
    their base, whose term ends off their own calendar: their last period is then part of
    the calendar period it falls in)."""
    k_end = month_index(anchor, end)
    if billing_date(anchor, k_end) != end:
        k_end += 1
    return k_end - month_index(anchor, start), billing_date(anchor, k_end)


@functools.lru_cache(maxsize=4096)
def charge_id(subscription_id: UUID, key: tuple[object, ...]) -> UUID:
    """A charge's deterministic id (cached: a schedule is recomputed often, its ids rarely change)."""
    return deterministic_id("charge", subscription_id, *key)


def _d(at: datetime) -> str:
    u = at if at.tzinfo is UTC else at.astimezone(UTC)
    return f"{u.day:02d}.{u.month:02d}.{u.year}"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


@dataclass
class SubscriptionLedger:
    """The billing state of one subscription, folded from its events."""

    subscription_id: UUID
    reseller_id: UUID = field(default_factory=lambda: UUID(int=0))
    organization_id: UUID = field(default_factory=lambda: UUID(int=0))
    offer_name: str = ""
    tenant_domain: str = ""
    usage: bool = False
    status: str = "new"
    term_starts_at: datetime | None = None
    term_ends_at: datetime | None = None
    cycle: str = "monthly"
    anchor: datetime | None = None  # where the monthly billing dates count from
    pending_cycle: str | None = None
    pending_at: datetime | None = None
    never_created: bool = False  # the vendor refused to create it: nothing is charged
    tranches: dict[int, _Tranche] = field(default_factory=dict)
    periods: list[tuple[datetime, datetime]] = field(default_factory=list)
    increases: dict[int, int] = field(default_factory=dict)
    removals: dict[int, list[_Removal]] = field(default_factory=dict)
    customer_price: Decimal = Decimal(0)  # the customer's unit price now (per unit per month)
    default_markup: Decimal = Decimal(0)  # the markups of the customer price (usage is priced by them)
    extra_markup: Decimal = Decimal(0)

    # --- folding --------------------------------------------------------------

    @classmethod
    def fold(cls, subscription_id: UUID, events: list[Any]) -> tuple[SubscriptionLedger, list[Charge]]:
        """The state after ``events`` and every charge they emitted (not the schedule)."""
        ledger = cls(subscription_id)
        charges: list[Charge] = []
        for e in events:
            charges.extend(ledger.apply(e))
        return ledger, charges

    def apply(self, event: Any) -> list[Charge]:
        """Fold one event; returns the charges it emitted (period starts it passed included)."""
        at: datetime = getattr(event, "at", None) or event.timestamp
        out = self.advance(at)
        if isinstance(event, Subscription.Provisioned):
            out += self._provisioned(event)
        elif isinstance(event, Subscription.SeatsAdded):
            out += self._seats_added(event)
        elif isinstance(event, (Subscription.SeatsRemoved, Subscription.Cancelled)):
            out += self._seats_removed(event, event.removals)
            if isinstance(event, Subscription.Cancelled):
                self.status = "cancelled"
        elif isinstance(event, Subscription.Suspended):
            self.status = "suspended"
        elif isinstance(event, Subscription.Reactivated):
            self.status = "active"
        elif isinstance(event, (Subscription.Expired, Subscription.Disabled)):
            self.status = "expired" if isinstance(event, Subscription.Expired) else "disabled"
        elif isinstance(event, Subscription.Renewed):
            self.customer_price = event.unit_customer_price
            if event.markup_percent is not None:  # a version-1 renewal kept the subscription's
                self.extra_markup = event.markup_percent
            if event.default_markup_percent is not None:
                self.default_markup = event.default_markup_percent
            out += self._new_term(event.starts_at, event.ends_at, event.billing_cycle, event.tranche)
            out += self.advance(at)
        elif isinstance(event, Subscription.TrialConverted):
            self.offer_name = event.terms.offer_name
            self.usage = event.terms.type == "usage"
            self.status = "active"
            self._customer_terms(event.terms)
            out += self._new_term(event.starts_at, event.ends_at, event.terms.billing_cycle, event.tranche)
        elif isinstance(event, Subscription.BillingCycleChangeScheduled):
            self.pending_cycle = event.billing_cycle
            self.pending_at = event.effective_at if event.billing_cycle is not None else None
        elif isinstance(event, Subscription.BillingCycleChanged):
            self.cycle = event.billing_cycle
            self.pending_cycle = None
            self.pending_at = None
        elif isinstance(event, Subscription.UsageReported):
            out += self._usage(event)
        elif isinstance(event, Subscription.UsageRecorded):
            out += self._usage_recorded(event)
        elif isinstance(event, Subscription.VendorChangeRefused):
            out += self._refused(event, at)
        elif isinstance(event, Subscription.TransitionCompleted):
            # the seats moved to the upgrade: credited from now, as a removal is; a full
            # move ends the billing here (the new subscription is billed from now on)
            out += self._seats_removed(event, event.removals, verb="moved to an upgrade")
            if event.kind == "full":
                self.status = "transitioned"
        elif isinstance(event, Subscription.CustomerPriceChanged):
            # From this moment: the next charges use it; those made keep theirs.
            self.customer_price = event.unit_customer_price
            self.extra_markup = event.markup_percent
        return out

    def advance(self, until: datetime) -> list[Charge]:
        """Charge every billing period that starts at or before ``until``."""
        out: list[Charge] = []
        while self._billable():
            assert self.term_ends_at is not None
            _, end = self.periods[-1]
            if end >= self.term_ends_at or end > until:
                break
            if self.pending_cycle is not None and self.pending_at is not None and self.pending_at <= end:
                self.cycle = self.pending_cycle
                self.pending_cycle = None
                self.pending_at = None
            period = (end, self._period_end(end))
            self.periods.append(period)
            out += self._charge_period(*period)
        return out

    def schedule(self) -> list[Charge]:
        """The period charges still ahead in the current term, if nothing changes."""
        if not self._billable() or self.term_ends_at is None:
            return []
        return self.clone().advance(self.term_ends_at)

    def clone(self) -> SubscriptionLedger:
        """A copy to simulate on (cheaper than a deep copy: only what advancing changes)."""
        other = copy.copy(self)
        other.tranches = {n: copy.copy(t) for n, t in self.tranches.items()}
        other.periods = list(self.periods)
        return other

    # --- handlers -----------------------------------------------------------------

    def _provisioned(self, e: Subscription.Provisioned) -> list[Charge]:
        t = e.terms
        self.reseller_id = t.reseller_id
        self.organization_id = t.organization_id
        self.offer_name = t.offer_name
        self.tenant_domain = t.tenant_domain
        self.usage = t.type == "usage"
        self.status = e.status
        self._customer_terms(t)
        if e.status == "trial":
            return []
        return self._new_term(e.starts_at, e.ends_at, t.billing_cycle, e.tranche, t.billing_dates)

    def _customer_terms(self, t: Any) -> None:
        self.customer_price = t.unit_customer_price
        self.default_markup = t.default_markup_percent
        self.extra_markup = t.markup_percent

    def _new_term(
        self, starts_at: datetime, ends_at: datetime, cycle: str, tranche: Tranche, dates: BillingDates | None = None
    ) -> list[Charge]:
        """A term starts: on its own calendar, or (an add-on) inside its base's period."""
        self.term_starts_at = starts_at
        self.term_ends_at = ends_at
        self.cycle = cycle
        self.anchor = dates.anchor if dates is not None else starts_at
        self.pending_cycle = None
        self.pending_at = None
        self.tranches = {
            tranche.number: _Tranche(
                tranche.number,
                tranche.quantity,
                tranche.unit_partner_price,
                tranche.purchased_at,
                customer_price=self.customer_price,
            )
        }
        self.increases = {}
        self.removals = {}
        if dates is not None:
            period = (dates.period_starts_at, dates.period_ends_at)
        else:
            period = (starts_at, self._period_end(starts_at))
        self.periods = [period]
        return self._charge_period(*period, since=starts_at)

    def _seats_added(self, e: Subscription.SeatsAdded) -> list[Charge]:
        t = e.tranche
        self.tranches[t.number] = _Tranche(
            t.number, t.quantity, t.unit_partner_price, t.purchased_at, customer_price=self.customer_price
        )
        self.increases[e.originator_version] = t.number
        period = self._current_period(e.at)
        if period is None:
            return []
        a, b = period
        months, period_days = self._price_and_days(a, b)
        days = days_between(e.at, b)
        amount = prorate(t.quantity * t.unit_partner_price * months, days, period_days)
        customer = prorate(t.quantity * self.customer_price * months, days, period_days)
        return self._emit(
            t.number,
            "increase",
            ("increase", e.originator_version),
            f"+{t.quantity} from {_d(e.at)}, {days}/{period_days} days",
            Decimal(t.quantity),
            t.unit_partner_price,
            days,
            amount,
            e.at,
            period,
            (self.customer_price, customer),
        )

    def _seats_removed(self, e: Any, removals: tuple[Any, ...], verb: str = "removed") -> list[Charge]:
        out: list[Charge] = []
        period = self._current_period(e.at)
        done: list[_Removal] = []
        for r in removals:
            tranche = self.tranches.get(r.tranche_number)
            if tranche is None:
                continue
            tranche.quantity -= r.quantity
            if period is None:
                continue
            a, b = period
            months, period_days = self._price_and_days(a, b)
            days = days_between(e.at, b)
            amount = -prorate(r.quantity * tranche.unit_price * months, days, period_days)
            customer = -prorate(r.quantity * tranche.customer_price * months, days, period_days)
            done.append(_Removal(tranche.number, r.quantity, amount, e.at, customer))
            out += self._emit(
                tranche.number,
                "refund",
                ("refund", e.originator_version, tranche.number),
                f"−{r.quantity} {verb} {_d(e.at)}, refund {days}/{period_days} days",
                Decimal(-r.quantity),
                tranche.unit_price,
                days,
                amount,
                e.at,
                period,
                (tranche.customer_price, customer),
            )
        if done:
            self.removals[e.originator_version] = done
        return out

    def _usage_recorded(self, e: Subscription.UsageRecorded) -> list[Charge]:
        day = datetime.fromisoformat(e.day).replace(tzinfo=UTC)
        return [
            Charge(
                id=charge_id(self.subscription_id, ("usage", e.originator_version, n)),
                subscription_id=self.subscription_id,
                reseller_id=self.reseller_id,
                organization_id=self.organization_id,
                kind="usage",
                description=f"{self._label()} · {e.entitlement_name} · {r.meter} on {_d(day)}",
                quantity=r.quantity,
                unit_price=None,
                days=1,
                amount=r.partner_cost,
                charged_at=day,
                period_start=day,
                period_end=day + timedelta(days=1),
                meter=r.meter,
                entitlement_id=e.entitlement_id,
                customer_amount=r.customer_price,
            )
            # every rated row, one that rounds to 0.00 too: the invoice line's quantity and
            # days are then the month's, as the reconciliation file has them
            for n, r in enumerate(e.rows)
        ]

    def _usage(self, e: Subscription.UsageReported) -> list[Charge]:
        amount = money(e.amount)
        if amount == 0:
            return []
        customer = money(amount * (100 + self.default_markup + self.extra_markup) / 100)
        day = datetime.fromisoformat(e.day).replace(tzinfo=UTC)
        return [
            Charge(
                id=charge_id(self.subscription_id, ("usage", e.originator_version)),
                subscription_id=self.subscription_id,
                reseller_id=self.reseller_id,
                organization_id=self.organization_id,
                kind="usage",
                description=f"{self._label()} · {e.meter} on {_d(day)}",
                quantity=Decimal(e.quantity),
                unit_price=None,
                days=1,
                amount=amount,
                charged_at=day,
                period_start=day,
                period_end=day + timedelta(days=1),
                meter=e.meter,
                customer_amount=customer,
            )
        ]

    def _refused(self, e: Subscription.VendorChangeRefused, at: datetime) -> list[Charge]:
        out: list[Charge] = []
        label = f"vendor refused {e.change_type}, reversed"
        period = self._current_period(at) or (at, at)
        if e.change_type == "Provisioned":
            # The vendor never created it (an add-on): all it was charged is given back.
            for bought in list(self.tranches.values()):
                out += self._reverse(bought, e.originator_version, label, at, period)
            self.never_created = True
            return out
        if e.change_type == "SeatsAdded" and e.change_version in self.increases:
            tranche = self.tranches.get(self.increases.pop(e.change_version))
            if tranche is not None:
                out += self._reverse(tranche, e.originator_version, label, at, period)
        elif e.change_type in ("SeatsRemoved", "Cancelled"):
            for r in self.removals.pop(e.change_version, []):
                tranche = self.tranches.get(r.tranche)
                if tranche is None:
                    continue
                out += self._emit(
                    tranche.number,
                    "reversal",
                    ("reversal", e.originator_version, tranche.number),
                    label,
                    Decimal(r.quantity),
                    tranche.unit_price,
                    0,
                    -r.amount,
                    at,
                    period,
                    (tranche.customer_price, -r.customer_amount),
                )
                # The restored seats missed the period starts charged while they were gone.
                for ps, pe in self.periods:
                    if r.at < ps <= at:
                        months, period_days = self._price_and_days(ps, pe)
                        amount = prorate(r.quantity * tranche.unit_price * months, days_between(ps, pe), period_days)
                        customer = prorate(
                            r.quantity * tranche.customer_price * months, days_between(ps, pe), period_days
                        )
                        out += self._emit(
                            tranche.number,
                            "period",
                            ("restored", e.originator_version, tranche.number, ps.isoformat()),
                            f"{_d(ps)}–{_d(pe)}, {r.quantity} restored",
                            Decimal(r.quantity),
                            tranche.unit_price,
                            days_between(ps, pe),
                            amount,
                            ps,
                            (ps, pe),
                            (tranche.customer_price, customer),
                        )
        restored: dict[int, _Tranche] = {}
        for t in e.tranches:
            known = self.tranches.get(t.number)
            if known is None:
                known = _Tranche(
                    t.number, t.quantity, t.unit_partner_price, t.purchased_at, customer_price=self.customer_price
                )
            known.quantity = t.quantity
            restored[t.number] = known
        self.tranches = restored
        self.status = e.status
        self.pending_cycle = e.pending_billing_cycle
        self.pending_at = e.pending_billing_cycle_at
        return out + self.advance(at)

    def _reverse(
        self, tranche: _Tranche, version: int, label: str, at: datetime, period: tuple[datetime, datetime]
    ) -> list[Charge]:
        """Give back all a tranche was charged (net of its refunds)."""
        if tranche.net_charged == 0 and tranche.customer_net_charged == 0:
            return []
        return self._emit(
            tranche.number,
            "reversal",
            ("reversal", version, tranche.number),
            label,
            Decimal(-tranche.quantity),
            tranche.unit_price,
            0,
            -tranche.net_charged,
            at,
            period,
            (tranche.customer_price, -tranche.customer_net_charged),
        )

    # --- periods and charges -------------------------------------------------------

    def _billable(self) -> bool:
        return self.status in BILLABLE and not self.usage and not self.never_created and bool(self.periods)

    def _calendar_anchor(self) -> datetime:
        anchor = self.anchor or self.term_starts_at
        assert anchor is not None
        return anchor

    def _price_and_days(self, start: datetime, end: datetime) -> tuple[int, int]:
        """The period's price in whole months, and its days (the ``prorate`` denominator)."""
        anchor = self._calendar_anchor()
        months, calendar_end = calendar_period(anchor, start, end)
        return months, days_between(start, calendar_end)

    def _month_end(self, start: datetime) -> datetime:
        """The next monthly billing date after ``start`` (never past the term end)."""
        assert self.term_ends_at is not None
        anchor = self._calendar_anchor()
        return min(billing_date(anchor, month_index(anchor, start) + 1), self.term_ends_at)

    def _period_end(self, start: datetime) -> datetime:
        """The end of the billing period starting at ``start`` (never past the term end)."""
        assert self.term_ends_at is not None
        if self.cycle == "yearly":
            return self.term_ends_at
        return self._month_end(start)

    def billing_dates_at(self, cycle: BillingCycle, at: datetime) -> BillingDates | None:
        """The billing calendar an add-on on ``cycle`` starting at ``at`` is billed on, this
        subscription being its base: the base's period ``at`` falls in (its month, for a
        monthly add-on; its yearly period, or else its term, for a yearly one). None when
        ``at`` is outside the base's term."""
        ts, te = self.term_starts_at, self.term_ends_at
        if ts is None or te is None or not ts <= at < te:
            return None
        anchor = self._calendar_anchor()
        if cycle == "monthly":
            start = max(billing_date(anchor, month_index(anchor, at)), ts)
            return BillingDates(anchor=anchor, period_starts_at=start, period_ends_at=self._month_end(at))
        a, b = self.periods[-1] if self.periods else (ts, te)
        if self.cycle != "yearly" or not a <= at < b:
            a, b = ts, te
        return BillingDates(anchor=anchor, period_starts_at=a, period_ends_at=b)

    def _current_period(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The charged period that ``at`` falls in, if the subscription is being billed."""
        if not self._billable():
            return None
        a, b = self.periods[-1]
        if not a <= at < b:
            return None
        return a, b

    def _charge_period(self, start: datetime, end: datetime, since: datetime | None = None) -> list[Charge]:
        """Charge the period ``[start, end)`` at its start, or (an add-on's first) from ``since``."""
        out: list[Charge] = []
        if self.usage or self.never_created or self.status not in BILLABLE:
            return out
        since = max(since or start, start)
        months, period_days = self._price_and_days(start, end)
        days = days_between(since, end)
        what = f"{_d(since)}–{_d(end)}" if days == period_days else f"{_d(since)}–{_d(end)}, {days}/{period_days} days"
        for t in self.tranches.values():
            if t.quantity <= 0:
                continue
            t.customer_price = self.customer_price  # each period at the customer price of its start
            out += self._emit(
                t.number,
                "period",
                ("period", t.number, since.isoformat()),
                what,
                Decimal(t.quantity),
                t.unit_price,
                days,
                prorate(t.quantity * t.unit_price * months, days, period_days),
                since,
                (since, end),
                (t.customer_price, prorate(t.quantity * t.customer_price * months, days, period_days)),
            )
        return out

    def _label(self) -> str:
        return f"{self.offer_name} · {self.tenant_domain}" if self.tenant_domain else self.offer_name

    def _emit(
        self,
        tranche_number: int,
        kind: ChargeKind,
        key: tuple[object, ...],
        what: str,
        quantity: Decimal,
        unit_price: Decimal | None,
        days: int,
        amount: Decimal,
        charged_at: datetime,
        period: tuple[datetime, datetime],
        customer: tuple[Decimal | None, Decimal],
    ) -> list[Charge]:
        if amount == 0 and customer[1] == 0:
            return []
        tranche = self.tranches.get(tranche_number)
        if tranche is not None:
            tranche.net_charged += amount
            tranche.customer_net_charged += customer[1]
        return [
            Charge(
                id=charge_id(self.subscription_id, key),
                subscription_id=self.subscription_id,
                reseller_id=self.reseller_id,
                organization_id=self.organization_id,
                kind=kind,
                description=f"{self._label()} · {what}",
                quantity=quantity,
                unit_price=unit_price,
                days=days,
                amount=amount,
                charged_at=charged_at,
                period_start=period[0],
                period_end=period[1],
                customer_unit_price=customer[0],
                customer_amount=customer[1],
            )
        ]

    # --- persistence of the fold (JSON-able) ----------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "subscription_id": str(self.subscription_id),
            "reseller_id": str(self.reseller_id),
            "organization_id": str(self.organization_id),
            "offer_name": self.offer_name,
            "tenant_domain": self.tenant_domain,
            "usage": self.usage,
            "status": self.status,
            "term_starts_at": _iso(self.term_starts_at),
            "term_ends_at": _iso(self.term_ends_at),
            "cycle": self.cycle,
            "anchor": _iso(self.anchor),
            "pending_cycle": self.pending_cycle,
            "pending_at": _iso(self.pending_at),
            "never_created": self.never_created,
            "tranches": [
                [
                    t.number,
                    t.quantity,
                    str(t.unit_price),
                    t.purchased_at.isoformat(),
                    str(t.net_charged),
                    str(t.customer_price),
                    str(t.customer_net_charged),
                ]
                for t in self.tranches.values()
            ],
            "periods": [[a.isoformat(), b.isoformat()] for a, b in self.periods],
            "increases": [[v, n] for v, n in self.increases.items()],
            "removals": [
                [v, [[r.tranche, r.quantity, str(r.amount), r.at.isoformat(), str(r.customer_amount)] for r in rs]]
                for v, rs in self.removals.items()
            ],
            "customer": [str(self.customer_price), str(self.default_markup), str(self.extra_markup)],
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> SubscriptionLedger:
        customer = s.get("customer", ["0", "0", "0"])  # a state stored before customer prices
        return cls(
            subscription_id=UUID(s["subscription_id"]),
            reseller_id=UUID(s["reseller_id"]),
            organization_id=UUID(s["organization_id"]),
            offer_name=s["offer_name"],
            tenant_domain=s["tenant_domain"],
            usage=s["usage"],
            status=s["status"],
            term_starts_at=_dt(s["term_starts_at"]),
            term_ends_at=_dt(s["term_ends_at"]),
            cycle=s["cycle"],
            anchor=_dt(s.get("anchor")) or _dt(s["term_starts_at"]),
            pending_cycle=s["pending_cycle"],
            pending_at=_dt(s["pending_at"]),
            never_created=s.get("never_created", False),
            tranches={t[0]: _tranche_from_state(t) for t in s["tranches"]},
            periods=[(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in s["periods"]],
            increases=dict(s["increases"]),
            removals={
                v: [
                    _Removal(
                        r[0], r[1], Decimal(r[2]), datetime.fromisoformat(r[3]), Decimal(r[4] if len(r) > 4 else 0)
                    )
                    for r in rs
                ]
                for v, rs in s["removals"]
            },
            customer_price=Decimal(customer[0]),
            default_markup=Decimal(customer[1]),
            extra_markup=Decimal(customer[2]),
        )


def _tranche_from_state(t: list[Any]) -> _Tranche:
    n, q, p, at, net = t[:5]
    cp, cnet = t[5:7] if len(t) >= 7 else ("0", "0")
    return _Tranche(n, q, Decimal(p), datetime.fromisoformat(at), Decimal(net), Decimal(cp), Decimal(cnet))


# The topics of the subscription events ``SubscriptionLedger.apply`` reads only the time of,
# to advance to it (every event but ``BILLING_EVENTS``: a licence sync, a window closing, a
# scheduled next-term change…): a billing run hands them to it as a ``Tick`` instead of
# decoding them — a sixth of a subscription's events, and decoding is half a fold.
LEDGER_IGNORES: frozenset[str] = frozenset(
    get_topic(c)
    for c in vars(Subscription).values()
    if isinstance(c, type) and issubclass(c, CspAggregate.Event) and not issubclass(c, BILLING_EVENTS)
)


@dataclass(frozen=True, slots=True)
class Tick:
    """An event the ledger only advances to (one of ``LEDGER_IGNORES``): its time alone."""

    at: datetime


def charges_until(subscription_id: UUID, events: list[Any], until: datetime) -> list[Charge]:
    """Every charge of a subscription dated before ``until``, given its events so far."""
    ledger, charges = SubscriptionLedger.fold(subscription_id, events)
    charges += ledger.advance(until)
    return [c for c in charges if c.charged_at < until]


def addon_billing_dates(
    base_id: UUID, base_events: list[Any], cycle: BillingCycle, at: datetime
) -> BillingDates | None:
    """The base's billing calendar for an add-on on ``cycle`` starting at ``at``, from the
    base's events: the periods the base itself is billed on."""
    ledger, _ = SubscriptionLedger.fold(base_id, base_events)
    ledger.advance(at)
    return ledger.billing_dates_at(cycle, at)
