"""The reseller portal: the manual's screens as server-rendered pages (Jinja2), over the
same application commands, permission table, queries and read models as the JSON API.

``install(app)`` mounts the pages, their CSS and JS, and HTML error pages for every path
outside the API (the API keeps its JSON errors).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from csp.aggregates.errors import CspError
from csp.api.errors import ApiError, Unauthorized, status_for

log = logging.getLogger("csp.api.pages")
API_PATHS = ("/api/", "/docs")


def install(app: FastAPI) -> None:
    """Mount the portal on the API's app (``csp.api.create_app`` calls this)."""
    from csp.api.pages import (
        account,
        azure,
        billing,
        credit,
        customer_billing,
        customers,
        gdap,
        home,
        licences,
        notify,
        ordering,
        passwords,
        public,
        subscriptions,
    )
    from csp.api.pages.web import HERE

    for module in (
        public,
        home,
        customers,
        gdap,
        ordering,
        subscriptions,
        billing,
        customer_billing,
        credit,  # issue 18: credit limits and approvals
        account,
        passwords,
        licences,
        notify,
        azure,  # issue 18 item 5: Azure entitlements and usage
    ):
        app.include_router(module.router, include_in_schema=False)
    from csp.api.pages import transitions  # issue 16: Upgrade and Next term

    app.include_router(transitions.router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _html_errors(app)


def _html_errors(app: FastAPI) -> None:
    """Pages answer errors as pages; the API's paths keep the JSON envelope."""
    from csp.api.pages.web import Redirect

    async def redirect(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Redirect)
        return RedirectResponse(exc.url, status_code=303)

    app.add_exception_handler(Redirect, redirect)
    for exc_type in (CspError, ApiError, RequestValidationError, StarletteHTTPException, Exception):
        original = app.exception_handlers.get(exc_type)
        app.add_exception_handler(exc_type, _handler(original))


def _handler(original: Any) -> Any:
    async def handle(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(API_PATHS) and original is not None:
            return await original(request, exc)  # type: ignore[no-any-return]
        return error_page(request, exc)

    return handle


def error_page(request: Request, exc: Exception) -> Response:
    from csp.api.pages.web import Redirect, login_url, templates

    if isinstance(exc, Redirect):
        return RedirectResponse(exc.url, status_code=303)
    if isinstance(exc, Unauthorized):
        return RedirectResponse(login_url(request), status_code=303)
    title, message = "Something went wrong", "Something went wrong on our side; it has been logged."
    if isinstance(exc, CspError):
        status = status_for(exc)
        message = exc.message
        if status == 404:
            title, message = "Not found", f"This {exc.details.get('kind', 'page')} does not exist, or is not yours."
        elif status == 403:
            title = "Not allowed"
        else:
            title = "That did not work"
    elif isinstance(exc, ApiError):
        status, message = exc.status, exc.message
        title = "Not allowed" if status == 403 else "That did not work"
    elif isinstance(exc, RequestValidationError):
        status, title, message = 404, "Not found", "This page does not exist."
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        title = "Not found" if status == 404 else "That did not work"
        message = "This page does not exist." if status == 404 else str(exc.detail)
    else:
        status = 500
        log.exception("portal page failed", extra={"path": request.url.path}, exc_info=exc)
    from csp.api.pages.format import sentence

    context: dict[str, Any] = {"title": title, "message": sentence(message), "status": status}
    page = _signed_in_page(request) if status != 500 else None
    if page is not None:  # the header as on every other page: who is signed in, the sections
        return page.render("error.html", status_code=status, **context)
    return templates.TemplateResponse(
        request, "error.html", {**context, "nav": None, "caller": None}, status_code=status
    )


def _signed_in_page(request: Request) -> Any:
    """The error's request as a page of its caller (``None`` for a visitor, or when the
    caller cannot be told: an error page never fails on its own)."""
    from csp.api.pages.web import Page

    try:
        caller = request.app.state.auth.caller(request)
        return Page.of(request, caller) if caller is not None else None
    except Exception:
        return None
