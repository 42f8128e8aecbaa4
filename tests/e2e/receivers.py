"""Real local peers for end-to-end tests: an SMTP server and an HTTP receiver.

    with SmtpCatcher() as smtp, HttpReceiver() as hooks:
        smtp.reject("451 4.3.0 try again later")   # the next DATA is refused, then accepted
        hooks.fail(2, status=500)                  # two 500s, then 200
        ...
        [mail] = smtp.mails; mail["X-Tocsin-Idempotency-Key"]
        hooks.delivered[0].idempotency_key

Both bind 127.0.0.1 on a free port and record everything they are sent, including requests
they refused, so a test can count attempts as well as deliveries. The SMTP server can speak
TLS with a test certificate: `SmtpCatcher(tls=cert)` offers STARTTLS and requires it,
`SmtpCatcher(tls=cert, implicit=True)` speaks TLS from the first byte, and `login=(user,
password)` requires that login (over TLS only).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.certificates import Certificate
from tests.e2e.conftest import free_port

# -- SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool = False  # the session was encrypted (STARTTLS or TLS from the first byte)
    login: str | None = None  # who logged in, if anyone

    def __getitem__(self, header: str) -> str | None:
        value = self.message[header]
        return None if value is None else str(value)

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return "" if part is None else cast(EmailMessage, part).get_content()


class SmtpCatcher:
    """An aiosmtpd server that keeps every accepted mail and refuses when told to."""

    def __init__(
        self,
        *,
        tls: Certificate | None = None,
        implicit: bool = False,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.mails: list[Mail] = []
        self.refused: list[str] = []
        self.logins: list[tuple[str, bool]] = []  # (user, accepted) for every AUTH attempt
        self._replies: list[str] = []
        self._lock = threading.Lock()
        self._login = login
        options = _tls_options(tls, implicit, login)
        if login:
            options["authenticator"] = self._authenticate
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user = data.login.decode()
        accepted = (user, data.password.decode()) == self._login
        with self._lock:
            self.logins.append((user, accepted))
        return AuthResult(success=accepted, handled=False, auth_data=user if accepted else None)

    def reject(self, *replies: str) -> None:
        """Answer the next DATA commands with these replies, e.g. '550 5.1.1 no such user'."""
        with self._lock:
            self._replies.extend(replies)

    async def handle_DATA(  # noqa: N802 (aiosmtpd calls hooks by this name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        with self._lock:
            if self._replies:
                reply = self._replies.pop(0)
                self.refused.append(reply)
                return reply
            self.mails.append(_mail(envelope, session, server))
        return "250 2.0.0 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Mail]:
        """The first `count` mails, waiting up to `timeout` seconds for them to arrive."""
        deadline = time.monotonic() + timeout
        while len(self.mails) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.mails) >= count, f"{len(self.mails)} mails arrived, wanted {count}"
        return self.mails[:count]

    def start(self) -> SmtpCatcher:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpCatcher:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _mail(envelope: Envelope, session: Session, server: SMTP) -> Mail:
    content = envelope.content
    raw = content if isinstance(content, bytes) else str(content).encode()
    message = message_from_bytes(raw, policy=policy.default)
    login = session.auth_data if session.authenticated else None
    return Mail(
        str(envelope.mail_from),
        [str(r) for r in envelope.rcpt_tos],
        message,
        tls=server.transport.get_extra_info("ssl_object") is not None,
        login=None if login is None else str(login),
    )


def _tls_options(
    certificate: Certificate | None, implicit: bool, login: tuple[str, str] | None
) -> dict[str, Any]:
    options: dict[str, Any] = {"auth_require_tls": True, "auth_required": bool(login)}
    if certificate is None:
        return options
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert, certificate.key)
    if implicit:
        return {**options, "ssl_context": context}
    return {**options, "tls_context": context, "require_starttls": True}


# -- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered (0: it never answered)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    # Several engines send at once; the standard library's backlog of 5 would refuse some
    # connections, and every refusal is a retry the test did not ask for.
    request_queue_size = 1024


class HttpReceiver:
    """A threaded HTTP server that records every request and answers as told.

    Default answer: 200. `fail(n, status)` answers the next n requests with `status` (a 3xx
    redirects to the same path);
    `answer(status)` changes the default; `hang(n)` leaves the next n requests unanswered
    until the receiver stops.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._default = 200
        self._script: list[int] = []  # statuses for the next requests; 0 means hang
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def delivered(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    def fail(self, times: int, *, status: int = 500) -> None:
        with self._lock:
            self._script.extend([status] * times)

    def answer(self, status: int) -> None:
        with self._lock:
            self._default = status

    def hang(self, times: int = 1) -> None:
        self.fail(times, status=0)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.requests)

    def _next_status(self) -> int:
        with self._lock:
            return self._script.pop(0) if self._script else self._default

    def _record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def start(self) -> HttpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _handler_for(receiver: HttpReceiver) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._respond()

        def do_PUT(self) -> None:
            self._respond()

        def do_GET(self) -> None:
            self._respond()

        def _respond(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                # The sender died mid-request (a test may kill it): no server would hand half a
                # request to its application, so it is not a delivery.
                self.close_connection = True
                return
            status = receiver._next_status()
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver._record(Received(self.command, self.path, headers, body, status))
            if status == 0:
                receiver._released.wait(60)
                return
            self.send_response(status)
            if 300 <= status < 400:  # redirect to the same path: a loop unless scripted away
                self.send_header("Location", self.path)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler
