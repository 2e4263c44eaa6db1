"""The platform's secret key, from the settings: what seals webhook secrets at rest.

``CSP_SECRET_KEY`` (base64 of 32 bytes) wins. Without it, the key lives in a file
(``CSP_SECRET_KEY_FILE``, default ``<data_dir>/secret.key``), created 0600 the first time,
atomically, so that processes starting together on one host (``csp serve --workers N``)
share one key. On PostgreSQL that file is per host: start-up warns, since processes on
several hosts must be given the same ``CSP_SECRET_KEY`` (compose.yaml requires it).
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from csp.application.sealing import SecretBox, new_key, parse_key
from csp.errors import StartupError
from csp.settings import Settings

log = logging.getLogger("csp.keys")


@dataclass(frozen=True)
class SecretKey:
    box: SecretBox
    source: str  # "CSP_SECRET_KEY" or the key file's path, for `csp check` and the logs


def key_file(settings: Settings) -> Path:
    return Path(settings.secret_key_file) if settings.secret_key_file else settings.data_dir / "secret.key"


def _create(path: Path) -> None:
    """Write a new key to ``path`` unless one is there: a private temporary file, then a
    hard link (which fails if another process linked its key first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(new_key() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
            log.info("a new secret key was written to %s (keep it: it opens the stored webhook secrets)", path)
        except FileExistsError:
            pass  # another process made it first: theirs is the key
    finally:
        tmp.unlink(missing_ok=True)


def load_secret_key(settings: Settings, *, is_postgres: bool) -> SecretKey:
    if settings.secret_key:
        try:
            return SecretKey(SecretBox(parse_key(settings.secret_key)), "CSP_SECRET_KEY")
        except ValueError as e:
            raise StartupError(f"CSP_SECRET_KEY {e}") from None
    path = key_file(settings)
    try:
        if not path.exists():
            _create(path)
        text = path.read_text(encoding="ascii")
        mode = stat.S_IMODE(path.stat().st_mode)
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not text"
        raise StartupError(f"cannot read or create the secret key file {path}: {reason}") from None
    try:
        key = parse_key(text)
    except ValueError as e:
        raise StartupError(f"the secret key file {path} {e}") from None
    if mode & 0o077:
        log.warning("the secret key file %s is readable by others (mode %o): chmod 600 it", path, mode)
    if is_postgres:
        log.warning(
            "CSP_SECRET_KEY is not set: webhook secrets are sealed with the key file %s of this host; "
            "give every process of a deployment on several hosts the same CSP_SECRET_KEY",
            path,
        )
    return SecretKey(SecretBox(key), str(path))
