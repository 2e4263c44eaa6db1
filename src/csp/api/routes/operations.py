"""Liveness, readiness, metrics, and the test clock (only with ``CSP_TEST_MODE``)."""

from __future__ import annotations

import logging
import os
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from csp.aggregates.errors import Conflict, InvalidInput
from csp.api import schemas as s
from csp.api.deps import AppDep, AuthDep, ClockDep, OptionalReadModels, SagaControlDep, SettingsDep
from csp.api.errors import NotAllowed
from csp.clock import StoredOffsetClock
from csp.projections import ReadModels

router = APIRouter(tags=["operations"])
log = logging.getLogger("csp.api")
MAX_PROJECTION_LAG = 1000  # notifications behind before the API calls itself not ready


@router.get("/healthz", response_model=s.HealthPublic)
def healthz() -> s.HealthPublic:
    """The process answers."""
    return s.HealthPublic(status="ok")


def _check(checks: dict[str, Any], name: str, fn: Any) -> bool:
    try:
        result = fn()
        checks[name] = {"ok": True, **(result or {})}
        return True
    except Exception as e:  # a readiness probe reports, it does not raise
        checks[name] = {"ok": False, "error": f"{type(e).__name__}: {e}"[:300]}
        return False


def broker_check(url: str) -> dict[str, Any]:
    if not url:
        return {"kind": "in-process"}
    if url.startswith("redis"):
        import redis

        r = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            r.ping()
        finally:
            r.close()
        return {"kind": "redis"}
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=2):
        return {"kind": parts.scheme}


def projection_lag(read: ReadModels | None) -> dict[str, int]:
    """How many notifications the read models are behind the event log (one group)."""
    if read is None:
        return {}
    from csp.projections import GROUP_NAME

    return {GROUP_NAME: int(read.lag())}


@router.get("/readyz", response_model=s.ReadinessPublic, responses={503: {"model": s.ReadinessPublic}})
def readyz(app: AppDep, read: OptionalReadModels, settings: SettingsDep, auth: AuthDep) -> Any:
    """Ready when the database, the session store and the broker answer and the read
    models are not far behind."""
    checks: dict[str, Any] = {"process": {"ok": True, "pid": os.getpid()}}  # which of csp serve --workers answered
    ok = _check(checks, "database", lambda: {"last_notification_id": app.recorder.max_notification_id() or 0})
    ok &= _check(checks, "sessions", auth.store.ping)
    ok &= _check(checks, "broker", lambda: broker_check(settings.broker_url))

    def lag() -> dict[str, Any]:
        lags = projection_lag(read)
        worst = max(lags.values(), default=0)
        if worst > MAX_PROJECTION_LAG:
            raise RuntimeError(f"a read model is {worst} events behind")
        return {"lag": lags}

    ok &= _check(checks, "projections", lag)
    body = s.ReadinessPublic(status="ready" if ok else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request) -> Response:
    """Prometheus text: requests, latency, projection lag, saga outcomes."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


test_router = APIRouter(tags=["test clock"])


@test_router.get("/test/clock", response_model=s.ClockPublic)
def get_clock(app: AppDep) -> s.ClockPublic:
    return s.ClockPublic(now=app.now())


@test_router.post("/test/clock", response_model=s.ClockPublic)
def set_clock(body: s.ClockSet, app: AppDep, clock: ClockDep, sagas: SagaControlDep) -> s.ClockPublic:
    """Move the clock forward (409 backwards), then run whatever became due before answering."""
    if not isinstance(clock, StoredOffsetClock):
        raise NotAllowed("the test clock needs CSP_TEST_MODE=1", code="test_mode_off")
    if body.now.tzinfo is None:
        raise InvalidInput("now", "must carry a timezone offset")
    if body.now < clock.now():  # refused at once, before waiting for earlier work
        raise Conflict(f"the clock only moves forward; it is {clock.now().isoformat()}", now=app.now())
    if not sagas.drain():
        # what was decided before the jump reaches the vendor at the time it was decided
        log.warning("test clock: earlier work still running before the jump", extra={"now": body.now.isoformat()})
    try:
        now = clock.set(body.now)
    except ValueError as e:
        raise Conflict(str(e), now=app.now()) from None
    if not sagas.run_due(now):
        log.warning("test clock: due work still running after the wait", extra={"now": now.isoformat()})
    return s.ClockPublic(now=app.now())
