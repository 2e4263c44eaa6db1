"""The mailer port and its two implementations: SMTP (STARTTLS, auth) and an ``.eml`` outbox."""

from __future__ import annotations

import os
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from csp.errors import StartupError
from csp.mail.messages import Message
from csp.settings import Settings


class Mailer(Protocol):
    def send(self, message: Message) -> None: ...


class OutboxMailer:
    """Writes each message as an ``.eml`` file in a folder (the embedded default)."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, message: Message) -> None:
        msg = message.to_email(self.sender)
        name = f"{message.created_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(bytes(msg))
        os.replace(tmp, self.folder / name)  # a reader never sees half a file


class SmtpMailer:
    """Sends through an SMTP server: ``smtp://user:pass@host:587`` (STARTTLS when the server
    offers it, or always with ``?starttls=required``), ``smtps://`` for implicit TLS;
    ``?cafile=/path.pem`` to trust a private CA; ``?timeout=10``."""

    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise StartupError(f"CSP_SMTP_URL must look like smtp://user:password@host:587 (got {url!r})")
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.implicit_tls else 587)
        self.user = unquote(parts.username or "")
        self.password = unquote(parts.password or "")
        self.starttls = q.get("starttls", "auto")
        self.timeout = float(q.get("timeout", "10"))
        self.context = ssl.create_default_context(cafile=q.get("cafile"))
        self.sender = sender

    def send(self, message: Message) -> None:
        msg = self._email(message)
        if self.implicit_tls:
            with smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context) as s:
                self._deliver(s, msg)
            return
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as s:
            s.ehlo()
            if self.starttls == "required" or (self.starttls == "auto" and s.has_extn("starttls")):
                s.starttls(context=self.context)
                s.ehlo()
            self._deliver(s, msg)

    def _email(self, message: Message) -> EmailMessage:
        return message.to_email(self.sender)

    def _deliver(self, s: smtplib.SMTP, msg: EmailMessage) -> None:
        if self.user:
            s.login(self.user, self.password)
        s.send_message(msg)


def build_mailer(settings: Settings) -> Mailer:
    """SMTP when ``CSP_SMTP_URL`` is set, else ``.eml`` files in ``<data_dir>/outbox``."""
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return OutboxMailer(settings.outbox_dir(), settings.mail_from)
