"""Work an API process does after it has answered: emails whose sending must not show
in the answer or its timing (whether an address has an account here).

A small pool of threads of this process. What it holds is lost if the process dies
before the work ran: only work that the asker can ask for again goes here (a reset
link, a notice to an address's owner).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger("csp.api")


class Background:
    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="csp-api-background")

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[None]:
        return self._pool.submit(self._run, fn, args)

    @staticmethod
    def _run(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:  # logged; the asker may ask again
            log.exception("background work failed", extra={"work": getattr(fn, "__qualname__", str(fn))})

    def close(self) -> None:
        self._pool.shutdown(wait=True)
