"""The Orders and Subscriptions lists: answered as serialised bytes (no second validation),
yet exactly what their response models give; a weak ETag and 304 on ``If-None-Match``;
keyset paging with ``after`` beside ``offset``."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from pydantic import TypeAdapter

from csp.api import schemas as s
from csp.api.lists import page_content
from csp.api.queries import PARTNER_FIELDS, with_licence_seats
from csp.bootstrap import System
from tests.fixtures.api import API, Account, Client
from tests.support import BUSINESS_BASIC, BUSINESS_PREMIUM, BUSINESS_PREMIUM_TRIAL

ORDERS = 7


@pytest.fixture
def customer(account: Account) -> dict[str, Any]:
    """A customer with seven orders (five provisioned: four paid subscriptions, a trial)."""
    boss = account.boss
    customer = account.customer()
    tenant = account.ready_tenant(customer["id"])
    for n in range(ORDERS):
        order = boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
        offer = BUSINESS_PREMIUM_TRIAL if n == 2 else (BUSINESS_PREMIUM, BUSINESS_BASIC)[n % 2]
        body: dict[str, Any] = {"offer_id": str(offer), "tenant_id": tenant["id"]}
        if offer != BUSINESS_PREMIUM_TRIAL:
            body |= {"quantity": n + 1, "billing_cycle": ("monthly", "yearly")[n % 2], "term": "annual"}
        boss.ok("POST", f"/orders/{order['id']}/lines", 201, json=body)
        if n < 5:
            boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
            account.provision(order["id"])
    read = account.system.read
    assert read is not None
    assert read.wait(account.system.app.recorder.max_notification_id(), timeout=10)  # provisioned off HTTP
    return customer


def _as_the_model_gives(model: type, content: dict[str, Any]) -> Any:
    """What FastAPI answered before: the content validated by the response model, then dumped."""
    adapter = TypeAdapter(model)
    return json.loads(adapter.dump_json(adapter.validate_python(content)))


def test_the_lists_answer_what_their_response_models_give(account: Account, api_system: System, customer: dict):
    read = api_system.read
    assert read is not None
    org = UUID(customer["id"])
    customer_admin = account.invite(f"admin-{account.slug}@example.com", "customer_admin", org)
    for limit in (50, 3):
        got = account.boss.get(f"{API}/organizations/{org}/orders?limit={limit}").json()
        assert got["total"] == ORDERS
        assert got == _as_the_model_gives(s.OrdersPublic, page_content(read.orders(org, limit=limit), keyset=True))
        got = account.boss.get(f"{API}/organizations/{org}/subscriptions?limit={limit}").json()
        assert got["total"] == 5
        if limit == 50:  # the whole list: a trial (no price) and paid rows
            assert any(r["unit_cost"] is None for r in got["items"])  # the trial
            assert any(r["unit_cost"] is not None and r["starts_at"].endswith("Z") for r in got["items"])
        assert got == _as_the_model_gives(
            s.SubscriptionsPublic,
            page_content(with_licence_seats(read, read.subscriptions(org, limit=limit)), keyset=True),
        )
    # a customer user: the same rows, the reseller's prices blank
    mine = customer_admin.get(f"{API}/organizations/{org}/subscriptions").json()
    reference = page_content(with_licence_seats(read, read.subscriptions(org)), keyset=True)
    for row in reference["items"]:
        row.update({k: None for k in PARTNER_FIELDS if k in row})
    assert mine == _as_the_model_gives(s.SubscriptionsPublic, reference)
    assert all(r["monthly_reseller_price"] is None for r in mine["items"])


def test_a_list_carries_a_weak_etag_and_answers_304_while_it_is_unchanged(account: Account, customer: dict):
    boss = account.boss
    for path in (f"/organizations/{customer['id']}/orders", f"/organizations/{customer['id']}/subscriptions"):
        first = boss.get(f"{API}{path}")
        tag = first.headers["ETag"]
        assert tag.startswith('W/"')
        again = boss.get(f"{API}{path}", headers={"If-None-Match": tag})
        assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", tag)
        # a list of tags, and the strong form of the same tag, match too (weak comparison)
        assert boss.get(f"{API}{path}", headers={"If-None-Match": f'"x", {tag.removeprefix("W/")}'}).status_code == 304
        assert boss.get(f"{API}{path}", headers={"If-None-Match": 'W/"other"'}).status_code == 200
        # another page is another representation
        assert boss.get(f"{API}{path}?limit=2", headers={"If-None-Match": tag}).status_code == 200
    # a change to the list changes its tag
    orders = f"{API}/organizations/{customer['id']}/orders"
    tag = boss.get(orders).headers["ETag"]
    boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})
    changed = boss.get(orders, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag
    assert changed.json()["total"] == ORDERS + 1


def _walk(client: Client, path: str, limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    after = None
    for _ in range(20):
        page = client.ok("GET", path, params={"limit": limit, **({"after": after} if after else {})})
        rows += page["items"]
        after = page["next_after"]
        if after is None:
            return rows
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_keyset_pages_walk_the_same_rows_as_one_page(account: Account, customer: dict, limit: int):
    for list_ in ("orders", "subscriptions"):
        path = f"/organizations/{customer['id']}/{list_}"
        whole = account.boss.ok("GET", path, params={"limit": 200})
        assert whole["next_after"] is None
        walked = _walk(account.boss, path, limit)
        assert [r["id"] for r in walked] == [r["id"] for r in whole["items"]]
        # offset still pages as before, and counts from the cursor when both are given
        second = account.boss.ok("GET", path, params={"limit": 2, "offset": 2})
        assert [r["id"] for r in second["items"]] == [r["id"] for r in whole["items"][2:4]]
        first = account.boss.ok("GET", path, params={"limit": 1})
        skipped = account.boss.ok("GET", path, params={"limit": 2, "offset": 1, "after": first["next_after"]})
        assert [r["id"] for r in skipped["items"]] == [r["id"] for r in whole["items"][2:4]]
        assert skipped["total"] == whole["total"]


def test_a_keyset_page_keeps_its_place_when_rows_are_added_before_it(account: Account, customer: dict):
    path = f"/organizations/{customer['id']}/orders"
    first = account.boss.ok("GET", path, params={"limit": 3})
    account.boss.ok("POST", f"/organizations/{customer['id']}/orders", 201, json={})  # newest: sorts first
    by_cursor = account.boss.ok("GET", path, params={"limit": 3, "after": first["next_after"]})
    by_offset = account.boss.ok("GET", path, params={"limit": 3, "offset": 3})
    ids = {r["id"] for r in first["items"]}
    assert not ids & {r["id"] for r in by_cursor["items"]}
    assert ids & {r["id"] for r in by_offset["items"]}  # the row pushed down is shown twice


@pytest.mark.parametrize("cursor", ["nonsense", "W10", "WyJhIl0", "WyJ4IiwiMSJd", "!!"])
def test_a_cursor_that_is_not_one_is_refused_by_its_field(account: Account, customer: dict, cursor: str):
    for list_ in ("orders", "subscriptions"):
        r = account.boss.get(f"{API}/organizations/{customer['id']}/{list_}", params={"after": cursor})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["field"] == "after"


def test_the_subscriptions_report_pages_in_sql_as_it_would_whole(store_api_system: System):
    """Paged in SQL (one page read), the report has the rows and order of the whole report
    cut to the page, on both stores: names ordered by code point as Python does (not by
    PostgreSQL's collation), filters by customer and by range alike."""
    from datetime import timedelta

    from csp.bootstrap import web_app
    from tests.fixtures.api import sign_up

    system = store_api_system
    read = system.read
    assert read is not None
    account = sign_up(web_app(system), system)
    for name in ("alpha SRL", "Beta SRL", "Ärzte GmbH"):
        org = account.customer(name)
        tenant = account.ready_tenant(org["id"])
        for n, offer in enumerate((BUSINESS_PREMIUM, BUSINESS_BASIC, BUSINESS_PREMIUM)):
            order = account.boss.ok("POST", f"/organizations/{org['id']}/orders", 201, json={})
            line = {"offer_id": str(offer), "tenant_id": tenant["id"], "quantity": n + 1, "term": "annual"}
            account.boss.ok("POST", f"/orders/{order['id']}/lines", 201, json=line | {"billing_cycle": "monthly"})
            account.boss.ok("POST", f"/orders/{order['id']}/place", 202, json={"accept_terms": True})
            account.provision(order["id"])
    assert read.wait(system.app.recorder.max_notification_id(), timeout=10)  # provisioned off HTTP
    today = system.app.now().date()
    orgs = {r["organization_id"] for r in read.report("subscriptions", account.reseller_id).items}
    assert len(orgs) == 3
    for organization_id in (None, sorted(orgs)[0]):
        for date_from, date_to in ((None, None), (today, None), (None, today - timedelta(days=1)), (today, today)):
            whole = read.report("subscriptions", account.reseller_id, organization_id, date_from, date_to).items
            for limit, offset in ((50, 0), (2, 0), (2, 3), (4, 7), (5, 40)):
                page = read.report_page(
                    "subscriptions",
                    account.reseller_id,
                    organization_id,
                    date_from,
                    date_to,
                    limit=limit,
                    offset=offset,
                )
                assert page.total == len(whole)
                assert page.items == whole[offset : offset + limit], (organization_id, date_from, date_to, limit)
    names = [r["organization_name"] for r in read.report_page("subscriptions", account.reseller_id, limit=9).items]
    assert names == ["Beta SRL"] * 3 + ["alpha SRL"] * 3 + ["Ärzte GmbH"] * 3


def test_a_report_page_is_what_its_response_model_gives_and_is_tagged(
    account: Account, api_system: System, customer: dict
):
    read = api_system.read
    assert read is not None
    for name in ("customers", "subscriptions", "licenses"):
        r = account.boss.get(f"{API}/reports/{name}", params={"limit": 3})
        assert r.status_code == 200
        assert r.json()["items"]
        found = read.report_page(name, account.reseller_id, limit=3)
        assert r.json() == _as_the_model_gives(s.ReportPublic, {"items": found.items, "total": found.total})
        assert (
            account.boss.get(
                f"{API}/reports/{name}", params={"limit": 3}, headers={"If-None-Match": r.headers["ETag"]}
            ).status_code
            == 304
        )


def test_the_other_lists_answer_what_their_response_models_give_and_are_tagged(
    account: Account, api_system: System, customer: dict
):
    from csp.aggregates.organization import Organization
    from csp.api.presenters import organization_public

    read = api_system.read
    assert read is not None
    boss, org = account.boss, UUID(customer["id"])
    line = {"offer_id": str(BUSINESS_PREMIUM), "quantity": 10, "markup_percent": "5"}
    boss.ok("POST", f"/organizations/{org}/quotes", 201, json={"lines": [line]})
    admin = account.invite(f"admin-{account.slug}@example.com", "customer_admin", org)
    mine = organization_public(api_system.app.load(Organization, org, "organization")).model_dump()
    cases = [
        (boss, "/users", s.UserRowsPublic, page_content(read.users(account.reseller_id, None))),
        (boss, "/organizations", s.OrganizationsPublic, page_content(read.organizations(account.reseller_id))),
        (boss, f"/organizations/{org}/users", s.UserRowsPublic, page_content(read.users(account.reseller_id, org))),
        (boss, f"/organizations/{org}/tenants", s.TenantsPublic, page_content(read.tenants(org))),
        (boss, f"/organizations/{org}/quotes", s.QuoteRowsPublic, page_content(read.quotes(org))),
        (admin, "/users", s.UserRowsPublic, page_content(read.users(account.reseller_id, org))),
        (admin, "/organizations", s.OrganizationsPublic, {"items": [mine], "total": 1}),
    ]
    for client, path, model, reference in cases:
        r = client.get(f"{API}{path}")
        assert r.status_code == 200, r.text
        assert r.json()["items"], path
        assert r.json() == _as_the_model_gives(model, reference), path
        again = client.get(f"{API}{path}", headers={"If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304, path
