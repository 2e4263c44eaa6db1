"""The one pricing decision, stored and read back, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from eventsourcing.persistence import StoredEvent

from csp.aggregates.subscription import Subscription
from csp.application import CspApplication
from csp.clock import SettableClock
from tests.support import ACTOR, BUSINESS_PREMIUM, BUSINESS_PREMIUM_TRIAL, make_world

D = Decimal


def read_back(store_env: dict[str, str], clock: SettableClock, sub: Subscription) -> Subscription:
    """The subscription as another process reads it from the store."""
    reader = CspApplication(env=store_env, clock=clock)
    try:
        return reader.load(Subscription, sub.id, "subscription")
    finally:
        reader.close()


def test_a_converted_trial_and_its_renewal_keep_the_segment_price_once_stored(
    store_app: CspApplication, store_env: dict[str, str], clock: SettableClock
):
    w = make_world(store_app, clock)
    seg = store_app.create_segment(w.reseller.id, "Gold", (), (w.customer.id,), actor=ACTOR)
    store_app.set_segment_price(seg.id, BUSINESS_PREMIUM, actor=ACTOR, markup_percent=D(3))
    trial = w.buy(offer_id=BUSINESS_PREMIUM_TRIAL, quantity=None, term="monthly", markup_percent=None)
    clock.advance(timedelta(days=2))
    converted = store_app.convert_trial(trial.id, actor=ACTOR, quantity=5)
    assert converted.unit_customer_price == D("15.29")
    # the segment's price changes before the renewal: the renewal takes the new one
    store_app.set_segment_price(seg.id, BUSINESS_PREMIUM, actor=ACTOR, markup_percent=D(5))
    clock.set(converted.ends_at)
    store_app.run_due_work(trial.id)
    renewed = read_back(store_env, clock, trial)
    assert (renewed.renewal_count, renewed.unit_customer_price, renewed.price_basis) == (1, D("15.58"), "segment")


def test_a_version_1_renewal_keeps_the_subscriptions_own_markups(
    store_app: CspApplication, store_env: dict[str, str], clock: SettableClock
):
    w = make_world(store_app, clock)
    sub = w.buy(quantity=2, markup_percent=D(2))
    # given a Renewed event stored by the first version of the class (no markups)
    state = {
        "originator_id": sub.id.hex,
        "originator_version": sub.version + 1,
        "timestamp": {"_type_": "datetime_iso", "_data_": sub.ends_at.isoformat()},
        "actor": "system:scheduler",
        "at": {"_type_": "datetime_iso", "_data_": sub.ends_at.isoformat()},
        "starts_at": {"_type_": "datetime_iso", "_data_": sub.ends_at.isoformat()},
        "ends_at": {"_type_": "datetime_iso", "_data_": (sub.ends_at + timedelta(days=365)).isoformat()},
        "term": "annual",
        "billing_cycle": "monthly",
        "tranche": {
            "_type_": "Tranche",
            "_data_": {
                "number": 2,
                "quantity": 2,
                "kind": "renewal",
                "purchased_at": {"_type_": "datetime_iso", "_data_": sub.ends_at.isoformat()},
                "window_ends_at": {
                    "_type_": "datetime_iso",
                    "_data_": (sub.ends_at + timedelta(hours=168)).isoformat(),
                },
                "unit_partner_price": {"_type_": "decimal_str", "_data_": "14.16"},
            },
        },
        "unit_partner_price": {"_type_": "decimal_str", "_data_": "14.16"},
        "erp_price": {"_type_": "decimal_str", "_data_": "16.87"},
        "unit_customer_price": {"_type_": "decimal_str", "_data_": "15.43"},
    }
    store_app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=sub.id,
                originator_version=sub.version + 1,
                topic="csp.aggregates.subscription:Subscription.Renewed",
                state=json.dumps(state).encode(),
            )
        ]
    )
    renewed = read_back(store_env, clock, sub)
    assert (renewed.renewal_count, renewed.unit_customer_price) == (1, D("15.43"))
    assert (renewed.markup_percent, renewed.default_markup_percent, renewed.price_basis) == (D(2), D(5), "explicit")
