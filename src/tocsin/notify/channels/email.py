"""Email over SMTP (stdlib smtplib) to the server named by TOCSIN_SMTP_URL.

    smtp://host:port                  plain (default port 25)
    smtp+starttls://user:pass@host    STARTTLS (default port 587)
    smtps://user:pass@host            TLS from the first byte (default port 465)

The idempotency key travels as `Message-ID: <key@tocsin>` and `X-Tocsin-Idempotency-Key`, so
a mail re-sent after a crash threads with (and can be dropped as a duplicate of) the first.
Without TOCSIN_SMTP_URL every email fails permanently, loudly, with the fix in the message.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict

from tocsin.notify.channels import DeliveryError, Message

DEFAULT_FROM = "tocsin@localhost"
NO_SERVER = "no SMTP server configured: set TOCSIN_SMTP_URL"
SCHEMES: dict[str, tuple[Literal["plain", "starttls", "tls"], int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
# RFC 5322 atext: what may appear in a Message-ID's left part without quoting.
_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/?^_`{|}~]")


class SmtpConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    security: Literal["plain", "starttls", "tls"] = "plain"
    username: str | None = None
    password: str | None = None
    sender: str = DEFAULT_FROM
    timeout_s: float = 10.0

    @classmethod
    def from_url(
        cls, url: str, *, sender: str = DEFAULT_FROM, timeout_s: float = 10.0
    ) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            allowed = ", ".join(f"{s}://" for s in SCHEMES)
            raise DeliveryError(f"TOCSIN_SMTP_URL must start with {allowed}", permanent=True)
        security, default_port = SCHEMES[parts.scheme]
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            sender=sender,
            timeout_s=timeout_s,
        )


def config_from_env() -> SmtpConfig:
    url = os.environ.get("TOCSIN_SMTP_URL", "").strip()
    if not url:
        raise DeliveryError(NO_SERVER, permanent=True)
    return SmtpConfig.from_url(
        url,
        sender=os.environ.get("TOCSIN_SMTP_FROM", "").strip() or DEFAULT_FROM,
        timeout_s=float(os.environ.get("TOCSIN_SMTP_TIMEOUT", "10")),
    )


def message_id(idempotency_key: str) -> str:
    """`<key@tocsin>`, with characters a Message-ID cannot hold written as =XX."""
    left = _NOT_ATEXT.sub(lambda m: "".join(f"={b:02X}" for b in m[0].encode()), idempotency_key)
    return f"<{left}@tocsin>"


def build_email(message: Message, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.address
    email["Subject"] = " ".join(message.subject.split())  # no header injection via newlines
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = message_id(message.idempotency_key)
    email["X-Tocsin-Idempotency-Key"] = message.idempotency_key
    email["Auto-Submitted"] = "auto-generated"
    unsubscribe = message.data.get("list_unsubscribe")
    if isinstance(unsubscribe, str) and unsubscribe.startswith(("https://", "http://")):
        # RFC 8058: mail clients offer a one-click unsubscribe that POSTs to this URL.
        email["List-Unsubscribe"] = f"<{unsubscribe}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(message.body)
    return email


def send(message: Message) -> None:
    config = config_from_env()
    _check_recipient(message.address)
    email = build_email(message, config.sender)
    try:
        with _connect(config) as client:
            client.send_message(email)
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        raise _answered(code, text) from exc
    except smtplib.SMTPResponseException as exc:
        raise _answered(exc.smtp_code, exc.smtp_error) from exc
    except (smtplib.SMTPException, OSError) as exc:
        where = f"{config.host}:{config.port}"
        raise DeliveryError(
            f"could not deliver to the mail server {where}: {_reason(exc)}"
        ) from exc


def _check_recipient(address: str) -> None:
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or any(c.isspace() or c in "<>,;" for c in address):
        raise DeliveryError("not a valid email address", permanent=True)


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    if config.security == "tls":
        context = ssl.create_default_context()
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout_s, context=context
        )
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
    try:
        if config.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if config.username:
            client.login(config.username, config.password or "")
    except BaseException:
        client.close()
        raise
    return client


def _answered(code: int, text: bytes | str) -> DeliveryError:
    """A 5xx answer is final for this message; 4xx means try again later."""
    reply = text.decode(errors="replace") if isinstance(text, bytes) else text
    sentence = f"the mail server answered {code} {' '.join(reply.split())}".strip()
    return DeliveryError(sentence, permanent=500 <= code < 600)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "] " in text:  # "[Errno 111] Connection refused"
        text = text.split("] ", 1)[1]
    return text.strip().rstrip(".") or type(exc).__name__
