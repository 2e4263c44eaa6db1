"""The read side's answers as the API gives them (the read models themselves come
through ``csp.api.deps.ReadModelsDep``)."""

from __future__ import annotations

from typing import Any


def page(result: Any) -> dict[str, Any]:
    return {"items": list(result.items), "total": int(result.total)}
