"""The web layer: the JSON API under /api/v1 (``routes``) and the portal's pages (``pages``), one app from
``create_app(parts)`` (``csp.bootstrap.web_app(system)`` builds it)."""

from csp.api.app import create_app

__all__ = ["create_app"]
