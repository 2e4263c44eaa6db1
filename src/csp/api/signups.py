"""Signing up in public (a reseller account) and self-registering (a customer on its
reseller's portal), for the API and the portal alike.

The answer is the same whether or not the address has an account already: the account
is made either way and waits for its address to be confirmed; after the answer, a free
address gets the confirming link, a taken one a notice to its owner (the link then
never works). Both are throttled per client address and per email address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from csp.aggregates.errors import InvalidInput
from csp.aggregates.organization import check_email
from csp.aggregates.user import User
from csp.api.auth import Auth, refuse_if_throttled
from csp.api.background import Background
from csp.api.commands import Commands
from csp.api.throttles import Throttle
from csp.application import CspApplication
from csp.application.accounts import Registration
from csp.settings import Settings

if TYPE_CHECKING:
    from csp.mail import Mailer

SIGNUPS_PER_EMAIL = 3
WINDOW_SECONDS = 3600.0


class SignUps:
    def __init__(
        self,
        app: CspApplication,
        commands: Commands,
        mailer: Mailer | None,
        settings: Settings,
        auth: Auth,
        background: Background,
    ) -> None:
        self.app = app
        self.commands = commands
        self.mailer = mailer
        self.public_url = settings.public_url
        self.background = background
        self.throttle = Throttle(auth.store, WINDOW_SECONDS)
        self.per_address = settings.signup_limit_per_hour

    def register(self, kind: str, email: str, address: str, what: str, run: Callable[[], Registration]) -> Registration:
        """Run a sign-up (``kind``: ``signup`` or ``register``) after its throttle, then
        email the address after the answer (``what``: what was signed up, in words)."""
        try:
            key = check_email(email, "email")
        except InvalidInput:  # the command names the field of a bad address
            key = email.strip().lower()
        wait = self.throttle.reserve(
            ((f"{kind}-address:{address}", self.per_address), (f"{kind}-email:{key}", SIGNUPS_PER_EMAIL))
        )
        refuse_if_throttled(wait, "too many sign-ups")
        registration = self.commands.run(run)
        self.background.submit(self._tell, registration, what)
        return registration

    def _tell(self, registration: Registration, what: str) -> None:
        from csp.mail import address_taken_message, email_confirmation_message

        mailer, user = self.mailer, registration.user
        if mailer is None:
            return
        base = self.public_url.rstrip("/")
        if registration.taken_by is not None:
            to = registration.taken_by.email
            mailer.send(address_taken_message(to, what, f"{base}/login", f"{base}/password-reset"))
            return
        assert user.invitation_expires_at is not None
        link = f"{base}/confirm-email/{registration.token}"
        mailer.send(email_confirmation_message(user.email, what, link, user.invitation_expires_at))

    def confirm(self, token: str) -> User:
        app = self.app
        return self.commands.run(lambda: app.confirm_email(token))
