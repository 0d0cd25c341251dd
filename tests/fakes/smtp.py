"""A real SMTP server on loopback (aiosmtpd, Apache-2.0) in each TLS mode, with login, that can refuse or hang up.

Behaviours and where they come from:
- STARTTLS: `tls_context` on the SMTP protocol; AUTH is offered only after STARTTLS while
  `auth_require_tls` is true (aiosmtpd docs/smtp.rst "tls_context", "auth_require_tls"; aio-libs/aiosmtpd#125).
- Implicit TLS (port 465 style): `ssl_context` on the Controller wraps every connection; aiosmtpd cannot
  tell that it is already secure, so AUTH needs `auth_require_tls=False` there (aio-libs/aiosmtpd#281).
- Login: an `authenticator(server, session, envelope, mechanism, auth_data)` returning `AuthResult`, with
  `auth_data` a `LoginPassword(login, password)` for PLAIN and LOGIN (aiosmtpd docs/auth.rst); `auth_required`
  answers "530 5.7.0 Authentication required" to MAIL before login.
- Refusals: a `handle_RCPT` hook returning a status line refuses the recipient; an accepted one must be
  appended to `envelope.rcpt_tos` by the hook (aiosmtpd docs/handlers.rst, "handle_RCPT"). 550 5.1.1 is the
  usual "user unknown" (RFC 3463).
- A dropped connection: the server closes its transport while the message's data arrives, before it answers
  250 (what a crash or a network cut mid-send looks like to the client: smtplib raises SMTPServerDisconnected).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "digest-bot"
PASSWORD = "s3cret-P@ss!word"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (openssl), and its key."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Mailbox:
    """What the server received and how the client behaved."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)  # (MAIL FROM, RCPT TOs) of accepted messages
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    secure: list[bool] = field(default_factory=list)  # per accepted message: was the session under TLS
    refuse: tuple[str, ...] = ()  # recipients refused with 550
    drop_first: int = 0  # hang up on this many DATA commands before answering
    delay: float = 0.0  # seconds before answering DATA (a slow server: sends of two runs overlap)


class Handler:
    """aiosmtpd handler hooks: accept, refuse or hang up, and keep what arrived."""

    def __init__(self, box: Mailbox):
        self.box = box

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.box.refuse:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.box.delay)
        if self.box.drop_first > 0:
            self.box.drop_first -= 1
            server.transport.close()  # the data arrived; the answer never will
            return "250 never sent"
        self.box.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        self.box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.box.secure.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 OK: queued"


def make_authenticator(box: Mailbox):
    """Accept USER/PASSWORD only, and note every attempt."""

    def authenticate(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        box.logins.append((auth_data.login, auth_data.password))
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        # handled=False: smtp_AUTH answers itself, 235 or "535 5.7.8 Authentication credentials invalid"
        # (aiosmtpd/smtp.py, AuthResult: handled=True means the hook already sent the reply).
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return authenticate


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The server side of TLS with the self-signed certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@contextlib.contextmanager
def smtp_server(mode: str, cert: Path, key: Path, box: Mailbox | None = None):
    """A running server in mode starttls, ssl or none (login required in each); yields (port, mailbox)."""
    box = box or Mailbox()
    port = free_port()
    kwargs = {"authenticator": make_authenticator(box), "auth_required": True}
    if mode == "starttls":
        kwargs.update(tls_context=server_context(cert, key), require_starttls=True)
    elif mode == "ssl":
        kwargs.update(ssl_context=server_context(cert, key), auth_require_tls=False)
    else:
        kwargs.update(auth_require_tls=False)  # a plain local relay: login without TLS
    controller = Controller(Handler(box), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()
