"""The HTTP API (JSON under /api/v1): ``create_app(system)``."""

from csp.api.app import create_app

__all__ = ["create_app"]
