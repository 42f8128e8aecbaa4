"""SQLite writers in several processes: SQLite's busy handler, a lock file, or one writer process.

Issue #16. Two parts, each comparing the variants in the same run:

1. **Raw writers.** N processes (2, 4), each writing short transactions like the intake's
   (insert an alert-ish row with a random fingerprint under a unique index, plus its index
   entry) and the engine's (update a clock, append a timeline event), one after the other, as
   fast as they can, for a few seconds, against one SQLite file. Variants:
   - `off`: `Database(write_lock="off")`, Tocsin before this change: a thread lock, then
     BEGIN IMMEDIATE and SQLite's busy handler (busy_timeout 30 s) between processes;
   - `file` (A): `Database(write_lock="file")`, the default: a `flock` on `<db>.writelock`;
   - `writer` (B): a prototype single writer process owning the only write connection; the N
     processes send it their units of work over a Unix socket and wait for its answer, and it
     commits whatever is waiting in one transaction (group commit, a savepoint per unit).
   Reported: transactions/s, the wait for the write lock (entering write_session until the
   first statement ran; `writer`: none), and each unit's latency until committed.
2. **HTTP intake.** Two `tocsin serve --no-engine` processes and one `tocsin engine` on one
   SQLite file, fed by bench/loadgen.py (4 connections to each server), with
   TOCSIN_SQLITE_WRITE_LOCK=off and =file; one `tocsin serve --no-engine` with 8
   connections as the reference. Every accepted alert is counted in the database.

    .venv/bin/python -m bench sqlite_writers --quick     # ~1 min
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import selectors
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.common import (
    TOCSIN,
    console,
    create_token,
    free_port,
    load_average,
    ms,
    stop_process,
    summary,
    tocsin_env,
    wait_healthy,
)
from bench.ingest import _create_integration, _stored, bodies, webhook_batch
from bench.loadgen import BlastResult, blast
from tocsin.db import Database

VARIANTS = ("off", "file", "writer")
CLOCKS = 1_000  # rows the engine-like transactions update


@dataclass(frozen=True)
class WritersConfig:
    processes: tuple[int, ...] = (2, 4)
    # Alerts in an intake unit: 1 (the shortest transaction) or 100 (one webhook delivery).
    alerts_per_delivery: tuple[int, ...] = (1, 100)
    seconds: float = 4.0  # per (variant, processes) cell
    rounds: int = 2  # the variants take turns, round after round, so load drifts evenly
    http_batches: int = 600  # of 100 alerts, per HTTP scenario
    http_warmup: int = 40


QUICK = WritersConfig(seconds=2.0, rounds=1, http_batches=200, http_warmup=20)


# --- the work: what one intake and one engine transaction write ----------------------------

SCHEMA = (
    "CREATE TABLE bench_alerts (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL,"
    " labels TEXT NOT NULL, count INTEGER NOT NULL)",
    "CREATE UNIQUE INDEX ux_bench_alerts_fingerprint ON bench_alerts (fingerprint)",
    "CREATE TABLE bench_alert_index (alert_id INTEGER NOT NULL, key TEXT NOT NULL)",
    "CREATE INDEX ix_bench_alert_index_key ON bench_alert_index (key)",
    "CREATE TABLE bench_clocks (id INTEGER PRIMARY KEY, state TEXT NOT NULL,"
    " fired INTEGER NOT NULL)",
    "CREATE TABLE bench_events (id INTEGER PRIMARY KEY, clock_id INTEGER NOT NULL,"
    " hash TEXT NOT NULL)",
)
LABELS = '{"alertname":"HighRequestLatency","job":"checkout-api","region":"eu-west-1"}' * 3


def _create_schema(path: Path) -> None:
    database = Database(f"sqlite:///{path}")
    with database.write_session() as session:
        for statement in SCHEMA:
            session.execute(text(statement))
        session.execute(
            text("INSERT INTO bench_clocks (id, state, fired) VALUES (:id, 'pending', 0)"),
            [{"id": n} for n in range(CLOCKS)],
        )
    database.dispose()


Unit = dict[str, Any]  # {"n": number, "alerts": [[fingerprint, labels], ...]}; JSON for B


def make_unit(n: int, alerts_per_delivery: int) -> Unit:
    """Even units are an intake delivery (fingerprints random, as alerts' are), odd ones an
    engine step."""
    if n % 2:
        return {"n": n, "alerts": []}
    return {"n": n, "alerts": [[uuid.uuid4().hex, LABELS] for _ in range(alerts_per_delivery)]}


def write_unit(session: Session, unit: Unit) -> None:
    if unit["alerts"]:
        rows = [{"f": fingerprint, "l": labels} for fingerprint, labels in unit["alerts"]]
        session.execute(
            text("INSERT INTO bench_alerts (fingerprint, labels, count) VALUES (:f, :l, 1)"),
            rows,
        )
        session.execute(
            text(
                "INSERT INTO bench_alert_index (alert_id, key) VALUES"
                " ((SELECT id FROM bench_alerts WHERE fingerprint = :f), substr(:f, 1, 12))"
            ),
            rows,
        )
        return
    clock = unit["n"] % CLOCKS
    session.execute(text("UPDATE bench_clocks SET fired = fired + 1 WHERE id = :id"), {"id": clock})
    session.execute(
        text("INSERT INTO bench_events (clock_id, hash) VALUES (:c, :h)"),
        {"c": clock, "h": uuid.uuid4().hex * 2},
    )


# --- one writing process -------------------------------------------------------------------


@dataclass
class ProcessTally:
    commits: int = 0
    errors: list[str] = field(default_factory=list)
    lock_wait_ms: list[float] = field(default_factory=list)
    commit_ms: list[float] = field(default_factory=list)


def _write_in_process(path: str, mode: str, start_at: float, stop_at: float, size: int) -> Any:
    """Variants off and file: write_session() in this process."""
    database = Database(f"sqlite:///{path}", write_lock=mode)
    tally, n = ProcessTally(), 0
    _sleep_until(start_at)
    while time.time() < stop_at:
        unit = make_unit(n, size)
        wanted = time.perf_counter()
        try:
            with database.write_session() as session:
                write_unit(session, unit)  # BEGIN IMMEDIATE runs with the first statement
                tally.lock_wait_ms.append((time.perf_counter() - wanted) * 1000)
        except Exception as exc:
            tally.errors.append(repr(exc)[:200])
            continue
        tally.commit_ms.append((time.perf_counter() - wanted) * 1000)
        tally.commits += 1
        n += 1  # intake and engine work take turns
    database.dispose()
    return asdict(tally)


def _hand_to_writer(socket_path: str, start_at: float, stop_at: float, size: int) -> Any:
    """Variant writer: send each unit to the writer process, and wait until it is committed."""
    tally, n = ProcessTally(), 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(socket_path)
        reader = connection.makefile("rb")
        _sleep_until(start_at)
        while time.time() < stop_at:
            unit = make_unit(n, size)
            wanted = time.perf_counter()  # the unit's encoding is part of handing it over
            connection.sendall(json.dumps(unit).encode() + b"\n")
            answer = reader.readline()
            if answer != b"ok\n":
                tally.errors.append(answer.decode(errors="replace")[:200])
                continue
            tally.commit_ms.append((time.perf_counter() - wanted) * 1000)
            tally.commits += 1
            n += 1
    return asdict(tally)


def _ready(_n: int) -> None:
    time.sleep(0.05)


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


# --- variant B: the writer process ---------------------------------------------------------


def _writer_process(path: str, socket_path: str) -> None:
    """Owns the only write connection; commits every unit that is waiting in one transaction."""
    database = Database(f"sqlite:///{path}", write_lock="off")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ)
    buffers: dict[socket.socket, bytes] = {}
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        waiting: list[tuple[socket.socket, Unit]] = []
        for key, _events in selector.select():
            if key.fileobj is server:
                client, _ = server.accept()
                selector.register(client, selectors.EVENT_READ)
                buffers[client] = b""
                continue
            client = key.fileobj  # type: ignore[assignment]
            waiting += _read_units(client, buffers, selector)
        if waiting:
            _commit_group(database, waiting)


def _read_units(
    client: socket.socket, buffers: dict[socket.socket, bytes], selector: Any
) -> list[tuple[socket.socket, Unit]]:
    data = client.recv(1 << 20)
    if not data:
        selector.unregister(client)
        buffers.pop(client, None)
        client.close()
        return []
    *lines, buffers[client] = (buffers[client] + data).split(b"\n")
    return [(client, json.loads(line)) for line in lines]


def _commit_group(database: Database, waiting: list[tuple[socket.socket, Unit]]) -> None:
    answers: list[bytes] = []
    with database.write_session() as session:
        for _client, unit in waiting:
            try:
                with session.begin_nested():  # one bad unit spoils only itself
                    write_unit(session, unit)
                answers.append(b"ok\n")
            except Exception as exc:
                answers.append(f"error {exc!r}\n".encode()[:200])
    for (client, _unit), answer in zip(waiting, answers, strict=True):
        client.sendall(answer)  # only after the commit


@contextmanager
def _writer_running(path: Path) -> Iterator[str]:
    socket_path = str(path.parent / "writer.sock")
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=_writer_process, args=(str(path), socket_path))
    process.start()
    deadline = time.monotonic() + 30
    while not os.path.exists(socket_path):
        if time.monotonic() > deadline or not process.is_alive():
            raise RuntimeError("the writer process never listened")
        time.sleep(0.02)
    try:
        yield socket_path
    finally:
        process.terminate()
        process.join(10)
        os.unlink(socket_path)


# --- a cell: one variant, N processes ------------------------------------------------------


def run_cell(path: Path, variant: str, processes: int, size: int, seconds: float) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    load_before = load_average()
    with context.Pool(processes) as pool, _maybe_writer(path, variant) as socket_path:
        pool.map(_ready, range(processes * 4))  # every worker spawned, with Tocsin imported
        start_at = time.time() + 0.3  # and then they all start together
        stop_at = start_at + seconds
        if variant == "writer":
            jobs = [
                pool.apply_async(_hand_to_writer, (socket_path, start_at, stop_at, size))
                for _ in range(processes)
            ]
        else:
            jobs = [
                pool.apply_async(_write_in_process, (str(path), variant, start_at, stop_at, size))
                for _ in range(processes)
            ]
        tallies = [job.get(timeout=seconds + 120) for job in jobs]
    return {
        "alerts_per_delivery": size,
        **_cell_row(variant, processes, seconds, tallies, load_before),
    }


@contextmanager
def _maybe_writer(path: Path, variant: str) -> Iterator[str]:
    if variant != "writer":
        yield ""
        return
    with _writer_running(path) as socket_path:
        yield socket_path


def _cell_row(
    variant: str, processes: int, seconds: float, tallies: list[Any], load_before: list[float]
) -> dict[str, Any]:
    commits = sum(t["commits"] for t in tallies)
    per_process = [t["commits"] for t in tallies]
    return {
        "variant": variant,
        "processes": processes,
        "seconds": seconds,
        "commits": commits,
        "transactions_per_s": commits / seconds,
        "per_process_commits": per_process,
        "errors": [e for t in tallies for e in t["errors"]][:5],
        "error_count": sum(len(t["errors"]) for t in tallies),
        "lock_wait_ms": summary([w for t in tallies for w in t["lock_wait_ms"]]),
        "commit_ms": summary([w for t in tallies for w in t["commit_ms"]]),
        "load_before": load_before,
        "load_after": load_average(),
    }


def bench_raw(config: WritersConfig, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    for round_number in range(config.rounds):
        for size in config.alerts_per_delivery:
            for processes in config.processes:
                for variant in VARIANTS:
                    name = f"raw-{round_number}-{size}-{processes}-{variant}"
                    path = workdir / name / "bench.db"
                    path.parent.mkdir()
                    _create_schema(path)
                    console.print(f"raw writers: {variant}, {processes} processes, {size} ...")
                    row = run_cell(path, variant, processes, size, config.seconds)
                    rows.append({**row, "round": round_number})
    return rows


def raw_table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title="SQLite writers in N processes (raw transactions, one file)")
    for column in ("alerts", "variant", "processes", "round", "tx/s", "errors", "per process"):
        out.add_column(column, justify="right")
    for column in ("wait p50", "wait p99", "wait max", "commit p50", "commit p99", "load"):
        out.add_column(column, justify="right")
    for row in rows:
        wait, commit = row["lock_wait_ms"], row["commit_ms"]
        out.add_row(
            str(row["alerts_per_delivery"]),
            row["variant"],
            str(row["processes"]),
            str(row["round"]),
            f"{row['transactions_per_s']:,.0f}",
            str(row["error_count"]),
            "/".join(str(n) for n in row["per_process_commits"]),
            ms(wait["p50"]),
            ms(wait["p99"]),
            ms(wait["max"]),
            ms(commit["p50"]),
            ms(commit["p99"]),
            f"{row['load_before'][0]:.1f}",
        )
    return out


# --- part 2: the real HTTP intake, two serving processes -----------------------------------


@dataclass(frozen=True)
class Stack:
    urls: list[str]
    path: str
    database_url: str


@contextmanager
def _tocsin_stack(workdir: Path, servers: int, lock: str) -> Iterator[Stack]:
    """`servers` of `tocsin serve --no-engine` and one `tocsin engine` on a fresh SQLite file."""
    directory = workdir / f"http-{servers}-{lock}"
    directory.mkdir(parents=True)
    database_url = f"sqlite:///{directory}/tocsin.db"
    env = {**tocsin_env(database_url, directory), "TOCSIN_SQLITE_WRITE_LOCK": lock}
    subprocess.run([str(TOCSIN), "db", "upgrade"], env=env, capture_output=True, check=True)
    token = create_token(env, role="admin", name="bench")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        urls = [_start_server(env, directory, n, processes) for n in range(servers)]
        with (directory / "engine.log").open("wb") as out:
            command = [str(TOCSIN), "engine"]
            processes.append(subprocess.Popen(command, env=env, stdout=out, stderr=out))
        key = _create_integration(urls[0], token)
        yield Stack(urls, f"/api/v1/integrations/{key}/alertmanager", database_url)
    finally:
        for process in processes:
            stop_process(process, signal_first=signal.SIGINT)


def _start_server(
    env: dict[str, str], directory: Path, n: int, processes: list[subprocess.Popen[bytes]]
) -> str:
    port = free_port()
    log = directory / f"serve-{n}.log"
    command = [str(TOCSIN), "serve", "--no-engine", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    processes.append(process)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, process, log)
    return url


async def _blast_all(stack: Stack, payloads: list[bytes], connections: int) -> BlastResult:
    """Deal the payloads out to the servers, `connections` each, all at once."""
    shares = [payloads[n :: len(stack.urls)] for n in range(len(stack.urls))]
    results = await asyncio.gather(
        *(
            blast("127.0.0.1", _port(url), stack.path, share, connections=connections)
            for url, share in zip(stack.urls, shares, strict=True)
        )
    )
    merged = BlastResult(wall_s=max(r.wall_s for r in results))
    for result in results:
        merged.statuses.update(result.statuses)
        merged.latencies_ms += result.latencies_ms
        merged.errors += result.errors
    return merged


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def run_http(workdir: Path, servers: int, lock: str, config: WritersConfig) -> dict[str, Any]:
    connections = 8 // servers
    with _tocsin_stack(workdir, servers, lock) as stack:
        warmup = bodies(webhook_batch, "unique", config.http_warmup, offset=10_000_000)
        asyncio.run(_blast_all(stack, warmup, connections))
        payloads = bodies(webhook_batch, "unique", config.http_batches, offset=0)
        before, load_before = _stored(stack.database_url), load_average()
        result = asyncio.run(_blast_all(stack, payloads, connections))
        rows, _count = _stored(stack.database_url)
    accepted = result.ok() * 100
    return {
        "servers": servers,
        "lock": lock,
        "connections_per_server": connections,
        "accepted_alerts": accepted,
        "alerts_per_s": accepted / result.wall_s if result.wall_s else 0.0,
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "errors": result.errors,
        "batch_latency_ms": summary(result.latencies_ms),
        "every_accepted_alert_stored": rows - before[0] == accepted,
        "load_before": load_before,
        "load_after": load_average(),
    }


HTTP_SCENARIOS = ((2, "off"), (2, "file"), (1, "file"))


def bench_http(config: WritersConfig, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    for round_number in range(config.rounds):
        for servers, lock in HTTP_SCENARIOS:
            console.print(f"HTTP intake: {servers} serve processes, lock {lock} ...")
            row = run_http(workdir / f"round-{round_number}", servers, lock, config)
            rows.append({**row, "round": round_number})
    return rows


def http_table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title="HTTP intake on one SQLite file (serve --no-engine, N of them, + engine)")
    for column in ("servers", "lock", "round", "alerts/s", "non-2xx", "p50 ms", "p99 ms", "max ms"):
        out.add_column(column, justify="right")
    for column in ("all stored", "load"):
        out.add_column(column, justify="right")
    for row in rows:
        latency = row["batch_latency_ms"]
        bad = sum(v for k, v in row["statuses"].items() if not k.startswith("2"))
        out.add_row(
            str(row["servers"]),
            row["lock"],
            str(row["round"]),
            f"{row['alerts_per_s']:,.0f}",
            str(bad),
            ms(latency["p50"]),
            ms(latency["p99"]),
            ms(latency["max"]),
            "yes" if row["every_accepted_alert_stored"] else "[red]NO[/]",
            f"{row['load_before'][0]:.1f}",
        )
    return out


# --- entry point ---------------------------------------------------------------------------


def run(backends: tuple[str, ...], *, quick: bool) -> dict[str, Any]:
    """SQLite only: PostgreSQL has no database-wide write lock to queue on."""
    config = QUICK if quick else WritersConfig()
    payload: dict[str, Any] = {
        "benchmark": "sqlite_writers",
        "config": asdict(config),
        "started": datetime.now(UTC).isoformat(),
    }
    if "sqlite" not in backends:
        console.print("sqlite_writers: SQLite only, nothing to do for PostgreSQL")
        return payload
    parts: dict[str, Callable[[WritersConfig, Path], list[dict[str, Any]]]] = {
        "raw": bench_raw,
        "http": bench_http,
    }
    only = os.environ.get("TOCSIN_BENCH_PART")  # raw | http, to re-run one part
    with tempfile.TemporaryDirectory(prefix="tocsin-bench-writers-") as directory:
        for name, part in parts.items():
            if only and only != name:
                continue
            payload[name] = part(config, Path(directory))
            console.print((raw_table if name == "raw" else http_table)(payload[name]))
    return payload
