"""The charges ledger as a pure fold of one subscription's events: what the reseller owes, and when.

The reseller buys at the partner price, per licence per month (DOMAIN.md, "Invoice"):

- seats are charged per tranche, at the tranche's locked partner price;
- a billing period is charged at its start: a monthly cycle one month at a time, a yearly
  cycle the rest of the term at once (12 months for a fresh annual term);
- a mid-term increase is charged pro rata by day to the end of the current period;
- seats removed inside their cancellation window are refunded pro rata by day from the
  removal to the end of the period they were charged for;
- a suspended subscription is still charged; trials are free; an expired, disabled or
  cancelled one is not charged for later periods;
- a usage-based (Azure) subscription is charged what the vendor rated, on the day of use;
- a change the vendor refused is reversed: what it charged or refunded is given back.

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

from csp.aggregates.base import deterministic_id
from csp.aggregates.pricing import days_between, money, prorate
from csp.aggregates.subscription import Subscription, Tranche
from csp.aggregates.terms import add_months

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
    Subscription.VendorChangeRefused,
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


@dataclass
class _Removal:
    tranche: int
    quantity: int
    amount: Decimal  # the (negative) refund
    at: datetime


def months_between(start: datetime, end: datetime, anchor_day: int) -> Decimal:
    """Billing months from ``start`` to ``end``: whole months on the anchor day, plus the
    remaining days as a fraction of the month they fall in."""
    if end <= start:
        return Decimal(0)
    k = 0
    while add_months(start, k + 1, anchor_day) <= end:
        k += 1
    last = add_months(start, k, anchor_day)
    if last >= end:
        return Decimal(k)
    following = add_months(start, k + 1, anchor_day)
    return Decimal(k) + Decimal(days_between(last, end)) / Decimal(days_between(last, following))


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
    pending_cycle: str | None = None
    pending_at: datetime | None = None
    tranches: dict[int, _Tranche] = field(default_factory=dict)
    periods: list[tuple[datetime, datetime]] = field(default_factory=list)
    increases: dict[int, int] = field(default_factory=dict)
    removals: dict[int, list[_Removal]] = field(default_factory=dict)

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
            out += self._new_term(event.starts_at, event.ends_at, event.billing_cycle, event.tranche)
            out += self.advance(at)
        elif isinstance(event, Subscription.TrialConverted):
            self.offer_name = event.terms.offer_name
            self.usage = event.terms.type == "usage"
            self.status = "active"
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
        elif isinstance(event, Subscription.VendorChangeRefused):
            out += self._refused(event, at)
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
        if e.status == "trial":
            return []
        return self._new_term(e.starts_at, e.ends_at, t.billing_cycle, e.tranche)

    def _new_term(self, starts_at: datetime, ends_at: datetime, cycle: str, tranche: Tranche) -> list[Charge]:
        self.term_starts_at = starts_at
        self.term_ends_at = ends_at
        self.cycle = cycle
        self.pending_cycle = None
        self.pending_at = None
        self.tranches = {
            tranche.number: _Tranche(tranche.number, tranche.quantity, tranche.unit_partner_price, tranche.purchased_at)
        }
        self.increases = {}
        self.removals = {}
        period = (starts_at, self._period_end(starts_at))
        self.periods = [period]
        return self._charge_period(*period)

    def _seats_added(self, e: Subscription.SeatsAdded) -> list[Charge]:
        t = e.tranche
        self.tranches[t.number] = _Tranche(t.number, t.quantity, t.unit_partner_price, t.purchased_at)
        self.increases[e.originator_version] = t.number
        period = self._current_period(e.at)
        if period is None:
            return []
        a, b = period
        days, period_days = days_between(e.at, b), days_between(a, b)
        amount = prorate(t.quantity * t.unit_partner_price * self._months(a, b), days, period_days)
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
        )

    def _seats_removed(self, e: Any, removals: tuple[Any, ...]) -> list[Charge]:
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
            days, period_days = days_between(e.at, b), days_between(a, b)
            amount = -prorate(r.quantity * tranche.unit_price * self._months(a, b), days, period_days)
            done.append(_Removal(tranche.number, r.quantity, amount, e.at))
            out += self._emit(
                tranche.number,
                "refund",
                ("refund", e.originator_version, tranche.number),
                f"−{r.quantity} removed {_d(e.at)}, refund {days}/{period_days} days",
                Decimal(-r.quantity),
                tranche.unit_price,
                days,
                amount,
                e.at,
                period,
            )
        if done:
            self.removals[e.originator_version] = done
        return out

    def _usage(self, e: Subscription.UsageReported) -> list[Charge]:
        amount = money(e.amount)
        if amount == 0:
            return []
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
            )
        ]

    def _refused(self, e: Subscription.VendorChangeRefused, at: datetime) -> list[Charge]:
        out: list[Charge] = []
        label = f"vendor refused {e.change_type}, reversed"
        period = self._current_period(at) or (at, at)
        if e.change_type == "SeatsAdded" and e.change_version in self.increases:
            tranche = self.tranches.get(self.increases.pop(e.change_version))
            if tranche is not None and tranche.net_charged != 0:
                out += self._emit(
                    tranche.number,
                    "reversal",
                    ("reversal", e.originator_version, tranche.number),
                    label,
                    Decimal(-tranche.quantity),
                    tranche.unit_price,
                    0,
                    -tranche.net_charged,
                    at,
                    period,
                )
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
                )
                # The restored seats missed the period starts charged while they were gone.
                for ps, pe in self.periods:
                    if r.at < ps <= at:
                        amount = money(r.quantity * tranche.unit_price * self._months(ps, pe))
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
                        )
        restored: dict[int, _Tranche] = {}
        for t in e.tranches:
            known = self.tranches.get(t.number)
            if known is None:
                known = _Tranche(t.number, t.quantity, t.unit_partner_price, t.purchased_at)
            known.quantity = t.quantity
            restored[t.number] = known
        self.tranches = restored
        self.status = e.status
        self.pending_cycle = e.pending_billing_cycle
        self.pending_at = e.pending_billing_cycle_at
        return out + self.advance(at)

    # --- periods and charges -------------------------------------------------------

    def _billable(self) -> bool:
        return self.status in BILLABLE and not self.usage and bool(self.periods)

    def _anchor(self) -> int:
        assert self.term_starts_at is not None
        return self.term_starts_at.day

    def _months(self, start: datetime, end: datetime) -> Decimal:
        return months_between(start, end, self._anchor())

    def _period_end(self, start: datetime) -> datetime:
        """The end of the billing period starting at ``start`` (never past the term end)."""
        assert self.term_starts_at is not None
        assert self.term_ends_at is not None
        if self.cycle == "yearly":
            return self.term_ends_at
        ts = self.term_starts_at
        k = max(1, (start.year - ts.year) * 12 + start.month - ts.month)
        while add_months(ts, k, ts.day) <= start:
            k += 1
        while k > 1 and add_months(ts, k - 1, ts.day) > start:
            k -= 1
        return min(add_months(ts, k, ts.day), self.term_ends_at)

    def _current_period(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The charged period that ``at`` falls in, if the subscription is being billed."""
        if not self._billable():
            return None
        a, b = self.periods[-1]
        if not a <= at < b:
            return None
        return a, b

    def _charge_period(self, start: datetime, end: datetime) -> list[Charge]:
        out: list[Charge] = []
        if self.usage or self.status not in BILLABLE:
            return out
        months = self._months(start, end)
        for t in self.tranches.values():
            if t.quantity <= 0:
                continue
            out += self._emit(
                t.number,
                "period",
                ("period", t.number, start.isoformat()),
                f"{_d(start)}–{_d(end)}",
                Decimal(t.quantity),
                t.unit_price,
                days_between(start, end),
                money(t.quantity * t.unit_price * months),
                start,
                (start, end),
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
    ) -> list[Charge]:
        if amount == 0:
            return []
        tranche = self.tranches.get(tranche_number)
        if tranche is not None:
            tranche.net_charged += amount
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
            "pending_cycle": self.pending_cycle,
            "pending_at": _iso(self.pending_at),
            "tranches": [
                [t.number, t.quantity, str(t.unit_price), t.purchased_at.isoformat(), str(t.net_charged)]
                for t in self.tranches.values()
            ],
            "periods": [[a.isoformat(), b.isoformat()] for a, b in self.periods],
            "increases": [[v, n] for v, n in self.increases.items()],
            "removals": [
                [v, [[r.tranche, r.quantity, str(r.amount), r.at.isoformat()] for r in rs]]
                for v, rs in self.removals.items()
            ],
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> SubscriptionLedger:
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
            pending_cycle=s["pending_cycle"],
            pending_at=_dt(s["pending_at"]),
            tranches={
                n: _Tranche(n, q, Decimal(p), datetime.fromisoformat(at), Decimal(net))
                for n, q, p, at, net in s["tranches"]
            },
            periods=[(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in s["periods"]],
            increases=dict(s["increases"]),
            removals={
                v: [_Removal(t, q, Decimal(a), datetime.fromisoformat(at)) for t, q, a, at in rs]
                for v, rs in s["removals"]
            },
        )


def charges_until(subscription_id: UUID, events: list[Any], until: datetime) -> list[Charge]:
    """Every charge of a subscription dated before ``until``, given its events so far."""
    ledger, charges = SubscriptionLedger.fold(subscription_id, events)
    charges += ledger.advance(until)
    return [c for c in charges if c.charged_at < until]
