"""Passwords, for the API and the portal alike: a change (the current password required,
every other session of the user ended) and a forgotten password reset through a
one-time link emailed to the address.

Asking for a link answers the same, at once, whoever owns the address (or nobody): the
look-up, the link and the email happen after the answer (``Background``). Asking is
throttled per address and per client address; trying current passwords counts against
the sign-in throttle of the account.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from csp.aggregates.errors import InvalidInput
from csp.aggregates.organization import check_email
from csp.aggregates.user import SIGN_IN_METHOD_LABELS, User
from csp.api.auth import Auth, Caller, refuse_if_throttled
from csp.api.background import Background
from csp.api.commands import Commands
from csp.api.throttles import Throttle
from csp.application import CspApplication

if TYPE_CHECKING:
    from csp.mail import Mailer

log = logging.getLogger("csp.api")

RESET_PER_EMAIL = 3
RESET_PER_ADDRESS = 10
RESET_WINDOW_SECONDS = 15 * 60
RESET_ASKED = (
    "If this email belongs to an account that signs in with a password here, a link to choose a new "
    "password is on its way to it. The link works once, for an hour."
)


class PasswordFlows:
    def __init__(
        self,
        app: CspApplication,
        commands: Commands,
        mailer: Mailer | None,
        public_url: str,
        auth: Auth,
        background: Background,
    ) -> None:
        self.app = app
        self.commands = commands
        self.mailer = mailer
        self.public_url = public_url
        self.auth = auth
        self.background = background
        self.reset_throttle = Throttle(auth.store, RESET_WINDOW_SECONDS)

    # --- change ---------------------------------------------------------------------

    def change(self, caller: Caller, current: str, new: str, address: str) -> tuple[User, int]:
        """The caller's new password; answers the user and how many of its other sessions
        ended (all of them when the caller uses an API token)."""
        refuse_if_throttled(self.auth.throttle.reserve(caller.email, address), "too many wrong passwords")
        app = self.app
        try:
            user = self.commands.run(lambda: app.change_password(caller.user_id, current, new))
        except InvalidInput as e:
            if e.field != "current_password":
                self.auth.throttle.succeeded(caller.email, address)  # the current one was right
            raise
        self.auth.throttle.succeeded(caller.email, address)
        keep = caller.session.id_hash if caller.session is not None else None
        ended = self.auth.end_user_sessions(user.id, keep=keep)
        self.background.submit(self._tell_changed, user, "from the account page")
        return user, ended

    # --- forgotten -------------------------------------------------------------------

    def ask_reset(self, email: str, address: str) -> str:
        """Ask for a reset link for ``email``: the same answer for every address."""
        email = check_email(email, "email")
        wait = self.reset_throttle.reserve(
            ((f"reset-email:{email}", RESET_PER_EMAIL), (f"reset-address:{address}", RESET_PER_ADDRESS))
        )
        refuse_if_throttled(wait, "too many password reset requests")
        self.background.submit(self._send_reset_link, email)
        return RESET_ASKED

    def _send_reset_link(self, email: str) -> None:
        from csp.mail import password_reset_message, password_reset_unavailable_message

        asked = self.app.request_password_reset(email)
        user, mailer = asked.user, self.mailer
        if user is None or mailer is None:
            return
        if asked.token is not None:
            assert user.password_reset_expires_at is not None
            link = f"{self.public_url.rstrip('/')}/password-reset/{asked.token}"
            mailer.send(password_reset_message(user.email, link, user.password_reset_expires_at))
        elif user.status == "active":
            label = SIGN_IN_METHOD_LABELS[user.sign_in_method]
            mailer.send(
                password_reset_unavailable_message(
                    user.email,
                    f"This account signs in with {label}, which keeps its password: reset it there, at Microsoft.",
                )
            )
        elif user.status == "invited":
            mailer.send(
                password_reset_unavailable_message(
                    user.email,
                    "This address has an invitation that is not accepted yet: follow the link in the invitation "
                    "email to choose a password (ask the person who invited you for a new one if it expired).",
                )
            )
        # a disabled user gets nothing: its account manager decides

    def reset(self, token: str, password: str) -> User:
        """A new password through a reset link (once); every session of the user ends."""
        app = self.app
        user = self.commands.run(lambda: app.reset_password(token, password))
        self.auth.end_user_sessions(user.id)
        self.auth.throttle.clear(user.email)  # the owner of the address is back in
        self.background.submit(self._tell_changed, user, "with a reset link")
        return user

    def _tell_changed(self, user: User, how: str) -> None:
        from csp.mail import password_changed_message

        if self.mailer is not None:
            self.mailer.send(password_changed_message(user.email, self.app.now(), how))
