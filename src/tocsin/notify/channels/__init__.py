"""Channels: how a message leaves Tocsin, one module per kind.

The registry maps a contact-method kind to the path of its `send(message)` function, resolved
on first use, so adding a channel means adding a module and one line here. A channel either
returns (the message was handed over) or raises DeliveryError; it never swallows a failure.
Every channel passes the message's idempotency key on, so a retried send can be recognised.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

CHANNELS: dict[str, str] = {
    "email": "tocsin.notify.channels.email:send",
    "webhook": "tocsin.notify.channels.webhook:send",
    "signed_webhook": "tocsin.notify.channels.signed_webhook:send",
    "apprise": "tocsin.notify.channels.apprise_channel:send",
    "slack": "tocsin.notify.channels.slack:send",
}
# Channels a person reads: at most one message a minute per contact method (later ones bundle).
RATE_LIMITED = frozenset({"email", "apprise"})
RATE_LIMIT_S = 60


@dataclass(frozen=True)
class Message:
    idempotency_key: str
    purpose: str
    channel: str
    address: str
    subject: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)


class DeliveryError(Exception):
    """A send failed. `permanent` when retrying the same message cannot succeed."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


Send = Callable[[Message], None]


def sender(kind: str) -> Send:
    path = CHANNELS.get(kind)
    if path is None:
        allowed = ", ".join(sorted(CHANNELS))
        raise DeliveryError(f"unknown channel {kind!r}; allowed: {allowed}", permanent=True)
    module_name, _, function = path.partition(":")
    return cast(Send, getattr(importlib.import_module(module_name), function))


def deliver(message: Message) -> None:
    """Hand `message` to its channel; raise DeliveryError if it was not accepted."""
    sender(message.channel)(message)


def mask_address(address: str) -> str:
    """Enough of an address to recognise it, without the secret a URL often carries."""
    if "://" not in address and "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{_mask(local, keep=1, tail=1)}@{domain}"
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "", address
    return f"{scheme}{sep}{_mask(rest, keep=min(len(rest) // 4, 8), tail=4)}"


def _mask(text: str, *, keep: int, tail: int) -> str:
    if len(text) <= keep + tail + 2:
        return text[:1] + "***" if len(text) > 3 else "***"
    return f"{text[:keep]}***{text[-tail:]}"
