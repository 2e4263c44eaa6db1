"""Secrets the platform must read back (webhook signing keys) sealed for the event store.

AES-256-GCM (``cryptography``) with a key the composition root gives (``CSP_SECRET_KEY``
or the key file, ``csp.keys``): nothing here reads settings or files. A sealed value
reads ``aesgcm1:<key id>:<base64 of nonce + ciphertext>``; the key id (a digest of the
key, not the key) lets a process holding another key say so plainly. The associated
data binds a value to its owner (the endpoint's id), so a sealed value copied onto
another aggregate does not open. A value without the prefix was stored before sealing
existed (plain) and is returned as it is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from csp.aggregates.errors import Conflict, CspError

PREFIX = "aesgcm1"
KEY_BYTES = 32
NONCE_BYTES = 12


class SecretUnreadable(CspError):
    """A sealed value this process cannot open (another key, or damaged)."""

    code = "secret_unreadable"


class SecretsUnavailable(Conflict):
    """This process was built without a secret key, so it cannot seal or open one."""

    code = "secrets_unavailable"


def new_key() -> str:
    """A fresh key as ``CSP_SECRET_KEY`` takes it: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def parse_key(text: str) -> bytes:
    """The key from its base64 text; ValueError saying why when it is not 32 bytes."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not base64 (make one with `csp secret-key`)") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"is {len(key)} bytes once decoded; it must be {KEY_BYTES} (make one with `csp secret-key`)")
    return key


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX + ":")


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the secret key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"csp secret key id\0" + key).hexdigest()[:12]

    def seal(self, plain: str, owner: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain.encode(), owner)
        return f"{PREFIX}:{self.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, value: str, owner: bytes) -> str:
        if not is_sealed(value):
            return value  # stored in plain text before secrets were sealed
        _, key_id, data = value.split(":", 2)
        if key_id != self.key_id:
            raise SecretUnreadable(
                f"this secret was sealed with key {key_id}, and this process has key {self.key_id}: "
                "give every process of the deployment the same CSP_SECRET_KEY (or key file)",
                key_id=key_id,
            )
        try:
            raw = base64.b64decode(data, validate=True)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], owner).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretUnreadable("this sealed secret is damaged or belongs to another owner") from None
