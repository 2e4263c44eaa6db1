"""The HTTP API (JSON under /api/v1): ``create_app(services)`` (``csp.bootstrap.web_app(system)`` builds it)."""

from csp.api.app import create_app

__all__ = ["create_app"]
