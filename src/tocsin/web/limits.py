"""Refuse oversized request bodies with 413 before the application reads them."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MiB = 1024 * 1024
# A sender whose body is refused must still read the 413: an answer sent while it is still
# writing, followed by a closed socket, reaches it as a broken pipe instead. So the rest of an
# oversized body is read and dropped, up to this much, before answering (and closing).
DRAIN_LIMIT = 32 * MiB


class BodyTooLarge(Exception):
    pass


def _error_body(limit: int) -> bytes:
    return json.dumps(
        {
            "error": "too_large",
            "message": f"request body is larger than the {limit} bytes allowed",
            "errors": [{"field": "body", "message": f"at most {limit} bytes"}],
        }
    ).encode()


class BodySizeLimit:
    """ASGI middleware: a declared Content-Length over the limit is refused at once; a chunked
    body is counted as it streams and refused as soon as it passes the limit."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _drain(receive)
            await _send_413(send, limit)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await _drain(receive)
                await _send_413(send, limit)


async def _drain(receive: Receive) -> None:
    """Read and drop what the sender is still writing, up to DRAIN_LIMIT."""
    drained = 0
    while drained < DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        drained += len(message.get("body", b""))
        if not message.get("more_body"):
            return


async def _send_413(send: Send, limit: int) -> None:
    body = _error_body(limit)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
