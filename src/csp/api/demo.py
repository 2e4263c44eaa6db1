"""``csp demo``: a reseller account with customers, tenants, orders in every status and
subscriptions (trial, active, suspended, with add-ons), made through the real commands,
so that a new user sees a living portal at once."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from rich.console import Console

from csp.aggregates.agreement import latest_agreement_version
from csp.aggregates.base import user_actor
from csp.aggregates.catalog import Eligibility
from csp.aggregates.order import Order
from csp.aggregates.organization import Address, OrganizationProfile
from csp.aggregates.tenant import Tenant
from csp.api.actions import send_invitation
from csp.api.ports import SagaRunner
from csp.application import AddonRequest, CspApplication, NewLineRequest, QuoteLineRequest
from csp.application.accounts import NewLogin
from csp.application.catalog import offer_id_for
from csp.errors import StartupError

if TYPE_CHECKING:
    from csp.api.app import WebParts
    from csp.mail import Mailer

DEMO_EMAIL = "demo@csp.example"
DEMO_PASSWORD = "Living-Portal-Demo-2026"
BUSINESS_PREMIUM = offer_id_for("CFQ7TTC0LCHC:0002")
BUSINESS_PREMIUM_TRIAL = offer_id_for("CFQ7TTC0LCHC:0005")
BUSINESS_BASIC = offer_id_for("CFQ7TTC0LH18:0001")
TEAMS_PHONE = offer_id_for("CFQ7TTC0LHXM:0001")
O365_E3 = offer_id_for("CFQ7TTC0LF8R:0001")
M365_E3 = offer_id_for("CFQ7TTC0LFLZ:0002")
A3_FACULTY = offer_id_for("CFQ7TTC0LH0Z:0001")


def _profile(name: str, industry: str, email: str, **eligibility: bool) -> OrganizationProfile:
    return OrganizationProfile(
        name=name,
        country="RO",
        address=Address(line1="Bd. Unirii 1", city="Bucharest", postal_code="030823"),
        contact_email=email,
        contact_phone="+40 21 555 0100",
        industry=industry,  # type: ignore[arg-type]
        eligibility=Eligibility(**eligibility),
    )


class Demo:
    def __init__(
        self, app: CspApplication, sagas: SagaRunner | None, mailer: Mailer | None, public_url: str, console: Console
    ) -> None:
        self.app = app
        self.sagas = sagas
        self.mailer = mailer
        self.public_url = public_url
        self.console = console
        self.suffix = uuid.uuid4().hex[:6]

    def step(self, text: str) -> None:
        self.console.print(f"  [green]✓[/] {text}")

    # --- the vendor's side, through the sagas ------------------------------------

    def settle(self) -> None:
        """Wait until the sagas did what the last commands called for."""
        assert self.sagas is not None
        if not self.sagas.drain(60.0):
            raise StartupError(
                "the sagas did not finish in time"
                + ("" if self.sagas.run_in_process else ": are csp relay and csp worker running?")
            )

    def tenant_ready(self, organization_id: UUID, prefix: str) -> UUID:
        t = self.app.request_tenant(organization_id, f"{prefix}{self.suffix}", "create", self.actor)
        self.settle()
        return t.id

    def provision(self, order: Order) -> Order:
        self.settle()
        return self.app.load(Order, order.id, "order")

    def order(
        self,
        customer: UUID,
        tenant: UUID,
        offer: UUID,
        quantity: int | None,
        cycle: str = "monthly",
        addons: tuple[AddonRequest, ...] = (),
    ) -> Order:
        o = self.app.create_order(customer, self.actor)
        term = self.app.catalog().offer(offer).terms[0]
        req = NewLineRequest(offer, tenant, quantity, cycle, term, Decimal(5), addons=addons)
        return self.app.add_new_subscription_line(o.id, req, self.actor)

    def buy(self, customer: UUID, tenant: UUID, offer: UUID, quantity: int | None, **kw: Any) -> UUID:
        o = self.order(customer, tenant, offer, quantity, **kw)
        o = self.app.place_order(o.id, True, self.actor)
        o = self.provision(o)
        if o.status != "provision_finished":
            raise StartupError(f"the demo order {o.number} ended {o.status}: {o.failure_reason}")
        return o.subscription_ids[0]

    # --- the story ------------------------------------------------------------------

    def run(self) -> None:
        app = self.app
        if app.user_by_email(DEMO_EMAIL) is not None:
            self.console.print("The demo account exists already.")
            self.print_login()
            return
        assert self.sagas is not None
        self.sagas.start()
        reseller, boss = app.sign_up_reseller(
            "Demo Cloud Reseller",
            "RO",
            NewLogin(DEMO_EMAIL, DEMO_PASSWORD, "Demo", "Reseller"),
            address=Address(line1="Str. Fabricii 46", city="Bucharest", postal_code="060822"),
            slug="demo",
        )
        self.actor = user_actor(boss.id)
        self.step(f"reseller {reseller.name} (portal /{reseller.slug}), primary contact {DEMO_EMAIL}")
        settings = reseller.reseller_settings().replace(customer_self_registration=True, customer_self_service=True)
        app.change_settings(reseller.id, settings, self.actor)
        for email, role in (("orders@csp.example", "order_manager"), ("billing@csp.example", "billing")):
            inv = app.invite_user(boss.id, email.replace("@", f"+{self.suffix}@"), role, reseller.id)
            app.accept_invitation(inv.token, role.split("_")[0].title(), "Demo", DEMO_PASSWORD, accept_terms=True)
        waiting = app.invite_user(boss.id, f"newcomer+{self.suffix}@csp.example", "read_only", reseller.id)
        # as an invitation from the Users screen: its one-time link exists only in this email
        sent = send_invitation(self.mailer, self.public_url, waiting, boss, reseller.name)
        where = f" (its link emailed to {waiting.user.email})" if sent else " (its email could not be sent)"
        self.step(f"users: an order manager, a billing user, and an invitation waiting{where}")

        contoso = app.register_customer(
            reseller.id, _profile("Contoso SRL", "retail", "it@contoso.example"), self.actor
        )
        school = app.register_customer(
            reseller.id, _profile("Northwind School", "education", "it@northwind.example", academic=True), self.actor
        )
        city = app.register_customer(
            reseller.id, _profile("City of Fabrikam", "government", "it@fabrikam.example", government=True), self.actor
        )
        self.step("customers: Contoso SRL, Northwind School (academic), City of Fabrikam (government)")
        # the Microsoft Customer Agreement acceptance, recorded before each customer's first order
        version = latest_agreement_version()
        for org, (first, last, domain) in (
            (contoso, ("Ana", "Popescu", "contoso.example")),
            (school, ("Ion", "Ionescu", "northwind.example")),
            (city, ("Maria", "Georgescu", "fabrikam.example")),
        ):
            email = f"{first.lower()}.{last.lower()}@{domain}"
            app.record_agreement(org.id, first, last, email, "+40 21 555 0100", app.now(), version, self.actor)
        self.step(f"customer agreements (Microsoft Customer Agreement {version}) recorded for the three customers")

        t_contoso = self.tenant_ready(contoso.id, "contoso")
        t_school = self.tenant_ready(school.id, "northwind")
        t_city = self.tenant_ready(city.id, "fabrikam")
        linked = app.request_tenant(city.id, f"notgranted{self.suffix}.example", "link", self.actor)
        self.settle()
        refused_link = app.load(Tenant, linked.id, "tenant")
        self.step(
            f"tenants: three created at the vendor, one link {refused_link.status} ({refused_link.rejection_code})"
        )

        gdap = app.request_gdap(t_contoso, ["User Administrator", "License Administrator"], 730, True, self.actor)
        self.settle()
        self.step(f"a GDAP relationship asked of Contoso's tenant: {app.load(type(gdap), gdap.id, 'gdap').status}")

        premium = self.buy(contoso.id, t_contoso, BUSINESS_PREMIUM, 25, addons=(AddonRequest(TEAMS_PHONE, 5),))
        self.buy(contoso.id, t_contoso, O365_E3, 10, cycle="yearly")
        suspended = self.buy(contoso.id, t_contoso, BUSINESS_BASIC, 3)
        app.suspend_subscription(suspended, self.actor)
        self.buy(contoso.id, t_contoso, BUSINESS_PREMIUM_TRIAL, None)
        self.buy(school.id, t_school, A3_FACULTY, 40)
        self.step("subscriptions: active (with an add-on), yearly billed, suspended, a trial, an academic one")

        change = app.create_order(contoso.id, self.actor)
        app.add_change_line(change.id, premium, 1, self.actor)
        app.place_order(change.id, True, self.actor)
        self.provision(app.load(Order, change.id, "order"))
        # a change order for a subscription cancelled before the order was placed: the vendor refuses it
        doomed = self.buy(city.id, t_city, BUSINESS_BASIC, 2)
        refused = app.create_order(city.id, self.actor)
        app.add_change_line(refused.id, doomed, 1, self.actor)
        app.cancel_subscription(doomed, self.actor)
        self.settle()
        app.place_order(refused.id, True, self.actor)
        self.provision(app.load(Order, refused.id, "order"))
        self.order(contoso.id, t_contoso, M365_E3, 5)  # saved for later: a draft
        discarded = self.order(contoso.id, t_contoso, BUSINESS_BASIC, 2)
        app.discard_order(discarded.id, self.actor)
        self.settle()
        # the last two are left to the sagas of the running service (csp serve picks them up)
        assert self.sagas is not None
        self.sagas.stop()
        placed = self.order(school.id, t_school, A3_FACULTY, 5)
        app.place_order(placed.id, True, self.actor)
        started = self.order(school.id, t_school, A3_FACULTY, 7)
        app.place_order(started.id, True, self.actor)
        app.start_provisioning(started.id)
        statuses = sorted({app.load(Order, o, "order").status for o in (change.id, refused.id, placed.id, started.id)})
        self.step(f"orders: {', '.join(statuses)}, a draft saved for later, a discarded one")

        app.create_quote(
            city.id,
            [QuoteLineRequest(BUSINESS_PREMIUM, 50, "monthly", "annual", markup_percent=Decimal(3))],
            self.actor,
            valid_days=30,
            note="Public-sector proposal",
        )
        seg = app.create_segment(reseller.id, "Education", (A3_FACULTY,), (school.id,), self.actor)
        app.set_segment_price(seg.id, A3_FACULTY, self.actor, markup_percent=Decimal(-2))
        self.step("a quote for the City of Fabrikam, and an Education segment with its own price")
        self.print_login()

    def print_login(self) -> None:
        url = self.public_url.rstrip("/")
        self.console.print(
            f"\n[bold]Sign in[/] at {url} (API: POST {url}/api/v1/auth/login) with\n"
            f"  email:    [bold]{DEMO_EMAIL}[/]\n  password: [bold]{DEMO_PASSWORD}[/]"
        )


def run_demo(parts: WebParts, console: Console) -> None:
    """The demo over the parts the composition root gives the web layer (it needs sagas)."""
    console.print("[bold]csp demo[/]: a living reseller account, through the real commands")
    Demo(parts.app, parts.sagas, parts.mailer, parts.settings.public_url, console).run()
