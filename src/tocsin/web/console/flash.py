"""Flash messages: the one-time line a page shows after an action redirects back to it.

The message rides in a cookie from the POST to the GET that follows (POST/redirect/GET), so
a reload neither repeats the action nor shows the message again.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

FLASH_COOKIE = "tocsin_flash"
COOKIE_PATH = "/console"  # the API never reads console cookies: it takes Authorization headers


@dataclass(frozen=True)
class Flash:
    """A one-time message shown after a redirect: level is 'ok' or 'error'."""

    level: str
    text: str


def read_flash(request: Request) -> Flash | None:
    """The message this request carries, if any; a cookie that does not decode is none."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return Flash(level=str(data["level"]), text=str(data["text"]))
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


def with_flash(response: Response, flash: Flash) -> Response:
    """`response` carrying `flash` to the next page."""
    payload = json.dumps({"level": flash.level, "text": flash.text[:1500]}).encode()
    value = base64.urlsafe_b64encode(payload).decode()
    response.set_cookie(FLASH_COOKIE, value, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


def forget_flash(response: Response) -> None:
    """The message has been shown: the next page must not show it again."""
    response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH)
