"""Fill an event store through the domain, in bulk: resellers, customers, tenants, orders,
subscriptions and their life (increases, assigned licences, windows closing, suspensions,
price changes, Azure usage), then monthly invoices.

Every event is made by the aggregates' own methods (the rules run); only the saving is
batched: many customers' aggregates are saved in one transaction, as no single command
would, so that a log of hundreds of thousands of events is written in minutes.

    python -m bench.generate --database-url sqlite:///var/bench/csp.db --events 200000
    python -m bench.generate --database-url 'postgresql://root@127.0.0.1:5432/csp_bench' --events 200000

Reused by the benchmarks: ``generate(app, events=..., seed=...)``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from csp.aggregates.agreement import CustomerAgreement, attest, latest_agreement_version
from csp.aggregates.base import SYSTEM_PROVISIONING, SYSTEM_SCHEDULER, SYSTEM_VENDOR_SYNC, user_actor
from csp.aggregates.catalog import Eligibility, Offer
from csp.aggregates.errors import CspError
from csp.aggregates.index import Counter, UniqueKey
from csp.aggregates.order import Order, format_order_number, price_new_line
from csp.aggregates.organization import Address, Organization, OrganizationProfile
from csp.aggregates.pricing import PriceQuote, SeatPricer, customer_quote
from csp.aggregates.subscription import Subscription, subscription_terms_from_offer
from csp.aggregates.tenant import Tenant
from csp.aggregates.terms import Term
from csp.application import CspApplication
from csp.application.accounts import NewLogin
from csp.application.carts import FIRST_ORDER_NUMBER, ORDER_NUMBER_COUNTER
from csp.application.catalog import offer_id_for
from csp.application.orders import subscription_id_for
from csp.application.tenants import DOMAIN_KEYS
from csp.clock import SettableClock
from csp.persistence import eventsourcing_env, parse_database_url

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ACTOR = user_actor(UUID("00000000-0000-4000-8000-00000000b0b0"))
LICENCE_OFFERS = (
    ("CFQ7TTC0LCHC:0002", "annual", "monthly"),  # Business Premium, the manual's offer
    ("CFQ7TTC0LCHC:0002", "annual", "yearly"),
    ("CFQ7TTC0LH18:0001", "annual", "monthly"),  # Business Basic
    ("CFQ7TTC0LFLZ:0002", "annual", "monthly"),  # Microsoft 365 E3
)
AZURE = ("DZH318Z0BPS6:0001", "monthly", "monthly")
PASSWORD = "bench-password-correct-horse"
INDUSTRIES = ("retail", "finance", "manufacturing", "healthcare", "it_services", "media")


def reseller_login(seed: int, i: int) -> str:
    """The email of generated reseller ``i``'s primary contact (password ``PASSWORD``)."""
    return f"bench-{seed}-{i}@example.com"


def _agreement(org: Organization, at: datetime) -> CustomerAgreement:
    """The customer's Microsoft Customer Agreement acceptance (orders need it)."""
    signed = attest("Ana", "Pop", "ana.pop@example.com", "+40 21 555 0100", at, latest_agreement_version(), at)
    return CustomerAgreement.record(org.id, org.owner_reseller_id, signed, ACTOR, at)


def _profile(name: str, rng: random.Random) -> OrganizationProfile:
    return OrganizationProfile(
        name=name,
        country=rng.choice(("RO", "DE", "FR", "PL", "HU")),
        address=Address(line1=f"Str. {rng.randint(1, 200)}", city="Bucharest", postal_code="060822"),
        contact_email=f"office@{name.lower().replace(' ', '')}.example",
        contact_phone="+40 21 555 0100",
        industry=rng.choice(INDUSTRIES),  # type: ignore[arg-type]
        eligibility=Eligibility(),
    )


def _pricer(at: datetime) -> SeatPricer:
    """The generated customers are in no segment: the line's markup on the default 5 %."""

    def price(
        offer: Offer,
        term: Term,
        quantity: int,
        *,
        markup_percent: Decimal | None = None,
        target_price: Decimal | None = None,
    ) -> PriceQuote:
        p = offer.price_at(at, term)
        return customer_quote(
            p.partner_price, p.erp_price, quantity, markup_percent=markup_percent, target_price=target_price
        )

    return price


class Generator:
    def __init__(self, app: CspApplication, clock: SettableClock, seed: int) -> None:
        self.app = app
        self.clock = clock
        self.rng = random.Random(seed)
        self.seed = seed
        app.ensure_catalog()
        self.catalog = app.catalog()
        self.offers = {vid: self.catalog.offer(offer_id_for(vid)) for vid, _, _ in (*LICENCE_OFFERS, AZURE)}
        counter_id = Counter.id_for(ORDER_NUMBER_COUNTER)
        if app.exists(counter_id):
            self.counter = app.load(Counter, counter_id, "counter")
        else:
            self.counter = Counter(name=ORDER_NUMBER_COUNTER, value=FIRST_ORDER_NUMBER, actor=ACTOR, at=START)
        self.resellers: list[Organization] = []
        self.customers = 0

    def resellers_(self, n: int) -> None:
        """Resellers signed up with a primary contact (``reseller_login``), so HTTP can read as them."""
        for i in range(n):
            self.clock.set(START)
            email = reseller_login(self.seed, i)
            found = self.app.user_by_email(email)
            if found is not None:
                self.resellers.append(self.app.load(Organization, found.organization_id, "organization"))
                continue
            org, _ = self.app.sign_up_reseller(
                f"Reseller {self.seed}-{i}", "RO", NewLogin(email, PASSWORD, "Bench", f"Reseller {i}")
            )
            self.resellers.append(org)

    def big_customer(self, at: datetime, orders: int = 60) -> list[Any]:
        """A customer of the first reseller with ``orders`` subscriptions: a full 50-row page."""
        n = self.customers
        self.customers += 1
        reseller = self.resellers[0]
        org = Organization.register_customer(
            uuid4(), reseller, _profile(f"Big Customer {self.seed}-{n}", self.rng), ACTOR, at
        )
        tenant = Tenant.request(uuid4(), org.id, reseller.id, f"big{self.seed}x{n}", "create", ACTOR, at)
        key = UniqueKey(namespace=DOMAIN_KEYS, key=tenant.domain, owner_id=tenant.id, actor=ACTOR, at=at)
        tenant.start_verification(SYSTEM_PROVISIONING, at)
        tenant.record_created(f"vc-{tenant.id}", f"admin@{tenant.domain}", SYSTEM_PROVISIONING, at)
        out: list[Any] = [org, _agreement(org, at), tenant, key]
        for _ in range(orders):
            vid, term, cycle = self.rng.choice(LICENCE_OFFERS)
            at += timedelta(minutes=7)
            out += self._order(org, reseller, tenant, self.offers[vid], term, cycle, at)
        return out

    def customer(self, at: datetime) -> list[Any]:
        """One customer's aggregates, with every event of their life so far (not saved)."""
        rng = self.rng
        n = self.customers
        self.customers += 1
        reseller = rng.choice(self.resellers)
        org = Organization.register_customer(uuid4(), reseller, _profile(f"Customer {self.seed}-{n}", rng), ACTOR, at)
        tenant = Tenant.request(uuid4(), org.id, reseller.id, f"b{self.seed}x{n}", "create", ACTOR, at)
        key = UniqueKey(namespace=DOMAIN_KEYS, key=tenant.domain, owner_id=tenant.id, actor=ACTOR, at=at)
        tenant.start_verification(SYSTEM_PROVISIONING, at)
        at += timedelta(minutes=3)
        tenant.record_created(f"vc-{tenant.id}", f"admin@{tenant.domain}", SYSTEM_PROVISIONING, at)
        out: list[Any] = [org, _agreement(org, at), tenant, key]
        choices = [*rng.sample(LICENCE_OFFERS, rng.randint(1, 3))]
        if rng.random() < 0.25:
            choices.append(AZURE)
        for vid, term, cycle in choices:
            at += timedelta(minutes=rng.randint(5, 300))
            order, sub = self._order(org, reseller, tenant, self.offers[vid], term, cycle, at)
            out += [order, sub]
            self._life(sub, at)
        return out

    def _order(
        self,
        org: Organization,
        reseller: Organization,
        tenant: Tenant,
        offer: Offer,
        term: str,
        cycle: str,
        at: datetime,
    ) -> tuple[Order, Subscription]:
        quantity = 1 if offer.type == "usage" else self.rng.randint(1, 40)
        number = format_order_number(at, self.counter.advance(ACTOR, at))
        order = Order.draft(uuid4(), org.id, reseller.id, number, ACTOR, at)
        line = price_new_line(
            line_no=1,
            offer=offer,
            tenant=tenant,
            buyer=org,
            quantity=quantity,
            billing_cycle=cycle,  # type: ignore[arg-type]
            term=term,  # type: ignore[arg-type]
            markup_percent=Decimal(self.rng.choice((0, 5, 10))),
            target_price=None,
            price=_pricer(at),
            addons=[],
        )
        order.add_line(line, ACTOR, at)
        order.place(True, ACTOR, at)
        at += timedelta(seconds=5)
        order.start_provisioning(SYSTEM_PROVISIONING, at)
        terms = subscription_terms_from_offer(
            offer,
            organization_id=org.id,
            reseller_id=reseller.id,
            tenant_id=tenant.id,
            tenant_domain=tenant.domain,
            order_id=order.id,
            line_no=1,
            term=line.term,
            billing_cycle=line.billing_cycle,
            quantity=line.quantity,
            price=line.price_quote,
        )
        at += timedelta(seconds=30)
        sub = Subscription.provision(subscription_id_for(order.id, 1), terms, SYSTEM_PROVISIONING, at)
        order.record_line_provisioned(1, (sub.id,), f"vo-{order.id}", SYSTEM_PROVISIONING, at)
        order.finish_provisioning(SYSTEM_PROVISIONING, at)
        return order, sub

    def _life(self, sub: Subscription, at: datetime) -> None:
        """A few weeks of a subscription's life, through its own rules."""
        rng = self.rng
        if sub.type == "usage":
            for day in range(rng.randint(20, 60)):
                when = at + timedelta(days=day, hours=1)
                amount = Decimal(rng.randint(10, 9000)) / 100
                sub.report_usage(
                    f"{when:%Y-%m-%d}", "compute", Decimal(rng.randint(1, 50)), amount, SYSTEM_VENDOR_SYNC, when
                )
            return
        for step in range(rng.randint(2, 9)):
            at += timedelta(hours=rng.randint(2, 96))
            roll = rng.random()
            try:
                if roll < 0.35:
                    sub.change_quantity(sub.quantity + rng.randint(1, 5), ACTOR, at)
                elif roll < 0.5 and sub.refundable_quantity(at) and sub.quantity > 1:
                    sub.change_quantity(sub.quantity - 1, ACTOR, at)
                elif roll < 0.75:
                    sub.sync_assigned(rng.randint(0, sub.quantity), SYSTEM_VENDOR_SYNC, at)
                elif roll < 0.85:
                    sub.close_windows(SYSTEM_SCHEDULER, at + timedelta(days=8))
                elif roll < 0.92 and step > 2:
                    sub.suspend(ACTOR, at)
                    sub.reactivate(ACTOR, at + timedelta(hours=4))
                else:
                    sub.change_customer_price(ACTOR, at, markup_percent=Decimal(rng.randint(0, 15)))
            except CspError:
                pass  # a refused change: the rules said no, as they would to a user


def generate(
    app: CspApplication,
    clock: SettableClock,
    events: int,
    seed: int = 1,
    resellers: int = 20,
    batch_customers: int = 25,
    billing_months: int = 2,
    report: Any = None,
) -> int:
    """Add at least ``events`` events; returns the log's head."""
    gen = Generator(app, clock, seed)
    gen.resellers_(resellers)
    start_head = app.recorder.max_notification_id() or 0
    at = START
    started = time.monotonic()
    head = start_head
    first = True
    while head - start_head < events:
        batch: list[Any] = [gen.counter]
        if first:
            batch += gen.big_customer(at)
            first = False
        for _ in range(batch_customers):
            at += timedelta(minutes=gen.rng.randint(1, 60))
            batch += gen.customer(at)
        app.save(*batch)
        head = app.recorder.max_notification_id() or 0
        if report:
            report(head - start_head, events, time.monotonic() - started)
    for m in range(billing_months):
        period_start = datetime(2026, 1 + m, 1, tzinfo=UTC)
        clock.set(period_start.replace(month=period_start.month + 1))
        app.run_billing(f"{period_start:%Y-%m}")
    return app.recorder.max_notification_id() or 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--billing-months", type=int, default=2)
    args = p.parse_args(argv)
    db = parse_database_url(args.database_url)
    clock = SettableClock(START)
    app = CspApplication(env=eventsourcing_env(db), clock=clock)

    def report(done: int, total: int, seconds: float) -> None:
        rate = done / seconds if seconds else 0
        print(f"\r{done:>9,}/{total:,} events  {rate:,.0f} events/s", end="", file=sys.stderr, flush=True)

    started = time.monotonic()
    head = generate(app, clock, args.events, seed=args.seed, billing_months=args.billing_months, report=report)
    print(f"\nlog head {head:,} after {time.monotonic() - started:.0f}s ({db.describe()})", file=sys.stderr)
    app.close()


if __name__ == "__main__":
    main()
