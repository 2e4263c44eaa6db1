"""The read side as the API uses it (built by ``csp.bootstrap``)."""

from __future__ import annotations

from typing import Any

from csp.api.errors import Unavailable
from csp.api.services import Services
from csp.projections import ReadSide


def read_side(system: Services) -> ReadSide:
    """The system's read models; 503 when this process was built without them."""
    read = system.read
    if read is None:
        raise Unavailable("the read side is not running in this process", code="read_side_unavailable")
    return read


def page(result: Any) -> dict[str, Any]:
    return {"items": list(result.items), "total": int(result.total)}
