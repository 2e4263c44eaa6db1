"""Running a command for a request: read-your-writes after it.

A command answers once the projections it feeds have processed its events (bounded
wait, ~2 s; on timeout it answers anyway). The application tells its save listeners, in
the saving thread, what each save recorded: the command and the wait run in the same
worker thread, so the wait is for exactly this request's events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from eventsourcing.persistence import Recording

from csp.aggregates.errors import ConcurrentModification
from csp.aggregates.user import User
from csp.api.services import Services
from csp.application.accounts import Invitation

T = TypeVar("T")
READ_YOUR_WRITES_TIMEOUT = 2.0
COMMAND_ATTEMPTS = 5
log = logging.getLogger("csp.api")


_saved = threading.local()


def remember_saves(recordings: Sequence[Recording[Any]]) -> None:
    """A save listener: this thread's recordings, for the wait after the command."""
    if getattr(_saved, "active", False):
        _saved.recordings.extend(recordings)


def settle(system: Services, recordings: Sequence[Recording[Any]], timeout: float = READ_YOUR_WRITES_TIMEOUT) -> bool:
    """Wait until the read models these recordings feed have applied them (only those:
    a read model that skips an event's topic never moves for it)."""
    if not recordings or system.read is None:
        return True
    caught_up = system.read.wait_for(recordings, timeout=timeout)
    if not caught_up:
        log.warning("read side behind after a command", extra={"notification_id": recordings[-1].notification.id})
    return caught_up


def send_invitation(system: Services, invitation: Invitation, inviter: User, organization_name: str) -> bool:
    """Email the one-time link (the token exists only in this email). False if it could
    not be sent: inviting again sends a new link. An address that belongs to a user of
    another account gets a notice instead of the link (the inviter is answered the same)."""
    if system.mailer is None:
        return False
    from csp.mail import invitation_message, invitation_to_taken_address_message

    user = invitation.user
    link = f"{system.settings.public_url.rstrip('/')}/invitations/{invitation.token}"
    inviter_name = f"{inviter.first_name} {inviter.last_name}".strip() or inviter.email
    assert user.invitation_expires_at is not None
    try:
        if invitation.taken_by is not None:
            system.mailer.send(invitation_to_taken_address_message(user.email, inviter_name, organization_name))
            return True
        system.mailer.send(
            invitation_message(user.email, inviter_name, organization_name, link, user.invitation_expires_at)
        )
    except Exception:  # the invitation stands; the inviter can send it again
        log.exception("invitation email not sent", extra={"user_id": str(user.id)})
        return False
    return True


def _run(fn: Callable[[], T]) -> T:
    """Run a command; when its save loses a race with another writer (a saga recording the
    vendor's answer, say), decide again on the new state. A stale ``If-Match`` is not
    retried: the client asked for that version."""
    for attempt in range(COMMAND_ATTEMPTS):
        try:
            return fn()
        except ConcurrentModification as e:
            if e.details.get("expected_version") is not None or attempt == COMMAND_ATTEMPTS - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def command(system: Services, fn: Callable[[], T]) -> T:
    """Run a command, then wait for the read side to reflect it."""
    _saved.active = True
    _saved.recordings = []
    try:
        result = _run(fn)
        recordings = list(_saved.recordings)
    finally:
        _saved.active = False
        _saved.recordings = []
    settle(system, recordings)
    return result
