"""The sagas' control port: how API processes ask the process that runs the sagas to
drain and to run due work, when they run in processes of their own on the in-process
broker (``csp serve --workers N`` on the embedded default).

On a Redis or RabbitMQ broker every process sees the queues and needs none of this:
``Sagas.drain`` joins them from wherever it is called. On the in-process broker the
queues live in the sagas' process only, so that process serves ``control_app`` on
loopback (``csp sagas run --control-port``), behind a bearer token the supervisor
shares with its API processes through ``CSP_SAGAS_CONTROL_URL`` / ``_TOKEN``; their
``Sagas`` forward ``drain`` and ``run_due`` to it (``SagasControlClient``).
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, Field

from csp.workers.scheduler import DueReport

if TYPE_CHECKING:
    from csp.workers import Sagas


class _Drain(BaseModel):
    timeout: float = Field(default=30.0, gt=0, le=300)


class _RunDue(BaseModel):
    now: datetime
    timeout: float = Field(default=30.0, gt=0, le=300)


def control_app(sagas: Sagas, token: str) -> FastAPI:
    """``POST /drain`` and ``POST /run-due`` on the sagas of this process."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    def check(authorization: str | None) -> None:
        given = (authorization or "").removeprefix("Bearer ")
        if not token or not hmac.compare_digest(given, token):
            raise HTTPException(401, "a bearer token is required")

    @app.post("/drain")
    def drain(body: _Drain, authorization: str | None = Header(default=None)) -> dict[str, Any]:
        check(authorization)
        return {"drained": sagas.drain(body.timeout)}

    @app.post("/run-due")
    def run_due(body: _RunDue, authorization: str | None = Header(default=None)) -> dict[str, Any]:
        check(authorization)
        report = sagas.run_due(body.now, body.timeout)
        return {"drained": report.drained, "jobs": report.jobs}

    return app


class SagasControlClient:
    """The API processes' side: the same ``drain`` and ``run_due`` as ``Sagas``, asked of
    the process that runs them."""

    def __init__(self, url: str, token: str) -> None:
        self._http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})

    def drain(self, timeout: float) -> bool:
        r = self._http.post("/drain", json={"timeout": timeout}, timeout=timeout + 10)
        r.raise_for_status()
        return bool(r.json()["drained"])

    def run_due(self, now: datetime, timeout: float) -> DueReport:
        r = self._http.post("/run-due", json={"now": now.isoformat(), "timeout": timeout}, timeout=3 * timeout + 10)
        r.raise_for_status()
        body = r.json()
        return DueReport(now=now, jobs=body.get("jobs") or {}, drained=bool(body["drained"]))

    def close(self) -> None:
        self._http.close()
