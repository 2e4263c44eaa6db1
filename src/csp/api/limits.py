"""A limit on the size of request bodies, enforced before anything parses them.

ASGI middleware, outside every route and form parser: a ``Content-Length`` above the
limit is answered 413 at once, without reading the body; a body without one (chunked)
is read and counted as it arrives, and answered 413 as soon as it passes the limit,
so at most the limit (and one chunk) is ever held in memory. A body within the limit
is handed on to the app unchanged.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PATHS = ("/api/", "/docs")


class BodyLimit:
    """ASGI middleware: 413 ``payload_too_large`` for a request body above ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            length = _content_length(scope)
        except ValueError:
            await self._answer(scope, send, 400, "malformed_request", "the Content-Length header is not a number")
            return
        if length is not None:
            if length > self.max_bytes:
                await self._too_large(scope, send)
                return
            await self.app(scope, receive, send)  # the server holds the body to its Content-Length
            return
        # No Content-Length (chunked, or no body at all): read it here, counting.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                messages.append(message)  # the client went away: let the app see it
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._too_large(scope, send)
                return
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await self._answer(
            scope,
            send,
            413,
            "payload_too_large",
            f"the request body is larger than the limit of {self.max_bytes} bytes",
            {"limit_bytes": self.max_bytes},
        )

    async def _answer(
        self, scope: Scope, send: Send, status: int, code: str, message: str, details: dict[str, int] | None = None
    ) -> None:
        path = scope.get("path", "")
        if path.startswith(API_PATHS):
            body = json.dumps({"error": {"code": code, "message": message, "details": details or {}}}).encode()
            content_type = b"application/json"
        else:  # a portal form: a page, not the API's envelope
            page = f"<!doctype html><title>That did not work</title><h1>That did not work</h1><p>{message}.</p>"
            body = page.encode()
            content_type = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),  # the rest of the body is never read
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    """The request's Content-Length, None without one (ValueError: not a number)."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            raw = value.strip()
            if not raw.isdigit() or len(raw) > 18:
                raise ValueError(raw)
            return int(raw)
    return None
