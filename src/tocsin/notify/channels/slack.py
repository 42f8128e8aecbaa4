"""Slack, through the Slack Web API with a bot token (TOCSIN_SLACK_BOT_TOKEN).

The address is a channel (`#incident-war-room`, or a channel id) or a user id (a direct
message). A message whose data carries a `war_room` block opens the room first: it creates
the channel (`conversations.create`; an existing one is reused), invites the people named
(`conversations.invite`), then posts (`chat.postMessage`). Every step is idempotent, so a
send retried after a crash does no harm beyond, at worst, a second copy of the post.

Slack answers 200 with `{"ok": false, "error": ...}` for most failures: `ratelimited` and
server errors are retried; a bad token, an unknown channel or a missing scope are final.
TOCSIN_SLACK_API_URL points the channel at another host (the tests' stand-in Slack).

A named Slack channel (`tocsin notify channel add NAME --kind slack`) carries its own bot
token and the channel it posts to, so one deployment can post to several workspaces, and
the policy reaches it as `channel:<name>`.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from tocsin import http
from tocsin.notify.channels import DeliveryError, Message
from tocsin.notify.channels.settings import ChannelConfig, Timeout

API_URL = "https://slack.com/api"
NO_TOKEN = "no Slack bot token configured: set TOCSIN_SLACK_BOT_TOKEN"
RETRYABLE = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable"})
# Answers that mean the step was already done: opening a room twice is not a failure.
ALREADY = frozenset({"name_taken", "already_in_channel", "cant_invite_self"})


class SlackConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    token: str
    api_url: str = API_URL
    timeout_s: float = http.DEFAULT_TIMEOUT_S

    @classmethod
    def from_env(cls) -> SlackConfig:
        token = os.environ.get("TOCSIN_SLACK_BOT_TOKEN", "").strip()
        if not token:
            raise DeliveryError(NO_TOKEN, permanent=True)
        return cls(token=token, api_url=os.environ.get("TOCSIN_SLACK_API_URL", API_URL))


_TOKEN = re.compile(r"^xox[bp]-[A-Za-z0-9-]{8,}$")


def _bot_token(value: SecretStr) -> SecretStr:
    if not _TOKEN.match(value.get_secret_value()):
        raise ValueError("must be a Slack bot token: xoxb- and then letters, digits and '-'")
    return value


_WHERE = re.compile(r"^(#[a-z0-9][a-z0-9_-]{0,79}|[CGDU][A-Z0-9]{6,})$")


def _where(value: str) -> str:
    if not _WHERE.match(value):
        raise ValueError("must be #channel-name (lowercase) or a Slack id such as C0123ABCD")
    return value


class Config(ChannelConfig):
    """A named Slack channel: a bot token and where it posts."""

    token: Annotated[SecretStr, AfterValidator(_bot_token)] = Field(
        description="The bot's OAuth token (xoxb-...), with the chat:write scope."
    )
    channel: Annotated[str, AfterValidator(_where)] = Field(
        description="Where to post: #channel-name or a channel or user id (C0123ABCD)."
    )
    api_url: str = Field(
        API_URL, pattern=r"^https?://\S+$", description="Slack's Web API; change only to test."
    )
    timeout_s: Timeout = http.DEFAULT_TIMEOUT_S


def send_with(config: Config, message: Message) -> None:
    """To a named Slack channel, with its own token."""
    own = SlackConfig(
        token=config.token.get_secret_value(),
        api_url=str(config.api_url),
        timeout_s=config.timeout_s,
    )
    _post(own, config.channel, message)


def channel_name(text: str) -> str:
    """A name Slack accepts: lowercase, no spaces or dots, at most 80 characters."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in text.lower().lstrip("#"))
    return cleaned.strip("-")[:80]


def send(message: Message) -> None:
    config = SlackConfig.from_env()
    channel = message.address
    room = message.data.get("war_room")
    if isinstance(room, dict):
        channel = _open_room(config, room)
    _post(config, channel, message)


def _post(config: SlackConfig, channel: str, message: Message) -> None:
    text = f"*{message.subject}*\n{message.body}" if message.subject else message.body
    _call(config, "chat.postMessage", {"channel": channel, "text": text, "mrkdwn": True})


def _open_room(config: SlackConfig, room: dict[str, Any]) -> str:
    """Create the war room (or find it), invite the people, and return its channel id."""
    name = channel_name(str(room.get("name", "")))
    answer = _call(config, "conversations.create", {"name": name})
    channel_id = str((answer.get("channel") or {}).get("id") or f"#{name}")
    users = [str(user) for user in room.get("invite") or [] if user]
    if users and answer.get("channel"):
        _call(config, "conversations.invite", {"channel": channel_id, "users": ",".join(users)})
    return channel_id


def _call(config: SlackConfig, method: str, payload: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {config.token}"}
    url = f"{config.api_url.rstrip('/')}/{method}"
    try:
        reply = http.post_json(url, payload, headers=headers, timeout=config.timeout_s)
    except http.OutboundError as exc:
        raise DeliveryError(exc.message, permanent=exc.permanent) from exc
    if not reply.ok:
        raise DeliveryError(reply.sentence(http.host_of(url)), permanent=reply.status < 500)
    return _checked(method, reply.json_body())


def _checked(method: str, answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise DeliveryError(f"Slack's {method} answered something that is not JSON")
    error = answer.get("error")
    if answer.get("ok") or error in ALREADY:
        return answer
    raise DeliveryError(f"Slack's {method} refused: {error}", permanent=error not in RETRYABLE)
