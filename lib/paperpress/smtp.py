"""Sending e-mail: one SMTP session (STARTTLS, implicit TLS or none; login when set), one message per recipient.

Composing is elsewhere (mail); this module only talks to the server and says which messages it acknowledged.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Callable, Iterable

from .config import MailSettings

TIMEOUT_S = 60.0  # one SMTP command; a server that hangs is a failure the next run retries


@dataclass(frozen=True)
class Outgoing:
    """One message for one recipient, and the key its acknowledgement is recorded under."""

    key: tuple[str, str]  # (mailing date, recipient)
    recipient: str
    message: EmailMessage


def describe_error(exc: BaseException) -> str:
    """One line on why a message was not acknowledged: the server's own reply where there is one."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()), (0, b""))
        return f"recipient refused: {code} {decode(reply)}"
    if isinstance(exc, smtplib.SMTPResponseException):  # sender refused, data refused, login refused, ...
        return f"{type(exc).__name__}: {exc.smtp_code} {decode(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"connection closed by the server ({exc or 'before it acknowledged the message'})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def decode(reply: bytes | str) -> str:
    """A server reply as one line of text."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def open_session(settings: MailSettings) -> smtplib.SMTP:
    """Connect, secure (STARTTLS or implicit TLS, the certificate checked against the system's CAs) and log in."""
    # ssl.create_default_context verifies the server's certificate and host name; it reads the system's CA
    # store (and SSL_CERT_FILE, OpenSSL's own variable, as the tests use for their self-signed server).
    context = ssl.create_default_context()
    if settings.tls == "ssl":
        session: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=TIMEOUT_S, context=context)
    else:
        session = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_S)
    try:
        if settings.tls == "starttls":
            session.starttls(context=context)  # refuses (SMTPNotSupportedError) a server that does not offer it
        if settings.user:
            session.login(settings.user, settings.password)
    except BaseException:
        close_session(session)
        raise
    return session


def close_session(session: smtplib.SMTP | None) -> None:
    """Say QUIT if the server still listens; drop the connection either way."""
    if session is None:
        return
    try:
        session.quit()
    except OSError:
        session.close()


def send_all(settings: MailSettings, outgoing: Iterable[Outgoing],
             on_sent: Callable[[Outgoing], None]) -> list[tuple[Outgoing, str]]:
    """Send each message in one session; on_sent(item) right after the server acknowledged it.

    Returns what was not acknowledged, with why. A refused message leaves the session usable; a dropped
    connection is opened again for the next message; a server that cannot be reached fails the rest.
    """
    envelope_from = parseaddr(settings.sender)[1]
    failed: list[tuple[Outgoing, str]] = []
    session: smtplib.SMTP | None = None
    unreachable = ""
    for item in outgoing:
        if unreachable:
            failed.append((item, unreachable))
            continue
        try:
            if session is None:
                session = open_session(settings)
        except OSError as exc:  # smtplib.SMTPException and ssl.SSLError are OSErrors
            unreachable = describe_error(exc)
            failed.append((item, unreachable))
            continue
        try:
            # One envelope recipient per message: no one sees, or receives, another reader's address.
            session.send_message(item.message, from_addr=envelope_from, to_addrs=[item.recipient])
        except OSError as exc:
            failed.append((item, describe_error(exc)))
            # smtplib's errors are OSErrors too: only a dropped connection (or a socket error) ends the session.
            if isinstance(exc, smtplib.SMTPServerDisconnected) or not isinstance(exc, smtplib.SMTPException):
                session.close()
                session = None  # the next message opens a new session
            continue
        on_sent(item)
    close_session(session)
    return failed
