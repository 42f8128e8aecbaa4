"""Webhook: POST the message as JSON through tocsin.http.

The body is `{idempotency_key, purpose, subject, body, data}` and the key is also sent as the
`Idempotency-Key` header, so a receiver can drop the copy a retry after a crash may bring.
2xx is delivered; 408, 425, 429 and 5xx are worth retrying; any other answer is final.

A named webhook channel (`Config`) signs every request with its secret (docs/channels.md
shows how to verify it):

    X-Tocsin-Timestamp: <Unix seconds when it was sent>
    X-Tocsin-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is signed too, so a receiver that refuses old timestamps cannot be replayed
an old request; each retry is signed afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from tocsin import http, timesource
from tocsin.notify.channels import DeliveryError, Message
from tocsin.notify.channels.settings import ChannelConfig, HttpUrl, Timeout

RETRYABLE_4XX = frozenset({408, 425, 429})
SIGNATURE_HEADER = "X-Tocsin-Signature"
TIMESTAMP_HEADER = "X-Tocsin-Timestamp"
MIN_SECRET = 16
# Headers a channel may not set: Tocsin's own, and what the transport decides.
RESERVED = frozenset(
    {"content-type", "content-length", "host", "idempotency-key", "user-agent"}
    | {SIGNATURE_HEADER.lower(), TIMESTAMP_HEADER.lower()}
)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")


class WebhookConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    timeout_s: float = http.DEFAULT_TIMEOUT_S

    @classmethod
    def from_env(cls) -> WebhookConfig:
        return cls(timeout_s=float(os.environ.get("TOCSIN_WEBHOOK_TIMEOUT", cls().timeout_s)))


class Config(ChannelConfig):
    """A named webhook: where to POST, and the secret every request is signed with."""

    token_urls = ("url",)

    url: HttpUrl = Field(description="Where to POST: http:// or https://.")
    secret: SecretStr = Field(
        max_length=1000,
        description=f"Signs each request (HMAC-SHA256); at least {MIN_SECRET} characters.",
    )
    headers: Annotated[dict[str, SecretStr], Field(max_length=20)] = Field(
        default_factory=dict, description="Extra headers, e.g. Authorization (kept secret)."
    )
    timeout_s: Timeout = http.DEFAULT_TIMEOUT_S

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET:
            raise ValueError(
                f"must be at least {MIN_SECRET} characters (`openssl rand -hex 32` makes one)"
            )
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, content in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() in RESERVED:
                raise ValueError(
                    f"{name} is set by Tocsin; reserved: {', '.join(sorted(RESERVED))}"
                )
            if any(c in content.get_secret_value() for c in "\r\n"):
                raise ValueError(f"the value of {name} must be on one line")
        return value


def payload(message: Message) -> dict[str, Any]:
    return {
        "idempotency_key": message.idempotency_key,
        "purpose": message.purpose,
        "subject": message.subject,
        "body": message.body,
        "data": message.data,
    }


def encode(message: Message) -> bytes:
    """The body exactly as sent (and signed): compact JSON, keys sorted, UTF-8."""
    text = json.dumps(payload(message), separators=(",", ":"), sort_keys=True, default=str)
    return text.encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def is_permanent(status: int) -> bool:
    return status < 500 and status not in RETRYABLE_4XX


def send(message: Message) -> None:
    """To the message's address (a person's webhook contact method), unsigned."""
    config = WebhookConfig.from_env()
    headers = {"Idempotency-Key": message.idempotency_key}
    _post(message.address, payload(message), headers=headers, timeout=config.timeout_s)


def send_with(config: Config, message: Message) -> None:
    """To a named webhook, signed with its secret."""
    body = encode(message)
    timestamp = int(timesource.now().timestamp())
    headers = {name: value.get_secret_value() for name, value in config.headers.items()}
    headers |= {
        "Content-Type": "application/json",
        "Idempotency-Key": message.idempotency_key,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(config.secret.get_secret_value(), timestamp, body),
    }
    try:
        reply = http.post_bytes(str(config.url), body, headers=headers, timeout=config.timeout_s)
    except http.OutboundError as exc:
        raise DeliveryError(exc.message, permanent=exc.permanent) from exc
    _check(reply, str(config.url))


def _post(url: str, body: Any, *, headers: dict[str, str], timeout: float) -> None:
    try:
        reply = http.post_json(url, body, headers=headers, timeout=timeout)
    except http.OutboundError as exc:
        raise DeliveryError(exc.message, permanent=exc.permanent) from exc
    _check(reply, url)


def _check(reply: http.Reply, url: str) -> None:
    if not reply.ok:
        raise DeliveryError(reply.sentence(http.host_of(url)), permanent=is_permanent(reply.status))
