"""Events are versioned: an older stored version is read and upcast."""

import json
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from csp.aggregates.tenant import Tenant
from csp.clock import SettableClock
from tests.support import ACTOR, memory_app, profile


def test_a_version_1_rejection_is_upcast_with_a_code():
    clock = SettableClock()
    app = memory_app(clock)
    reseller = app.register_reseller(profile(), actor=ACTOR)
    tenant = app.request_tenant(reseller.id, "oldtenant", "create", actor=ACTOR)
    app.start_tenant_verification(tenant.id)
    # given a Rejected event stored by the first version of the class (no "code")
    state = {
        "originator_id": tenant.id.hex,
        "originator_version": 3,
        "timestamp": {"_type_": "datetime_iso", "_data_": clock.now().isoformat()},
        "actor": "system:provisioning",
        "at": {"_type_": "datetime_iso", "_data_": clock.now().isoformat()},
        "reason": "The domain name is already taken",
    }
    stored = StoredEvent(
        originator_id=tenant.id,
        originator_version=3,
        topic="csp.aggregates.tenant:Tenant.Rejected",
        state=json.dumps(state).encode(),
    )
    app.recorder.insert_events([stored])
    # when it is read
    event = list(app.events.get(tenant.id))[-1]
    # then it is upcast to version 2
    assert isinstance(event, Tenant.Rejected)
    assert event.code == "domain_taken"
    assert app.load(Tenant, tenant.id, "tenant").rejection_code == "domain_taken"


def test_new_events_are_stored_with_their_class_version():
    app = memory_app(SettableClock())
    reseller = app.register_reseller(profile(), actor=ACTOR)
    tenant = app.request_tenant(reseller.id, f"t{uuid4().hex[:8]}", "create", actor=ACTOR)
    app.reject_tenant(tenant.id, "refused", code="vendor_refused")
    stored = app.recorder.select_events(tenant.id)[-1]
    assert json.loads(stored.state)["class_version"] == 2
