"""The clock engine with many pending clocks.

Issue goal: p99 lateness under 1 s, and tick cost flat as pending clocks grow from 1k to 100k.

For each database:
1. One throwaway database per size N (1k, 10k, 100k): migrate it and seed N pending clocks
   straight into the tables with SQLAlchemy Core (one incident per 5 clocks, all due 1 to 30
   days from now).
2. Tick cost at each N: time `Engine([clock_step()]).tick()` plus `seconds_until_next()` (that
   is `run_due` + `next_due`, one loop iteration) when nothing is due, and when a fresh batch
   of 100 clocks (20 incidents) is already due and the tick settles them. The sizes are
   measured round-robin in slices, so a change in machine load falls on all of them alike.
3. Lateness at the largest N: start a real `tocsin engine` process, then add K clocks that
   fall due over the next ~25 s (the stream: 5 clocks to an incident), and then a burst of
   clocks that all fall due at the same instant. Lateness of a clock = the `at` of its
   `clock_breached` timeline event (when the engine recorded it) minus its `due_at`.
On PostgreSQL the tables are ANALYZEd after each seeding step, as autovacuum would do after a
bulk load; SQLite is left as Tocsin leaves it (no ANALYZE).
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, insert, select, text

from bench import declare
from bench.common import (
    TOCSIN,
    console,
    load_average,
    ms,
    stop_process,
    summary,
    throwaway_database,
    tocsin_env,
)
from tocsin import migrate
from tocsin.db import Database
from tocsin.engine.loop import Engine
from tocsin.engine.steps import clock_step
from tocsin.incidents.chain import GENESIS_HASH
from tocsin.incidents.models import Clock, Incident, TimelineEvent
from tocsin.policy import registry
from tocsin.policy.loader import LoadedPolicy, load_policy
from tocsin.timesource import now

CLOCKS_PER_INCIDENT = 5
CHUNK = 10_000


@dataclass(frozen=True)
class EngineConfig:
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    idle_ticks: int = 200
    busy_ticks: int = 30
    rounds: int = 10
    batch: int = 100
    stream: int = 200
    stream_span_s: float = 25.0
    lead_s: float = 2.0
    burst: int = 500
    load_clients: int = 8


QUICK = EngineConfig(
    sizes=(1_000, 10_000),
    idle_ticks=50,
    busy_ticks=5,
    rounds=5,
    stream=50,
    stream_span_s=10.0,
    burst=100,
)


# --- seeding -------------------------------------------------------------------------------


class Seeder:
    """Bulk-inserts incidents and pending clocks, five clocks to an incident."""

    def __init__(self, database: Database, loaded: LoadedPolicy) -> None:
        self.database = database
        self.loaded = loaded
        self.incidents = 0
        with database.write_session() as session:
            registry.remember(session, loaded)

    def _incident(self, at: datetime) -> dict[str, Any]:
        self.incidents += 1
        return {
            "id": f"BENCH-{self.incidents:08d}",
            "title": f"bench incident {self.incidents}",
            "summary": "",
            "severity": "P2",
            "status": "investigating",
            "services": [],
            "flags": {},
            "roles": {},
            "policy_name": self.loaded.policy.name,
            "policy_hash": self.loaded.hash,
            "declared_by": "bench",
            "detected_at": at,
            "declared_at": at,
            "last_event_seq": 0,
            "last_event_hash": GENESIS_HASH,
        }

    @staticmethod
    def _clock(incident_id: str, n: int, due_at: datetime) -> dict[str, Any]:
        return {
            "subject_type": "incident",
            "subject_id": incident_id,
            "incident_id": incident_id,
            "kind": "resolve",
            "key": f"bench-{n}",
            "action": "remind",
            "label": f"bench clock {n}",
            "targets": [],
            "stop_on": None,
            "state": "pending",
            "starts_at": due_at - timedelta(hours=1),
            "due_at": due_at,
            "next_check_at": due_at,
        }

    def add(self, due_times: Sequence[datetime], progress: Any = None) -> list[str]:
        """Insert one pending clock per due time; returns the new incidents' ids."""
        ids: list[str] = []
        for start in range(0, len(due_times), CHUNK):
            ids += self._add_chunk(due_times[start : start + CHUNK])
            if progress is not None:
                progress(min(CHUNK, len(due_times) - start))
        return ids

    def _add_chunk(self, due_times: Sequence[datetime]) -> list[str]:
        at = now()
        incidents: list[dict[str, Any]] = []
        clocks: list[dict[str, Any]] = []
        for n, due_at in enumerate(due_times):
            if n % CLOCKS_PER_INCIDENT == 0:
                incidents.append(self._incident(at))
            clocks.append(self._clock(incidents[-1]["id"], n, due_at))
        with self.database.engine.begin() as conn:
            conn.execute(insert(Incident.__table__), incidents)
            conn.execute(insert(Clock.__table__), clocks)
        return [i["id"] for i in incidents]

    def analyze(self) -> None:
        if self.database.dialect == "postgresql":
            with self.database.engine.begin() as conn:
                conn.execute(text("ANALYZE incidents, clocks, timeline_events"))


def background_due_times(count: int, rng: random.Random) -> list[datetime]:
    """Due 1 to 30 days from now: pending clocks the engine must not pay for."""
    start = now() + timedelta(days=1)
    return [start + timedelta(seconds=rng.uniform(0, 29 * 86_400)) for _ in range(count)]


def pending_count(database: Database) -> int:
    with database.read_session() as session:
        query = select(func.count()).select_from(Clock).where(Clock.state == "pending")
        return int(session.scalar(query) or 0)


# --- tick cost -----------------------------------------------------------------------------


def _timed_tick(loop: Engine) -> tuple[float, int]:
    """One loop iteration without the sleep: tick (run_due until dry) and next_due."""
    started = time.perf_counter()
    report = loop.tick()
    loop.seconds_until_next()
    elapsed_ms = (time.perf_counter() - started) * 1000
    if report.failed:
        raise RuntimeError(f"engine step failed: {report.failed}")
    return elapsed_ms, sum(report.handled.values())


def idle_ticks(loop: Engine, count: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):  # warm connections and statement caches
        _timed_tick(loop)
    samples = []
    for _ in range(count):
        elapsed_ms, handled = _timed_tick(loop)
        if handled:
            raise RuntimeError(f"an idle tick handled {handled} clocks")
        samples.append(elapsed_ms)
    return samples


def busy_ticks(loop: Engine, seeder: Seeder, count: int, batch: int) -> list[float]:
    """Each sample: `batch` clocks already due (seeded untimed), one tick settles them all."""
    samples = []
    for _ in range(count):
        seeder.add([now() - timedelta(seconds=1)] * batch)
        elapsed_ms, handled = _timed_tick(loop)
        if handled != batch:
            raise RuntimeError(f"a busy tick handled {handled} clocks, expected {batch}")
        samples.append(elapsed_ms)
    return samples


@dataclass
class Bed:
    """One database seeded to one number of pending clocks, with its engine and samples."""

    backend: str
    size: int
    url: str
    database: Database
    seeder: Seeder
    loop: Engine
    idle: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)


def make_bed(backend: str, size: int, url: str) -> Bed:
    migrate.upgrade(url)
    database = Database(url)
    seeder = Seeder(database, load_policy("proofkit"))
    rng = random.Random(size)
    _seed_background(seeder, size, rng, f"seed {backend} with {size:,}")
    seeder.analyze()
    return Bed(backend, size, url, database, seeder, Engine(database, [clock_step()]))


def tick_cost(beds: list[Bed], config: EngineConfig) -> list[dict[str, Any]]:
    """Round-robin over the sizes, a slice of samples each, so load drift hits all alike."""
    load_before = load_average()
    for _ in range(config.rounds):
        for bed in beds:
            bed.idle += idle_ticks(bed.loop, config.idle_ticks // config.rounds)
            bed.busy += busy_ticks(
                bed.loop, bed.seeder, config.busy_ticks // config.rounds, config.batch
            )
    load_after = load_average()
    return [
        {
            "backend": bed.backend,
            "pending": pending_count(bed.database),
            "idle_tick_ms": summary(bed.idle),
            "busy_tick_ms": summary(bed.busy),
            "batch": config.batch,
            "load_before": load_before,
            "load_after": load_after,
        }
        for bed in beds
    ]


def _seed_background(seeder: Seeder, count: int, rng: random.Random, label: str) -> None:
    started = time.perf_counter()
    with Progress(
        f"[bold]{label}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task(label, total=count)
        seeder.add(background_due_times(count, rng), lambda n: progress.advance(task, n))
    console.print(f"{label}: {count:,} clocks in {time.perf_counter() - started:.1f} s")


# --- lateness ------------------------------------------------------------------------------


@contextmanager
def engine_process(database_url: str, workdir: Path) -> Iterator[Path]:
    """A real `tocsin engine` process, from its banner until the block ends; yields its log."""
    log = workdir / "engine.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(TOCSIN), "engine"],
            env=tocsin_env(database_url, workdir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "engine running" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tocsin engine did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        yield log
    finally:
        stop_process(process, signal_first=signal.SIGINT)


@contextmanager
def serving(database_url: str, workdir: Path, *, engine: bool) -> Iterator[declare.Server]:
    server = declare.start_server(database_url, workdir, engine=engine)
    try:
        yield server
    finally:
        stop_process(server.process, signal_first=signal.SIGINT)


@dataclass(frozen=True)
class Scenario:
    """Clocks that fall due while the engine runs: `count` of them, spread over `span_s`."""

    name: str
    count: int
    span_s: float
    load_clients: int = 0  # clients declaring incidents over HTTP meanwhile
    engine_in_serve: bool = False  # the engine runs inside `tocsin serve`, not `tocsin engine`

    def due_times(self, lead_s: float) -> list[datetime]:
        first = now() + timedelta(seconds=lead_s)
        step = self.span_s / self.count
        return [first + timedelta(seconds=i * step) for i in range(self.count)]


def scenarios(config: EngineConfig) -> list[Scenario]:
    loaded = f"stream + {config.load_clients} declaring"
    return [
        Scenario("stream", config.stream, config.stream_span_s),
        Scenario("burst", config.burst, 0.0),
        Scenario(
            f"{loaded}, tocsin engine",
            config.stream,
            config.stream_span_s,
            load_clients=config.load_clients,
        ),
        Scenario(
            f"{loaded}, engine in serve",
            config.stream,
            config.stream_span_s,
            load_clients=config.load_clients,
            engine_in_serve=True,
        ),
    ]


@contextmanager
def declare_load(server: declare.Server, clients: int) -> Iterator[dict[str, Any]]:
    """Keep `server` busy declaring incidents from `clients` concurrent clients until the
    block ends (at most 10 minutes); yields a dict that gets the run's figures at the end."""
    figures: dict[str, Any] = {}
    stop = threading.Event()

    def drive() -> None:
        run = asyncio.run(declare.drive(server, 10**9, clients, 600, lambda: None, stop))
        figures.update(
            declared=run.statuses.get(201, 0),
            declare_errors=sum(run.statuses.values()) - run.statuses.get(201, 0),
            declare_per_s=run.statuses.get(201, 0) / run.wall_s,
            declare_latency_ms=summary(run.latencies_ms),
        )

    thread = threading.Thread(target=drive, name="declare-load")
    thread.start()
    try:
        yield figures
    finally:
        stop.set()
        thread.join()


@contextmanager
def scenario_setup(url: str, workdir: Path, scenario: Scenario) -> Iterator[dict[str, Any]]:
    """Start what the scenario runs: the engine (its own process, or inside `tocsin serve`)
    and the declare load. Yields the dict the load's figures and the log's errors go into."""
    figures: dict[str, Any] = {}
    logs: list[Path] = []
    with ExitStack() as stack:
        server = None
        if scenario.load_clients or scenario.engine_in_serve:
            server = stack.enter_context(serving(url, workdir, engine=scenario.engine_in_serve))
            logs.append(server.log)
        if not scenario.engine_in_serve:
            logs.append(stack.enter_context(engine_process(url, workdir)))
        if server is not None and scenario.load_clients:
            figures = stack.enter_context(declare_load(server, scenario.load_clients))
            time.sleep(1)  # let the load build up before the first clock falls due
        yield figures
    figures["tracebacks_in_logs"] = sum(log.read_text().count("Traceback") for log in logs)


def _breached_count(database: Database, incident_ids: list[str]) -> int:
    with database.read_session() as session:
        query = select(func.count()).where(
            TimelineEvent.incident_id.in_(incident_ids), TimelineEvent.kind == "clock_breached"
        )
        return int(session.scalar(query) or 0)


def _wait_breached(database: Database, incident_ids: list[str], scenario: Scenario) -> None:
    deadline = time.monotonic() + scenario.span_s + 60
    with Progress(
        f"[bold]lateness {scenario.name}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(scenario.name, total=scenario.count)
        while time.monotonic() < deadline:
            breached = _breached_count(database, incident_ids)
            progress.update(task, completed=breached)
            if breached >= scenario.count:
                return
            time.sleep(0.25)


def _parse_instant(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def lateness_ms(database: Database, incident_ids: list[str]) -> list[float]:
    with database.read_session() as session:
        events = session.scalars(
            select(TimelineEvent).where(
                TimelineEvent.incident_id.in_(incident_ids),
                TimelineEvent.kind == "clock_breached",
            )
        )
        return [
            (event.at - _parse_instant(event.data["due_at"])).total_seconds() * 1000
            for event in events
        ]


def _run_scenario(
    database: Database, seeder: Seeder, scenario: Scenario, lead_s: float
) -> dict[str, Any]:
    background = pending_count(database)
    load_before = load_average()
    with (
        tempfile.TemporaryDirectory(prefix="tocsin-bench-engine-") as directory,
        scenario_setup(database.url, Path(directory), scenario) as figures,
    ):
        incident_ids = seeder.add(scenario.due_times(lead_s))
        _wait_breached(database, incident_ids, scenario)
    values = lateness_ms(database, incident_ids)
    return figures | {
        "scenario": scenario.name,
        "background_pending": background,
        "due": scenario.count,
        "incidents": len(incident_ids),
        "span_s": scenario.span_s,
        "breached": len(values),
        "lateness_ms": summary(values),
        "load_before": load_before,
        "load_after": load_average(),
    }


def lateness(
    database: Database, seeder: Seeder, config: EngineConfig, backend: str
) -> list[dict[str, Any]]:
    """Per scenario: 1. start the engine (and the declare load); 2. add clocks that fall due
    from `lead` seconds on; 3. wait until all are breached; 4. stop everything.
    Lateness = the `clock_breached` event's at - the clock's due_at."""
    return [
        _run_scenario(database, seeder, scenario, config.lead_s) | {"backend": backend}
        for scenario in scenarios(config)
    ]


# --- report --------------------------------------------------------------------------------


def _flatness(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean tick cost at the largest size over the smallest, per database."""
    out: dict[str, Any] = {}
    for backend in {r["backend"] for r in rows}:
        mine = sorted((r for r in rows if r["backend"] == backend), key=lambda r: r["pending"])
        low, high = mine[0], mine[-1]
        out[backend] = {
            f"idle_{key}_ratio": high["idle_tick_ms"][key] / low["idle_tick_ms"][key]
            for key in ("mean", "p99")
        } | {
            f"busy_{key}_ratio": high["busy_tick_ms"][key] / low["busy_tick_ms"][key]
            for key in ("mean", "p99")
        }
    return out


def tick_table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title="Engine tick cost (ms): run_due until dry + next_due")
    for column in ("database", "pending", "idle mean", "idle p50", "idle p99"):
        out.add_column(column, justify="right")
    for column in ("busy mean", "busy p50", "busy p99", "busy max", "per clock"):
        out.add_column(column, justify="right")
    for row in rows:
        idle, busy = row["idle_tick_ms"], row["busy_tick_ms"]
        out.add_row(
            row["backend"],
            f"{row['pending']:,}",
            *(ms(idle[k]) for k in ("mean", "p50", "p99")),
            *(ms(busy[k]) for k in ("mean", "p50", "p99", "max")),
            ms(busy["mean"] / row["batch"]),
        )
    return out


def lateness_table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title="Breach lateness (ms): clock_breached event at - due_at (goal p99 < 1000)")
    columns = ("database", "scenario", "background", "due", "over s", "declares/s", "breached")
    for column in (*columns, "p50", "p95", "p99", "max"):
        out.add_column(column, justify="right")
    for row in rows:
        lat = row["lateness_ms"]
        out.add_row(
            row["backend"],
            row["scenario"],
            f"{row['background_pending']:,}",
            str(row["due"]),
            f"{row['span_s']:g}",
            f"{row['declare_per_s']:.1f}" if "declare_per_s" in row else "-",
            str(row["breached"]),
            *(ms(lat[k]) for k in ("p50", "p95", "p99", "max")),
        )
    return out


def _bench_backend(
    backend: str, config: EngineConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with ExitStack() as stack:
        beds: list[Bed] = []
        for size in config.sizes:
            url = stack.enter_context(throwaway_database(backend))
            beds.append(make_bed(backend, size, url))
            stack.callback(beds[-1].database.dispose)
        ticks = tick_cost(beds, config)
        largest = beds[-1]
        late = lateness(largest.database, largest.seeder, config, backend)
    return ticks, late


def run(backends: tuple[str, ...], *, quick: bool) -> dict[str, Any]:
    config = QUICK if quick else EngineConfig()
    ticks: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    for backend in backends:
        backend_ticks, backend_late = _bench_backend(backend, config)
        ticks += backend_ticks
        late += backend_late
    console.print(tick_table(ticks))
    flat = _flatness(ticks)
    for backend, ratios in flat.items():
        shown = ", ".join(f"{k.removesuffix('_ratio')} x{v:.2f}" for k, v in ratios.items())
        console.print(
            f"{backend}: tick cost at {config.sizes[-1]:,} / {config.sizes[0]:,}: {shown}"
        )
    console.print(lateness_table(late))
    return {
        "benchmark": "engine",
        "config": asdict(config),
        "tick_cost": ticks,
        "flatness": flat,
        "lateness": late,
    }
