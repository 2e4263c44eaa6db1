"""The test clock's routes exist only in test mode, and move forward only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from csp.bootstrap import bootstrap, web_app
from csp.settings import Settings
from tests.fixtures.api import API, Client


def test_without_test_mode_there_is_no_test_clock(tmp_path: Path):
    system = bootstrap(Settings(data_dir=tmp_path))
    try:
        client = TestClient(web_app(system))
        assert client.get(f"{API}/test/clock").status_code == 404
        r = client.post(f"{API}/test/clock", json={"now": "2030-01-01T00:00:00+00:00"})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    finally:
        system.close()


def test_the_test_clock_refuses_to_go_back(visitor: Client):
    from datetime import datetime

    now = datetime.fromisoformat(visitor.ok("GET", "/test/clock")["now"])
    r = visitor.post(f"{API}/test/clock", json={"now": (now - timedelta(days=1)).isoformat()})
    assert r.status_code == 409
    assert datetime.fromisoformat(r.json()["error"]["details"]["now"]) >= now  # ISO 8601, as every time
    assert "T" in r.json()["error"]["details"]["now"]
    r = visitor.post(f"{API}/test/clock", json={"now": "2030-01-01T00:00:00"})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["field"] == "now"
