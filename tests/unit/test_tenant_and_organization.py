"""Tenants, organizations, reseller settings and unique keys."""

from decimal import Decimal

import pytest

from csp.aggregates.catalog import Eligibility
from csp.aggregates.errors import AlreadyExists, InvalidInput, InvalidTenantTransition, TenantNotReady
from csp.aggregates.organization import ResellerSettings
from csp.aggregates.tenant import Tenant
from csp.clock import SettableClock
from tests.support import ACTOR, make_world, memory_app, profile


@pytest.fixture
def app(clock: SettableClock):
    a = memory_app(clock)
    a.ensure_catalog()
    return a


def test_a_new_tenant_moves_requested_verifying_created(app):
    reseller = app.register_reseller(profile(), actor=ACTOR)
    tenant = app.request_tenant(reseller.id, "CspPlatformTest", "create", actor=ACTOR)
    assert (tenant.domain, tenant.status, tenant.is_usable) == ("cspplatformtest.onmicrosoft.com", "requested", False)
    assert app.start_tenant_verification(tenant.id).status == "verifying"
    done = app.record_tenant_created(tenant.id, "vc-1", "admin@cspplatformtest.onmicrosoft.com")
    assert (done.status, done.is_usable, done.vendor_customer_id) == ("created", True, "vc-1")


def test_a_user_created_at_the_vendor_is_recorded_once_and_only_in_a_ready_tenant(app):
    reseller = app.register_reseller(profile(), actor=ACTOR)
    tenant = app.request_tenant(reseller.id, "userrecords", "create", actor=ACTOR)
    with pytest.raises(TenantNotReady):
        app.record_tenant_user_created(tenant.id, "u-1", "ana@userrecords.onmicrosoft.com", "Ana", ACTOR)
    app.start_tenant_verification(tenant.id)
    app.record_tenant_created(tenant.id, "vc-1", "admin@userrecords.onmicrosoft.com")
    done = app.record_tenant_user_created(tenant.id, "u-1", "ana@userrecords.onmicrosoft.com", "Ana", ACTOR)
    event = list(app.repository.event_store.get(tenant.id))[-1]
    assert isinstance(event, Tenant.UserCreated)
    assert (event.vendor_user_id, event.user_principal_name, event.actor) == (
        "u-1",
        "ana@userrecords.onmicrosoft.com",
        ACTOR,
    )
    again = app.record_tenant_user_created(tenant.id, "u-1", "ana@userrecords.onmicrosoft.com", "Ana", ACTOR)
    assert again.version == done.version  # the same user again: nothing more


def test_a_taken_domain_is_rejected_and_released(app):
    reseller = app.register_reseller(profile(), actor=ACTOR)
    tenant = app.request_tenant(reseller.id, "contoso", "create", actor=ACTOR)
    with pytest.raises(AlreadyExists):
        app.request_tenant(reseller.id, "contoso.onmicrosoft.com", "create", actor=ACTOR)
    app.start_tenant_verification(tenant.id)
    rejected = app.reject_tenant(tenant.id, "the domain is taken at the vendor", code="domain_taken")
    assert (rejected.status, rejected.rejection_code) == ("rejected", "domain_taken")
    # the platform no longer holds the domain: it can be asked for again
    again = app.request_tenant(reseller.id, "contoso", "create", actor=ACTOR)
    assert again.status == "requested"


def test_a_linked_tenant_keeps_its_own_domain(app):
    reseller = app.register_reseller(profile(), actor=ACTOR)
    tenant = app.request_tenant(reseller.id, "Fabrikam.com", "link", actor=ACTOR)
    app.start_tenant_verification(tenant.id)
    linked = app.record_tenant_linked(tenant.id, "vc-9")
    assert (linked.domain, linked.status) == ("fabrikam.com", "linked")
    with pytest.raises(InvalidTenantTransition):
        app.record_tenant_created(tenant.id, "vc-9", "x")


@pytest.mark.parametrize("domain", ["", "bad domain", "x" * 28, "contoso-ro", "contoso.com"])
def test_a_new_tenants_name_is_letters_and_digits(domain):
    with pytest.raises(InvalidInput) as e:
        Tenant.request(
            __import__("uuid").uuid4(),
            __import__("uuid").uuid4(),
            __import__("uuid").uuid4(),
            domain,
            "create",
            actor=ACTOR,
            at=SettableClock().now(),
        )
    assert e.value.field == "domain"


def test_eligibility_must_fit_the_industry(app):
    reseller = app.register_reseller(profile(), actor=ACTOR)
    with pytest.raises(InvalidInput) as e:
        app.register_customer(reseller.id, profile("School", "retail", academic=True), actor=ACTOR)
    assert e.value.field == "eligibility.academic"
    school = app.register_customer(reseller.id, profile("School", "education", academic=True), actor=ACTOR)
    assert school.eligibility.segments() == {"commercial", "academic"}
    charity = app.register_customer(reseller.id, profile("Charity", "healthcare", nonprofit=True), actor=ACTOR)
    assert charity.eligibility == Eligibility(nonprofit=True)


def test_required_organization_data_is_checked_field_by_field(app):
    reseller = app.register_reseller(profile(), actor=ACTOR)
    for field, bad in [("name", " "), ("country", "Romania"), ("contact_email", "nope"), ("industry", "mining")]:
        with pytest.raises(InvalidInput) as e:
            app.register_customer(reseller.id, profile().replace(**{field: bad}), actor=ACTOR)
        assert e.value.field == field


def test_reseller_slugs_are_unique(app):
    a = app.register_reseller(profile("Alef Distribution"), actor=ACTOR)
    b = app.register_reseller(profile("Alef Distribution"), actor=ACTOR)
    assert (a.slug, b.slug) == ("alef-distribution", "alef-distribution-2")
    assert app.reseller_by_slug("alef-distribution-2").id == b.id


def test_profile_changes_record_which_fields_changed(app):
    reseller = app.register_reseller(profile(), actor=ACTOR)
    c = app.register_customer(reseller.id, profile("Contoso"), actor=ACTOR)
    c = app.change_organization(c.id, actor=ACTOR, contact_phone="+40 21 555 0199")
    event = list(app.events.get(c.id))[-1]
    assert event.changed_fields == ("contact_phone",)


def test_reseller_settings_default_to_5_percent_and_keep_the_local_method(app):
    reseller = app.register_reseller(profile(), actor=ACTOR)
    assert reseller.settings.default_markup_percent == Decimal(5)
    with pytest.raises(InvalidInput):
        app.change_settings(reseller.id, ResellerSettings(sign_in_methods=("microsoft_work",)), actor=ACTOR)
    with pytest.raises(InvalidInput):
        app.change_settings(reseller.id, ResellerSettings(require_terms_acceptance=True), actor=ACTOR)
    r = app.change_settings(reseller.id, ResellerSettings(default_markup_percent=Decimal(8)), actor=ACTOR)
    assert r.settings.default_markup_percent == Decimal(8)


def test_the_default_markup_set_in_settings_prices_new_lines(clock: SettableClock):
    w = make_world(memory_app(clock), clock)
    w.app.change_settings(w.reseller.id, ResellerSettings(default_markup_percent=Decimal(10)), actor=ACTOR)
    order = w.order_with_line(markup_percent=Decimal(0))
    assert order.lines[0].unit_customer_price == Decimal("15.58")
