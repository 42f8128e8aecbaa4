"""Channels: how a message leaves Tocsin, one module per kind.

The registry maps a kind to the module that sends it, resolved on first use, so adding a
channel means adding a module and one line here. Every module has `send(message)`, which
sends to the message's address (a person's contact method, an audience's email). A kind in
NAMED can also be saved under a name with its own settings (`tocsin notify channel add`):
its module has a pydantic `Config` and `send_with(config, message)`. A message to a named
channel has the address `channel:<name>`; the outbox looks its settings up when it claims
the message, so a channel fixed after a failure serves the retries.

A channel either returns (the message was handed over) or raises DeliveryError; it never
swallows a failure. Every channel passes the message's idempotency key on, so a retried send
can be recognised.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, cast

from pydantic import BaseModel, ValidationError

CHANNELS: dict[str, str] = {
    "email": "tocsin.notify.channels.email",
    "webhook": "tocsin.notify.channels.webhook",
    "signed_webhook": "tocsin.notify.channels.signed_webhook",
    "apprise": "tocsin.notify.channels.apprise_channel",
    "slack": "tocsin.notify.channels.slack",
    "teams": "tocsin.notify.channels.teams",
}
# Kinds that can be saved as a named channel, with settings of their own.
NAMED = ("email", "webhook", "apprise", "teams", "slack")
NAMED_PREFIX = "channel:"
# Channels a person reads: at most one message a minute per contact method (later ones bundle).
RATE_LIMITED = frozenset({"email", "apprise"})
RATE_LIMIT_S = 60


@dataclass(frozen=True)
class NamedSettings:
    """A named channel's kind and saved settings, as the outbox found them when it claimed
    the message. Kept out of every repr: the settings hold secrets."""

    kind: str
    config: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Message:
    idempotency_key: str
    purpose: str
    channel: str
    address: str
    subject: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    named: NamedSettings | None = field(default=None, repr=False, compare=False)


class DeliveryError(Exception):
    """A send failed. `permanent` when retrying the same message cannot succeed."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


Send = Callable[[Message], None]


def module(kind: str) -> ModuleType:
    path = CHANNELS.get(kind)
    if path is None:
        allowed = ", ".join(sorted(CHANNELS))
        raise DeliveryError(f"unknown channel {kind!r}; allowed: {allowed}", permanent=True)
    return importlib.import_module(path)


def sender(kind: str) -> Send:
    return cast(Send, module(kind).send)


def config_model(kind: str) -> type[BaseModel]:
    """The settings model of a kind that can be saved under a name."""
    if kind not in NAMED:
        raise DeliveryError(
            f"a {kind!r} channel cannot be saved under a name; allowed: {', '.join(NAMED)}",
            permanent=True,
        )
    return cast(type[BaseModel], module(kind).Config)


def named(address: str) -> str | None:
    """The channel name in a `channel:<name>` address, else None."""
    return address.removeprefix(NAMED_PREFIX) if address.startswith(NAMED_PREFIX) else None


def deliver(message: Message) -> None:
    """Hand `message` to its channel; raise DeliveryError if it was not accepted."""
    name = named(message.address)
    if name is None:
        sender(message.channel)(message)
        return
    if message.named is None:
        raise DeliveryError(
            f"no notification channel named {name!r} (was it removed?): add it again with "
            "`tocsin notify channel add`",
            permanent=True,
        )
    kind = message.named.kind
    try:
        config = config_model(kind).model_validate(message.named.config)
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors()}))
        raise DeliveryError(
            f"the saved settings of channel {name!r} are no longer valid ({fields}): "
            "fix them with `tocsin notify channel set`",
            permanent=True,
        ) from None
    module(kind).send_with(config, message)


def mask_address(address: str) -> str:
    """Enough of an address to recognise it, without the secret a URL often carries."""
    if address.startswith(NAMED_PREFIX):
        return address  # a name, not a secret: its settings are never shown
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
