"""The engine as a real process: breaches on time in `serve`, and survives kill -9 as `engine`."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import BIN, Server, start_server
from tocsin.db import Database

FAST_POLICY = """\
name: fast
title: Fast clocks for end-to-end tests
severities:
  - id: P1
    name: High
    respond_within: 2s
    resolve_within: 1h
"""


@pytest.fixture
def fast_policy(tmp_path: Path) -> str:
    path = tmp_path / "fast.yaml"
    path.write_text(FAST_POLICY)
    return str(path)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def server_with_engine(database: Database, tmp_path: Path, fast_policy: str) -> Iterator[Server]:
    running = start_server(database.url, tmp_path, policy=fast_policy)
    yield running
    stop(running.process)


@pytest.fixture
def server_without_engine(database: Database, tmp_path: Path, fast_policy: str) -> Iterator[Server]:
    running = start_server(database.url, tmp_path, policy=fast_policy, engine=False)
    yield running
    stop(running.process)


def declare(server: Server) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/incidents",
        json={"title": "Queue stuck", "severity": "P1"},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def timeline(server: Server, incident_id: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{server.url}/api/v1/incidents/{incident_id}/timeline",
        headers={"Authorization": f"Bearer {server.token}"},
    )
    return list(response.json())


def breaches(server: Server, incident_id: str) -> list[dict[str, object]]:
    return [e for e in timeline(server, incident_id) if e["kind"] == "clock_breached"]


def wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def parse(value: object) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def test_the_serving_engine_records_a_breach_as_it_happens(server_with_engine: Server) -> None:
    incident_id = declare(server_with_engine)
    assert wait_for(lambda: breaches(server_with_engine, incident_id), 15)
    (breach,) = breaches(server_with_engine, incident_id)
    data = breach["data"]
    assert isinstance(data, dict) and data["key"] == "acknowledge"
    lateness = (parse(breach["at"]) - parse(data["due_at"])).total_seconds()
    assert 0 <= lateness < 2.0, f"breach recorded {lateness:.2f}s after it fell due"


def start_engine(server: Server) -> subprocess.Popen[str]:
    # A short engine lease: a killed engine's successor takes over within seconds.
    env = {**server.env, "TOCSIN_ENGINE_INTERVAL": "0.2", "TOCSIN_ENGINE_LEASE_SECONDS": "3"}
    return subprocess.Popen(
        [str(BIN / "tocsin"), "engine"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def engine_passes(server: Server, pid: int) -> int:
    """How many passes the engine process `pid` has finished, as it reports on /healthz."""
    health = httpx.get(f"{server.url}/healthz").json()
    return sum(e["passes"] for e in health["engines"] if e["pid"] == pid)


def wait_until_past(moment: datetime) -> None:
    while datetime.now(UTC) <= moment:
        time.sleep(0.05)


def latest_due(server: Server, incident_ids: list[str]) -> datetime:
    due = []
    for incident_id in incident_ids:
        response = httpx.get(
            f"{server.url}/api/v1/incidents/{incident_id}/clocks",
            headers={"Authorization": f"Bearer {server.token}"},
        )
        due += [parse(c["due_at"]) for c in response.json() if c["kind"] == "acknowledge"]
    return max(due)


def test_a_killed_engine_is_replaced_and_nothing_is_lost_or_doubled(
    server_without_engine: Server,
) -> None:
    server = server_without_engine
    first = start_engine(server)
    ids = [declare(server) for _ in range(5)]
    os.kill(first.pid, signal.SIGKILL)  # dies before anything fell due
    first.wait(timeout=10)
    wait_until_past(latest_due(server, ids))  # every clock falls due while no engine runs
    assert all(not breaches(server, i) for i in ids)

    second = start_engine(server)
    try:
        assert wait_for(lambda: all(breaches(server, i) for i in ids), 20)
        # Two more finished passes: at least one began after every breach was seen, so a
        # doubled breach would be on the timeline by now.
        seen = engine_passes(server, second.pid)
        assert wait_for(lambda: engine_passes(server, second.pid) >= seen + 2, 20)
        for incident_id in ids:
            keys = [b["data"]["key"] for b in breaches(server, incident_id)]  # type: ignore[index]
            assert keys == ["acknowledge"], f"{incident_id}: {keys}"
    finally:
        stop(second)
    verify = server.cli("verify")
    assert verify.returncode == 0, verify.stderr
