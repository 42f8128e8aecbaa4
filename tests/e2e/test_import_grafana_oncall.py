"""After an import from Grafana OnCall, real senders post to the URLs the import printed, with the
tokens they had, and open alerts in a real `tocsin serve`: the real Prometheus Alertmanager's
own webhook sender, and a POST in Grafana Alerting's webhook contact point's shape."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.api.test_grafana import grafana_alert, grafana_payload
from tests.e2e.alertmanager_helpers import a_minute_ago, alert, poll, start_alertmanager
from tests.e2e.conftest import BIN, Server
from tests.importers.grafana_oncall_standin import TOKEN, GrafanaOnCall
from tests.importers.standin import serving
from tocsin.db import Database

pytestmark = pytest.mark.e2e
PAYMENTS_TOKEN = "n7Qx2LkP9vRt4WmZ8bYc3HdFs"
PLATFORM_TOKEN = "Jf4Tq8Rm2Xw6Pz9Lb3Nk7Vh5C"
MOBILE_TOKEN = "Ys5Gd9Kw3Qn7Ht2Bx8Mv4Rc6L"


def _import(database: Database, server: Server) -> dict[str, str]:
    """Run the import as a user does; return the new URL it printed for each integration."""
    with serving(GrafanaOnCall()) as standin:
        done = subprocess.run(
            [str(BIN / "tocsin"), "import", "grafana-oncall", "--base-url", standin.url, "--apply"],
            env={
                **server.env,
                "TOCSIN_DATABASE_URL": database.url,
                "TOCSIN_PUBLIC_URL": server.url,
                "GRAFANA_ONCALL_TOKEN": TOKEN,
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    return dict(
        re.findall(r"^  (.+?) \((?:grafana|alertmanager)\): \S+ -> (\S+)$", done.stdout, re.M)
    )


def _alerts(server: Server) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {server.token}"}
    answer = httpx.get(f"{server.url}/api/v1/alerts", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def _two(items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return items if len(items) == 2 else None


def _webhook_config(url: str) -> str:
    receiver = {"name": "oncall", "webhook_configs": [{"url": url, "send_resolved": True}]}
    route = {"receiver": "oncall", "group_by": ["alertname"], "group_wait": "1s"}
    return yaml.safe_dump({"route": route, "receivers": [receiver]}, sort_keys=False)


def test_senders_move_to_the_printed_urls(
    server: Server, database: Database, tmp_path: Path
) -> None:
    moved = _import(database, server)
    assert moved == {
        "Payments Grafana Alerting": f"{server.url}/api/v1/integrations/{PAYMENTS_TOKEN}/grafana",
        "Platform Alertmanager": f"{server.url}/api/v1/integrations/{PLATFORM_TOKEN}/alertmanager",
        "Mobile Grafana Alerting": f"{server.url}/api/v1/integrations/{MOBILE_TOKEN}/grafana",
    }
    assert server.process.poll() is None, "tocsin serve exited:\n" + "".join(server.log)
    # Grafana Alerting's webhook contact point, pointed at the new URL.
    payload = grafana_payload([grafana_alert("eu-west-1", name="Card payments failing")])
    answer = httpx.post(moved["Payments Grafana Alerting"], json=payload, timeout=10)
    assert answer.status_code in (200, 202), answer.text
    # The real Alertmanager's webhook sender, pointed at the other one.
    am = start_alertmanager(_webhook_config(moved["Platform Alertmanager"]), tmp_path / "am")
    try:
        labels = {"alertname": "DiskFull", "severity": "critical", "instance": "db-1"}
        am.post_alerts([alert(labels, summary="Disk full on db-1", starts_at=a_minute_ago())])
        found = poll(
            "both alerts in Tocsin",
            lambda: _two(_alerts(server)),
            context=am.tail,
        )
    finally:
        am.stop()
    assert sorted((a["service"], a["status"]) for a in found) == [
        ("payments-grafana-alerting", "firing"),
        ("platform-alertmanager", "firing"),
    ]
