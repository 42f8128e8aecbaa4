"""A local stand-in for a vendor's REST API: answers the documented endpoints from a fixture.

Each vendor supplies `answer(request) -> Reply`; the server runs on a thread on 127.0.0.1 and
records the requests it saw, so tests can check pagination and rate-limit handling.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    base: str

    def param(self, name: str, default: str = "") -> str:
        return self.query.get(name, [default])[0]


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Answer = Callable[[Request], Reply]


@dataclass
class StandIn:
    url: str
    seen: list[Request]


def _handler(answer: Answer, seen: list[Request], base: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            request = Request(
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                base[0],
            )
            seen.append(request)
            reply = answer(request)
            body = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return None

    return Handler


@contextmanager
def serving(answer: Answer) -> Iterator[StandIn]:
    seen: list[Request] = []
    base = [""]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(answer, seen, base))
    base[0] = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StandIn(base[0], seen)
    finally:
        server.shutdown()
        server.server_close()
