"""What the simulator's modules share: the vendor's error answer, and running blocking work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse, Response


class Refusal(Exception):
    """The vendor's error answer."""

    def __init__(self, status: int, name: str, description: str, **data: Any) -> None:
        super().__init__(description)
        self.status = status
        self.name = name
        self.description = description
        self.data = data

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"code": self.status, "errorName": self.name, "description": self.description, "data": self.data},
            status_code=self.status,
        )


async def _in_thread(fn: Callable[[], Response]) -> Response:
    """Run blocking work (SQLite, injected hangs) off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn)
