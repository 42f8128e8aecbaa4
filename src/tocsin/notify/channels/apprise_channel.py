"""Apprise: any of the services an Apprise URL names (Slack, Teams, ntfy, Telegram, ...).

An address Apprise cannot parse is a permanent error; a service that does not accept the
message is worth retrying. The idempotency key goes in the body's footer: most chat services
have no header for it, but a person (or a bot) can still see two copies are one message.
"""

from __future__ import annotations

import logging
import re

import apprise

from tocsin import http
from tocsin.notify.channels import DeliveryError, Message

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def body_with_footer(message: Message) -> str:
    return f"{message.body}\n\n--\nTocsin message {message.idempotency_key}"


def send(message: Message) -> None:
    client = apprise.Apprise()
    if not client.add(message.address):
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
