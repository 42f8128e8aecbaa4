"""After an import from PagerDuty, the official `pagerduty` client, unmodified but for its base
URL, opens an alert in a real `tocsin serve` (over TLS, which the client insists on) with the
Events API v2 integration key it used before."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pagerduty
import pytest

from tests.certificates import self_signed
from tests.e2e.conftest import BIN, Server, start_server, stop_server
from tests.importers.pagerduty_standin import TOKEN, PagerDuty
from tests.importers.standin import serving
from tocsin.db import Database

pytestmark = pytest.mark.e2e
CHECKOUT_KEY = "8f2b6c1d9e3a4f5b7c8d9e0a1b2c3d4e"  # the Checkout service's Events API v2 key


@pytest.fixture
def tls_server(database: Database, tmp_path: Path) -> Iterator[Server]:
    running = start_server(database.url, tmp_path, tls=self_signed(tmp_path))
    yield running
    stop_server(running)


def test_the_pagerduty_client_sends_with_the_imported_key(tls_server: Server) -> None:
    with serving(PagerDuty()) as standin:
        done = subprocess.run(
            [str(BIN / "tocsin"), "import", "pagerduty", "--base-url", standin.url, "--apply"],
            env={**tls_server.env, "PAGERDUTY_TOKEN": TOKEN},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert "created integration Checkout alerts" in done.stdout, done.stdout
    with pagerduty.EventsApiV2Client(
        CHECKOUT_KEY, base_url=tls_server.url, verify=tls_server.verify, timeout=10
    ) as events:
        events.trigger("Checkout 5xx above 5%", "lb-1", dedup_key="co-5xx", severity="critical")
    headers = {"Authorization": f"Bearer {tls_server.token}"}
    listed = httpx.get(
        f"{tls_server.url}/api/v1/alerts", headers=headers, verify=tls_server.verify, timeout=10
    ).json()["items"]
    assert [(a["summary"], a["service"], a["dedup_key"]) for a in listed] == [
        ("Checkout 5xx above 5%", "checkout", "co-5xx")
    ]
