"""`tocsin serve --tls-cert --tls-key`, and the PagerDuty clients people already run.

The official `pagerduty` client refuses any base URL that is not https. Pointed at a Tocsin
serving TLS by URL and routing key alone, and told to trust the test certificate the way its
httpx client is told (`verify=`), it sends Events v2 events unmodified. So does the older
`pdpyras`, through the `verify` of its requests session.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pagerduty
import pytest

from tests.certificates import Certificate, self_signed
from tests.e2e.conftest import Server, start_server, stop_server
from tocsin.db import Database

pytestmark = pytest.mark.e2e


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return self_signed(tmp_path)


@pytest.fixture
def tls_server(database: Database, tmp_path: Path, certificate: Certificate) -> Iterator[Server]:
    running = start_server(database.url, tmp_path, tls=certificate)
    yield running
    stop_server(running)


def api(server: Server) -> httpx.Client:
    headers = {"Authorization": f"Bearer {server.token}"}
    return httpx.Client(base_url=server.url, headers=headers, verify=server.verify, timeout=10)


def pagerduty_key(server: Server) -> str:
    created = server.cli("integration", "create", "--kind", "pagerduty", "--name", "pd", "--json")
    assert created.returncode == 0, created.stdout + created.stderr
    key: str = json.loads(created.stdout)["key"]
    return key


def stored(server: Server, dedup_key: str) -> dict[str, Any]:
    """The alert as `GET /api/v1/alerts` shows it, with the incident it opened."""
    with api(server) as client:
        items = client.get("/api/v1/alerts").json()["items"]
        [alert] = [a for a in items if a["dedup_key"] == dedup_key]
        if alert["incident_id"]:
            alert["incident"] = client.get(f"/api/v1/incidents/{alert['incident_id']}").json()
        return dict(alert)


def test_serve_with_tls_answers_https_at_the_url_it_prints(tls_server: Server) -> None:
    assert tls_server.url.startswith("https://")
    assert f"Tocsin serving on {tls_server.url}" in tls_server.banner
    assert f"Tocsin URL:   {tls_server.url}" in tls_server.banner
    health = httpx.get(f"{tls_server.url}/healthz", verify=tls_server.verify, timeout=10)
    assert health.json()["status"] == "ok"
    # The URLs to paste into a sender are https too.
    created = tls_server.cli("integration", "create", "--kind", "generic", "--name", "g", "--json")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "https://127.0.0.1:" in created.stdout and "http://" not in created.stdout
    with pytest.raises(httpx.HTTPError):  # nothing answers plain HTTP on that port
        httpx.get(tls_server.url.replace("https://", "http://") + "/healthz", timeout=10)


def test_the_official_pagerduty_client_sends_over_tls_unmodified(tls_server: Server) -> None:
    key = pagerduty_key(tls_server)
    with pagerduty.EventsApiV2Client(
        key, base_url=tls_server.url, verify=tls_server.verify, timeout=10
    ) as events:
        dedup_key = events.trigger(
            "Checkout 5xx above 5%", "lb-1", dedup_key="checkout-5xx", severity="critical"
        )
        alert = stored(tls_server, "checkout-5xx")
        events.resolve("checkout-5xx")

    assert dedup_key == "checkout-5xx"
    assert alert["status"] == "firing"
    assert alert["summary"] == "Checkout 5xx above 5%"
    assert alert["incident"]["status"] == "investigating"
    assert stored(tls_server, "checkout-5xx")["status"] == "resolved"


@pytest.mark.filterwarnings('ignore:The package "pdpyras" is deprecated:UserWarning')
def test_pdpyras_sends_over_tls_unmodified(
    tls_server: Server, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pdpyras

    # requests lets REQUESTS_CA_BUNDLE win over a session's `verify`, so that is the setting
    # a pdpyras user changes (many machines, this one included, already set it).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.cert))
    key = pagerduty_key(tls_server)
    with pdpyras.EventsAPISession(key) as session:
        session.url = tls_server.url
        dedup_key = session.trigger(
            "Disk full on db-2", "db-2", dedup_key="db-2-disk", severity="critical"
        )

    assert dedup_key == "db-2-disk"
    alert = stored(tls_server, "db-2-disk")
    assert alert["summary"] == "Disk full on db-2"
    assert alert["incident"]["status"] == "investigating"


def test_the_official_client_sends_change_events_shown_on_the_incident(tls_server: Server) -> None:
    """A deploy recorded by `send_change_event`, an alert by `trigger`: the incident shows the
    deploy (JSON and `tocsin incident show`). An unknown routing key is refused as PagerDuty
    refuses it, so the client raises with PagerDuty's own words."""
    key = pagerduty_key(tls_server)
    with pagerduty.EventsApiV2Client(
        key, base_url=tls_server.url, verify=tls_server.verify, timeout=10
    ) as events:
        events.send_change_event(
            payload={
                "summary": "Deploy checkout v2.4.1",
                "source": "ci.example.com",
                "timestamp": datetime.now(UTC).isoformat(),
                "custom_details": {"sha": "9f2c1e"},
            },
            links=[{"href": "https://ci.example.com/builds/812", "text": "Build 812"}],
        )
        events.trigger("Checkout 5xx above 5%", "lb-1", dedup_key="after-deploy")
    incident = stored(tls_server, "after-deploy")["incident"]
    [change] = incident["changes"]
    assert (change["summary"], change["source"]) == ("Deploy checkout v2.4.1", "ci.example.com")
    assert change["links"] == [{"href": "https://ci.example.com/builds/812", "text": "Build 812"}]
    shown = tls_server.cli("incident", "show", incident["id"])
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "Recent changes" in shown.stdout and "Deploy checkout v2.4.1" in shown.stdout

    with (
        pagerduty.EventsApiV2Client(
            "0123456789abcdef0123456789abcdef", base_url=tls_server.url, verify=tls_server.verify
        ) as stranger,
        pytest.raises(pagerduty.Error) as refused,
    ):
        stranger.trigger("Who am I", "nowhere")
    assert refused.value.response is not None
    assert refused.value.response.status_code == 400
    assert refused.value.response.json()["errors"] == ["Invalid routing key"]


@pytest.mark.filterwarnings('ignore:The package "pdpyras" is deprecated:UserWarning')
@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")
def test_pdpyras_submits_a_change_event(
    tls_server: Server, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pdpyras

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.cert))
    key = pagerduty_key(tls_server)
    with pdpyras.ChangeEventsAPISession(key) as session:
        session.url = tls_server.url
        change_id = session.submit(  # its own timestamp: naive UTC with a Z
            "Feature flag new-checkout on", "flags.example.com", custom_details={"pct": 10}
        )
    assert change_id
    with api(tls_server) as client:
        [change] = client.get("/api/v1/changes").json()
    assert str(change["id"]) == change_id
    assert (change["summary"], change["custom_details"]) == (
        "Feature flag new-checkout on",
        {"pct": 10},
    )
