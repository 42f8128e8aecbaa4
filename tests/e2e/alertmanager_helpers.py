"""A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) beside a real Tocsin.

`scripts/ensure-test-tools` installs it. Nothing here fakes Alertmanager: the test posts alerts
to its API and Alertmanager delivers them to Tocsin with its own webhook and PagerDuty senders.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest
import yaml

from tests.e2e.conftest import free_port

BINARIES = ("prometheus-alertmanager", "alertmanager")  # Debian's name, upstream's name
INSTALL_HINT = "run scripts/ensure-test-tools (apt-get install prometheus-alertmanager)"
T = TypeVar("T")


def alertmanager_binary() -> str:
    """The installed binary; fails (never skips) so a missing peer cannot hide a defect."""
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"Prometheus Alertmanager is not installed: {INSTALL_HINT}")


class LogTail:
    """Drain a child's output on a thread (so a full pipe never stalls it) and keep the end."""

    def __init__(self, stream: IO[str], lines: int = 200) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.append(line.rstrip("\n"))

    def text(self, lines: int = 40) -> str:
        return "\n".join(list(self._lines)[-lines:])


def render_config(
    *, tocsin: str, webhook_key: str, routing_key: str, repeat_interval: str = "1h"
) -> str:
    """alertmanager.yml: everything to Tocsin's webhook, team=payments through PagerDuty v2."""
    config: dict[str, Any] = {
        "route": {
            "receiver": "tocsin-webhook",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": repeat_interval,
            "routes": [
                {
                    "matchers": ['team="payments"'],
                    "receiver": "tocsin-pagerduty",
                    "continue": False,
                },
            ],
        },
        "receivers": [
            {
                "name": "tocsin-webhook",
                "webhook_configs": [
                    {
                        "url": f"{tocsin}/api/v1/integrations/{webhook_key}/alertmanager",
                        "send_resolved": True,
                    }
                ],
            },
            {
                "name": "tocsin-pagerduty",
                "pagerduty_configs": [
                    {
                        "routing_key": routing_key,
                        "url": f"{tocsin}/v2/enqueue",
                        "send_resolved": True,
                        # Alertmanager sends "error" unless told; most setups pass the label on.
                        "severity": "{{ .CommonLabels.severity }}",
                    }
                ],
            },
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def render_opsgenie_config(*, tocsin: str, key: str, repeat_interval: str = "1h") -> str:
    """alertmanager.yml: everything to Tocsin through opsgenie_configs, as a team leaving
    Opsgenie has it (update_alerts on, the message and description from the annotations)."""
    config: dict[str, Any] = {
        "route": {
            "receiver": "tocsin-opsgenie",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": repeat_interval,
        },
        "receivers": [
            {
                "name": "tocsin-opsgenie",
                "opsgenie_configs": [
                    {
                        "api_key": key,
                        "api_url": f"{tocsin}/",  # Alertmanager adds v2/alerts... to it
                        "update_alerts": True,
                        "send_resolved": True,
                        "message": "{{ .CommonAnnotations.summary }}",
                        "description": "{{ .CommonAnnotations.description }}",
                        "priority": "{{ .CommonLabels.priority }}",
                        "tags": "{{ .CommonLabels.team }}",
                    }
                ],
            },
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class Alertmanager:
    url: str
    config_path: Path
    process: subprocess.Popen[str]
    log: LogTail
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = self.client.post(f"{self.url}/api/v2/alerts", json=alerts)
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{self.tail()}"

    def reload(self, config: str) -> None:
        """Swap the configuration in place; alerts and the notification log are kept."""
        self.config_path.write_text(config)
        response = self.client.post(f"{self.url}/-/reload")
        assert response.status_code == 200, f"reload failed: {response.text}\n{self.tail()}"

    def notifications(self, integration: str) -> dict[str, float]:
        """Alertmanager's own counters for one integration (its /metrics), by metric name."""
        response = self.client.get(f"{self.url}/metrics")
        assert response.status_code == 200, response.text
        counts: dict[str, float] = collections.defaultdict(float)
        for line in response.text.splitlines():
            name, _, rest = line.partition("{")
            if f'integration="{integration}"' in rest and not line.startswith("#"):
                counts[name] += float(line.rsplit(" ", 1)[1])
        return dict(counts)

    def tail(self) -> str:
        return f"--- Alertmanager log (last lines) ---\n{self.log.text()}"

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_alertmanager(config: str, workdir: Path) -> Alertmanager:
    """Start it on a free port with clustering off, and wait until /-/ready answers 200."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "alertmanager.yml"
    config_path.write_text(config)
    port = free_port()
    args = [
        alertmanager_binary(),
        f"--config.file={config_path}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=debug",
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    running = Alertmanager(
        f"http://127.0.0.1:{port}", config_path, process, LogTail(process.stdout)
    )
    try:
        _wait_ready(running, seconds=20)
    except BaseException:
        running.stop()
        raise
    return running


def _wait_ready(am: Alertmanager, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if am.process.poll() is not None:
            raise AssertionError(f"Alertmanager exited with {am.process.returncode}\n{am.tail()}")
        try:
            if am.client.get(f"{am.url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"Alertmanager was not ready within {seconds:.0f}s\n{am.tail()}")


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert(
    labels: dict[str, str],
    *,
    summary: str,
    starts_at: datetime,
    ends_at: datetime | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """One alert as Prometheus posts it to Alertmanager's v2 API."""
    annotations = {"summary": summary}
    if description is not None:
        annotations["description"] = description
    posted: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(starts_at),
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
    }
    if ends_at is not None:
        posted["endsAt"] = rfc3339(ends_at)
    return posted


def resolved(alerts: Iterable[dict[str, Any]], at: datetime) -> list[dict[str, Any]]:
    """The same alerts, ended at `at`: how Prometheus tells Alertmanager they are over."""
    return [{**a, "endsAt": rfc3339(at)} for a in alerts]


def a_minute_ago() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=1)


def poll(
    what: str,
    probe: Callable[[], T | None],
    *,
    context: Callable[[], str],
    seconds: float = 30,
    every: float = 0.25,
) -> T:
    """Call `probe` until it returns something truthy; fail naming `what`, with `context()`."""
    deadline = time.monotonic() + seconds
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(
        f"timed out after {seconds:.0f}s waiting for {what}; last probe gave {last!r}\n{context()}"
    )
