"""A stand-in for the Slack Web API methods Tocsin uses, answering as Slack documents them.

    conversations.create  {"name"}               -> {"ok": true, "channel": {"id", "name"}}
                                                    {"ok": false, "error": "name_taken"}
    conversations.invite  {"channel", "users"}   -> {"ok": true, "channel": {...}}
    chat.postMessage      {"channel", "text"}    -> {"ok": true, "channel", "ts"}
    anything, wrong token                        -> {"ok": false, "error": "invalid_auth"}

It records every call, so a test can read the war room as a person in Slack would.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

TOKEN = "xoxb-tocsin-test"


@dataclass(frozen=True)
class SlackCall:
    method: str
    body: dict[str, Any]


class SlackStandIn:
    def __init__(self) -> None:
        self.calls: list[SlackCall] = []
        self.channels: dict[str, str] = {}  # name -> id
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api"

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        """chat.postMessage bodies, to one channel (its name with #, or its id) or all."""
        name = str(channel).lstrip("#")
        wanted = {name, self.channels.get(name)} if channel else None
        return [
            c.body
            for c in self.calls
            if c.method == "chat.postMessage"
            and (wanted is None or str(c.body["channel"]).lstrip("#") in wanted)
        ]

    def answer(self, method: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        with self._lock:
            self.calls.append(SlackCall(method, body))
            if token != TOKEN:
                return {"ok": False, "error": "invalid_auth"}
            return self._answer(method, body)

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.create":
            name = str(body.get("name"))
            if name in self.channels:
                return {"ok": False, "error": "name_taken"}
            self.channels[name] = f"C{next(self._ids):06d}"
            return {"ok": True, "channel": {"id": self.channels[name], "name": name}}
        if method == "conversations.invite":
            return {"ok": True, "channel": {"id": body.get("channel")}}
        if method == "chat.postMessage":
            return {"ok": True, "channel": body.get("channel"), "ts": f"{len(self.calls)}.0001"}
        return {"ok": False, "error": "unknown_method"}

    def __enter__(self) -> SlackStandIn:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(slack: SlackStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            method = self.path.rsplit("/", 1)[-1]
            answer = json.dumps(slack.answer(method, body, token)).encode()
            self.send_response(200)  # Slack answers 200 with ok: false for most failures
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
