"""Alerts ingested per second: Tocsin's Alertmanager webhook against Alertmanager itself.

Alertmanager is the reference because it is what sits in front of Tocsin: if Tocsin cannot
store alerts as fast as Alertmanager takes them in, a storm backs up in Alertmanager's retry
queue. Alertmanager keeps alerts in memory only; Tocsin commits every one before it answers.

For each scenario the same alerts go through the same load generator (bench/loadgen.py):
batches of 100 alerts, over 8 keep-alive connections, built before the clock starts.
- `unique`: every alert is new (a storm of distinct alerts: 100 inserts per batch).
- `repeated`: the same 100 alerts again and again (re-notification: 100 updates per batch).

Targets:
- Alertmanager (Debian's `prometheus-alertmanager`), `POST /api/v2/alerts`, a null receiver;
- Tocsin, `tocsin serve` as `make run` starts it (engine included), on SQLite and PostgreSQL,
  `POST /api/v1/integrations/{key}/alertmanager` with webhook payloads (version 4).

After each Tocsin run the database is counted: every accepted alert must be stored (unique:
one row each; repeated: the counts add up), or the run is reported as a failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bench.common import (
    TOCSIN,
    console,
    create_token,
    free_port,
    load_average,
    ms,
    stop_process,
    summary,
    throwaway_database,
    tocsin_env,
    wait_healthy,
)
from bench.loadgen import BlastResult, blast

BATCH = 100
SCENARIOS = ("unique", "repeated")


@dataclass(frozen=True)
class IngestConfig:
    batches: int = 1000  # per scenario: 100,000 alerts
    warmup_batches: int = 50
    connections: int = 8


QUICK = IngestConfig(batches=200, warmup_batches=20)


# --- the alerts ----------------------------------------------------------------------------


def _labels(n: int) -> dict[str, str]:
    return {
        "alertname": "HighRequestLatency",
        "severity": "warning",
        "job": "checkout-api",
        "instance": f"checkout-{n}.prod.example:9100",
        "team": "storefront",
        "region": "eu-west-1",
    }


def _fingerprint(labels: dict[str, str]) -> str:
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":")).encode()
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()


def _annotations(n: int) -> dict[str, str]:
    return {
        "summary": f"p99 latency above 2s on checkout-{n}",
        "description": "Checkout p99 latency has been above 2 seconds for 5 minutes.",
        "runbook_url": "https://runbooks.example/checkout/latency",
    }


STARTS_AT = "2026-12-01T03:00:00.000Z"
GENERATOR = "http://prometheus.example:9090/graph?g0.expr=histogram_quantile"


def alertmanager_batch(first: int) -> bytes:
    """What Prometheus posts to Alertmanager's API v2: a JSON list of alerts."""
    alerts = [
        {
            "labels": _labels(n),
            "annotations": _annotations(n),
            "startsAt": STARTS_AT,
            "generatorURL": GENERATOR,
        }
        for n in range(first, first + BATCH)
    ]
    return json.dumps(alerts).encode()


def webhook_batch(first: int) -> bytes:
    """What Alertmanager posts to a webhook receiver (version 4) for the same alerts."""
    alerts = []
    for n in range(first, first + BATCH):
        labels = _labels(n)
        alerts.append(
            {
                "status": "firing",
                "labels": labels,
                "annotations": _annotations(n),
                "startsAt": STARTS_AT,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": GENERATOR,
                "fingerprint": _fingerprint(labels),
            }
        )
    common = {"alertname": "HighRequestLatency", "severity": "warning"}
    payload = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="HighRequestLatency",batch="{first}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "tocsin",
        "groupLabels": {"alertname": "HighRequestLatency"},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }
    return json.dumps(payload).encode()


def bodies(make: Any, scenario: str, batches: int, offset: int) -> list[bytes]:
    """`unique`: fresh alerts in every batch; `repeated`: the same 100 alerts every time."""
    if scenario == "repeated":
        one = make(0)
        return [one] * batches
    return [make(offset + i * BATCH) for i in range(batches)]


# --- running a scenario --------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    backend: str
    base_url: str
    path: str
    make: Any  # first alert number -> request body


def _blast(target: Target, payloads: list[bytes], config: IngestConfig, label: str) -> BlastResult:
    split = urlsplit(target.base_url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    with Progress(
        f"[bold]{label}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=len(payloads))
        return asyncio.run(
            blast(
                host,
                port,
                target.path,
                payloads,
                connections=config.connections,
                tick=lambda: progress.advance(task),
            )
        )


def measure(
    target: Target, scenario: str, config: IngestConfig, database_url: str | None = None
) -> dict[str, Any]:
    """Warm up, then time the scenario; with a database, count what was stored."""
    # Warm-up alerts are numbered far from the measured ones, so `unique` stays unique.
    warmup = bodies(target.make, scenario, config.warmup_batches, offset=10_000_000)
    _blast(target, warmup, config, f"{target.name} {scenario} warm-up")
    payloads = bodies(target.make, scenario, config.batches, offset=0)
    stored_before = _stored(database_url) if database_url else None
    load_before = load_average()
    result = _blast(target, payloads, config, f"{target.name} {scenario}")
    accepted = result.ok() * BATCH
    row = {
        "target": target.name,
        "backend": target.backend,
        "scenario": scenario,
        "batches": len(payloads),
        "accepted_alerts": accepted,
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "errors": result.errors,
        "wall_s": result.wall_s,
        "alerts_per_s": accepted / result.wall_s if result.wall_s else 0.0,
        "batch_latency_ms": summary(result.latencies_ms),
        "load_before": load_before,
        "load_after": load_average(),
    }
    if database_url and stored_before is not None:
        _check_stored(database_url, stored_before, row)
    return row


# --- Alertmanager --------------------------------------------------------------------------

ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")


def _alertmanager_binary() -> str:
    for name in ALERTMANAGER_BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("Alertmanager is not installed: run scripts/ensure-test-tools")


def _alertmanager_version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0] if (done.stdout or done.stderr) else "?"


def bench_alertmanager(config: IngestConfig, workdir: Path) -> list[dict[str, Any]]:
    binary = _alertmanager_binary()
    config_path = workdir / "alertmanager.yml"
    route = {"receiver": "null", "group_by": ["alertname"], "group_wait": "30s"}
    config_path.write_text(yaml.safe_dump({"route": route, "receivers": [{"name": "null"}]}))
    port = free_port()
    log = workdir / "alertmanager.log"
    args = [
        binary,
        f"--config.file={config_path}",
        f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/-/ready", process, log)
        target = Target("alertmanager", "memory", url, "/api/v2/alerts", alertmanager_batch)
        rows = [measure(target, scenario, config) for scenario in SCENARIOS]
    finally:
        stop_process(process, signal_first=signal.SIGTERM)
    version = _alertmanager_version(binary)
    for row in rows:
        row["version"] = version
    return rows


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} never answered 200:\n{log.read_text()[-3000:]}")


# --- Tocsin --------------------------------------------------------------------------------


def _create_integration(url: str, token: str) -> str:
    response = httpx.post(
        f"{url}/api/v1/integrations",
        json={"name": "bench-alertmanager", "kind": "alertmanager"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["key"])


def _stored(database_url: str) -> tuple[int, int]:
    """(rows, sum of counts) of alerts in the database."""
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as conn:
        rows, seen = conn.execute(
            text("SELECT count(*), coalesce(sum(count), 0) FROM alerts")
        ).one()
    engine.dispose()
    return int(rows), int(seen)


def _check_stored(database_url: str, before: tuple[int, int], row: dict[str, Any]) -> None:
    rows, seen = _stored(database_url)
    row["stored_rows"], row["stored_count"] = rows - before[0], seen - before[1]
    expected_rows = row["accepted_alerts"] if row["scenario"] == "unique" else 0
    row["every_accepted_alert_stored"] = (
        row["stored_count"] == row["accepted_alerts"] and row["stored_rows"] == expected_rows
    )


def bench_tocsin(backend: str, config: IngestConfig, workdir: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with throwaway_database(backend) as database_url:
        env = tocsin_env(database_url, workdir)
        token = create_token(env, role="admin", name="bench")
        port = free_port()
        log = workdir / f"serve-{backend}.log"
        args = [str(TOCSIN), "serve", "--host", "127.0.0.1", "--port", str(port)]
        with log.open("wb") as out:
            process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, process, log)
            key = _create_integration(url, token)
            path = f"/api/v1/integrations/{key}/alertmanager"
            target = Target("tocsin", backend, url, path, webhook_batch)
            rows += [measure(target, s, config, database_url) for s in SCENARIOS]
        finally:
            stop_process(process, signal_first=signal.SIGINT)
    return rows


# --- report --------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title=f"Alert ingest, batches of {BATCH} (same load generator for every target)")
    for column in ("target", "store", "scenario", "alerts/s", "vs Alertmanager", "non-2xx"):
        out.add_column(column, justify="right")
    for column in ("p50 ms", "p99 ms", "all stored"):
        out.add_column(column, justify="right")
    reference = {r["scenario"]: r["alerts_per_s"] for r in rows if r["target"] == "alertmanager"}
    for row in rows:
        base = reference.get(row["scenario"])
        ratio = f"{row['alerts_per_s'] / base:.2f}x" if base else "-"
        bad = sum(v for k, v in row["statuses"].items() if not k.startswith("2"))
        stored = row.get("every_accepted_alert_stored")
        out.add_row(
            row["target"],
            row["backend"],
            row["scenario"],
            f"{row['alerts_per_s']:,.0f}",
            ratio,
            str(bad),
            ms(row["batch_latency_ms"]["p50"]),
            ms(row["batch_latency_ms"]["p99"]),
            "-" if stored is None else ("yes" if stored else "[red]NO[/]"),
        )
    return out


def run(backends: tuple[str, ...], *, quick: bool) -> dict[str, Any]:
    config = QUICK if quick else IngestConfig()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-ingest-") as directory:
        workdir = Path(directory)
        rows += bench_alertmanager(config, workdir)
        for backend in backends:
            rows += bench_tocsin(backend, config, workdir)
    console.print(table(rows))
    for row in rows:
        if row["errors"]:
            console.print(
                f"[red]{row['target']} {row['backend']} {row['scenario']}:[/] {row['errors']}"
            )
    return {
        "benchmark": "ingest",
        "config": asdict(config),
        "started": datetime.now(UTC).isoformat(),
        "results": rows,
    }
