"""The edges a sender meets over a real socket: a refused oversized body is still answered
(413, not a broken pipe), and a request after a server error on the same keep-alive
connection is answered too. The app runs under uvicorn, as `tocsin serve` runs it."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.e2e.conftest import free_port
from tocsin.config import Settings
from tocsin.db import Database
from tocsin.policy.loader import LoadedPolicy
from tocsin.web.app import create_app
from tocsin.web.deps import Runtime
from tocsin.web.guards import ServerErrors

pytestmark = pytest.mark.e2e


def serve(app: object) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def tocsin(database: Database, default_policy: LoadedPolicy) -> Iterator[str]:
    runtime = Runtime(Settings(database_url=database.url), database, default_policy)
    yield from serve(create_app(runtime))


def test_a_sender_of_an_oversized_body_reads_its_413(tocsin: str) -> None:
    body = b'{"summary": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    for _ in range(5):  # it failed about one time in three before the body was drained
        connection = http.client.HTTPConnection(tocsin, timeout=20)
        connection.request(
            "POST",
            "/api/v1/integrations/some-key/generic",
            body=body,
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        assert response.status == 413
        assert b"at most 524288 bytes" in response.read()
        connection.close()


def test_an_error_answered_in_json_leaves_the_connection_usable() -> None:
    async def broken(request: Request) -> JSONResponse:
        raise RuntimeError("a bug")

    async def fine(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    routes = [Route("/broken", broken), Route("/fine", fine)]
    app = Starlette(routes=routes, middleware=[Middleware(ServerErrors)])  # as create_app adds it
    for address in serve(app):
        with httpx.Client(base_url=f"http://{address}") as client:
            failed = client.get("/broken")
            assert failed.status_code == 500
            assert failed.json()["error"] == "internal"
            assert client.get("/fine").json() == {"ok": True}, "same connection, still served"
