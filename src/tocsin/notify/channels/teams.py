"""Microsoft Teams, through a Workflows webhook ("Post to a channel when a webhook request is
received"), as an Adaptive Card.

The address (or a named channel's `url`) is the workflow's URL, which carries its own
signature (`sig=`): whoever holds it can post, so it is shown as its host alone. The card
has the subject as its title, the body line by line, an "Open incident" button for the
incident's console link, and the idempotency key in a quiet footer (Teams has no header
for it). Workflows answer 202 Accepted; 408, 429 and 5xx are retried, other answers are final.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from tocsin import http
from tocsin.notify.channels import DeliveryError, Message
from tocsin.notify.channels.settings import ChannelConfig, HttpUrl, Timeout
from tocsin.notify.channels.webhook import is_permanent

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_LINES = 60
_CONSOLE_LINK = re.compile(r"https?://\S+/console/incidents/[^\s)>\]]+")


class Config(ChannelConfig):
    """A named Teams channel: the URL its workflow gave."""

    token_urls = ("url",)

    url: HttpUrl = Field(description="The workflow's HTTP POST URL (Workflows > Copy link).")
    timeout_s: Timeout = http.DEFAULT_TIMEOUT_S


def card(message: Message) -> dict[str, Any]:
    """The Adaptive Card for `message`."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": message.subject or "Tocsin",
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "style": "heading",
        }
    ]
    body += _lines(message.body)
    body.append(
        {
            "type": "TextBlock",
            "text": f"Tocsin message {message.idempotency_key}",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
            "spacing": "Medium",
        }
    )
    content: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    link = _CONSOLE_LINK.search(message.body)
    if link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open incident", "url": link[0]}]
    return content


def envelope(message: Message) -> dict[str, Any]:
    """What the workflow's trigger takes: a message with the card as its one attachment."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card(message)}],
    }


def send(message: Message) -> None:
    _post(message.address, message, timeout=http.DEFAULT_TIMEOUT_S)


def send_with(config: Config, message: Message) -> None:
    _post(str(config.url), message, timeout=config.timeout_s)


def _post(url: str, message: Message, *, timeout: float) -> None:
    headers = {"Idempotency-Key": message.idempotency_key}
    try:
        reply = http.post_json(url, envelope(message), headers=headers, timeout=timeout)
    except http.OutboundError as exc:
        raise DeliveryError(exc.message, permanent=exc.permanent) from exc
    if not reply.ok:
        raise DeliveryError(reply.sentence(http.host_of(url)), permanent=is_permanent(reply.status))


def _lines(text: str) -> list[dict[str, Any]]:
    """One TextBlock per line (Teams joins single newlines); a blank line adds space."""
    blocks: list[dict[str, Any]] = []
    gap = False
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"({len(lines) - MAX_LINES} more lines in Tocsin)"]
    for line in lines:
        if not line.strip():
            gap = True
            continue
        block: dict[str, Any] = {"type": "TextBlock", "text": line, "wrap": True}
        block["spacing"] = "Medium" if gap else "None"
        blocks.append(block)
        gap = False
    return blocks
