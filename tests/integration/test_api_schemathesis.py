"""Schemathesis over /api/v1/openapi.json, signed in: no server error, and no answer that
contradicts the schema. The example count is bounded so the run stays short."""

from __future__ import annotations

import os
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from csp.bootstrap import bootstrap, web_app
from csp.settings import Settings
from tests.fixtures.api import sign_up

MAX_EXAMPLES = int(os.environ.get("CSP_SCHEMATHESIS_EXAMPLES", "25"))
# Moving the shared test clock would age every later request of the run; it has its own tests.
SKIP = {"POST /api/v1/test/clock", "POST /api/v1/auth/logout"}
# Domain rules (a valid email, a strong password, an order's state) go beyond the schema,
# so a schema-valid request may rightly be refused: the checks are the contract's own.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_the_api_keeps_its_schema(tmp_path: Path) -> None:
    system = bootstrap(Settings(data_dir=tmp_path, test_mode=True, public_url="http://testserver"))
    assert system.projector is not None
    system.projector.start()
    try:
        app = web_app(system)
        account = sign_up(app, system)
        customer = account.customer()
        account.ready_tenant(customer["id"])
        token = account.boss.ok("POST", "/auth/tokens", 201, json={"name": "schemathesis"})["token"]
        headers = {"Authorization": f"Bearer {token}"}
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        failures: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.label in SKIP:
                continue

            @given(case=operation.as_strategy())
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except (Exception, BaseExceptionGroup) as e:  # collect every operation's failure, then fail once
                failures.append(f"{operation.label}: {str(e)[:1500]}")
        assert failures == [], "\n\n".join(failures)
    finally:
        system.close()
