"""Metrics and reports over 100k incidents (the issue's target: a quarterly report in under
2 s, `GET /api/v1/metrics` in under 500 ms).

For each database:
1. Migrate a throwaway database and bulk-insert a year (2026) of incidents: 100k (10k with
   --quick), each with 4 timeline events and 5 clocks (acknowledge, update, resolve, review,
   action_item; met, breached or cancelled), 2% of them drills. Durations are random.
2. Start a real `tocsin serve --no-engine` on it (proofkit policy) and time, after a warm-up,
   `GET /api/v1/metrics` for the default 30 days, for 2026-Q4, and for 2026-Q4 filtered
   by service; then `tocsin report --period 2026-Q4` end to end (a new process: Python's
   start-up included) and the report built in-process from the API's answer.
"""

from __future__ import annotations

import random
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table
from sqlalchemy import create_engine, insert
from sqlalchemy.pool import NullPool

from bench.common import (
    TOCSIN,
    console,
    create_token,
    free_port,
    stop_process,
    summary,
    throwaway_database,
    tocsin_env,
    wait_healthy,
)
from tocsin import migrate
from tocsin.incidents.models import Clock, Incident, TimelineEvent
from tocsin.metrics import report
from tocsin.metrics.schemas import Metrics

YEAR = datetime(2026, 1, 1, tzinfo=UTC)
SEVERITIES = ("P0", "P1", "P1", "P2", "P2", "P2", "P3", "P3")
SERVICES = ("checkout", "search", "payments", "accounts", "api")
CLOCK_KINDS = ("acknowledge", "update", "resolve", "review", "action_item")
BATCH = 5000
REPEATS = 10


def _incident(
    n: int, rng: random.Random
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    declared = YEAR + timedelta(seconds=rng.randrange(365 * 86400))
    ack, resolve = rng.randrange(30, 1800), rng.randrange(1800, 86400)
    incident_id = f"INC-B-{n:07d}"
    row = {
        "id": incident_id,
        "title": f"Bench incident {n}",
        "summary": "",
        "severity": rng.choice(SEVERITIES),
        "type": "service_outage",
        "status": "resolved",
        "services": [rng.choice(SERVICES)],
        "flags": {"drill": True} if n % 50 == 0 else {},
        "roles": {},
        "policy_name": "proofkit",
        "policy_hash": "0" * 64,
        "declared_by": "bench",
        "impact_started_at": declared - timedelta(seconds=rng.randrange(0, 900)),
        "detected_at": declared,
        "declared_at": declared,
        "acknowledged_at": declared + timedelta(seconds=ack),
        "mitigated_at": declared + timedelta(seconds=resolve // 2),
        "resolved_at": declared + timedelta(seconds=resolve),
        "last_event_seq": 4,
        "last_event_hash": "0" * 64,
    }
    events = [
        {
            "incident_id": incident_id,
            "seq": seq,
            "kind": kind,
            "at": declared + timedelta(seconds=s),
            "actor": "bench",
            "data": "{}",
            "prev_hash": "0" * 64,
            "hash": "0" * 64,
        }
        for seq, (kind, s) in enumerate(
            [
                ("declared", 0),
                ("acknowledged", ack),
                ("status_changed", resolve // 2),
                ("resolved", resolve),
            ],
            start=1,
        )
    ]
    clocks: list[dict[str, Any]] = [
        {
            "subject_type": "incident",
            "subject_id": incident_id,
            "incident_id": incident_id,
            "kind": kind,
            "key": kind,
            "action": "remind",
            "label": kind,
            "targets": [],
            "state": rng.choice(("met", "met", "met", "breached", "cancelled")),
            "starts_at": declared,
            "due_at": declared + timedelta(hours=1),
            "next_check_at": declared + timedelta(hours=1),
        }
        for kind in CLOCK_KINDS
    ]
    return row, events, clocks


def _fill(url: str, count: int) -> float:
    started, rng = time.monotonic(), random.Random(13)
    engine = create_engine(url, poolclass=NullPool)
    for first in range(0, count, BATCH):
        rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        clocks: list[dict[str, Any]] = []
        for n in range(first, min(first + BATCH, count)):
            row, its_events, its_clocks = _incident(n, rng)
            rows.append(row)
            events += its_events
            clocks += its_clocks
        with engine.begin() as conn:
            conn.execute(insert(Incident), rows)
            conn.execute(insert(TimelineEvent), events)
            conn.execute(insert(Clock), clocks)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")  # as autovacuum would soon after a bulk load
    engine.dispose()
    return time.monotonic() - started


def _time_get(client: httpx.Client, params: dict[str, Any]) -> tuple[dict[str, float], Any]:
    client.get("/api/v1/metrics", params=params).raise_for_status()  # warm-up
    times, body = [], None
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = client.get("/api/v1/metrics", params=params)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        body = response.json()
    return summary(times), body


def _one(backend: str, count: int) -> list[dict[str, Any]]:
    with throwaway_database(backend) as url, tempfile.TemporaryDirectory() as tmp:
        migrate.upgrade(url)
        filled = _fill(url, count)
        console.print(f"{backend}: {count:,} incidents inserted in {filled:.0f} s")
        env = tocsin_env(url, Path(tmp))
        token = create_token(env, role="viewer", name="bench")
        port, log = free_port(), Path(tmp) / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(TOCSIN), "serve", "--port", str(port), "--no-engine"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, process, log)
            return _measure(backend, base, token, env, Path(tmp))
        finally:
            stop_process(process, signal_first=2)


def _measure(
    backend: str, base: str, token: str, env: dict[str, str], tmp: Path
) -> list[dict[str, Any]]:
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    rows = []
    cases: dict[str, dict[str, Any]] = {
        "API, last 30 days": {"from": "2026-12-01", "to": "2026-12-31"},
        "API, 2026-Q4": {"period": "2026-Q4"},
        "API, 2026-Q4, top 50": {"period": "2026-Q4", "top": 50},
        "API, 2026-Q4, service=checkout": {"period": "2026-Q4", "service": "checkout"},
        "API, all of 2026": {"from": "2026-01-01", "to": "2027-01-01"},
    }
    for name, params in cases.items():
        timing, body = _time_get(client, params)
        rows.append({"backend": backend, "case": name, "incidents": body["incidents"], **timing})
    started = time.perf_counter()
    built = report.build(
        Metrics.model_validate(
            body := client.get("/api/v1/metrics", params={"period": "2026-Q4", "top": 50}).json()
        ),
        name="2026-Q4",
        kind="quarter",
    )
    report.write(built, tmp / "in-process")
    in_process = (time.perf_counter() - started) * 1000
    rows.append(
        {
            "backend": backend,
            "case": "report built in-process (API call included)",
            "incidents": body["incidents"],
            **summary([in_process]),
        }
    )
    cli = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(
            [str(TOCSIN), "report", "--period", "2026-Q4", "--out", str(tmp / "cli")],
            env={**env, "TOCSIN_URL": base, "TOCSIN_TOKEN": token},
            check=True,
            capture_output=True,
        )
        cli.append((time.perf_counter() - started) * 1000)
    rows.append(
        {
            "backend": backend,
            "case": "`tocsin report --period 2026-Q4` (new process)",
            "incidents": body["incidents"],
            **summary(cli),
        }
    )
    return rows


def run(backends: tuple[str, ...], *, quick: bool = False) -> dict[str, Any]:
    count = 10_000 if quick else 100_000
    rows = [row for backend in backends for row in _one(backend, count)]
    table = Table(
        title=f"Metrics over {count:,} incidents (ms, {REPEATS} requests after a warm-up)"
    )
    for column in ("database", "case", "incidents", "p50", "p95", "max"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["backend"],
            row["case"],
            f"{row['incidents']:,}",
            f"{row['p50']:.0f}",
            f"{row['p95']:.0f}",
            f"{row['max']:.0f}",
        )
    console.print(table)
    return {"incidents": count, "rows": rows}
