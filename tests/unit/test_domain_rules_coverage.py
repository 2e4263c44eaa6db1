"""DOMAIN.md rules that no other test proved: each test names its rule (see the rule map
of issue 2). Application level, in-memory store, like the other unit tests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from csp.aggregates.errors import (
    AddonRequiresBase,
    InvalidInput,
    OfferNotAvailable,
    TenantNotReady,
    TrialAlreadyUsed,
)
from csp.aggregates.order import Order
from csp.aggregates.organization import Address, ResellerSettings
from csp.aggregates.subscription import Subscription
from csp.aggregates.tenant import Tenant
from csp.aggregates.terms import parse_billing_cycle, parse_term
from csp.application import NewLineRequest
from csp.application.accounts import NewLogin
from csp.application.catalog import offer_id_for
from csp.clock import SettableClock
from csp.mail import provisioning_failed_message, tenant_created_message
from csp.workers.relay import Router
from tests.support import (
    A3_FACULTY,
    ACTOR,
    AZURE_PLAN,
    BUSINESS_BASIC,
    BUSINESS_PREMIUM,
    BUSINESS_PREMIUM_TRIAL,
    TEAMS_PHONE,
    World,
    make_world,
    memory_app,
    profile,
)

D = Decimal
M365_G3 = offer_id_for("CFQ7TTC0LHGB:0001")
BUSINESS_PREMIUM_NONPROFIT = offer_id_for("CFQ7TTC0LCHC:0NP1")
GOOD = "correct-horse-battery-staple"


@pytest.fixture
def world(clock: SettableClock) -> World:
    return make_world(memory_app(clock), clock)


def ready_tenant(w: World, organization_id, domain: str) -> Tenant:  # type: ignore[no-untyped-def]
    tenant = w.app.request_tenant(organization_id, domain, "create", actor=ACTOR)
    w.app.start_tenant_verification(tenant.id)
    return w.app.record_tenant_created(tenant.id, f"vc-{domain}", f"admin@{domain}.onmicrosoft.com")


def line(offer_id, tenant_id, quantity: int | None = 1, term: str = "annual", cycle: str = "monthly", **kw):  # type: ignore[no-untyped-def]
    return NewLineRequest(offer_id, tenant_id, quantity, cycle, term, **kw)


# --- users ----------------------------------------------------------------------------


def test_a_disabled_user_no_longer_signs_in_with_its_password():
    # rule: user lifecycle invited → active → disabled
    app = memory_app(SettableClock())
    org, boss = app.sign_up_reseller("Reseller", "RO", NewLogin("boss@example.com", GOOD, "B", "Oss"))
    inv = app.invite_user(boss.id, "om@example.com", "order_manager", org.id)
    assert inv.user.status == "invited"
    assert app.authenticate_local("om@example.com", GOOD) is None  # not before the invitation is accepted
    user = app.accept_invitation(inv.token, "O", "M", GOOD, accept_terms=False)
    assert app.authenticate_local("om@example.com", GOOD).id == user.id
    assert app.change_user(boss.id, user.id, disabled=True).status == "disabled"
    assert app.authenticate_local("om@example.com", GOOD) is None


# --- organizations --------------------------------------------------------------------


def test_a_customers_address_and_phone_are_required_and_its_phone_must_be_a_phone_number(world: World):
    # rule: required data — company name, country, address, contact email and phone, industry
    for field in ("line1", "city", "postal_code"):
        address = Address(line1="Str. Fabricii 46", city="Bucharest", postal_code="060822").replace(**{field: " "})
        with pytest.raises(InvalidInput) as e:
            world.app.register_customer(world.reseller.id, profile().replace(address=address), actor=ACTOR)
        assert e.value.field == f"address.{field}"
    for phone, reason in (("call me", "is not a valid phone number"), (" ", "is required")):
        with pytest.raises(InvalidInput) as e:
            world.app.register_customer(world.reseller.id, profile().replace(contact_phone=phone), actor=ACTOR)
        assert (e.value.field, e.value.reason) == ("contact_phone", reason)


def test_government_and_nonprofit_offers_are_for_eligible_customers_only(clock: SettableClock):
    # rule: the industry and the academic / government / non-profit flags decide what a customer sees and buys
    retail = make_world(memory_app(clock), clock)
    for offer_id in (M365_G3, BUSINESS_PREMIUM_NONPROFIT, A3_FACULTY):
        offer = retail.app.catalog().offer(offer_id)
        assert not retail.app.offer_available_to(retail.customer, offer)
        with pytest.raises(OfferNotAvailable):
            retail.order_with_line(offer_id=offer_id, quantity=5, markup_percent=None)
    assert retail.app.offer_available_to(retail.customer, retail.app.catalog().offer(BUSINESS_PREMIUM))

    government = make_world(memory_app(clock), clock, government=True)
    assert government.customer.profile.industry == "government"
    order = government.order_with_line(offer_id=M365_G3, quantity=5, markup_percent=None)
    assert order.lines[0].offer_id == M365_G3
    with pytest.raises(OfferNotAvailable):
        government.order_with_line(offer_id=BUSINESS_PREMIUM_NONPROFIT, quantity=5, markup_percent=None)

    nonprofit = make_world(memory_app(clock), clock, nonprofit=True)
    order = nonprofit.order_with_line(offer_id=BUSINESS_PREMIUM_NONPROFIT, quantity=5, markup_percent=None)
    assert order.lines[0].offer_id == BUSINESS_PREMIUM_NONPROFIT
    with pytest.raises(OfferNotAvailable):
        nonprofit.order_with_line(offer_id=M365_G3, quantity=5, markup_percent=None)


def test_the_resellers_own_account_buys_the_offers_it_is_entitled_to(world: World):
    # rule: the reseller's own account appears among its organizations, with the offers it is entitled to
    own = ready_tenant(world, world.reseller.id, "resellerown")
    order = world.app.create_order(world.reseller.id, actor=ACTOR)
    assert (order.organization_id, order.reseller_id) == (world.reseller.id, world.reseller.id)
    order = world.app.add_new_subscription_line(order.id, line(BUSINESS_PREMIUM, own.id, 2), actor=ACTOR)
    assert order.lines[0].unit_customer_price == D("14.87")
    with pytest.raises(OfferNotAvailable):  # not an academic institution
        world.app.add_new_subscription_line(order.id, line(A3_FACULTY, own.id, 2), actor=ACTOR)


# --- tenants --------------------------------------------------------------------------


def test_a_rejected_tenant_cannot_be_ordered_on_and_a_linked_one_can(world: World):
    # rule: a tenant is usable for orders only when created (or linked), never rejected
    taken = world.app.request_tenant(world.customer.id, "takenro", "create", actor=ACTOR)
    world.app.start_tenant_verification(taken.id)
    world.app.reject_tenant(taken.id, "the domain is taken at the vendor", code="domain_taken")
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    with pytest.raises(TenantNotReady):
        world.app.add_new_subscription_line(order.id, line(BUSINESS_PREMIUM, taken.id), actor=ACTOR)
    linked = world.app.request_tenant(world.customer.id, "contoso.example.com", "link", actor=ACTOR)
    world.app.start_tenant_verification(linked.id)
    with pytest.raises(TenantNotReady):  # still verifying
        world.app.add_new_subscription_line(order.id, line(BUSINESS_PREMIUM, linked.id), actor=ACTOR)
    world.app.record_tenant_linked(linked.id, "vc-linked")
    order = world.app.add_new_subscription_line(order.id, line(BUSINESS_PREMIUM, linked.id), actor=ACTOR)
    assert order.lines[0].tenant_domain == "contoso.example.com"


# --- catalog --------------------------------------------------------------------------


def test_the_catalog_is_categories_then_product_groups_then_offers(world: World):
    # rule: categories (Client, Server, Cloud) → product groups (Microsoft 365) → offers
    catalog = world.app.catalog()
    assert {c.name for c in catalog.categories} >= {"Client", "Server", "Cloud"}
    for offer in catalog.offers.values():
        assert catalog.product_group_of(offer) in catalog.category_of(offer).product_groups, offer.name
    bp = catalog.offer(BUSINESS_PREMIUM)
    assert (catalog.category_of(bp).name, catalog.product_group_of(bp).name) == ("Client", "Microsoft 365")


CATALOG_FILE = """
source = "test"
[[categories]]
slug = "client"
name = "Client"
product_groups = [{ slug = "microsoft-365", name = "Microsoft 365" }]
[[categories]]
slug = "cloud"
name = "Cloud"
product_groups = [{ slug = "azure", name = "Azure" }]
[[offers]]
vendor_offer_id = "TEST:0001"
name = "Filed offer"
category = "CATEGORY"
product_group = "microsoft-365"
terms = ["annual"]
billing_cycles = ["monthly"]
prices.annual = { partner = "1.00" }
"""


def test_an_offer_must_sit_in_a_product_group_of_its_own_category(tmp_path: Path):
    # rule: the catalog hierarchy — a product group belongs to one category, an offer to one group
    app = memory_app(SettableClock())
    misfiled = tmp_path / "misfiled.toml"
    misfiled.write_text(CATALOG_FILE.replace("CATEGORY", "cloud"), encoding="utf-8")
    with pytest.raises(InvalidInput) as e:
        app.import_catalog(misfiled)
    assert "product group" in e.value.reason
    filed = tmp_path / "filed.toml"
    filed.write_text(CATALOG_FILE.replace("CATEGORY", "client"), encoding="utf-8")
    assert [o.name for o in app.import_catalog(filed).offers.values()] == ["Filed offer"]


def test_an_offer_carries_what_the_domain_lists(world: World):
    # rule: an offer has vendor, name, description, licence type, segment, terms, billing cycles,
    # ERP, partner price, trial (and its paid offer), and the add-ons that may attach to it
    catalog = world.app.catalog()
    bp = catalog.offer(BUSINESS_PREMIUM)
    price = bp.price_at(world.clock.now())
    assert (bp.vendor, bp.name, bp.type, bp.segment) == (
        "Microsoft",
        "Microsoft 365 Business Premium",
        "licence",
        "commercial",
    )
    assert bp.description
    assert (price.partner_price, price.erp_price) == (D("14.16"), D("16.87"))
    assert (bp.is_trial, bp.trial_converts_to) == (False, None)
    assert TEAMS_PHONE in bp.addon_offer_ids
    assert catalog.offer(TEAMS_PHONE).is_addon
    trial = catalog.offer(BUSINESS_PREMIUM_TRIAL)
    assert (trial.is_trial, trial.trial_converts_to) == (True, BUSINESS_PREMIUM)
    assert catalog.offer(AZURE_PLAN).type == "usage"


def test_the_manuals_offer_sells_the_annual_term_billed_monthly_or_yearly(world: World):
    # rule: the manual's example offer (14.16 / 16.87) allows the annual term, billed monthly or yearly
    bp = world.app.catalog().offer(BUSINESS_PREMIUM)
    assert (bp.terms, set(bp.billing_cycles)) == (("annual",), {"monthly", "yearly"})
    for cycle in ("monthly", "yearly"):
        placed = world.order_with_line(billing_cycle=cycle, term="annual")
        assert (placed.lines[0].billing_cycle, placed.lines[0].unit_customer_price) == (cycle, D("15.58"))
    with pytest.raises(InvalidInput) as e:
        world.order_with_line(term="monthly")
    assert e.value.field == "term"


# --- the reseller's customisation ----------------------------------------------------


def test_a_hidden_offer_can_be_shown_again(world: World):
    # rule: the reseller hides / shows offers for its customers
    world.app.set_offer_visibility(world.reseller.id, BUSINESS_BASIC, False, actor=ACTOR)
    with pytest.raises(OfferNotAvailable):
        world.order_with_line(offer_id=BUSINESS_BASIC)
    world.app.set_offer_visibility(world.reseller.id, BUSINESS_BASIC, True, actor=ACTOR)
    assert world.order_with_line(offer_id=BUSINESS_BASIC).lines[0].offer_id == BUSINESS_BASIC


def test_a_segment_limits_its_customers_to_its_offers_and_prices_them_with_its_markup(world: World):
    # rule: customer segments with offers assigned to each, and customer prices per segment and offer
    other = world.app.register_customer(world.reseller.id, profile("Fabrikam SRL", "retail"), actor=ACTOR)
    seg = world.app.create_segment(world.reseller.id, "Gold", (BUSINESS_PREMIUM,), (world.customer.id,), actor=ACTOR)
    basic = world.app.catalog().offer(BUSINESS_BASIC)
    with pytest.raises(OfferNotAvailable):
        world.order_with_line(offer_id=BUSINESS_BASIC)
    assert not world.app.offer_available_to(world.customer, basic)
    assert world.app.offer_available_to(other, basic)  # not in the segment: not restricted
    world.app.set_segment_price(seg.id, BUSINESS_PREMIUM, actor=ACTOR, markup_percent=D(3))
    priced = world.order_with_line(markup_percent=None).lines[0]
    # 14.16 × (1 + (5 + 3) / 100) = 15.2928 → 15.29
    assert (priced.unit_customer_price, priced.margin) == (D("15.29"), D("1.13"))


def test_the_currency_is_eur_by_default(world: World):
    # rule: currency EUR by default
    assert ResellerSettings().currency == "EUR"
    assert world.reseller.settings is not None
    assert world.reseller.settings.currency == "EUR"
    assert {o.currency for o in world.app.catalog().offers.values()} == {"EUR"}


# --- orders ---------------------------------------------------------------------------


def test_an_order_is_for_one_customer_its_tenants_and_its_subscriptions(world: World):
    # rule: an order is placed for one customer organization; change lines read "+N Users"
    other = world.app.register_customer(world.reseller.id, profile("Fabrikam SRL", "retail"), actor=ACTOR)
    theirs = ready_tenant(world, other.id, "fabrikamsrl")
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    with pytest.raises(InvalidInput) as e:
        world.app.add_new_subscription_line(order.id, line(BUSINESS_PREMIUM, theirs.id), actor=ACTOR)
    assert e.value.field == "tenant_id"
    mine = world.buy(quantity=1)
    their_order = world.app.create_order(other.id, actor=ACTOR)
    with pytest.raises(InvalidInput) as e:
        world.app.add_change_line(their_order.id, mine.id, 1, actor=ACTOR)
    assert e.value.field == "subscription_id"
    order = world.app.add_change_line(order.id, mine.id, 25, actor=ACTOR)
    assert [x.requested_change for x in order.lines] == ["+25 Users"]


# --- subscriptions --------------------------------------------------------------------


def test_quantity_billing_cycle_price_and_add_on_changes_keep_a_subscription_active(world: World):
    # rule: change quantity / billing cycle / price / add-ons — the subscription stays active
    sub = world.buy(quantity=10)
    assert world.app.change_subscription_quantity(sub.id, 12, actor=ACTOR).status == "active"
    assert world.app.change_subscription_quantity(sub.id, 11, actor=ACTOR).status == "active"
    assert world.app.change_subscription_quantity(sub.id, 8, actor=ACTOR, at_renewal=True).status == "active"
    assert world.app.change_subscription_billing_cycle(sub.id, "yearly", actor=ACTOR).status == "active"
    assert world.app.change_subscription_price(sub.id, actor=ACTOR, markup_percent=D(2)).status == "active"
    addon = world.app.add_subscription_addon(sub.id, TEAMS_PHONE, 2, actor=ACTOR)
    assert (addon.status, world.sub(sub.id).status) == ("active", "active")
    assert world.app.remove_subscription_addon(sub.id, addon.id, actor=ACTOR).status == "active"
    events = [type(e).__name__ for e in world.app.events.get(sub.id)]
    for name in ("SeatsAdded", "SeatsRemoved", "BillingCycleChangeScheduled", "CustomerPriceChanged"):
        assert name in events
    assert world.sub(sub.id).status == "active"


def test_terms_are_p1m_or_p1y_and_billing_monthly_or_yearly_only(world: World):
    # rule: term P1M (monthly) or P1Y (annual); billing frequency monthly or yearly
    assert (parse_term("P1M"), parse_term("P1Y")) == ("monthly", "annual")
    for bad in ("P3Y", "triennial", ""):
        with pytest.raises(InvalidInput):
            parse_term(bad)
    with pytest.raises(InvalidInput):
        parse_billing_cycle("quarterly")
    with pytest.raises(InvalidInput) as e:
        world.order_with_line(term="P3Y")
    assert e.value.field == "term"
    with pytest.raises(InvalidInput) as e:
        world.order_with_line(billing_cycle="quarterly")
    assert e.value.field == "billing_cycle"
    sub = world.buy()
    with pytest.raises(InvalidInput):
        world.app.change_subscription_billing_cycle(sub.id, "weekly", actor=ACTOR)


def test_one_trial_per_offer_per_customer_not_per_tenant(world: World):
    # rule: trials — one trial per offer per customer
    second = ready_tenant(world, world.customer.id, "contososecond")
    order = world.order_with_line(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly", markup_percent=None)
    with pytest.raises(InvalidInput) as e:  # the same trial on another tenant of the customer, same cart
        world.app.add_new_subscription_line(
            order.id, line(BUSINESS_PREMIUM_TRIAL, second.id, None, term="monthly"), actor=ACTOR
        )
    assert e.value.field == "offer_id"
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    world.provision(order)
    later = world.app.create_order(world.customer.id, actor=ACTOR)
    with pytest.raises(TrialAlreadyUsed):  # nor later, on another tenant
        world.app.add_new_subscription_line(
            later.id, line(BUSINESS_PREMIUM_TRIAL, second.id, None, term="monthly"), actor=ACTOR
        )
    # another customer of the same reseller has its own trial
    other = world.app.register_customer(world.reseller.id, profile("Fabrikam SRL", "retail"), actor=ACTOR)
    theirs = ready_tenant(world, other.id, "fabrikamtrial")
    their_order = world.app.create_order(other.id, actor=ACTOR)
    their_order = world.app.add_new_subscription_line(
        their_order.id, line(BUSINESS_PREMIUM_TRIAL, theirs.id, None, term="monthly"), actor=ACTOR
    )
    assert (their_order.lines[0].is_trial, their_order.lines[0].quantity) == (True, 25)


def test_an_add_on_needs_an_active_base_on_the_same_tenant(world: World):
    # rule: add-ons require a compatible active base subscription on the same tenant
    base = world.buy(quantity=5)
    world.app.suspend_subscription(base.id, actor=ACTOR)
    with pytest.raises(AddonRequiresBase):
        world.app.add_subscription_addon(base.id, TEAMS_PHONE, 1, actor=ACTOR)
    with pytest.raises(AddonRequiresBase):
        world.order_with_line(offer_id=TEAMS_PHONE, quantity=1, parent_subscription_id=base.id)
    world.app.reactivate_subscription(base.id, actor=ACTOR)
    second = ready_tenant(world, world.customer.id, "contosoaddon")
    order = world.app.create_order(world.customer.id, actor=ACTOR)
    with pytest.raises(AddonRequiresBase):  # the base is on the other tenant
        world.app.add_new_subscription_line(
            order.id, line(TEAMS_PHONE, second.id, 1, parent_subscription_id=base.id), actor=ACTOR
        )
    order = world.app.add_new_subscription_line(order.id, line(BUSINESS_PREMIUM, world.tenant.id, 3), actor=ACTOR)
    with pytest.raises(AddonRequiresBase):  # the base in the cart is on the other tenant
        world.app.add_new_subscription_line(order.id, line(TEAMS_PHONE, second.id, 1), actor=ACTOR)
    order = world.app.add_new_subscription_line(
        order.id, line(TEAMS_PHONE, world.tenant.id, 1, parent_subscription_id=base.id), actor=ACTOR
    )
    assert order.lines[-1].parent_subscription_id == base.id


# --- after the decision: the vendor, and the emails -----------------------------------


def test_each_event_that_calls_for_outside_work_or_an_email_routes_to_it(world: World):
    # rules: tenant creation runs asynchronously; changes are pushed to the vendor by a saga;
    # email on tenant created, order placed, licences provisioned, provisioning failed
    router = Router(world.app)

    def messages(aggregate_id, event_type: type) -> list[tuple[str, tuple]]:  # type: ignore[no-untyped-def]
        (event,) = [e for e in world.app.events.get(aggregate_id) if isinstance(e, event_type)]
        return router.route(event)[1]

    t = str(world.tenant.id)
    assert messages(world.tenant.id, Tenant.Requested) == [("create_tenant", (t,))]
    (created,) = messages(world.tenant.id, Tenant.CreatedAtVendor)
    assert (created[0], created[1][:2]) == ("send_mail", ("tenant_created", t))
    order = world.order_with_line(quantity=2)
    world.app.place_order(order.id, accept_terms=True, actor=ACTOR)
    world.provision(order)
    o = str(order.id)
    assert [m[0] for m in messages(order.id, Order.Placed)] == ["provision_order", "send_mail"]
    assert messages(order.id, Order.Placed)[1][1][:2] == ("order_placed", o)
    assert messages(order.id, Order.ProvisionFinished)[0][1][:2] == ("licences_provisioned", o)
    failing = world.order_with_line()
    world.app.place_order(failing.id, accept_terms=True, actor=ACTOR)
    world.app.start_provisioning(failing.id)
    world.app.fail_provisioning(failing.id, "vendor said: no", line_no=1)
    assert messages(failing.id, Order.ProvisionFailed)[0][1][:2] == ("provisioning_failed", str(failing.id))
    sub = world.sub(world.app.load(Order, order.id, "order").subscription_ids[0])
    world.clock.advance(timedelta(hours=1))
    world.app.change_subscription_quantity(sub.id, 3, actor=ACTOR)
    pushed = messages(sub.id, Subscription.SeatsAdded)
    assert [m[0] for m in pushed] == ["push_change"]
    # the emails carry the tenant's details and the vendor's reason
    mail = tenant_created_message("r@example.ro", "Contoso SRL", "x.onmicrosoft.com", "admin@x", "vc-1", sub.starts_at)
    assert all(s in mail.text for s in ("x.onmicrosoft.com", "admin@x", "vc-1"))
    failed = provisioning_failed_message("r@example.ro", "#1", "Contoso SRL", "vendor said: no", "M365", sub.starts_at)
    assert (failed.kind, "vendor said: no" in failed.text) == ("provisioning_failed", True)
