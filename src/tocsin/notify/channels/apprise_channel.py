"""Apprise: any of the services an Apprise URL names (Slack, Teams, ntfy, Telegram, ...).

An address Apprise cannot parse is a permanent error; a service that does not accept the
message is worth retrying. The idempotency key goes in the body's footer: most chat services
have no header for it, but a person (or a bot) can still see two copies are one message.
A named Apprise channel (`Config`) is one URL; its tokens are often in the host part, so it
is shown as its scheme alone.
"""

from __future__ import annotations

import logging
import re

import apprise
from pydantic import Field, SecretStr, field_validator

from tocsin import http
from tocsin.notify.channels import DeliveryError, Message
from tocsin.notify.channels.settings import ChannelConfig

WIKI = "https://github.com/caronc/apprise/wiki"
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)

# Apprise logs the URLs it cannot load, tokens and all. Its log stays with Apprise (the
# sends below capture it, without URLs, into the delivery error); nothing reaches the
# process's log, not even through logging's last-resort handler.
_apprise_log = logging.getLogger("apprise")
_apprise_log.addHandler(logging.NullHandler())
_apprise_log.propagate = False


class Config(ChannelConfig):
    """A named Apprise channel: one Apprise URL (slack://, tgram://, ntfy://, json://, ...)."""

    url: SecretStr = Field(max_length=4000, description=f"An Apprise URL; see {WIKI}.")

    @field_validator("url")
    @classmethod
    def _parses(cls, value: SecretStr) -> SecretStr:
        if apprise.Apprise.instantiate(value.get_secret_value()) is None:
            scheme = value.get_secret_value().partition("://")[0] or "(none)"
            raise ValueError(f"Apprise does not recognise this URL (scheme {scheme!r}); see {WIKI}")
        return value

    def shown(self) -> dict[str, object]:
        scheme = self.url.get_secret_value().partition("://")[0]
        return {"url": f"{scheme}://********"}


def body_with_footer(message: Message) -> str:
    return f"{message.body}\n\n--\nTocsin message {message.idempotency_key}"


def send(message: Message) -> None:
    _notify(message.address, message)


def send_with(config: Config, message: Message) -> None:
    _notify(config.url.get_secret_value(), message)


def _notify(url: str, message: Message) -> None:
    client = apprise.Apprise()
    if not client.add(url):
        raise DeliveryError("not a valid Apprise URL", permanent=True)
    _refuse_internal(client)
    capture = apprise.LogCapture(level=logging.WARNING, fmt="%(message)s")  # type: ignore[no-untyped-call]
    with capture as log:
        accepted = client.notify(title=message.subject, body=body_with_footer(message))
    if not accepted:
        raise DeliveryError(_sentence(log.getvalue()))


def _refuse_internal(client: apprise.Apprise) -> None:
    """Self-hosted services (json://, ntfy://, gotify://, matrix://...) name a host: it must not
    be an internal address (see tocsin.http). Cloud services' URLs often carry a token where
    the host would be; a "host" that does not resolve is left to Apprise."""
    for service in client:
        host = getattr(service, "host", None)
        if not isinstance(host, str) or not host:
            continue
        try:
            http.check_host(host, getattr(service, "port", None) or 443)
        except http.OutboundError as exc:
            if exc.permanent:
                raise DeliveryError(exc.message, permanent=True) from None


def _sentence(captured: str) -> str:
    """Apprise's last warning, without URLs (they carry tokens and end up in the timeline)."""
    lines = [line.strip() for line in captured.splitlines() if line.strip()]
    if not lines:
        return "the Apprise service did not accept the message"
    reason = _URL.sub("<url>", lines[-1])[:300]
    return f"the Apprise service did not accept the message: {reason}"
