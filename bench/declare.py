"""Incidents declared per second over the HTTP API.

For each database:
1. Create a responder token with `tocsin token create` (which migrates the empty database).
2. Start a real `tocsin serve --no-engine` on a free port (`--workers N` as
   `python -m bench declare --workers N` says, 1 by default) and wait for /healthz.
3. Drive `POST /api/v1/incidents` from N concurrent clients (asyncio + httpx, one connection
   each) for a fixed number of requests, after a short warm-up that is not counted.
4. Report throughput (201s per second of wall time) and latency percentiles.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from bench import common
from bench.common import (
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


@dataclass(frozen=True)
class DeclareConfig:
    requests: int = 2000
    concurrency: tuple[int, ...] = (1, 8)
    warmup: int = 50
    time_cap_s: float = 90.0


QUICK = DeclareConfig(requests=300, concurrency=(8,), warmup=20, time_cap_s=30.0)


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path


def start_server(database_url: str, workdir: Path, *, engine: bool = False) -> Server:
    """`tocsin serve` (with `--no-engine` unless `engine`), answering /healthz."""
    env = tocsin_env(database_url, workdir)
    token = create_token(env, role="responder", name="bench")
    port = free_port()
    log = workdir / "serve.log"
    args = common.serve_args(port)
    args.append("--engine" if engine else "--no-engine")
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", token, process, log)
    wait_healthy(server.url, process, log)
    return server


@dataclass
class Run:
    latencies_ms: list[float]
    statuses: Counter[int]
    wall_s: float


async def _client(
    client: httpx.AsyncClient, remaining: list[int], run: Run, until: Until, tick: Any
) -> None:
    while remaining[0] > 0 and not until.reached():
        remaining[0] -= 1
        body = {"title": f"bench incident {remaining[0]}", "severity": "P2"}
        started = time.perf_counter()
        try:
            response = await client.post("/api/v1/incidents", json=body)
            status = response.status_code
        except httpx.HTTPError:
            status = 0  # connection error or timeout
        run.latencies_ms.append((time.perf_counter() - started) * 1000)
        run.statuses[status] += 1
        tick()


@dataclass
class Until:
    """When clients stop: after `cap_s` seconds, or sooner once `stop` is set."""

    cap_s: float
    stop: threading.Event | None = None

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.cap_s

    def reached(self) -> bool:
        return time.monotonic() >= self.deadline or (self.stop is not None and self.stop.is_set())


async def drive(
    server: Server,
    count: int,
    clients: int,
    cap_s: float,
    tick: Any,
    stop: threading.Event | None = None,
) -> Run:
    """Declare `count` incidents from `clients` concurrent clients (fewer if time runs out)."""
    headers = {"Authorization": f"Bearer {server.token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    run = Run([], Counter(), 0.0)
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, limits=limits, timeout=60
    ) as client:
        remaining = [count]
        started = time.perf_counter()
        until = Until(cap_s, stop)
        await asyncio.gather(
            *(_client(client, remaining, run, until, tick) for _ in range(clients))
        )
        run.wall_s = time.perf_counter() - started
    return run


def _measure(server: Server, config: DeclareConfig, clients: int, label: str) -> dict[str, Any]:
    asyncio.run(drive(server, config.warmup, clients, config.time_cap_s, lambda: None))
    with Progress(
        f"[bold]{label}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=config.requests)
        run = asyncio.run(
            drive(
                server,
                config.requests,
                clients,
                config.time_cap_s,
                lambda: progress.advance(task),
            )
        )
    created = run.statuses.get(201, 0)
    return {
        "clients": clients,
        "requests": sum(run.statuses.values()),
        "created": created,
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "wall_s": run.wall_s,
        "throughput_per_s": created / run.wall_s if run.wall_s else 0.0,
        "latency_ms": summary(run.latencies_ms),
    }


def _bench_backend(backend: str, config: DeclareConfig) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with (
        throwaway_database(backend) as url,
        tempfile.TemporaryDirectory(prefix="tocsin-bench-serve-") as directory,
    ):
        server = start_server(url, Path(directory))
        try:
            for clients in config.concurrency:
                load_before = load_average()
                row = _measure(server, config, clients, f"declare {backend} x{clients}")
                row.update(
                    backend=backend,
                    workers=common.serve_workers,
                    load_before=load_before,
                    load_after=load_average(),
                )
                rows.append(row)
                if row["created"] != row["requests"]:
                    console.print(f"[red]errors: {row['statuses']}; server log tail:")
                    console.print(server.log.read_text()[-2000:])
        finally:
            stop_process(server.process, signal_first=signal.SIGINT)
    return rows


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title="Declare over HTTP: POST /api/v1/incidents (P2, proofkit)")
    for column in ("database", "workers", "clients", "201s", "errors", "incidents/s"):
        out.add_column(column, justify="right")
    for column in ("p50 ms", "p95 ms", "p99 ms", "max ms"):
        out.add_column(column, justify="right")
    for row in rows:
        lat = row["latency_ms"]
        out.add_row(
            row["backend"],
            str(row["workers"]),
            str(row["clients"]),
            str(row["created"]),
            str(row["requests"] - row["created"]),
            f"{row['throughput_per_s']:.1f}",
            *(ms(lat[k]) for k in ("p50", "p95", "p99", "max")),
        )
    return out


def run(backends: tuple[str, ...], *, quick: bool) -> dict[str, Any]:
    config = QUICK if quick else DeclareConfig()
    rows: list[dict[str, Any]] = []
    for backend in backends:
        rows += _bench_backend(backend, config)
    console.print(table(rows))
    return {"benchmark": "declare", "config": asdict(config), "results": rows}
