"""The relay's share of notifications and webhooks: what each event adds to the relay's
write and messages (``csp.workers.relay`` calls ``NotifyRouter.extend`` for every event).

- an endpoint's events update the relay's view of the endpoints;
- an event of a webhook kind becomes one delivery per endpoint that wants it
  (``deliver_webhook``), written with the relay's position;
- an event that calls for a notice (provisioning failed, invoice issued, endpoint
  disabled) enqueues ``record_notice``;
- a recorded notice is emailed to the reseller (``send_mail("notice", ...)``, once).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from csp.aggregates.notify import Notice, NotificationSettings
from csp.aggregates.subscription import Subscription
from csp.application import CspApplication
from csp.workers.notices import event_notice
from csp.workers.store import RelayWrite
from csp.workers.webhook_store import WebhookStore
from csp.workers.webhooks import webhook_write

Message = tuple[str, tuple[Any, ...]]


class NotifyRouter:
    def __init__(self, app: CspApplication, store: WebhookStore) -> None:
        self.app = app
        self.store = store

    def extend(
        self, event: Any, write: RelayWrite | None, messages: list[Message]
    ) -> tuple[RelayWrite | None, list[Message], list[Message]]:
        """The relay's write and messages with this event's share added, and the messages
        to send once the write is committed (a delivery is a row the step must find; a
        crash before they are sent is made good by ``rederive``)."""
        hooks = webhook_write(self.app, self.store, event)
        extra: list[Message] = []
        after: list[Message] = []
        pending: list[tuple[str, Any, int]] = []
        if hooks is not None:
            after.extend(("deliver_webhook", (str(d.delivery_id),)) for d in hooks.deliveries)
        notice = event_notice(event)
        if notice is not None:
            kind, subject = notice
            pending.append((f"notice:{kind}", subject, event.originator_version))
            extra.append(("record_notice", (kind, str(subject), event.originator_version, event.at.isoformat())))
        if isinstance(event, Notice.Issued):
            v = event.originator_version
            pending.append(("mail:notice", event.originator_id, v))
            extra.append(("send_mail", ("notice", str(event.originator_id), v)))
        # time-driven notices: a subscription's change, or new settings, calls for a new look
        checks = (event.originator_id,) if isinstance(event, Subscription.Event) else ()
        recheck_all = isinstance(event, NotificationSettings.Event)
        if hooks is None and not pending and not checks and not recheck_all:
            return write, [*messages, *extra], after
        base = write or RelayWrite({}, {})
        merged = dataclasses.replace(
            base,
            webhooks=hooks,
            pending_add=(*base.pending_add, *pending),
            notice_checks=(*base.notice_checks, *checks),
            notice_recheck_all=base.notice_recheck_all or recheck_all,
        )
        return merged, [*messages, *extra], after

    def still_needed(self, pending_kind: str, subject: Any, version: int) -> Message | None:
        """A ``record_notice`` still owed at a (re)start, with its event's time; None once
        the notice exists (or the kind is off: the step finds that out again)."""
        kind = pending_kind.removeprefix("notice:")
        events = list(self.app.repository.event_store.get(subject, gt=version - 1, lte=version))
        if not events:
            return None
        return ("record_notice", (kind, str(subject), version, events[0].at.isoformat()))

    def rederive(self, enqueue: Callable[[str, tuple[Any, ...]], None]) -> int:
        """Re-enqueue the deliveries still pending (their lanes keep the order)."""
        pending = self.store.pending()
        for delivery_id in pending:
            enqueue("deliver_webhook", (str(delivery_id),))
        return len(pending)
