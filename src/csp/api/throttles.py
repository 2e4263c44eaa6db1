"""Throttles of the web layer (sign-in, sign-up, password resets): attempts counted per
key in the session store's counters (``csp.persistence.sessions``), reserved before the
work they guard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from csp.persistence.sessions import SessionStore


class Throttle:
    """Attempts limited per key in windows of ``window_seconds``: each attempt is
    reserved (counted) before the work it guards is done."""

    def __init__(self, store: SessionStore, window_seconds: float) -> None:
        self.store = store
        self.window_seconds = window_seconds

    def reserve(self, limits: Sequence[tuple[str, int]]) -> float:
        """Count an attempt on each ``(key, limit)``: 0 when every key is within its
        limit (go ahead), else the seconds to wait before a key's window ends."""
        counted = self.store.count_attempt([k for k, _ in limits], self.window_seconds)
        return max((counted[k][1] for k, limit in limits if counted[k][0] > limit), default=0.0)


@dataclass(frozen=True)
class ThrottlePolicy:
    per_account: int = 5
    per_address: int = 20
    window_seconds: float = 15 * 60


class LoginThrottle:
    """Sign-in attempts with a password: at most ``per_account`` per account and
    ``per_address`` per client address in a window; a good password gives its attempt
    back and clears the account's count."""

    def __init__(self, store: SessionStore, policy: ThrottlePolicy = ThrottlePolicy()) -> None:
        self.policy = policy
        self.throttle = Throttle(store, policy.window_seconds)

    def reserve(self, email: str, address: str) -> float:
        """Reserve an attempt before the password is checked: 0 to go ahead, else the
        seconds to wait (nothing may be checked then)."""
        p = self.policy
        return self.throttle.reserve(((_account(email), p.per_account), (f"address:{address}", p.per_address)))

    def succeeded(self, email: str, address: str) -> None:
        self.throttle.store.clear_attempts(_account(email))
        self.throttle.store.release_attempt(f"address:{address}")

    def clear(self, email: str) -> None:
        """The account may try again at once (its owner proved who it is another way)."""
        self.throttle.store.clear_attempts(_account(email))


def _account(email: str) -> str:
    return f"account:{email.strip().lower()}"
