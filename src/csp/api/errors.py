"""The error envelope, and the one place where errors become status codes.

Every error answers ``{"error": {"code", "message", "details"}}``: the domain's families
(NotFound 404, Forbidden 403, Conflict 409, InvalidInput 422), FastAPI's own validation
errors (422 with the field and the reason; a body that is not JSON is 400), unknown
routes (404), wrong methods (405), and anything unexpected (500, logged, no trace).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from csp.aggregates.errors import Conflict, CspError, Forbidden, InvalidInput, NotFound

log = logging.getLogger("csp.api")


class ApiError(Exception):
    """An error of the HTTP layer itself (authentication, malformed requests)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, headers: dict[str, str] | None = None, **details: Any):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details
        self.headers = headers


class Malformed(ApiError):
    status = 400
    code = "malformed_request"


class Unauthorized(ApiError):
    status = 401
    code = "not_signed_in"


class NotAllowed(ApiError):
    status = 403
    code = "forbidden"


class TooManyAttempts(ApiError):
    status = 429
    code = "too_many_attempts"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"


def status_for(error: CspError) -> int:
    """The domain's error families, mapped once."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, InvalidInput):
        return 422
    return 400


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(envelope(code, message, details), status_code=status, headers=headers)


_HTTP_CODES = {
    400: "malformed_request",
    401: "not_signed_in",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[0] if loc else "request")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CspError)
    async def domain_error(request: Request, exc: CspError) -> JSONResponse:
        status = status_for(exc)
        message = exc.message
        if status == 404:
            message = f"{exc.details.get('kind', 'resource')} not found"
        return error_response(status, exc.code, message, exc.details)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":
                return error_response(400, "malformed_request", "the request body is not valid JSON")
            errors.append({"field": _field_of(tuple(e.get("loc", ()))), "reason": str(e.get("msg", "is invalid"))})
        first = errors[0] if errors else {"field": "request", "reason": "is invalid"}
        return error_response(
            422,
            "invalid_input",
            f"{first['field']}: {first['reason']}",
            {"field": first["field"], "reason": first["reason"], "errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404:
            message = "no such resource"
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return error_response(500, "internal_error", "something went wrong on our side; it has been logged")
