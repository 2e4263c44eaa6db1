"""Email: the outbox mailer, SMTP with STARTTLS and auth against a real aiosmtpd server."""

from __future__ import annotations

import smtplib
import socket
import subprocess
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from csp.errors import StartupError
from csp.mail import OutboxMailer, SmtpMailer, build_mailer, invitation_message, order_placed_message
from csp.settings import Settings

EXPIRES = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_the_invitation_carries_the_link_the_inviter_and_the_expiry():
    m = invitation_message("ana@example.ro", "Ion Popescu", "CSP Platform Test", "https://x/i/abc", EXPIRES)
    assert m.to == "ana@example.ro"
    assert "CSP Platform Test" in m.subject
    assert "https://x/i/abc" in m.text
    assert "Ion Popescu" in m.text
    assert "01 December 2026, 09:30 UTC" in m.text


def test_the_outbox_writes_one_eml_file_per_message(tmp_path: Path):
    mailer = build_mailer(Settings(data_dir=tmp_path))
    assert isinstance(mailer, OutboxMailer)
    mailer.send(
        order_placed_message(
            "r@example.ro", "#24-11-2026 27001", "Contoso", "user:x", [("M365", "+1 Users")], "15.58 EUR", EXPIRES
        )
    )
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    msg = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert msg["To"] == "r@example.ro"
    assert msg["X-CSP-Kind"] == "order_placed"
    assert "M365  +1 Users" in msg.get_content()


def test_a_bad_smtp_url_is_one_clear_error():
    with pytest.raises(StartupError, match="smtp://user:password@host:587"):
        SmtpMailer("http://mail.example.com", "csp@x")


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _authenticator(users: dict[str, str]):  # type: ignore[no-untyped-def]
    def check(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        ok = isinstance(auth_data, LoginPassword) and users.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok)

    return check


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_smtp_sends_over_starttls_with_auth_to_a_real_server(tls_files):
    import ssl

    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = _Recorder()
    with socket.socket() as probe:  # a free port (the controller checks it by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=_authenticator({"csp": "s3cret"}),
        auth_required=True,
    )
    controller.start()
    try:
        url = f"smtp://csp:s3cret@127.0.0.1:{port}?starttls=required&cafile={cert}"
        mailer = build_mailer(Settings(smtp_url=url, mail_from="CSP <noreply@csp.example>"))
        mailer.send(invitation_message("ana@example.ro", "Ion", "Contoso", "https://x/i/1", EXPIRES))
        assert len(handler.messages) == 1
        sender, rcpts, content = handler.messages[0]
        assert (sender, rcpts) == ("noreply@csp.example", ["ana@example.ro"])
        assert b"https://x/i/1" in content
        # a wrong password is refused by the server
        bad = SmtpMailer(url.replace("s3cret", "nope") + "&timeout=2", "csp@x")
        with pytest.raises(smtplib.SMTPException):
            bad.send(invitation_message("ana@example.ro", "Ion", "Contoso", "https://x/i/2", EXPIRES))
        assert len(handler.messages) == 1
    finally:
        controller.stop()
