"""JSON logs: every record, ours or a library's, is one JSON line, carrying the request's id
inside a request (structlog's context variables and ``ProcessorFormatter``)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from csp.api import observability
from csp.api.observability import Metrics, RequestContext, json_formatter


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The root logger writing JSON into a buffer (at DEBUG: the access log too)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)
    monkeypatch.setattr(observability, "_ACCESS_LEVEL", logging.INFO)
    try:
        yield out
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def _records(out: io.StringIO) -> list[dict[str, Any]]:
    """The lines of the test's loggers (not those of asyncio or httpx, the test client's)."""
    found = [json.loads(line) for line in out.getvalue().splitlines()]
    return [r for r in found if r["logger"] not in ("asyncio", "httpx")]


def _app() -> RequestContext:
    def hello(request: Request) -> PlainTextResponse:
        logging.getLogger("a.library").warning("inside %s", "the request", extra={"order": 7})
        return PlainTextResponse("hi")

    return RequestContext(Starlette(routes=[Route("/hello", hello)]), Metrics())


def test_a_record_logged_inside_a_request_is_one_json_line_carrying_the_request_id(lines: io.StringIO):
    # when
    r = TestClient(_app()).get("/hello", headers={"X-Request-ID": "req-42"})
    # then
    assert r.headers["x-request-id"] == "req-42"
    inside, access = _records(lines)
    assert inside["request_id"] == "req-42"
    assert (inside["level"], inside["logger"], inside["message"], inside["order"]) == (
        "warning",
        "a.library",
        "inside the request",
        7,
    )
    assert inside["ts"].endswith("+00:00")
    assert access["request_id"] == "req-42"
    assert access["message"] == "GET /hello 200"
    assert (access["method"], access["path"], access["route"], access["status"]) == ("GET", "/hello", "/hello", 200)
    assert isinstance(access["duration_ms"], float)


def test_a_request_without_an_id_gets_a_new_one_and_a_record_after_it_carries_none(lines: io.StringIO):
    r = TestClient(_app()).get("/hello")
    logging.getLogger("after").info("outside")
    inside, _, after = _records(lines)
    assert inside["request_id"] == r.headers["x-request-id"] != ""
    assert "request_id" not in after


def test_an_exception_and_an_unusual_extra_come_out_in_the_same_line(lines: io.StringIO):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("it failed", extra={"when": {1, 2}})
    (line,) = lines.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == "it failed"
    assert record["level"] == "error"
    assert "ValueError: boom" in record["exception"]
    assert isinstance(record["when"], str)


def test_structlogs_own_loggers_write_the_same_lines(lines: io.StringIO):
    observability.configure_logging("DEBUG", "json")  # replaces the handler: put ours back
    logging.getLogger().handlers[0].stream = lines  # type: ignore[attr-defined]
    with structlog.contextvars.bound_contextvars(request_id="req-7"):
        structlog.get_logger("csp.somewhere").info("bound", seats=3)
    (record,) = _records(lines)
    assert (record["logger"], record["message"], record["seats"], record["request_id"]) == (
        "csp.somewhere",
        "bound",
        3,
        "req-7",
    )
