"""A list page as one answer: serialised once, with orjson, and tagged.

The rows of a read model are already shaped as the contract's rows (``csp.projections``
answers API.md's field names, money ``Decimal``, ids ``UUID``, times aware): validating
them again against the response model and then serialising them cost more than the query
(a profile of a served page). So a list route answers the bytes itself; the response
model still documents the page in OpenAPI, and tests hold the bytes to it
(``tests/integration/test_api_lists.py``). The encoding is pydantic's: a decimal as its
string, a UTC time with ``Z``.

Each page carries a weak ``ETag`` of its bytes; a client that sends it back in
``If-None-Match`` gets ``304 Not Modified`` and no body while the page is the same.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from csp.projections import Page

NOT_MODIFIED = {304: {"description": "the page is the one whose `ETag` was sent in `If-None-Match`"}}


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(content: Any) -> bytes:
    """JSON as the response models write it."""
    return orjson.dumps(content, default=_default, option=orjson.OPT_UTC_Z)


def page_content(page: Page, keyset: bool = False) -> dict[str, Any]:
    """The page as its response model has it (``next_after`` where the list pages by keyset)."""
    content: dict[str, Any] = {"items": page.items, "total": int(page.total)}
    if keyset:
        content["next_after"] = page.next_after
    return content


def etag_of(body: bytes) -> str:
    return f'W/"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def _matches(if_none_match: str, tag: str) -> bool:
    """``If-None-Match`` against a tag, by weak comparison (RFC 9110 13.1.2)."""
    if if_none_match.strip() == "*":
        return True
    opaque = tag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == opaque for t in if_none_match.split(","))


def list_response(request: Request, content: Page | dict[str, Any], keyset: bool = False) -> Response:
    """``content`` (a page, or the dict of one) as JSON, tagged; 304 when the client has it."""
    body = dumps(page_content(content, keyset) if isinstance(content, Page) else content)
    tag = etag_of(body)
    sent = request.headers.get("if-none-match")
    if sent is not None and _matches(sent, tag):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, media_type="application/json", headers={"ETag": tag})
