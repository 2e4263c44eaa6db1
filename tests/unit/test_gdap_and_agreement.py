"""GDAP relationships (the state machine and its refusals) and the customer agreement rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csp.aggregates.errors import (
    AgreementMissing,
    GdapNotActive,
    InvalidGdapTransition,
    InvalidInput,
    OrganizationError,
)
from csp.aggregates.gdap import GdapRelationship
from csp.aggregates.tenant import Tenant
from csp.application import NewLineRequest
from csp.clock import SettableClock
from tests.support import ACTOR, AGREEMENT, BUSINESS_PREMIUM, make_world, memory_app, profile, record_agreement

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def world():  # type: ignore[no-untyped-def]
    clock = SettableClock(T0)
    return make_world(memory_app(clock), clock)


def _active(world, **kw):  # type: ignore[no-untyped-def]
    app = world.app
    rel = app.request_gdap(
        world.tenant.id, kw.pop("roles", None), kw.pop("duration_days", 730), kw.pop("auto_extend", False), ACTOR
    )
    app.record_gdap_sent(rel.id, "vendor-rel-1", "https://vendor.example/approve/1")
    return app.record_gdap_approved(rel.id, T0, T0 + timedelta(days=rel.duration_days))


def test_a_relationship_asks_least_privilege_by_default_and_waits_for_approval(world) -> None:  # type: ignore[no-untyped-def]
    rel = world.app.request_gdap(world.tenant.id, None, 730, False, actor=ACTOR)
    assert (rel.status, rel.roles, rel.duration_days) == ("created", ("Directory Readers",), 730)
    rel = world.app.record_gdap_sent(rel.id, "vendor-rel-1", "https://vendor.example/approve/1")
    assert rel.status == "approval_pending"
    assert rel.approval_url == "https://vendor.example/approve/1"
    # a repeated saga step records nothing more
    assert world.app.record_gdap_sent(rel.id, "vendor-rel-1", "https://vendor.example/approve/1").version == rel.version


def test_an_unknown_role_is_refused_naming_it(world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as e:
        world.app.request_gdap(world.tenant.id, ["User Administrator", "Coffee Administrator"], 30, False, ACTOR)
    assert e.value.details["field"] == "roles"
    assert "Coffee Administrator" in e.value.message


@pytest.mark.parametrize("days", [0, 731, -5])
def test_a_duration_outside_1_to_730_days_is_refused(world, days: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as e:
        world.app.request_gdap(world.tenant.id, None, days, False, ACTOR)
    assert e.value.details["field"] == "duration_days"


def test_global_administrator_cannot_auto_extend(world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as e:
        world.app.request_gdap(world.tenant.id, ["Global Administrator"], 730, True, ACTOR)
    assert e.value.details["field"] == "auto_extend"
    # without auto-extend it may be asked
    assert world.app.request_gdap(world.tenant.id, ["Global Administrator"], 730, False, ACTOR).status == "created"


def test_an_active_relationship_becomes_expiring_30_days_before_its_end_then_expires(world) -> None:  # type: ignore[no-untyped-def]
    rel = _active(world, duration_days=90, auto_extend=False)
    assert rel.status == "active"
    assert world.app.mark_gdap_expiring(rel.id, T0 + timedelta(days=59)).status == "active"
    assert world.app.mark_gdap_expiring(rel.id, T0 + timedelta(days=60)).status == "expiring"
    events = list(world.app.repository.event_store.get(rel.id))
    assert isinstance(events[-1], GdapRelationship.ExpiringSoon)  # what the notifications react to
    assert world.app.record_gdap_expired(rel.id).status == "expired"


def test_one_that_auto_extends_is_never_expiring_and_extends(world) -> None:  # type: ignore[no-untyped-def]
    rel = _active(world, duration_days=90, auto_extend=True)
    assert world.app.mark_gdap_expiring(rel.id, T0 + timedelta(days=89)).status == "active"
    later = T0 + timedelta(days=270)
    rel = world.app.record_gdap_extended(rel.id, later)
    assert (rel.status, rel.ends_at) == ("active", later)


def test_a_request_the_vendor_expired_unapproved_is_final(world) -> None:  # type: ignore[no-untyped-def]
    rel = world.app.request_gdap(world.tenant.id, None, 60, False, actor=ACTOR)
    with pytest.raises(InvalidGdapTransition):  # not yet sent: nothing to expire at the vendor
        world.app.record_gdap_approval_expired(rel.id)
    world.app.record_gdap_sent(rel.id, "vendor-rel-1", "https://vendor.example/approve/1")
    rel = world.app.record_gdap_approval_expired(rel.id)
    assert rel.status == "expired"
    assert isinstance(list(world.app.repository.event_store.get(rel.id))[-1], GdapRelationship.ApprovalExpired)
    assert world.app.record_gdap_approval_expired(rel.id).version == rel.version  # a repeated saga step
    with pytest.raises(InvalidGdapTransition):
        world.app.record_gdap_approved(rel.id, T0, T0 + timedelta(days=60))


def test_terminated_is_final(world) -> None:  # type: ignore[no-untyped-def]
    rel = _active(world)
    ended = world.app.terminate_gdap(rel.id, ACTOR, reason="the customer asked")
    assert (ended.status, ended.termination_reason) == ("terminated", "the customer asked")
    with pytest.raises(InvalidGdapTransition):
        world.app.terminate_gdap(rel.id, ACTOR)
    with pytest.raises(InvalidGdapTransition):
        world.app.record_gdap_approved(rel.id, T0, T0 + timedelta(days=1))
    with pytest.raises(InvalidGdapTransition):
        world.app.record_gdap_extended(rel.id, T0 + timedelta(days=900))


def test_a_relationship_not_yet_approved_cannot_link_a_tenant(world) -> None:  # type: ignore[no-untyped-def]
    app = world.app
    linking = app.request_tenant(world.customer.id, "fabrikam.example.com", "link", actor=ACTOR)
    app.start_tenant_verification(linking.id)
    rel = app.request_gdap(linking.id, ["User Administrator"], 365, True, ACTOR)
    app.record_gdap_sent(rel.id, "vendor-rel-2", "https://vendor.example/approve/2")
    with pytest.raises(GdapNotActive):
        app.link_tenant_through_gdap(linking.id, rel.id, "vendor-customer-2")
    assert app.load(Tenant, linking.id, "tenant").status == "verifying"
    # once approved, it links
    app.record_gdap_approved(rel.id, T0, T0 + timedelta(days=365))
    assert app.link_tenant_through_gdap(linking.id, rel.id, "vendor-customer-2").status == "linked"


def test_a_rejected_tenant_gets_no_relationship(world) -> None:  # type: ignore[no-untyped-def]
    app = world.app
    t = app.request_tenant(world.customer.id, "gone", "create", actor=ACTOR)
    app.reject_tenant(t.id, "taken", code="domain_taken")
    with pytest.raises(Exception, match="rejected"):
        app.request_gdap(t.id, None, 30, False, ACTOR)


# --- the customer agreement ----------------------------------------------------------


def _order(world, customer_id, tenant_id):  # type: ignore[no-untyped-def]
    order = world.app.create_order(customer_id, actor=ACTOR)
    return world.app.add_new_subscription_line(
        order.id, NewLineRequest(BUSINESS_PREMIUM, tenant_id, 1, "monthly", "annual"), actor=ACTOR
    )


def test_ordering_for_a_customer_without_an_agreement_is_refused_then_accepted_after(world) -> None:  # type: ignore[no-untyped-def]
    app = world.app
    other = app.register_customer(world.reseller.id, profile("Fabrikam SRL", "retail"), actor=ACTOR)
    tenant = app.request_tenant(other.id, "fabrikamro", "create", actor=ACTOR)
    app.start_tenant_verification(tenant.id)
    app.record_tenant_created(tenant.id, "vendor-fab", "admin@fabrikamro.onmicrosoft.com")
    order = _order(world, other.id, tenant.id)
    with pytest.raises(AgreementMissing) as e:
        app.place_order(order.id, accept_terms=True, actor=ACTOR)
    assert "Microsoft Customer Agreement" in e.value.message
    assert app.load(type(order), order.id, "order").status == "draft"  # nothing half-written
    record_agreement(app, other.id)
    assert app.place_order(order.id, accept_terms=True, actor=ACTOR).status == "placed"


def test_the_resellers_own_organization_is_exempt(world) -> None:  # type: ignore[no-untyped-def]
    app = world.app
    tenant = app.request_tenant(world.reseller.id, "resellerown", "create", actor=ACTOR)
    app.start_tenant_verification(tenant.id)
    app.record_tenant_created(tenant.id, "vendor-own", "admin@resellerown.onmicrosoft.com")
    assert app.place_order(_order(world, world.reseller.id, tenant.id).id, True, actor=ACTOR).status == "placed"
    with pytest.raises(OrganizationError):
        record_agreement(app, world.reseller.id)


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("first_name", {"first_name": "  "}),
        ("last_name", {"last_name": ""}),
        ("email", {"email": "ana@nowhere"}),
        ("phone", {"phone": "call me"}),
        ("accepted_at", {"accepted_at": T0 + timedelta(days=1)}),
        ("agreement_version", {"agreement_version": "1999-01"}),
    ],
)
def test_an_attestation_is_checked(world, field: str, change: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "first_name": "Ana",
        "last_name": "Popescu",
        "email": "ana@example.ro",
        "phone": "+40 21 555 0101",
        "accepted_at": T0,
        "agreement_version": AGREEMENT,
    }
    values.update(change)
    other = world.app.register_customer(world.reseller.id, profile("Fabrikam SRL", "retail"), actor=ACTOR)
    with pytest.raises(InvalidInput) as e:
        world.app.record_agreement(other.id, actor=ACTOR, **values)  # type: ignore[arg-type]
    assert e.value.details["field"] == field


def test_the_agreement_records_who_signed_when_and_who_recorded_it(world) -> None:  # type: ignore[no-untyped-def]
    a = world.app.customer_agreement(world.customer.id)
    assert a is not None
    assert (a.attestation.first_name, a.attestation.last_name, a.attestation.agreement_version) == (
        "Ana",
        "Popescu",
        AGREEMENT,
    )
    assert a.attestation.template_id
    assert a.recorded_by == ACTOR


def test_an_expiring_relationship_is_noticed_once_unless_turned_off(world) -> None:  # type: ignore[no-untyped-def]
    from csp.aggregates.notify import Notice
    from csp.workers.notices import NoticeSteps, event_notice

    # given a relationship that becomes expiring (30 days before its end)
    rel = _active(world, duration_days=90, auto_extend=False)
    world.app.mark_gdap_expiring(rel.id, T0 + timedelta(days=60))
    expiring = list(world.app.repository.event_store.get(rel.id))[-1]
    # then its event calls for a gdap_expiring notice, recorded once however often it is processed
    assert event_notice(expiring) == ("gdap_expiring", rel.id)
    steps = NoticeSteps(world.app, store=None)  # type: ignore[arg-type]
    for _ in range(2):
        steps._record("gdap_expiring", rel.id, expiring.originator_version, expiring.at.isoformat())
    notices = [
        world.app.load(Notice, e.originator_id, "notice")
        for e in (world.app.mapper.to_domain_event(n) for n in world.app.recorder.select_notifications(1, 10_000))
        if isinstance(e, Notice.Issued)
    ]
    assert [(n.kind, n.subject_id) for n in notices] == [("gdap_expiring", rel.id)]
    assert world.tenant.domain in notices[0].title
    # and with gdap_expiring_days 0 nothing is recorded
    world.app.change_notification_preferences(
        world.reseller.id, world.app.notification_preferences(world.reseller.id).replace(gdap_expiring_days=0), ACTOR
    )
    other = _active(world, duration_days=90, auto_extend=False)
    world.app.mark_gdap_expiring(other.id, T0 + timedelta(days=60))
    event = list(world.app.repository.event_store.get(other.id))[-1]
    steps._record("gdap_expiring", other.id, event.originator_version, event.at.isoformat())
    found = [
        e
        for e in (world.app.mapper.to_domain_event(n) for n in world.app.recorder.select_notifications(1, 10_000))
        if isinstance(e, Notice.Issued)
    ]
    assert len(found) == 1
