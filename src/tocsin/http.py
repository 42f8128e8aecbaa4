"""The one outbound HTTP helper: every request Tocsin makes to the outside goes through here.

It enforces timeouts, follows at most a few redirects, reads at most a bounded body, and turns
every low-level failure into one readable sentence. Sentences name the host, never the full
URL: URLs often carry secrets (webhook tokens), and failures end up in the append-only timeline.

One client serves the whole process, so connections to a receiver are reused (a page storm to
one webhook opens a handful of connections, not one per page).

**No requests to internal addresses.** Contact methods, webhooks and imported integrations
name URLs that people (or another vendor's export) chose; pointed at 127.0.0.1 or
169.254.169.254 they would make Tocsin probe its own network. So every connection, redirects
included, is checked when it is made, after DNS resolution (a name that resolves to an
internal address is refused too, and the connection goes to the address that was checked):
loopback, private (RFC 1918, ULA), link-local, multicast, reserved and unspecified addresses
are refused unless `TOCSIN_OUTBOUND_ALLOW` lists them (comma-separated networks, such as
`10.20.0.0/16,fd00::/8`, or `*` for any). Through an HTTP(S)_PROXY from the environment the
proxy connects, and its egress rules apply instead.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import os
import socket
import ssl
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from tocsin import __version__

log = logging.getLogger("tocsin.http")

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
    client = shared_client()
    try:
        outgoing = client.build_request(
            method, url, json=json, content=content, headers=headers, timeout=httpx.Timeout(timeout)
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
def shared_client() -> httpx.Client:
    """The process's one client (thread-safe; its pool keeps connections to each receiver)."""
    proxied = any(urllib.request.getproxies().get(s) for s in ("http", "https", "all"))
    return httpx.Client(
        verify=_tls_context(),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
        transport=None if proxied else _GuardedTransport(verify=_tls_context()),
    )


# -- where Tocsin may connect -------------------------------------------------------------------

ALLOW_ENV = "TOCSIN_OUTBOUND_ALLOW"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def refusal(address: Address) -> str | None:
    """Why Tocsin will not connect to this address, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in _allowed(os.environ.get(ALLOW_ENV, ""))):
        return None
    for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    return None


def check_host(host: str, port: int = 443) -> list[str]:
    """The addresses `host` resolves to that Tocsin may connect to; OutboundError if none."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OutboundError(f"could not resolve {host}: {exc.strerror or exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    allowed = [a for a in addresses if refusal(ipaddress.ip_address(a)) is None]
    if not allowed:
        why = refusal(ipaddress.ip_address(addresses[0]))
        raise OutboundError(
            f"{host} is {why} ({addresses[0]}): Tocsin does not send to internal addresses "
            f"unless {ALLOW_ENV} lists them",
            permanent=True,
        )
    return allowed


@functools.lru_cache(maxsize=8)
def _allowed(setting: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    parts = [part.strip() for part in setting.split(",") if part.strip()]
    if "*" in parts:
        return (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    networks = []
    for part in parts:
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            log.warning("%s: %r is not a network (such as 10.0.0.0/8); ignored", ALLOW_ENV, part)
    return tuple(networks)


class _CheckedBackend(httpcore.SyncBackend):
    """Connects only to addresses `check_host` allows: checked at connect time, so neither a
    redirect nor a DNS answer that changes after a check can lead elsewhere."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in check_host(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None
        raise last


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, *, verify: ssl.SSLContext) -> None:
        super().__init__(verify=verify)
        # httpx builds its connection pool without a way to pass a network backend; this one
        # is built the same way (httpx's defaults) with the checking backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=verify,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_CheckedBackend(),
        )


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
