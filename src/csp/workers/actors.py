"""The Dramatiq actors: one per saga step, bound to a broker (never at import time).

Each actor sets its own retry policy: transient vendor failures (5xx, timeouts) are
retried with exponential back-off up to ``CSP_SAGA_MAX_RETRIES``; waiting for the vendor
is a delayed message sent by the step itself. When the retries are exhausted, the
failure is recorded durably (``csp sagas failed``) and the saga's own give-up step runs
(an order fails with the reason, a tenant is rejected).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, Retries

from csp.clock import Clock
from csp.settings import Settings
from csp.vendor.gateway import VendorUnavailable
from csp.workers.broker import queue_name
from csp.workers.notices import NoticeSteps
from csp.workers.steps import SagaSteps
from csp.workers.store import SagaStore
from csp.workers.webhooks import WebhookSteps

log = logging.getLogger("csp.workers")

# actor name -> (queue, retries multiplier): mail and sync are less urgent than provisioning
ACTORS: dict[str, str] = {
    "provision_order": "sagas",
    "reconcile_order": "sagas",
    "create_tenant": "sagas",
    "push_change": "sagas",
    "send_mail": "mail",
    "sync_subscription": "sync",
    "sync_entitlements": "sagas",  # Azure plans' entitlements at the vendor
    "record_notice": "mail",
    "deliver_webhook": "webhooks",
    "sync_gdap": "sagas",  # issue 16: GDAP relationships
}


class VendorRetry(dramatiq.Retry):
    """A transient vendor failure, retried by the Retries middleware like any error but
    logged as one warning line per retry (dramatiq logs a ``Retry`` without a traceback)."""

    def __init__(self, cause: VendorUnavailable) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _transient_as_retry(fn: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except VendorUnavailable as e:
            raise VendorRetry(e) from e

    return run


def _error(exception: BaseException) -> str:
    cause = exception.cause if isinstance(exception, VendorRetry) else exception
    return f"{type(cause).__name__}: {cause}"


class FailureRecorder(Middleware):
    """Records messages that failed for good, and runs the saga's give-up step."""

    def __init__(self, store: SagaStore, clock: Clock, give_up: dict[str, Callable[..., None]]) -> None:
        self.store = store
        self.clock = clock
        self.give_up = give_up
        self.failures = 0

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if exception is None:
            return
        if not getattr(message, "failed", False):
            if isinstance(exception, VendorRetry):
                log.warning(
                    "%s(%s): the vendor is unavailable (%s); retry %d of %s",
                    message.actor_name,
                    ", ".join(map(str, message.args)),
                    exception.cause,
                    int(message.options.get("retries", 0)),
                    message.options.get("max_retries", broker.get_actor(message.actor_name).options.get("max_retries")),
                )
            return
        self.failures += 1
        error = _error(exception)
        log.error(
            "%s(%s) gave up after %d retries: %s",
            message.actor_name,
            ", ".join(map(str, message.args)),
            int(message.options.get("retries", 0)) - 1,
            error,
        )
        try:
            self.store.record_failure(
                message.message_id,
                message.actor_name,
                message.queue_name,
                list(message.args),
                dict(message.asdict()),
                error,
                int(message.options.get("retries", 0)),
                self.clock.now(),
            )
            hook = self.give_up.get(message.actor_name)
            if hook is not None:
                hook(*message.args, error=error)
        except Exception:
            log.exception("could not record the failure of message %s", message.message_id)


def register_actors(
    broker: dramatiq.Broker,
    steps: SagaSteps,
    settings: Settings,
    store: SagaStore,
    clock: Clock,
    webhooks: WebhookSteps | None = None,
    notices: NoticeSteps | None = None,
) -> dict[str, dramatiq.Actor[Any, Any]]:
    options = {
        "max_retries": settings.saga_max_retries,
        "min_backoff": settings.saga_min_backoff_ms,
        "max_backoff": settings.saga_max_backoff_ms,
        "time_limit": settings.saga_time_limit_ms,
    }
    functions: dict[str, Callable[..., None]] = {
        "provision_order": steps.provision_order,
        "reconcile_order": steps.reconcile_order,
        "create_tenant": steps.create_tenant,
        "push_change": steps.push_change,
        "send_mail": steps.send_mail,
        "sync_subscription": steps.sync_subscription,
        "sync_entitlements": steps.azure.sync_entitlements,
        "sync_gdap": steps.gdap.sync_gdap,
    }
    per_actor: dict[str, dict[str, Any]] = {}
    # notifications and webhooks (issue 16): a delivery has its own, slower retry policy
    if notices is not None:
        functions["record_notice"] = notices.record_notice
    if webhooks is not None:
        functions["deliver_webhook"] = webhooks.deliver
        per_actor["deliver_webhook"] = {
            "max_retries": settings.webhook_max_retries,
            "min_backoff": settings.webhook_min_backoff_ms,
            "max_backoff": settings.webhook_max_backoff_ms,
        }
    actors = {}
    for name, fn in functions.items():
        actors[name] = dramatiq.Actor(
            _transient_as_retry(fn),
            broker=broker,
            actor_name=name,
            queue_name=queue_name(settings, ACTORS[name]),
            priority=0,
            options={**options, **per_actor.get(name, {})},
        )
    # "after" hooks run in reverse order: placed before Retries, this one runs after it
    # and sees whether Retries gave the message up.
    broker.add_middleware(
        FailureRecorder(
            store,
            clock,
            {
                "provision_order": lambda order_id, error: steps.provisioning_gave_up(order_id, error),
                "create_tenant": lambda tenant_id, error: steps.tenant_gave_up(tenant_id, error),
                **(
                    {"deliver_webhook": lambda delivery_id, error: webhooks.gave_up(delivery_id, error)}
                    if webhooks is not None
                    else {}
                ),
            },
        ),
        before=Retries,
    )
    return actors
