"""High-entropy secrets (API tokens, invitation and reset links, sign-in state): made
here, and stored only as their hash."""

from __future__ import annotations

import hashlib
import secrets


def secret_hash(secret: str) -> str:
    """SHA-256 of a high-entropy secret (an API token, an invitation token): enough to
    look it up, useless to whoever reads the store."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"
