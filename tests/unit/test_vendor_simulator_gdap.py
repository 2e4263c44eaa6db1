"""The simulator's GDAP relationships and customer agreements, through the real HTTP client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from csp.aggregates.gdap import entra_roles
from csp.settings import Settings
from csp.vendor import AgreementAttestation, CompanyProfile, LineItem, VendorRefused
from csp.vendor.client import HttpVendorGateway
from csp.vendor.server import BackgroundServer
from csp.vendor.simulator import SimState, create_app, load_offers

ROLES = entra_roles()
READERS = ROLES["Directory Readers"].id
USERS = ROLES["User Administrator"].id
GA = ROLES["Global Administrator"].id
TEMPLATE = "117a77b0-9360-443b-8795-c6dedc750cf9"
DAY = 86400


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _serve(tmp_path: Path, legacy: bool = False) -> tuple[BackgroundServer, Clock, HttpVendorGateway, str]:
    clock = Clock()
    state = SimState(tmp_path / "vendor-sim.db", load_offers(), domain_seconds=0, order_seconds=0, clock=clock)
    settings = Settings(data_dir=tmp_path, vendor_sim_legacy_delegated_access=legacy)
    server = BackgroundServer(create_app(settings, state=state))
    url = server.start()
    return server, clock, HttpVendorGateway(url, timeout=5), url


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[HttpVendorGateway, Clock, str]]:
    server, clock, gateway, url = _serve(tmp_path)
    yield gateway, clock, url
    gateway.close()
    server.stop()


def _customer(g: HttpVendorGateway, domain: str = "contoso.onmicrosoft.com") -> str:
    return g.create_customer(domain, CompanyProfile("Contoso SRL", "office@contoso.ro", "RO"), f"c:{domain}").id


def test_a_relationship_is_locked_for_approval_and_the_customers_admin_approves_it(sim) -> None:  # type: ignore[no-untyped-def]
    g, clock, url = sim
    cid = _customer(g)
    rel = g.create_gdap_relationship(cid, "contoso", (READERS, USERS), 90, True, "gdap-1")
    assert (rel.status, rel.role_ids, rel.duration_days, rel.auto_extend) == (
        "approvalPending",
        (READERS, USERS),
        90,
        True,
    )
    assert rel.approval_url.startswith(url)
    # a repeated key finds the same relationship
    assert g.create_gdap_relationship(cid, "contoso", (READERS, USERS), 90, True, "gdap-1").id == rel.id
    page = httpx.get(rel.approval_url)
    assert page.status_code == 200
    assert "Directory Readers" in page.text
    assert "<button>Approve" in page.text
    assert httpx.post(rel.approval_url).status_code == 200
    active = g.get_gdap_relationship(rel.id)
    assert active.is_active
    assert active.activated_at is not None
    assert active.ends_at is not None
    assert [r.id for r in g.list_gdap_relationships(cid)] == [rel.id]
    # at its end, on the platform's clock, it extends itself by 180 days
    clock.now += 91 * DAY
    extended = g.get_gdap_relationship(rel.id)
    assert extended.is_active
    assert extended.ends_at is not None
    assert extended.ends_at > active.ends_at


def test_one_that_does_not_auto_extend_expires_at_its_end(sim) -> None:  # type: ignore[no-untyped-def]
    g, clock, _ = sim
    rel = g.create_gdap_relationship(_customer(g), "contoso", (GA,), 30, False, "gdap-2")
    httpx.post(rel.approval_url).raise_for_status()
    clock.now += 31 * DAY
    assert g.get_gdap_relationship(rel.id).status == "expired"
    with pytest.raises(VendorRefused) as e:
        g.terminate_gdap_relationship(rel.id, "t-2")
    assert e.value.code == "InvalidStatusTransition"


@pytest.mark.parametrize(
    ("roles", "days", "extend", "code"),
    [
        (("not-a-role",), 30, False, "InvalidRoleDefinition"),
        ((READERS,), 731, False, "InvalidDuration"),
        ((READERS,), 0, False, "InvalidDuration"),
        ((READERS, GA), 730, True, "AutoExtendNotAllowed"),
        ((), 30, False, "InvalidAccessDetails"),
    ],
)
def test_the_vendor_refuses_what_partner_center_refuses(sim, roles, days, extend, code) -> None:  # type: ignore[no-untyped-def]
    g, _, _ = sim
    with pytest.raises(VendorRefused) as e:
        g.create_gdap_relationship(_customer(g), "contoso", roles, days, extend, f"bad-{code}-{days}")
    assert e.value.code == code


def test_access_is_assigned_only_on_an_active_relationship_and_only_its_roles(sim) -> None:  # type: ignore[no-untyped-def]
    g, _, _ = sim
    rel = g.create_gdap_relationship(_customer(g), "contoso", (READERS,), 30, False, "gdap-3")
    with pytest.raises(VendorRefused) as e:
        g.assign_gdap_access(rel.id, "group-1", (READERS,), "a-1")
    assert e.value.code == "RelationshipNotActive"
    httpx.post(rel.approval_url).raise_for_status()
    with pytest.raises(VendorRefused) as e:
        g.assign_gdap_access(rel.id, "group-1", (USERS,), "a-2")
    assert e.value.code == "InvalidAccessDetails"
    assert g.assign_gdap_access(rel.id, "group-1", (READERS,), "a-3")


def test_terminated_ends_it_and_it_cannot_be_approved_any_more(sim) -> None:  # type: ignore[no-untyped-def]
    g, _, _ = sim
    rel = g.create_gdap_relationship(_customer(g), "contoso", (READERS,), 30, False, "gdap-4")
    assert g.terminate_gdap_relationship(rel.id, "t-4").status == "terminated"
    assert httpx.post(rel.approval_url).status_code == 409
    assert g.get_gdap_relationship(rel.id).status == "terminated"


def test_orders_need_the_customer_agreement_and_it_is_checked(sim) -> None:  # type: ignore[no-untyped-def]
    g, clock, _ = sim
    cid = _customer(g)
    item = [LineItem(1, "CFQ7TTC0LCHC:0002", 1, "monthly", "P1Y")]
    with pytest.raises(VendorRefused) as e:
        g.place_order(cid, item, "o-1")
    assert e.value.code == "AgreementNotAccepted"
    today = time.strftime("%Y-%m-%d", time.gmtime(clock.now))
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(clock.now + DAY))
    good = AgreementAttestation("Ana", "Popescu", "ana@contoso.ro", "+40 21 555 0101", today, TEMPLATE)
    for bad, code in [
        (AgreementAttestation("Ana", "Popescu", "ana@contoso.ro", "", today, "no-such-template"), "InvalidTemplateId"),
        (AgreementAttestation("", "Popescu", "ana@contoso.ro", "", today, TEMPLATE), "InvalidPrimaryContact"),
        (AgreementAttestation("Ana", "Popescu", "ana@contoso.ro", "", tomorrow, TEMPLATE), "InvalidDateAgreed"),
    ]:
        with pytest.raises(VendorRefused) as e:
            g.accept_agreement(cid, bad, f"bad-{code}")
        assert e.value.code == code
    g.accept_agreement(cid, good, "a-1")
    assert g.get_customer(cid).agreement_accepted
    assert g.place_order(cid, item, "o-2").customer_id == cid


def test_the_old_delegated_access_flag_is_reported_only_in_legacy_mode(tmp_path: Path) -> None:
    for legacy in (False, True):
        server, _, g, url = _serve(tmp_path / str(legacy), legacy=legacy)
        try:
            httpx.post(f"{url}/sim/customers", json={"domain": "granted.example.com"}).raise_for_status()
            found = g.find_customer("granted.example.com")
            assert found is not None
            assert found.delegated_access is legacy
        finally:
            g.close()
            server.stop()
