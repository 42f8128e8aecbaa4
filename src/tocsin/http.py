"""The one outbound HTTP helper: every request Tocsin makes to the outside goes through here.

It enforces timeouts, follows at most a few redirects, reads at most a bounded body, and turns
every low-level failure into one readable sentence. Sentences name the host, never the full
URL: URLs often carry secrets (webhook tokens), and failures end up in the append-only timeline.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tocsin import __version__

USER_AGENT = f"Tocsin/{__version__}"
DEFAULT_TIMEOUT_S = 10.0
MAX_REDIRECTS = 3
MAX_BODY_BYTES = 64 * 1024


# httpx logs every request's full URL at INFO, and URLs carry secrets (a webhook's token, a
# Teams workflow's signature): Tocsin's log gets its own sentences, which name the host only.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class OutboundError(Exception):
    """The request got no HTTP answer. `permanent` when retrying cannot help (a bad URL)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json_body(self) -> Any:
        """The body as JSON, or None if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def sentence(self, host: str) -> str:
        """'hooks.example.com answered 503 Service Unavailable'."""
        return f"{host} answered {self.status} {self.reason}".rstrip()


def host_of(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "the server"
    host = parsed.host or "the server"
    return f"{host}:{parsed.port}" if parsed.port else host


def request(
    method: str,
    url: str,
    *,
    json: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Reply:
    """Send one request; return the answer whatever its status, or raise OutboundError.

    `content` is sent as the body byte for byte (a signed body must arrive as it was signed);
    `json` is serialised by httpx."""
    _check_url(url)
    client = httpx.Client(
        verify=_tls_context(),
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
    )
    with client:
        try:
            outgoing = client.build_request(
                method, url, json=json, content=content, headers=headers
            )
            response = client.send(outgoing, stream=True)
            try:
                body = _read_bounded(response, time.monotonic() + timeout)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise _explain(exc, url, timeout) from exc
    return Reply(response.status_code, response.reason_phrase, dict(response.headers), body)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One certificate store per process, made as httpx makes it (SSL_CERT_FILE, SSL_CERT_DIR,
    else certifi). Loading the bundle for every request cost ~30 ms of CPU per page."""
    return httpx.create_ssl_context()


def post_json(
    url: str,
    payload: Any,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Reply:
    return request("POST", url, json=payload, headers=headers, timeout=timeout)


def post_bytes(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str],
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Reply:
    return request("POST", url, content=body, headers=headers, timeout=timeout)


def check_url(url: str) -> str | None:
    """Why `url` cannot be sent to (a sentence), or None if it can."""
    try:
        _check_url(url)
    except OutboundError as exc:
        return exc.message
    return None


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise OutboundError("the URL is not valid", permanent=True) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise OutboundError("the URL must start with http:// or https://", permanent=True)


def _read_bounded(response: httpx.Response, deadline: float) -> bytes:
    """Read at most MAX_BODY_BYTES, and give up on a server that trickles past the deadline."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES or time.monotonic() > deadline:
            break
    return b"".join(chunks)[:MAX_BODY_BYTES]


def _explain(exc: httpx.HTTPError, url: str, timeout: float) -> OutboundError:
    """One sentence a person can act on, instead of a stack of transport exceptions."""
    host = host_of(url)
    if isinstance(exc, httpx.TimeoutException):
        return OutboundError(f"{host} did not answer within {timeout:g} s")
    if isinstance(exc, httpx.TooManyRedirects):
        return OutboundError(f"{host} redirected more than {MAX_REDIRECTS} times", permanent=True)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return OutboundError(f"{host} redirected to a URL that is not http(s)", permanent=True)
    if isinstance(exc, httpx.ConnectError):
        return OutboundError(f"could not connect to {host}: {_reason(exc)}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return OutboundError(f"{host} broke off the connection: {_reason(exc)}")
    return OutboundError(f"the request to {host} failed: {_reason(exc)}")


def _reason(exc: Exception) -> str:
    """The innermost message, e.g. 'Connection refused', without the URL or errno noise."""
    text = str(exc) or type(exc).__name__
    if "] " in text:  # "[Errno 111] Connection refused"
        text = text.split("] ", 1)[1]
    return text.strip().rstrip(".") or type(exc).__name__
