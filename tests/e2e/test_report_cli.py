"""`tocsin report` against a running server: the Markdown and its SVG charts, and /metrics."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Server


@pytest.fixture
def server(shared_server: Server) -> Server:
    """These tests need nothing of their own: the session's shared server, reset."""
    return shared_server


def _this_quarter() -> str:
    today = datetime.now(UTC)
    return f"{today.year}-Q{(today.month - 1) // 3 + 1}"


def _declare(server: Server, severity: str, *extra: str) -> str:
    done = server.cli(
        "incident",
        "declare",
        "--title",
        "Checkout errors",
        "--severity",
        severity,
        *extra,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["id"])


def test_the_quarterly_report_is_markdown_with_charts(server: Server, tmp_path: Path) -> None:
    incident_id = _declare(server, "P0")
    assert server.cli("incident", "ack", incident_id).returncode == 0
    quarter = _this_quarter()
    done = server.cli("report", "--period", quarter, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    text = (tmp_path / f"report-{quarter}.md").read_text()
    assert text.startswith(f"# Quarterly incident analysis: {quarter}")
    assert incident_id in text and "| Incidents | 1 |" in text
    assert "MTTR (time to resolve) | — |" in text  # not resolved yet: no figure, not zero
    charts = sorted((tmp_path / "charts").glob("*.svg"))
    assert [c.name for c in charts] == [
        f"{quarter}-{n}.svg" for n in ("clocks", "incidents", "mttr", "severity")
    ]
    for chart in charts:
        assert f"charts/{chart.name}" in text
        assert ET.fromstring(chart.read_text()).tag == "{http://www.w3.org/2000/svg}svg"


def test_report_json_and_bad_periods(server: Server) -> None:
    done = server.cli("report", "--period", _this_quarter(), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["mtta_seconds"] is None
    bad = server.cli("report", "--period", "Q4-2026")
    assert bad.returncode != 0 and "2026-W47" in bad.stderr and "--period" in bad.stderr


def test_prometheus_scrapes_the_running_server(server: Server) -> None:
    _declare(server, "P1")
    response = httpx.get(f"{server.url}/metrics", verify=server.verify)
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    open_p1 = [
        s.value for s in families["tocsin_incidents_open"].samples if s.labels == {"severity": "P1"}
    ]
    assert open_p1 == [1]
