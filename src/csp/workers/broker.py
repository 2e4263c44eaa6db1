"""The Dramatiq broker, from ``CSP_BROKER_URL``: Redis (production), RabbitMQ (``amqp://``),
or, when empty, the in-process ``StubBroker`` served by worker threads (embedded default).

Nothing connects here: the Redis and RabbitMQ clients connect on first use.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit

from csp.errors import StartupError
from csp.settings import Settings


def broker_kind(url: str) -> str:
    """``stub``, ``redis`` or ``rabbitmq``."""
    if not url:
        return "stub"
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("redis", "rediss", "unix"):
        return "redis"
    if scheme in ("amqp", "amqps"):
        return "rabbitmq"
    raise StartupError(f"CSP_BROKER_URL must start with redis:// or amqp:// (got {url.split(':', 1)[0]!r})")


def build_broker(settings: Settings) -> dramatiq.Broker:
    kind = broker_kind(settings.broker_url)
    middleware = [
        AgeLimit(),
        TimeLimit(time_limit=settings.saga_time_limit_ms),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            max_retries=settings.saga_max_retries,
            min_backoff=settings.saga_min_backoff_ms,
            max_backoff=settings.saga_max_backoff_ms,
        ),
    ]
    if kind == "stub":
        broker: dramatiq.Broker = StubBroker(middleware=middleware)
        broker.emit_after("process_boot")
        return broker
    if kind == "redis":
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(
            url=settings.broker_url,
            namespace=settings.broker_namespace,
            heartbeat_timeout=settings.broker_heartbeat_ms,
            # a dead worker's messages are requeued by maintenance; run it often enough
            # that a short heartbeat timeout actually brings them back soon
            maintenance_chance=1000 if settings.broker_heartbeat_ms >= 60_000 else 100_000,
            middleware=middleware,
        )
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return RabbitmqBroker(url=settings.broker_url, middleware=middleware)


def queue_name(settings: Settings, name: str) -> str:
    """Queues carry the namespace, so several deployments can share one RabbitMQ."""
    return f"{settings.broker_namespace}.{name}"
