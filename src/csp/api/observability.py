"""Operations: structured JSON logs with a request id, and Prometheus metrics.

Every request gets an id (``X-Request-ID`` in, or a new one) that every log line of the
request carries and the answer sends back: it is bound with structlog's context
variables (``structlog.contextvars``), and structlog's ``ProcessorFormatter`` renders
every record — ours and the libraries' (uvicorn, dramatiq, eventsourcing, httpx), all
emitted through the standard ``logging`` — as one JSON line: ``ts``, ``level``,
``logger``, ``message``, ``request_id`` (inside a request), the record's extras, and
``exception`` (its traceback). Metrics live in a registry of their own per app (so
tests can build many apps), served at ``/api/v1/metrics``.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import EventDict, WrappedLogger

log = logging.getLogger("csp.api.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def _stamp(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    """``ts``: when the record was made (UTC, milliseconds), not when it is written."""
    record = event.get("_record")
    created = record.created if record is not None else time.time()
    event["ts"] = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return event


_FIRST = ("ts", "level", "logger", "message", "request_id")


def _plain_extras(logger: WrappedLogger, name: str, event: EventDict) -> EventDict:
    """The fixed fields first, then the extras as JSON scalars (anything else as its
    ``str``); private ones and uvicorn's ``color_message`` dropped."""
    out = {k: event[k] for k in _FIRST if k in event}
    for k, v in event.items():
        if k in out or k.startswith("_") or k == "color_message":
            continue
        plain = k == "exc_info" or isinstance(v, (str, int, float, bool, type(None)))
        out[k] = v if plain else str(v)
    return out


# Run on every record, a library's or a structlog logger's: the level, the logger, the
# request's context (``request_id``).
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
]


def json_formatter() -> logging.Formatter:
    """One JSON object per line: ts, level, logger, message, request id, extras, exception."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()],
        processors=[
            _stamp,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.EventRenamer("message"),
            _plain_extras,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )


def resolve_log_format(fmt: str, stream: object = None) -> str:
    """``auto``: plain text for a person at a terminal, JSON for a log collector."""
    if fmt in ("json", "text"):
        return fmt
    isatty = getattr(stream if stream is not None else sys.stderr, "isatty", None)
    return "text" if callable(isatty) and isatty() else "json"


def configure_logging(level: str = "INFO", fmt: str = "auto", requests: bool = False) -> None:
    """The process's logging: one handler on stderr, JSON or text (``auto`` by the
    terminal). The access log and the vendor calls' HTTP lines show at INFO only when
    ``requests`` asks for them; otherwise at DEBUG, so a terminal stays readable.
    structlog's own loggers (``structlog.get_logger()``) hand their events to the same
    handler, so they come out alike."""
    global _ACCESS_LEVEL
    _ACCESS_LEVEL = logging.INFO if requests else logging.DEBUG
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    if resolve_log_format(fmt, sys.stderr) == "json":
        handler.setFormatter(json_formatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # our access log replaces it
    # httpx logs each request (the vendor calls) at INFO: shown when asked for, or when debugging
    debugging = root.getEffectiveLevel() <= logging.DEBUG
    logging.getLogger("httpx").setLevel(logging.INFO if requests or debugging else logging.WARNING)


_ACCESS_LEVEL = logging.DEBUG


class Metrics:
    """The API's metrics, and gauges read from the system when scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "csp_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "csp_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def add_gauges(self, name: str, help_text: str, read: Callable[[], dict[str, float]], label: str) -> None:
        """A gauge family whose values are read when scraped (projection lag, saga outcomes)."""
        self.registry.register(_ReadAtScrape(name, help_text, read, label))


class _ReadAtScrape(Collector):
    def __init__(self, name: str, help_text: str, read: Callable[[], dict[str, float]], label: str) -> None:
        self._name, self._help, self._read, self._label = name, help_text, read, label

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self._name, self._help, labels=[self._label])
        try:
            values = self._read()
        except Exception:  # a failing source must not break the scrape
            logging.getLogger("csp.api").warning("metric source failed", extra={"metric": self._name})
            values = {}
        for key, value in values.items():
            family.add_metric([key], value)
        yield family


class RequestContext:
    """ASGI middleware: request id in and out, one access log line, request metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope.get("headers", [])}
        incoming = headers.get("x-request-id", "")
        rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        tokens = structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            log.log(
                _ACCESS_LEVEL,
                f"{method} {scope.get('path', '')} {status}",
                extra={
                    "method": method,
                    "path": scope.get("path", ""),
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            structlog.contextvars.reset_contextvars(**tokens)
