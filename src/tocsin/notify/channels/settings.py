"""What every named channel's settings share: strict models, secrets kept as secrets, and the
two ways settings leave the model (in full to the database, masked to everyone else).

A secret is a `SecretStr` field (a password, a signing secret): shown as MASK, never in
part. A URL that carries a token in its path or query (a Teams workflow, a webhook) is shown
as its scheme and host; an Apprise URL, whose host is often the token, is a secret whole and
shown as its scheme alone (tocsin.notify.channels.apprise_channel).
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic import HttpUrl as _HttpUrl

MASK = "********"
Timeout = Annotated[float, Field(gt=0, le=120, description="Seconds to wait for the server.")]
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.?[^@\s<>,;\"]*$")


def _address(value: str) -> str:
    if not _ADDRESS.match(value):
        raise ValueError("must be an email address such as ops@example.com")
    return value


def _mailbox(value: str) -> str:
    """An address with an optional display name: `Tocsin <tocsin@example.com>`."""
    if any(c in value for c in "\r\n"):
        raise ValueError("must be on one line")
    _, address = parseaddr(value)
    if not address or not _ADDRESS.match(address):
        raise ValueError("must be an email address, optionally with a name: Ops <ops@example.com>")
    return value


def _http_url(value: _HttpUrl) -> str:
    return str(value)


EmailAddress = Annotated[str, Field(max_length=254), AfterValidator(_address)]
Mailbox = Annotated[str, Field(max_length=320), AfterValidator(_mailbox)]
HttpUrl = Annotated[_HttpUrl, AfterValidator(_http_url)]


class ChannelConfig(BaseModel):
    """A named channel's settings. Subclasses list URL fields that carry tokens in
    `token_urls` (shown as scheme and host)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    token_urls: ClassVar[tuple[str, ...]] = ()

    # What the receiver accepts (a Slack channel about one a second, a Teams workflow a few a
    # second): more wait their turn in the outbox instead of being refused and retried.
    per_minute: int | None = Field(
        None,
        ge=1,
        le=600,
        description="At most this many messages a minute to this channel; the rest wait "
        "their turn. None: no limit.",
    )

    def stored(self) -> dict[str, Any]:
        """Everything, secrets included: what the database keeps."""
        return {key: _reveal(value) for key, value in self._fields().items()}

    def shown(self) -> dict[str, Any]:
        """What the API, the console, the CLI and the logs may show."""
        return {
            key: mask_url(value) if key in self.token_urls else _hide(value)
            for key, value in self._fields().items()
        }

    def _fields(self) -> dict[str, Any]:
        """The settings, less a rate limit that was never set (it is rarely needed)."""
        return {
            (info.alias or name): getattr(self, name)
            for name, info in type(self).model_fields.items()
            if not (name == "per_minute" and self.per_minute is None)
        }


def mask_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return MASK
    host = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    return f"{scheme}://{host}/{MASK}" if rest.strip("/") != host else f"{scheme}://{host}"


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _hide(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, dict):
        return {k: _hide(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide(v) for v in value]
    return value
