"""Outgoing mail: plain-text messages over SMTP, sent by stdlib smtplib in a worker thread."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_SENDER = "boxoffice <no-reply@boxoffice.local>"
MAIL_DOMAIN = "boxoffice.local"


class MailRefused(Exception):
    """The mail server refused this recipient for good (an address it cannot take): retrying is useless."""


class Mailer(Protocol):
    async def send(self, to: str, subject: str, body: str, *, message_id: str | None = None) -> None:
        """Sends one message; raises if the server did not accept it."""
        ...


class SmtpMailer:
    """smtp://host:port (plain), smtp://…?starttls=true (STARTTLS), smtps://host:port (implicit TLS);
    user:password@ in the URL logs in. Each message opens its own connection (10 s timeout)."""

    def __init__(self, host: str, port: int = 25, *, sender: str = DEFAULT_SENDER, timeout_s: float = 10.0,
                 username: str | None = None, password: str | None = None, starttls: bool = False,
                 implicit_tls: bool = False) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout_s = timeout_s
        self.username = username
        self.password = password
        self.starttls = starttls
        self.implicit_tls = implicit_tls

    @classmethod
    def from_url(cls, url: str, *, sender: str = DEFAULT_SENDER, timeout_s: float = 10.0) -> SmtpMailer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP_URL must be smtp://host:port or smtps://host:port, not {parts.scheme}://")
        if not parts.hostname:
            raise ValueError("SMTP_URL has no host")
        implicit_tls = parts.scheme == "smtps"
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        return cls(parts.hostname, parts.port or (465 if implicit_tls else 25), sender=sender, timeout_s=timeout_s,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None,
                   starttls=query.get("starttls") in ("1", "true", "yes"), implicit_tls=implicit_tls)

    def message(self, to: str, subject: str, body: str, *, message_id: str | None = None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        # A stable id per notification lets mail clients fold a rare duplicate (see deliver.py).
        msg["Message-ID"] = message_id or make_msgid(domain=MAIL_DOMAIN)
        msg.set_content(body)
        return msg

    async def send(self, to: str, subject: str, body: str, *, message_id: str | None = None) -> None:
        msg = self.message(to, subject, body, message_id=message_id)
        await asyncio.to_thread(self._send_sync, msg, to)

    def _send_sync(self, msg: EmailMessage, to: str) -> None:
        smtp: smtplib.SMTP
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        with smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            try:
                # The one recipient by name: smtplib would otherwise read every address the To: header parses to.
                smtp.send_message(msg, to_addrs=[to])
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPNotSupportedError) as refused:
                raise MailRefused(str(refused)) from None  # the address, not the server: no retry helps
