"""The history for people: each event a sentence with who and when, what it changed and its
money effect; filters by kind; the state compared between two instants; raw events a click
away."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
from fastapi import FastAPI

from tests.fixtures.api import Account
from tests.unit.test_portal_pages import Browser, active_subscription, log_in, ready_customer


@pytest.fixture
def boss(api_app: FastAPI, account: Account) -> Browser:
    return log_in(api_app, account.email)


def stories(html: str) -> list[str]:
    story = html[html.index('<ol class="story"') : html.index("</ol>")]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", li)).strip()
        for li in re.findall(r"<li[^>]*>(.*?)</li>", story, re.S)
    ]


def test_each_event_is_a_sentence_with_who_what_changed_and_the_money(boss: Browser, account: Account):
    # given a subscription of 3 licences to which the reseller's boss adds 2
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    account.boss.ok("POST", f"/subscriptions/{sub_id}/quantity", json={"quantity": 5})
    account.boss.ok("POST", f"/subscriptions/{sub_id}/suspend", json={})
    html = boss.page(f"/history/subscription/{sub_id}")
    told = stories(html)
    # the latest first, in words: who did what, the fields it changed, and the money
    assert told[0].startswith("CSP Platform Test") or "suspended the subscription" in told[0]
    added = next(t for t in told if "added licences" in t)
    assert "licences 3 → 5" in added
    assert re.search(r"Charged \d+\.\d\d EUR", added), added
    assert not any("SeatsAdded" in t for t in told), "no class names in the people's view"
    first = told[-1]
    assert "provisioned the subscription" in first
    assert "licences 3" in first
    assert "customer price per licence 14.87 EUR" in first
    # the raw events stay one click away
    assert f'href="/history/subscription/{sub_id}?raw=1"' in html
    raw = boss.page(f"/history/subscription/{sub_id}?raw=1")
    assert "SeatsAdded" in raw


def test_the_history_filters_by_kind(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    account.system.app.sync_assigned_licences(__import__("uuid").UUID(sub_id), 2, "system:vendor-sync")
    everything = stories(boss.page(f"/history/subscription/{sub_id}"))
    vendor = stories(boss.page(f"/history/subscription/{sub_id}?show=vendor"))
    changes = stories(boss.page(f"/history/subscription/{sub_id}?show=changes"))
    assert any("synced the licences assigned" in t for t in vendor)
    assert "assigned licences 0 → 2" in next(t for t in vendor if "synced" in t)
    assert not any("synced" in t for t in changes)
    assert len(vendor) + len(changes) <= len(everything)


def test_comparing_two_instants_lists_what_differs(boss: Browser, account: Account):
    org, tenant = ready_customer(account)
    sub_id = active_subscription(account, org, tenant, 3)
    before = datetime.fromisoformat(account.boss.ok("GET", "/test/clock")["now"])
    account.system.clock.set(before + timedelta(minutes=5))  # type: ignore[attr-defined]
    account.boss.ok("POST", f"/subscriptions/{sub_id}/quantity", json={"quantity": 4})
    since = quote((before + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    html = boss.page(f"/history/subscription/{sub_id}?from={since}")
    table = html[html.index('<table class="compare"') : html.index("</table>", html.index('<table class="compare"'))]
    assert re.search(r"<th scope=\"row\">licences</th><td>3</td><td>4</td>", table), table
    assert "status" not in table, "only what differs"
    bad = boss.page(f"/history/subscription/{sub_id}?from=yesterday", status=200)
    assert 'id="from-error"' in bad


def test_an_instants_charge_is_told_once_on_its_first_event():
    from decimal import Decimal

    from csp.api.pages import narrate

    # given a provisioning that recorded the subscription and its add-on at one instant
    at = "2026-12-07 06:23:51.225379+00:00"
    events = [
        {"version": 1, "type": "Provisioned", "at": at, "actor": None, "data": {}},
        {"version": 2, "type": "AddonAttached", "at": at, "actor": None, "data": {}},
    ]
    state = {"status": "active", "quantity": 1}
    # when the events are told with the ledger's charges at that instant
    told = narrate.told(events, [state, state], {}, {at: Decimal("14.16")})
    # then the charge is told once, on the event that made it
    assert [t.money for t in told] == [Decimal("14.16"), None]
