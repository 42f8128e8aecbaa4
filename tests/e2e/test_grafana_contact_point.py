"""A Grafana contact point set up from the CLI and sent to over a socket, as Grafana sends:
the default severity is printed when the integration is made, PUT is taken as POST is, and
the "Test" button's alert is resolved at once."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.api.test_grafana import grafana_alert, grafana_payload
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(shared_server: Server) -> Server:
    """These tests need nothing of their own: the session's shared server, reset."""
    return shared_server


def create(server: Server, *args: str) -> tuple[str, str]:
    """`tocsin integration create --kind grafana ...`: its output and the webhook URL."""
    made = server.cli("integration", "create", "--kind", "grafana", *args)
    assert made.returncode == 0, made.stdout + made.stderr
    found = re.search(r"webhook: (\S+)", made.stdout)
    assert found, made.stdout
    return made.stdout, found.group(1)


def test_the_cli_says_the_default_severity_and_grafana_reaches_tocsin(server: Server) -> None:
    output, webhook = create(server, "--name", "grafana prod")
    assert "default severity: warning (for its alerts without a severity label" in output
    output, paging = create(server, "--name", "grafana paging", "--default-severity", "critical")
    assert "default severity: critical" in output
    refused = server.cli(
        "integration", "create", "--kind", "grafana", "--name", "x", "--default-severity", "loud"
    )
    assert refused.returncode != 0
    assert "default_severity" in refused.stdout + refused.stderr

    # Grafana's contact point set to PUT, with a rule that has no severity label.
    unlabelled = grafana_alert("eu-1", severity=None)
    sent = httpx.put(paging, json=grafana_payload([unlabelled]), timeout=10)
    assert sent.status_code == 200, sent.text
    [incident] = sent.json()["incidents"]

    # The "Test" button.
    test = {
        "status": "firing",
        "labels": {"alertname": "TestAlert", "instance": "Grafana"},
        "annotations": {"summary": "Notification test"},
        "startsAt": "2026-11-22T03:00:03Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "57c6d9296de2ad39",
    }
    tested = httpx.post(webhook, json=grafana_payload([test], group_key="webhook-1"), timeout=10)
    assert tested.status_code == 200, tested.text
    assert (tested.json()["created"], tested.json()["resolved"], tested.json()["incidents"]) == (
        1,
        1,
        [],
    )

    listed = server.cli("alerts", "list", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert '"TestAlert"' in listed.stdout
    shown = server.cli("incident", "show", incident, "--json")
    assert '"severity": "P0"' in shown.stdout, shown.stdout
