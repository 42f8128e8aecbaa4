"""Email over SMTP (stdlib smtplib).

A message to an address (a person's contact method, an audience's email) goes through the
server TOCSIN_SMTP_URL names, from TOCSIN_SMTP_FROM, with TOCSIN_SMTP_REPLY_TO if set:

    smtp://host:port                  plain (default port 25)
    smtp+starttls://user:pass@host    STARTTLS (default port 587)
    smtps://user:pass@host            TLS from the first byte (default port 465)

A named email channel (`Config`) carries its own server, sender, reply-to and recipients,
and may trust a private CA (`ca_cert`, PEM) instead of the system's certificate store.

The idempotency key travels as `Message-ID: <key@tocsin>` and `X-Tocsin-Idempotency-Key`, so
a mail re-sent after a crash threads with (and can be dropped as a duplicate of) the first.
Without TOCSIN_SMTP_URL every email to an address fails permanently, loudly, with the fix in
the message.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Annotated, Any, Literal, Self
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from tocsin.notify.channels import DeliveryError, Message
from tocsin.notify.channels.settings import ChannelConfig, EmailAddress, Mailbox, Timeout

DEFAULT_FROM = "tocsin@localhost"
NO_SERVER = "no SMTP server configured: set TOCSIN_SMTP_URL"
Security = Literal["plain", "starttls", "tls"]
SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}
DEFAULT_PORT: dict[str, int] = {security: port for security, port in SCHEMES.values()}
# RFC 5322 atext: what may appear in a Message-ID's left part without quoting.
_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/?^_`{|}~]")
_HOST = re.compile(r"^[A-Za-z0-9.:\-\[\]]{1,253}$")


class SmtpConfig(BaseModel):
    """The mail server and the envelope every message through it gets."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    security: Security = "plain"
    username: str | None = None
    password: str | None = None
    sender: str = DEFAULT_FROM
    reply_to: str | None = None
    ca_cert: str | None = None
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


class Config(ChannelConfig):
    """A named email channel: a mail server and the people its messages go to."""

    to: Annotated[list[EmailAddress], Field(min_length=1, max_length=100)] = Field(
        description="Recipients: a list, or one string with commas between addresses."
    )
    host: str = Field(description="The SMTP server's host name or IP address.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Default: 587 starttls, 465 tls, 25 plain."
    )
    security: Security = Field(
        default="starttls",
        description="starttls (upgrade after connecting), tls (TLS from the first byte), plain.",
    )
    username: str | None = Field(default=None, max_length=320)
    password: SecretStr | None = Field(default=None, max_length=1000)
    from_: Mailbox = Field(alias="from", description="The sender: `Ops <ops@example.com>`.")
    reply_to: Mailbox | None = Field(default=None, description="Where replies go.")
    ca_cert: str | None = Field(
        default=None,
        max_length=64_000,
        description="A PEM certificate to trust instead of the system's (a private CA).",
    )
    timeout_s: Timeout = 10.0

    @field_validator("to", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _HOST.match(value):
            raise ValueError("must be a host name or IP address, such as smtp.example.com")
        return value

    @field_validator("ca_cert")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ssl.create_default_context(cadata=value)
        except (ssl.SSLError, ValueError, TypeError) as exc:
            raise ValueError(
                f"must be a PEM certificate (-----BEGIN CERTIFICATE-----): {exc}"
            ) from None
        return value

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if self.password is not None and not self.username:
            raise ValueError("username: a password needs a username")
        if self.password is not None and self.security == "plain":
            raise ValueError(
                "security: plain would send the password unencrypted; use starttls or tls"
            )
        return self

    def server(self, *, timeout_s: float | None = None) -> SmtpConfig:
        return SmtpConfig(
            host=self.host,
            port=self.port or DEFAULT_PORT[self.security],
            security=self.security,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            sender=self.from_,
            reply_to=self.reply_to,
            ca_cert=self.ca_cert,
            timeout_s=timeout_s or self.timeout_s,
        )


def config_from_env() -> SmtpConfig:
    url = os.environ.get("TOCSIN_SMTP_URL", "").strip()
    if not url:
        raise DeliveryError(NO_SERVER, permanent=True)
    server = SmtpConfig.from_url(
        url,
        sender=os.environ.get("TOCSIN_SMTP_FROM", "").strip() or DEFAULT_FROM,
        timeout_s=float(os.environ.get("TOCSIN_SMTP_TIMEOUT", "10")),
    )
    reply_to = os.environ.get("TOCSIN_SMTP_REPLY_TO", "").strip() or None
    return server.model_copy(update={"reply_to": reply_to})


def message_id(idempotency_key: str) -> str:
    """`<key@tocsin>`, with characters a Message-ID cannot hold written as =XX."""
    left = _NOT_ATEXT.sub(lambda m: "".join(f"={b:02X}" for b in m[0].encode()), idempotency_key)
    return f"<{left}@tocsin>"


def build_email(
    message: Message,
    sender: str,
    *,
    to: Sequence[str] | None = None,
    reply_to: str | None = None,
) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = ", ".join(to) if to else message.address
    if reply_to:
        email["Reply-To"] = reply_to
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
    """To the message's address, through the server TOCSIN_SMTP_URL names."""
    server = config_from_env()
    _check_recipient(message.address)
    deliver(server, build_email(message, server.sender, reply_to=server.reply_to))


def send_with(config: Config, message: Message) -> None:
    """To a named channel's recipients, through its own server."""
    server = config.server()
    for address in config.to:
        _check_recipient(address)
    deliver(server, build_email(message, server.sender, to=config.to, reply_to=server.reply_to))


def deliver(server: SmtpConfig, email: EmailMessage) -> None:
    try:
        with _connect(server) as client:
            client.send_message(email)
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        raise _answered(code, text) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"the mail server refused the username and password ({exc.smtp_code})",
            permanent=True,
        ) from exc
    except smtplib.SMTPResponseException as exc:
        raise _answered(exc.smtp_code, exc.smtp_error) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(
            f"the mail server {server.host}:{server.port} cannot do this: {_reason(exc)}",
            permanent=True,
        ) from exc
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryError(
            f"the mail server {server.host}:{server.port} has a certificate Tocsin does not "
            f"trust: {exc.verify_message or _reason(exc)}"
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        where = f"{server.host}:{server.port}"
        raise DeliveryError(
            f"could not deliver to the mail server {where}: {_reason(exc)}"
        ) from exc


def _check_recipient(address: str) -> None:
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or any(c.isspace() or c in "<>,;" for c in address):
        raise DeliveryError("not a valid email address", permanent=True)


def _tls(config: SmtpConfig) -> ssl.SSLContext:
    """The system's trust store (SSL_CERT_FILE too), or only the channel's own CA."""
    return ssl.create_default_context(cadata=config.ca_cert)


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    if config.security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout_s, context=_tls(config)
        )
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
    try:
        if config.security == "starttls":
            client.starttls(context=_tls(config))
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
