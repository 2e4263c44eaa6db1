"""Request bodies above ``CSP_MAX_BODY_BYTES`` are refused (413) before anything parses
them: by their Content-Length, or counted as a chunked body arrives."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from csp.bootstrap import System, bootstrap
from csp.settings import Settings
from tests.fixtures.api import API, Account, serve, sign_up


@pytest.fixture
def small_limit(tmp_path: Path) -> Iterator[System]:
    system = bootstrap(Settings(data_dir=tmp_path, test_mode=True, public_url="http://testserver", max_body_bytes=4096))
    assert system.projector is not None
    system.projector.start()
    try:
        yield system
    finally:
        system.close()


def _settings_body(terms_size: int) -> bytes:
    return json.dumps({"terms_text": "x" * terms_size}).encode()


def test_a_body_above_the_default_limit_is_refused_and_nothing_is_stored(account: Account):
    # given a 10 MB JSON body, as the audit sent
    before = account.boss.ok("GET", "/settings")
    big = _settings_body(10 * 1024 * 1024)
    r = account.boss.put(f"{API}/settings", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert r.json()["error"]["details"] == {"limit_bytes": 1024 * 1024}
    assert account.boss.ok("GET", "/settings")["terms_text"] == before["terms_text"]
    # a body within the limit is parsed and stored as before
    account.boss.ok("PUT", "/settings", json={"terms_text": "Be nice."})
    assert account.boss.ok("GET", "/settings")["terms_text"] == "Be nice."


def test_a_chunked_body_is_counted_as_it_arrives(account: Account):
    def chunks(n: int) -> Iterator[bytes]:
        body = _settings_body(n)
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    r = account.boss.put(
        f"{API}/settings", content=chunks(2 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    r = account.boss.put(f"{API}/settings", content=chunks(1000), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["terms_text"] == "x" * 1000


def _raw(url: str, request: bytes, then: bytes = b"") -> bytes:
    """Send ``request`` (and ``then``) over a socket; the answer, read until the server closes."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(request)
        if then:
            with contextlib.suppress(OSError):  # it may answer and close without reading the rest
                s.sendall(then)
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass  # closed with our unread bytes still on its side: what it answered is in
        return answer


def test_the_served_api_refuses_a_big_body_by_its_length_and_a_chunked_one_on_the_way(small_limit: System):
    with serve(small_limit) as url:
        host = urlsplit(url).netloc.encode()
        # a Content-Length of 10 MB, no body sent at all: answered at once, nothing read
        head = (
            b"POST /api/v1/resellers HTTP/1.1\r\nHost: " + host + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n"
        )
        answer = _raw(url, head)
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b'"code": "payload_too_large"' in answer
        # chunked: 64 chunks of 100 bytes pass the limit of 4096 on the way
        chunked = b"".join(b"64\r\n" + b"x" * 100 + b"\r\n" for _ in range(64)) + b"0\r\n\r\n"
        head = (
            b"POST /api/v1/resellers HTTP/1.1\r\nHost: " + host + b"\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        answer = _raw(url, head, chunked)
        assert answer.startswith(b"HTTP/1.1 413 ")
        # a portal form above the limit gets a page, not the API's envelope
        head = b"POST /login HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: 5000\r\n\r\n"
        answer = _raw(url, head)
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"text/html" in answer
        # within the limit: the route answers as before
        assert sign_up_over_http(url) == 201


def sign_up_over_http(url: str) -> int:
    import httpx

    body = {
        "company_name": "Tiny Body SRL",
        "country": "RO",
        "primary_contact": {
            "email": "tiny@example.com",
            "password": "correct-horse-battery-staple",
            "first_name": "Ana",
            "last_name": "Pop",
        },
    }
    return httpx.post(f"{url}{API}/resellers", json=body, timeout=30).status_code


def test_the_limit_is_a_setting(small_limit: System):
    from fastapi.testclient import TestClient

    from csp.bootstrap import web_app

    client = TestClient(web_app(small_limit))
    account = sign_up(client.app, small_limit)  # type: ignore[arg-type]
    assert account.boss.put(f"{API}/settings", json={"terms_text": "x" * 4000}).status_code == 200
    r = account.boss.put(f"{API}/settings", json={"terms_text": "x" * 4100})
    assert (r.status_code, r.json()["error"]["details"]) == (413, {"limit_bytes": 4096})
