"""`tocsin serve --workers 2`: two serving processes, one engine, wake-ups across processes.

Everything is real: the server is a `tocsin serve` process (uvicorn's supervisor and its two
spawned workers), the alert crosses a socket, the page arrives at an HTTP receiver. The
engine interval is long (5 s) so a page that arrives within PAGE_WITHIN_S proves the commit
in a serving worker woke the engine in the supervising process: a regular tick would be
later than that.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.conftest import BIN, Server, start_server
from tests.e2e.receivers import HttpReceiver, Received
from tocsin.db import Database
from tocsin.engine import lease

pytestmark = pytest.mark.e2e

T = TypeVar("T")

LEASE_S = 3.0
ENGINE_INTERVAL_S = 5.0
PAGE_WITHIN_S = 2.0  # the idle bound is 100 ms (bench paging); this is a loaded 2-core box
TAKEOVER_WITHIN_S = LEASE_S + 4.0  # expiry, then the standby's next try (every LEASE_S / 3)

POLICY = """\
name: workers
title: Pages at once
severities:
  - {id: P1, name: Critical, pages: true, respond_within: 1h}
"""

ONCALL = """\
people:
  - handle: alice
    name: Alice Okafor
    contact_methods:
      - {{name: pager, kind: webhook, address: "{hooks}/pager/alice"}}
    notification_rules:
      - {{method: pager, after: 0m}}
escalation_policies:
  - handle: pager
    name: Alice
    steps:
      - {{after: 0m, targets: ["person:alice"]}}
services:
  - {{handle: checkout, name: Checkout, escalation_policy: pager}}
"""


@dataclass
class Stack:
    server: Server
    hooks: HttpReceiver
    alert_url: str
    env: dict[str, str]


def poll(what: str, probe: Callable[[], T | None], server: Server, seconds: float) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out after {seconds:.1f}s waiting for {what}\n" + log(server))


def log(server: Server) -> str:
    return "--- tocsin log (last lines) ---\n" + "".join(server.log[-40:])


def environment(tmp_path: Path) -> dict[str, str]:
    policy = tmp_path / "workers.yaml"
    policy.write_text(POLICY)
    return {
        "TOCSIN_ENGINE_INTERVAL": str(ENGINE_INTERVAL_S),
        "TOCSIN_ENGINE_LEASE_SECONDS": str(LEASE_S),
        "TOCSIN_OUTBOUND_ALLOW": "127.0.0.0/8",
        "TOCSIN_POLICY": str(policy),
    }


def prepare(server: Server, hooks: HttpReceiver, tmp_path: Path) -> str:
    """Alice on call for checkout; an Alertmanager integration: its webhook URL."""
    oncall = tmp_path / "oncall.yaml"
    oncall.write_text(ONCALL.format(hooks=hooks.url))
    applied = server.cli("oncall", "apply", str(oncall))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    created = httpx.post(
        f"{server.url}/api/v1/integrations",
        json={"name": "prometheus", "kind": "alertmanager"},
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    url: str = created.json()["urls"]["webhook"]
    return url


@pytest.fixture
def stack(database: Database, tmp_path: Path) -> Iterator[Stack]:
    extra = environment(tmp_path)
    with HttpReceiver() as hooks:
        server = start_server(
            database.url, tmp_path, policy=extra["TOCSIN_POLICY"], extra_env=extra, workers=2
        )
        try:
            yield Stack(server, hooks, prepare(server, hooks, tmp_path), server.env)
        finally:
            stop(server.process)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def health(server: Server) -> dict[str, Any]:
    # A new connection each time: the kernel hands it to whichever worker accepts first.
    with httpx.Client(timeout=10) as client:
        answer = client.get(f"{server.url}/healthz")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def answers_from_both_workers(server: Server, seconds: float = 60) -> list[dict[str, Any]]:
    """/healthz, eight at a time (an idle worker takes what a busy one cannot), until two
    different workers have answered: the second may still be starting on a busy machine."""
    answers: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(8) as pool:
        while time.monotonic() < deadline:
            answers += pool.map(lambda _: health(server), range(8))
            if len({answer["pid"] for answer in answers}) >= 2:
                return answers
    raise AssertionError(f"one worker answered everything: {answers[-1]['pid']}\n" + log(server))


def fire_alert(stack: Stack, name: str) -> float:
    """One critical checkout alert of its own group; when it was accepted (monotonic)."""
    payload = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "status": "firing",
        "receiver": "tocsin",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": name, "severity": "critical", "service": "checkout"},
                "annotations": {"summary": f"{name} is failing"},
                "startsAt": datetime.now(UTC).isoformat(),
                "fingerprint": uuid.uuid4().hex[:16],
            }
        ],
    }
    with httpx.Client(timeout=10) as client:  # its own connection: any worker may take it
        response = client.post(stack.alert_url, json=payload)
    assert response.status_code in (200, 202), response.text
    return time.monotonic()


def pages(hooks: HttpReceiver) -> list[Received]:
    return [r for r in hooks.requests if r.path == "/pager/alice"]


def test_both_workers_serve_and_one_engine_runs(stack: Stack) -> None:
    parent = stack.server.process.pid
    answers = answers_from_both_workers(stack.server)
    pids = {answer["pid"] for answer in answers}
    assert parent not in pids, "the supervising process serves no requests"
    holders = {(a["engine_lease"] or {}).get("pid") for a in answers}
    assert holders == {parent}, "the engine runs in the supervisor, and only there"
    assert [e["pid"] for e in answers[-1]["engines"]] == [parent], answers[-1]["engines"]


def test_an_alert_to_any_worker_pages_once_and_at_once(stack: Stack) -> None:
    """Several alerts, each on its own connection, so both workers take some: each pages
    within the bound (the wake-up crossed processes), and exactly once."""
    for n in range(4):
        accepted = fire_alert(stack, f"CheckoutDown{n}")
        poll(f"page {n + 1}", lambda n=n: len(pages(stack.hooks)) > n, stack.server, 15)
        waited = time.monotonic() - accepted
        assert waited < PAGE_WITHIN_S, f"page {n + 1} took {waited:.2f}s: no cross-process wake-up"
    time.sleep(ENGINE_INTERVAL_S / 2)  # a second engine would have sent its copies by now
    keys = [page.idempotency_key for page in pages(stack.hooks)]
    assert len(keys) == 4 and len(set(keys)) == 4, keys


def scrape(server: Server) -> tuple[int, float]:
    """One /metrics scrape on its own connection: the worker that answered and the alerts
    it counts as taken in."""
    with httpx.Client(timeout=10) as client:
        answer = client.get(f"{server.url}/metrics")
    assert answer.status_code == 200, answer.text
    ingested = [
        float(line.rsplit(" ", 1)[1])
        for line in answer.text.splitlines()
        if line.startswith("tocsin_alerts_ingested_total{")
    ]
    return int(answer.headers["X-Tocsin-Pid"]), sum(ingested)


def test_every_worker_reports_the_deployments_intake(stack: Stack) -> None:
    """Alerts taken in by both workers; every scrape, whichever worker answers, counts all of
    them (the figures come from the shared database, not from one worker's memory)."""
    answers_from_both_workers(stack.server)  # both are up, so both take some alerts
    fired = 6
    for n in range(fired):
        fire_alert(stack, f"MetricsDown{n}")
    scrapes: list[tuple[int, float]] = []
    with ThreadPoolExecutor(8) as pool:
        deadline = time.monotonic() + 60
        while len({pid for pid, _ in scrapes}) < 2 and time.monotonic() < deadline:
            scrapes += pool.map(lambda _: scrape(stack.server), range(8))
    assert len({pid for pid, _ in scrapes}) == 2, f"one worker answered every scrape: {scrapes}"
    assert stack.server.process.pid not in {pid for pid, _ in scrapes}
    assert {total for _, total in scrapes} == {fired}, scrapes


def test_healthz_names_the_worker_in_a_header(stack: Stack) -> None:
    with httpx.Client(timeout=10) as client:
        answer = client.get(f"{stack.server.url}/healthz")
    assert answer.headers["X-Tocsin-Pid"] == str(answer.json()["pid"])


def test_sigterm_stops_workers_and_releases_the_lease(stack: Stack, database: Database) -> None:
    assert lease.current_holder(database) is not None
    stack.server.process.send_signal(signal.SIGTERM)
    assert stack.server.process.wait(timeout=30) == 0, log(stack.server)
    assert lease.current_holder(database) is None, "a graceful stop hands the lease over"
    text = "".join(stack.server.log)
    assert "Traceback" not in text, text
    assert text.count("Finished server process") == 2, log(stack.server)


def test_a_standby_takes_over_from_a_killed_engine(database: Database, tmp_path: Path) -> None:
    """`tocsin engine` holds the lease; `serve --workers 2` stands by. kill -9 the engine:
    the supervisor takes over within the lease time and pages."""
    extra = environment(tmp_path)
    env = {
        **os.environ,
        "TOCSIN_DATABASE_URL": database.url,
        "TOCSIN_CONFIG": str(tmp_path / "cli.json"),
        **extra,
    }
    engine = subprocess.Popen(
        [str(BIN / "tocsin"), "engine"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        poll_holder(database, engine.pid, 60)
        with HttpReceiver() as hooks:
            server = start_server(
                database.url, tmp_path, policy=extra["TOCSIN_POLICY"], extra_env=extra, workers=2
            )
            try:
                stack = Stack(server, hooks, prepare(server, hooks, tmp_path), server.env)
                assert health(server)["engine_lease"]["pid"] == engine.pid, "serve took it over"
                engine.kill()
                engine.wait()
                killed_at = time.monotonic()
                poll_holder(database, server.process.pid, TAKEOVER_WITHIN_S)
                took = time.monotonic() - killed_at
                assert took < TAKEOVER_WITHIN_S, took
                accepted = fire_alert(stack, "AfterTakeover")
                poll("the page after the takeover", lambda: pages(hooks), server, 15)
                assert time.monotonic() - accepted < PAGE_WITHIN_S
            finally:
                stop(server.process)
    finally:
        if engine.poll() is None:
            engine.kill()


def poll_holder(database: Database, pid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        holder = lease.current_holder(database)
        if holder is not None and holder.pid == pid:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} did not hold the engine lease within {seconds:.0f}s")
