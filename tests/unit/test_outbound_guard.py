"""Tocsin never connects to an internal address a contact method or webhook names, unless
TOCSIN_OUTBOUND_ALLOW lets it: checked at connect time, redirects included."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tocsin import http
from tocsin.notify.channels import DeliveryError, Message, apprise_channel


class _Hits(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so reuse can be seen
    hits = 0
    client_ports: set[int] = set()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).hits += 1
        type(self).client_ports.add(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.headers["X-Then"])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def local_receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hits.hits = 0
    _Hits.client_ports = set()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(http.ALLOW_ENV, raising=False)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.10",
        "172.16.5.5",
        "169.254.169.254",
        "::1",
        "fd00::1",
        "fe80::1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_internal_addresses_are_refused(guarded: None, address: str) -> None:
    assert http.refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_are_allowed(guarded: None, address: str) -> None:
    assert http.refusal(ipaddress.ip_address(address)) is None


def test_a_webhook_to_loopback_is_refused_for_good_and_never_arrives(
    guarded: None, local_receiver: str
) -> None:
    with pytest.raises(http.OutboundError) as refused:
        http.post_json(f"{local_receiver}/hook", {"x": 1})
    assert refused.value.permanent  # retrying cannot help: the page falls back instead
    assert "loopback address" in refused.value.message and http.ALLOW_ENV in refused.value.message
    assert _Hits.hits == 0


def test_a_name_that_resolves_inside_is_refused_too(guarded: None, local_receiver: str) -> None:
    port = local_receiver.rsplit(":", 1)[1]
    with pytest.raises(http.OutboundError, match="localhost is a loopback address"):
        http.post_json(f"http://localhost:{port}/hook", {})
    assert _Hits.hits == 0


def test_the_allowance_lets_a_listed_network_through(
    monkeypatch: pytest.MonkeyPatch, local_receiver: str
) -> None:
    monkeypatch.setenv(http.ALLOW_ENV, "127.0.0.0/8")
    assert http.post_json(f"{local_receiver}/hook", {}).status == 200
    assert _Hits.hits == 1


def test_a_redirect_into_the_network_is_checked_where_it_leads(
    monkeypatch: pytest.MonkeyPatch, local_receiver: str
) -> None:
    """An allowed host that redirects to a refused one: the second connection is refused."""
    monkeypatch.setenv(http.ALLOW_ENV, "127.0.0.1/32")
    with pytest.raises(http.OutboundError, match="loopback"):
        http.request("GET", f"{local_receiver}/", headers={"X-Then": "http://[::1]:9/metadata"})


def test_connections_are_reused_across_requests(
    monkeypatch: pytest.MonkeyPatch, local_receiver: str
) -> None:
    monkeypatch.setenv(http.ALLOW_ENV, "127.0.0.0/8")
    for _ in range(5):
        assert http.post_json(f"{local_receiver}/hook", {"page": 1}).status == 200
    assert _Hits.hits == 5
    assert len(_Hits.client_ports) == 1  # five pages, one connection


def test_an_apprise_url_to_an_internal_host_is_refused(guarded: None) -> None:
    message = Message(
        idempotency_key="k",
        purpose="page",
        channel="apprise",
        address="json://169.254.169.254/latest",
        subject="s",
        body="b",
        data={},
    )
    with pytest.raises(DeliveryError, match="link-local address") as refused:
        apprise_channel.send(message)
    assert refused.value.permanent
