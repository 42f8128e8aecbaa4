"""Page latency: from the alert POST until the on-call person's webhook receives the page.

Issue goal: p99 under 1 s while the server is otherwise idle; also reported under a background
load of 1,000 alerts/s.

For each database:
1. Start a real `tocsin serve` as `make run` does (engine included, TOCSIN_ENGINE_INTERVAL left
   at its default of 1 s) on a throwaway database, with TOCSIN_POLICY=proofkit.
2. Apply an on-call file (`POST /api/v1/oncall/apply`): one person on call around the clock,
   whose only contact method is a webhook to an HTTP receiver running in this process, and an
   escalation policy whose first step (after 0m) pages the schedule.
3. Create two Alertmanager integrations: one for the measured alerts, one for the load.
4. Per sample: POST one critical alert (its own alertname, fingerprint and group, so it opens
   a NEW incident, which the default routing pages) and time from just before the POST until
   the receiver has the page for that incident (matched on `data.incident_id`). Then wait a
   random 0.2-0.5 s, so samples are independent and do not lock onto the engine's 1 s sleep.
5. Scenarios: `idle`, then `1,000 alerts/s`: a background thread POSTs pre-encoded
   Alertmanager webhook batches of 100 new `warning` alerts (which notify, not page) ten times
   a second on a fixed schedule (open loop), over its own keep-alive connections. The rate the
   load actually achieved while the samples were taken is reported beside the figures, and
   every alert it had accepted is counted in the database afterwards.

Per sample the server's own timestamps split the latency: `ingest` (the POST's answer, which
comes after the incident is committed), `to fire` (the incident's declared_at to the engine's
`escalated` event) and `send` (that event to the receiver's arrival time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

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
from bench.ingest import BATCH, webhook_batch
from bench.loadgen import _read_response, encode_post
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.timesource import as_utc


@dataclass(frozen=True)
class PagingConfig:
    samples: int = 100  # per scenario
    warmup: int = 3
    gap_s: tuple[float, float] = (0.2, 0.5)  # random wait after each page arrives
    load_alerts_per_s: int = 1_000
    load_connections: int = 8
    load_settle_s: float = 3.0  # the load runs this long before the first sample
    page_timeout_s: float = 30.0


QUICK = PagingConfig(samples=20, warmup=2)

SCENARIOS = ("idle", "1,000 alerts/s")

ONCALL_FILE = """\
people:
  - handle: pager
    name: Bench Pager
    contact_methods:
      - {{name: hook, kind: webhook, address: "{hook}"}}
    notification_rules:
      - {{method: hook, after: 0m}}
schedules:
  - handle: primary
    name: Primary on-call
    timezone: UTC
    layers:
      - name: primary
        rotation: {{kind: daily, handoff: "00:00", start: 2026-01-01, participants: [pager]}}
escalation_policies:
  - handle: pager
    name: The primary, then the person again
    default: true
    repeat: 1
    repeat_after: 10m
    steps:
      - {{after: 0m, targets: ["schedule:primary"]}}
      - {{after: 15m, targets: ["person:pager"]}}
    targets:
      on_call_engineer: ["schedule:primary"]
services:
  - {{handle: checkout, name: Checkout, escalation_policy: pager}}
"""


# --- the receiver --------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    incident_id: str
    step: str
    perf: float  # time.perf_counter() when the request reached the handler
    wall: float  # time.time() at the same moment
    idempotency_key: str


class PageReceiver:
    """A threaded HTTP server that notes when each webhook page arrives, per incident.

    The time is taken as soon as the request line and headers are read, before the body.
    It answers 200 to everything. Only the first page per incident is kept in `first`;
    `all` has every request (duplicates would show there).
    """

    def __init__(self) -> None:
        self.first: dict[str, Arrival] = {}
        self.all: list[Arrival] = []
        self.unparsed = 0
        self._condition = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/page"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                perf, wall = time.perf_counter(), time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.record(body, perf, wall, self.headers.get("Idempotency-Key") or "")

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def record(self, body: bytes, perf: float, wall: float, key: str) -> None:
        try:
            data = json.loads(body)["data"]
            arrival = Arrival(str(data["incident_id"]), str(data.get("step")), perf, wall, key)
        except (ValueError, KeyError, TypeError):
            with self._condition:
                self.unparsed += 1
            return
        with self._condition:
            self.all.append(arrival)
            self.first.setdefault(arrival.incident_id, arrival)
            self._condition.notify_all()

    def wait_for(self, incident_id: str, timeout: float) -> Arrival | None:
        with self._condition:
            self._condition.wait_for(lambda: incident_id in self.first, timeout)
            return self.first.get(incident_id)

    def count(self, incident_ids: set[str]) -> int:
        """How many of these incidents have had a page."""
        with self._condition:
            return len(incident_ids & self.first.keys())

    def __enter__(self) -> PageReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- the measured alerts -------------------------------------------------------------------


def probe_payload(tag: str) -> dict[str, Any]:
    """Alertmanager's webhook (version 4) with one critical alert that opens its own incident."""
    labels = {
        "alertname": f"BenchPage{tag}",
        "severity": "critical",
        "service": "checkout",
        "instance": f"checkout-{tag}.prod.example:9100",
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="BenchPage{tag}"}}',
        "status": "firing",
        "receiver": "tocsin",
        "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"Checkout is down (bench page {tag})"},
                "startsAt": datetime.now(UTC).isoformat(),
                "fingerprint": f"bench-page-{tag}",
            }
        ],
    }


@dataclass
class Sample:
    tag: str
    incident_id: str | None = None
    sent_perf: float = 0.0
    answered_perf: float = 0.0
    status: int = 0
    arrival: Arrival | None = None
    warmup: bool = False

    @property
    def latency_ms(self) -> float | None:
        return None if self.arrival is None else (self.arrival.perf - self.sent_perf) * 1000

    @property
    def ingest_ms(self) -> float:
        return (self.answered_perf - self.sent_perf) * 1000


def take_sample(
    client: httpx.Client, path: str, tag: str, receiver: PageReceiver, timeout: float
) -> Sample:
    """POST one critical alert; wait for its page. Returns the Sample (arrival None: no page)."""
    body = json.dumps(probe_payload(tag)).encode()
    sample = Sample(tag)
    sample.sent_perf = time.perf_counter()
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    sample.answered_perf = time.perf_counter()
    sample.status = response.status_code
    if response.status_code != 200:
        return sample
    incidents = response.json().get("incidents") or []
    if len(incidents) != 1:
        return sample
    sample.incident_id = str(incidents[0])
    sample.arrival = receiver.wait_for(sample.incident_id, timeout)
    return sample


# --- the background load -------------------------------------------------------------------


@dataclass
class LoadFigures:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    completions: list[tuple[float, int]] = field(default_factory=list)  # (perf, alerts ok)
    latencies_ms: list[float] = field(default_factory=list)
    max_lag_s: float = 0.0  # how far behind its schedule a batch was sent, at worst
    started: float = 0.0
    stopped: float = 0.0
    encoded_late: int = 0  # batches encoded while running (the pre-encoded ones ran out)

    def accepted(self) -> int:
        return sum(n for _, n in self.completions)

    def rate_between(self, start: float, end: float) -> float:
        done = sum(n for at, n in self.completions if start <= at <= end)
        return done / (end - start) if end > start else 0.0


class PacedLoad:
    """POST pre-encoded bodies at a fixed rate (open loop) from its own thread and event loop.

    A batch is sent at its scheduled instant on the first free connection; if every connection
    is still waiting for an answer, it waits for one and the lag is recorded. Batch n's body is
    `make(n)`, encoded before the load starts for the first `ahead` batches; should the run
    last longer, later ones are encoded as they go (counted in `encoded_late`).
    """

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        make: Callable[[int], bytes],
        ahead: int,
        per_s: float,
        connections: int,
    ) -> None:
        self.host, self.port, self.path, self.connections = host, port, path, connections
        self.make = make
        self.requests = [self._encode(n) for n in range(ahead)]
        self.interval = 1 / per_s
        self.figures = LoadFigures()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="load")

    def __enter__(self) -> PacedLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    async def _run(self) -> None:
        pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        for _ in range(self.connections):
            pool.put_nowait(await asyncio.open_connection(self.host, self.port))
        figures = self.figures
        figures.started = time.perf_counter()
        tasks: set[asyncio.Task[None]] = set()
        n = 0
        while not self._stop.is_set():
            if n < len(self.requests):
                request = self.requests[n]
            else:
                request = self._encode(n)
                figures.encoded_late += 1
            due = figures.started + n * self.interval
            n += 1
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            connection = await self._free_connection(pool)
            if connection is None:
                break  # stopping, and every connection is stuck or gone
            figures.max_lag_s = max(figures.max_lag_s, time.perf_counter() - due)
            figures.sent += 1
            task = asyncio.create_task(self._send(connection, request, pool))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        figures.stopped = time.perf_counter()
        while not pool.empty():
            pool.get_nowait()[1].close()

    async def _free_connection(
        self, pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        while True:
            try:
                return await asyncio.wait_for(pool.get(), timeout=0.5)
            except TimeoutError:
                if self._stop.is_set():
                    return None

    def _encode(self, n: int) -> bytes:
        return encode_post(self.host, self.port, self.path, self.make(n), {})

    async def _send(
        self,
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        request: bytes,
        pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    ) -> None:
        reader, writer = connection
        started = time.perf_counter()
        try:
            writer.write(request)
            status, body = await _read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.figures.statuses[0] += 1
            if len(self.figures.errors) < 5:
                self.figures.errors.append(f"connection error: {exc!r}")
            writer.close()
            with contextlib.suppress(OSError):  # replace the broken connection
                pool.put_nowait(await asyncio.open_connection(self.host, self.port))
            return
        done = time.perf_counter()
        self.figures.latencies_ms.append((done - started) * 1000)
        self.figures.statuses[status] += 1
        if 200 <= status < 300:
            self.figures.completions.append((done, BATCH))
        elif len(self.figures.errors) < 5:
            self.figures.errors.append(f"{status} {body[:300]!r}")
        pool.put_nowait(connection)


# --- running it ----------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path
    database_url: str


def start_server(database_url: str, workdir: Path) -> Server:
    """`tocsin serve` with its engine, as `make run` starts it, answering /healthz."""
    env = tocsin_env(database_url, workdir)
    token = create_token(env, role="admin", name="bench")
    port = free_port()
    log = workdir / "serve.log"
    args = common.serve_args(port)
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", token, process, log, database_url)
    wait_healthy(server.url, process, log)
    return server


def set_up(server: Server, receiver: PageReceiver) -> tuple[str, str]:
    """Apply the on-call file and create the integrations; their webhook paths (probe, load)."""
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
        applied = api.post(
            "/api/v1/oncall/apply", json={"text": ONCALL_FILE.format(hook=receiver.url)}
        )
        applied.raise_for_status()
        paths = []
        for name in ("bench-pages", "bench-load"):
            created = api.post("/api/v1/integrations", json={"name": name, "kind": "alertmanager"})
            created.raise_for_status()
            paths.append(f"/api/v1/integrations/{created.json()['key']}/alertmanager")
    return paths[0], paths[1]


def load_batch(n: int) -> bytes:
    """Background batch n: 100 new warning alerts (numbered apart from ingest's)."""
    return webhook_batch(20_000_000 + n * BATCH)


def _samples(
    server: Server,
    receiver: PageReceiver,
    path: str,
    config: PagingConfig,
    scenario: str,
    rng: random.Random,
) -> list[Sample]:
    taken: list[Sample] = []
    label = f"page latency, {scenario}"
    with (
        httpx.Client(base_url=server.url, timeout=30) as client,
        Progress(
            f"[bold]{label}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task(label, total=config.warmup + config.samples)
        for n in range(config.warmup + config.samples):
            tag = f"{'idle' if scenario == 'idle' else 'load'}-{n}-{rng.randrange(10**9):09d}"
            sample = take_sample(client, path, tag, receiver, config.page_timeout_s)
            sample.warmup = n < config.warmup
            taken.append(sample)
            progress.advance(task)
            time.sleep(rng.uniform(*config.gap_s))
    return taken


def breakdown(database_url: str, samples: list[Sample]) -> dict[str, list[float]]:
    """Per sample, from the server's own clock: declared -> escalated, escalated -> arrival."""
    ids = [s.incident_id for s in samples if s.incident_id and s.arrival]
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as conn:
        declared = dict(
            conn.execute(
                select(Incident.id, Incident.declared_at).where(Incident.id.in_(ids))
            ).all()
        )
        fired = dict(
            conn.execute(
                select(TimelineEvent.incident_id, TimelineEvent.at).where(
                    TimelineEvent.incident_id.in_(ids), TimelineEvent.kind == "escalated"
                )
            ).all()
        )
    engine.dispose()
    to_fire, send = [], []
    for sample in samples:
        if not (sample.incident_id in fired and sample.arrival):
            continue
        fired_at = as_utc(fired[sample.incident_id]).timestamp()
        to_fire.append((fired_at - as_utc(declared[sample.incident_id]).timestamp()) * 1000)
        send.append((sample.arrival.wall - fired_at) * 1000)
    return {"to_fire_ms": to_fire, "send_ms": send}


def _alert_rows(database_url: str) -> int:
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as conn:
        count = int(conn.execute(text("SELECT count(*) FROM alerts")).scalar_one())
    engine.dispose()
    return count


def _row(
    backend: str,
    scenario: str,
    samples: list[Sample],
    server: Server,
    load: LoadFigures | None,
    window: tuple[float, float],
    load_before: list[float],
) -> dict[str, Any]:
    """The figures of one scenario; warm-up samples are left out."""
    samples = [s for s in samples if not s.warmup]
    latencies = [s.latency_ms for s in samples if s.latency_ms is not None]
    parts = breakdown(server.database_url, samples)
    row: dict[str, Any] = {
        "backend": backend,
        "scenario": scenario,
        "samples": len(samples),
        "paged": len(latencies),
        "missing": [s.tag for s in samples if s.arrival is None],
        "post_statuses": dict(Counter(str(s.status) for s in samples)),
        "page_latency_ms": summary(latencies),
        "pages_over_1s": sum(1 for x in latencies if x > 1000),
        "fired_after_500ms": sum(1 for x in parts["to_fire_ms"] if x > 500),
        "ingest_ms": summary([s.ingest_ms for s in samples]),
        "declared_to_fired_ms": summary(parts["to_fire_ms"]),
        "fired_to_received_ms": summary(parts["send_ms"]),
        "window_s": window[1] - window[0],
        "load_before": load_before,
        "load_after": load_average(),
        "latencies_ms": [round(x, 2) for x in latencies],
        "declared_to_fired_each_ms": [round(x, 2) for x in parts["to_fire_ms"]],
    }
    if load is not None:
        row["background"] = {
            "achieved_alerts_per_s": load.rate_between(*window),
            "batches_sent": load.sent,
            "accepted_alerts": load.accepted(),
            "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
            "errors": load.errors,
            "max_schedule_lag_ms": load.max_lag_s * 1000,
            "batch_latency_ms": summary(load.latencies_ms),
            "batches_encoded_while_running": load.encoded_late,
        }
    return row


def _idle(
    backend: str,
    server: Server,
    receiver: PageReceiver,
    path: str,
    config: PagingConfig,
    rng: random.Random,
) -> dict[str, Any]:
    load_before = load_average()
    started = time.perf_counter()
    samples = _samples(server, receiver, path, config, "idle", rng)
    window = (started, time.perf_counter())
    return _row(backend, "idle", samples, server, None, window, load_before)


def _under_load(
    backend: str,
    server: Server,
    receiver: PageReceiver,
    paths: tuple[str, str],
    config: PagingConfig,
    rng: random.Random,
) -> dict[str, Any]:
    """The samples again, while PacedLoad sends warning alerts to the second integration."""
    # Pre-encode about what the run needs (about a second a sample; 60 kB a batch).
    expected_s = config.load_settle_s + (config.warmup + config.samples) * 1.2 + 20
    ahead = int(expected_s * config.load_alerts_per_s / BATCH)
    alerts_before = _alert_rows(server.database_url)
    port = int(server.url.rsplit(":", 1)[1])
    per_s = config.load_alerts_per_s / BATCH
    load = PacedLoad("127.0.0.1", port, paths[1], load_batch, ahead, per_s, config.load_connections)
    load_before = load_average()
    with load:
        time.sleep(config.load_settle_s)
        started = time.perf_counter()
        samples = _samples(server, receiver, paths[0], config, SCENARIOS[1], rng)
        window = (started, time.perf_counter())
    row = _row(backend, SCENARIOS[1], samples, server, load.figures, window, load_before)
    stored = _alert_rows(server.database_url) - alerts_before
    expected = load.figures.accepted() + sum(1 for s in samples if s.status == 200)
    row["background"] |= {
        "target_alerts_per_s": config.load_alerts_per_s,
        "alerts_stored": stored,
        "every_accepted_alert_stored": stored == expected,
    }
    return row


def bench_backend(backend: str, config: PagingConfig) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    rng = random.Random(f"paging-{backend}")
    with (
        tempfile.TemporaryDirectory(prefix="tocsin-bench-paging-") as directory,
        throwaway_database(backend) as database_url,
        PageReceiver() as receiver,
    ):
        server = start_server(database_url, Path(directory))
        try:
            paths = set_up(server, receiver)
            rows.append(_idle(backend, server, receiver, paths[0], config, rng))
            rows.append(_under_load(backend, server, receiver, paths, config, rng))
        finally:
            stop_process(server.process, signal_first=signal.SIGINT)
        tracebacks = server.log.read_text(errors="replace").count("Traceback")
        duplicates = len(receiver.all) - len(receiver.first)
        for row in rows:
            row["tracebacks_in_log"] = tracebacks
            row["duplicate_pages"] = duplicates
        if tracebacks:
            console.print(f"[red]{backend}: {tracebacks} traceback(s) in the serve log[/]")
            console.print(server.log.read_text(errors="replace")[-3000:])
    return rows


# --- report --------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(
        title="Page latency (ms): alert POST until the webhook receiver has the page "
        "(goal: p99 < 1000 idle)"
    )
    columns = ("database", "scenario", "load/s", "paged", "p50", "p95", "p99", "max", "> 1 s")
    for column in (*columns, "ingest p50", "to fire p50", "to fire p99", "send p50", "send p99"):
        out.add_column(column, justify="right", no_wrap=column == "scenario")
    for row in rows:
        lat = row["page_latency_ms"]
        background = row.get("background")
        achieved = f"{background['achieved_alerts_per_s']:,.0f}" if background else "-"
        out.add_row(
            row["backend"],
            row["scenario"],
            achieved,
            f"{row['paged']}/{row['samples']}",
            *(ms(lat[k]) for k in ("p50", "p95", "p99", "max")),
            str(row["pages_over_1s"]),
            ms(row["ingest_ms"]["p50"]),
            ms(row["declared_to_fired_ms"]["p50"]),
            ms(row["declared_to_fired_ms"]["p99"]),
            ms(row["fired_to_received_ms"]["p50"]),
            ms(row["fired_to_received_ms"]["p99"]),
        )
    return out


def run(backends: tuple[str, ...], *, quick: bool) -> dict[str, Any]:
    config = QUICK if quick else PagingConfig()
    started = datetime.now(UTC).isoformat()
    rows: list[dict[str, Any]] = []
    for backend in backends:
        rows += bench_backend(backend, config)
    console.print(table(rows))
    for row in rows:
        background = row.get("background")
        if background:
            console.print(
                f"{row['backend']} background load: {background['achieved_alerts_per_s']:,.0f} "
                f"alerts/s achieved of {background['target_alerts_per_s']:,} "
                f"(statuses {background['statuses']}, worst schedule lag "
                f"{background['max_schedule_lag_ms']:.0f} ms, batch p99 "
                f"{ms(background['batch_latency_ms']['p99'])} ms, all stored: "
                f"{background['every_accepted_alert_stored']})"
            )
        if row["missing"]:
            console.print(f"[red]{row['backend']} {row['scenario']}: no page for {row['missing']}")
    return {
        "benchmark": "paging",
        "config": asdict(config),
        "engine_interval_s": os.environ.get("TOCSIN_ENGINE_INTERVAL", "1.0 (default)"),
        "started": started,
        "results": rows,
    }
