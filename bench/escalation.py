"""Escalation lateness with 100,000 pending escalation steps.

Issue goal: an escalation step fires (and queues its page) less than 1 s after its due time,
at p99, while 100k escalation steps are pending.

For each database:
1. Migrate a throwaway database, store the proofkit policy and apply the on-call file of
   bench/paging.py in-process: one person, on call around the clock, whose only contact method
   is a webhook to an HTTP receiver in this process; the default escalation policy `pager`
   pages the schedule at 0m and the person at 15m, and repeats once 10m later.
2. Seed the pending steps straight into the tables with SQLAlchemy Core, as the pager policy
   plans them: P0 incidents on service `checkout`, four pending `escalation` clocks each
   (`page:1:1`, `page:1:2`, `page:2:1`, `page:2:2`), all due 1 hour to 7 days ahead. PostgreSQL
   tables are ANALYZEd afterwards, as autovacuum would do after a bulk load.
3. Start a real `tocsin engine` process (its default 1 s longest sleep), then per scenario add
   the measured incidents, each planned the same way but with its first step `page:1:1` due
   at a known instant from a few seconds later:
   - `stream`: steps due evenly over the span (1,000 over 100 s);
   - `burst`: steps all due at the same instant (200).
   The background is sized so that about 100k steps are pending when the stream starts.
4. Wait until every measured step has fired and its page reached the receiver. Per step:
   - fired: the `at` of its `escalated` timeline event (written in the transaction that fires
     the step and queues the page) minus its due_at. This is the goal's lateness.
   - queued: the page's outbox row `created_at` minus due_at (same transaction).
   - received: when the receiver got the webhook minus due_at (fired + the outbox's send).
   The clock row's `settled_at` is not used: it is the engine pass's start time, not when the
   step was acted on.
Checks: every measured step fired exactly once and paged once; no background step fired.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Table as SqlTable
from sqlalchemy import func, insert, select, text

from bench.common import console, load_average, ms, summary, throwaway_database
from bench.engine import engine_process
from bench.paging import ONCALL_FILE, PageReceiver
from tocsin import migrate
from tocsin.db import Database
from tocsin.incidents.chain import GENESIS_HASH
from tocsin.incidents.models import Clock, Incident, TimelineEvent
from tocsin.notify.models import Notification
from tocsin.oncall import service as oncall_service
from tocsin.oncall.config import OnCallConfig
from tocsin.policy import registry
from tocsin.policy.loader import LoadedPolicy, load_policy, load_yaml_model
from tocsin.timesource import as_utc, now

CHUNK = 10_000
INCIDENTS, CLOCKS = cast(SqlTable, Incident.__table__), cast(SqlTable, Clock.__table__)
# The pager policy of bench/paging.py's on-call file, as tocsin.oncall.paging plans it.
STEPS = (
    ("page:1:1", timedelta(0), "schedule:primary", 1, 1),
    ("page:1:2", timedelta(minutes=15), "person:pager", 2, 1),
    ("page:2:1", timedelta(minutes=25), "schedule:primary", 1, 2),
    ("page:2:2", timedelta(minutes=40), "person:pager", 2, 2),
)


@dataclass(frozen=True)
class EscalationConfig:
    pending: int = 100_000  # pending escalation steps when the stream starts
    stream: int = 1_000
    stream_span_s: float = 100.0
    burst: int = 1_000  # issue #16: 1,000 steps due at one instant, all fired within 1 s
    lead_s: float = 3.0  # the first measured step is due this long after it is added


QUICK = EscalationConfig(pending=10_000, stream=200, stream_span_s=20.0, burst=1_000)


@dataclass(frozen=True)
class Scenario:
    name: str
    count: int
    span_s: float

    def due_times(self, lead_s: float) -> list[datetime]:
        first = now() + timedelta(seconds=lead_s)
        step = self.span_s / self.count
        return [first + timedelta(seconds=i * step) for i in range(self.count)]


def scenarios(config: EscalationConfig) -> list[Scenario]:
    return [
        Scenario("stream", config.stream, config.stream_span_s),
        Scenario("burst", config.burst, 0.0),
    ]


# --- seeding -------------------------------------------------------------------------------


class StepSeeder:
    """Bulk-inserts P0 incidents with the pager policy's four pending escalation steps each."""

    def __init__(self, database: Database, loaded: LoadedPolicy, oncall_text: str) -> None:
        self.database, self.loaded = database, loaded
        self.incidents = 0
        config = load_yaml_model(oncall_text, file="oncall.yaml", model=OnCallConfig)
        with database.write_session() as session:
            registry.remember(session, loaded)
            oncall_service.apply(session, config)

    def _incident(self, declared_at: datetime) -> dict[str, Any]:
        self.incidents += 1
        return {
            "id": f"ESC-{self.incidents:08d}",
            "title": f"bench escalation {self.incidents}",
            "summary": "",
            "severity": "P0",
            "status": "investigating",
            "services": ["checkout"],
            "flags": {},
            "roles": {},
            "policy_name": self.loaded.policy.name,
            "policy_hash": self.loaded.hash,
            "declared_by": "bench",
            "detected_at": declared_at,
            "declared_at": declared_at,
            "last_event_seq": 0,
            "last_event_hash": GENESIS_HASH,
        }

    @staticmethod
    def _steps(
        incident_id: str, starts_at: datetime, due: Sequence[datetime]
    ) -> list[dict[str, Any]]:
        rows = []
        for (key, _, target, number, loop), due_at in zip(STEPS, due, strict=True):
            rows.append(
                {
                    "incident_id": incident_id,
                    "subject_type": "incident",
                    "subject_id": incident_id,
                    "kind": "escalation",
                    "key": key,
                    "action": "escalate",
                    "label": f"Page {target} (step {number}, round {loop}) until acknowledged",
                    "targets": [target],
                    "stop_on": "acknowledged",
                    "state": "pending",
                    "starts_at": starts_at,
                    "due_at": due_at,
                    "next_check_at": due_at,
                }
            )
        return rows

    def add_measured(self, first_due: Sequence[datetime]) -> list[str]:
        """One incident per due time, declared then: step 1 due then, the others later."""
        incidents, clocks = [], []
        for due_at in first_due:
            incidents.append(self._incident(due_at))
            due = [due_at + after for _, after, *_ in STEPS]
            clocks += self._steps(incidents[-1]["id"], due_at, due)
        self._insert(incidents, clocks)
        return [i["id"] for i in incidents]

    def add_background(self, incidents: int, rng: random.Random, advance: Any) -> None:
        """Incidents declared now whose four steps are all due 1 hour to 7 days ahead."""
        for start in range(0, incidents, CHUNK // len(STEPS)):
            count = min(CHUNK // len(STEPS), incidents - start)
            at = now()
            rows, clocks = [], []
            for _ in range(count):
                rows.append(self._incident(at))
                due = sorted(at + timedelta(seconds=rng.uniform(3600, 7 * 86400)) for _ in STEPS)
                clocks += self._steps(rows[-1]["id"], at, due)
            self._insert(rows, clocks)
            advance(len(clocks))

    def _insert(self, incidents: list[dict[str, Any]], clocks: list[dict[str, Any]]) -> None:
        with self.database.engine.begin() as conn:
            conn.execute(insert(INCIDENTS), incidents)
            conn.execute(insert(CLOCKS), clocks)

    def analyze(self) -> None:
        if self.database.dialect == "postgresql":
            with self.database.engine.begin() as conn:
                conn.execute(text("ANALYZE incidents, clocks, timeline_events, notifications"))


def pending_steps(database: Database) -> int:
    with database.read_session() as session:
        query = select(func.count()).where(Clock.state == "pending", Clock.kind == "escalation")
        return int(session.scalar(query) or 0)


def escalated_events(database: Database) -> int:
    with database.read_session() as session:
        query = select(func.count()).where(TimelineEvent.kind == "escalated")
        return int(session.scalar(query) or 0)


# --- measuring -----------------------------------------------------------------------------


def _fired_count(database: Database, incident_ids: list[str]) -> int:
    with database.read_session() as session:
        query = select(func.count()).where(
            Clock.incident_id.in_(incident_ids), Clock.key == "page:1:1", Clock.state == "fired"
        )
        return int(session.scalar(query) or 0)


def _wait_done(
    database: Database, receiver: PageReceiver, ids: list[str], scenario: Scenario
) -> None:
    """Until every measured step has fired and its page has arrived (or a deadline)."""
    deadline = time.monotonic() + scenario.span_s + 120
    wanted = set(ids)
    with Progress(
        f"[bold]escalation {scenario.name}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(scenario.name, total=2 * scenario.count)
        while time.monotonic() < deadline:
            fired = _fired_count(database, ids)
            received = receiver.count(wanted)
            progress.update(task, completed=fired + received)
            if fired >= scenario.count and received >= scenario.count:
                return
            time.sleep(0.25)


@dataclass
class Lateness:
    """Per measured step (page:1:1), in ms after its due_at."""

    fired: list[float]
    queued: list[float]
    received: list[float]
    fired_twice: int


def lateness(database: Database, receiver: PageReceiver, ids: list[str]) -> Lateness:
    """When each measured step fired, queued its page and its page arrived, minus due_at."""
    with database.read_session() as session:
        due = dict(
            session.execute(
                select(Clock.incident_id, Clock.due_at).where(
                    Clock.incident_id.in_(ids), Clock.key == "page:1:1"
                )
            ).all()
        )
        fired: dict[str, list[datetime]] = {}
        events = session.execute(
            select(TimelineEvent.incident_id, TimelineEvent.at, TimelineEvent.data).where(
                TimelineEvent.incident_id.in_(ids), TimelineEvent.kind == "escalated"
            )
        )
        for incident_id, at, data in events:
            if data.get("key") == "page:1:1":
                fired.setdefault(incident_id, []).append(at)
        queued = dict(
            session.execute(
                select(Notification.incident_id, Notification.created_at).where(
                    Notification.incident_id.in_(ids), Notification.purpose == "page"
                )
            ).all()
        )
    out = Lateness([], [], [], sum(1 for v in fired.values() if len(v) > 1))
    for incident_id in ids:
        due_s = as_utc(due[incident_id]).timestamp()
        if incident_id in fired:
            out.fired.append((as_utc(fired[incident_id][0]).timestamp() - due_s) * 1000)
        if incident_id in queued:
            out.queued.append((as_utc(queued[incident_id]).timestamp() - due_s) * 1000)
        arrival = receiver.first.get(incident_id)
        if arrival is not None:
            out.received.append((arrival.wall - due_s) * 1000)
    return out


def _run_scenario(
    database: Database,
    seeder: StepSeeder,
    receiver: PageReceiver,
    scenario: Scenario,
    config: EscalationConfig,
) -> dict[str, Any]:
    pending_before = pending_steps(database) + len(STEPS) * scenario.count
    escalated_before = escalated_events(database)
    load_before = load_average()
    ids = seeder.add_measured(scenario.due_times(config.lead_s))
    _wait_done(database, receiver, ids, scenario)
    late = lateness(database, receiver, ids)
    unexpected = escalated_events(database) - escalated_before - len(late.fired)
    return {
        "scenario": scenario.name,
        "pending_at_start": pending_before,
        "due": scenario.count,
        "span_s": scenario.span_s,
        "fired": len(late.fired),
        "fired_twice": late.fired_twice,
        "paged": len(late.received),
        "other_steps_fired": unexpected,
        "fired_ms": summary(late.fired),
        "queued_ms": summary(late.queued),
        "received_ms": summary(late.received),
        "load_before": load_before,
        "load_after": load_average(),
    }


def bench_backend(backend: str, config: EscalationConfig) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="tocsin-bench-escalation-") as directory,
        throwaway_database(backend) as url,
        PageReceiver() as receiver,
    ):
        migrate.upgrade(url)
        database = Database(url)
        try:
            seeder = StepSeeder(
                database, load_policy("proofkit"), ONCALL_FILE.format(hook=receiver.url)
            )
            background = (config.pending - len(STEPS) * config.stream) // len(STEPS)
            seed_s = _seed(seeder, background, backend)
            with engine_process(url, Path(directory)) as log:
                for scenario in scenarios(config):
                    rows.append(
                        _run_scenario(database, seeder, receiver, scenario, config)
                        | {"backend": backend, "seed_s": seed_s}
                    )
            tracebacks = log.read_text(errors="replace").count("Traceback")
        finally:
            database.dispose()
        for row in rows:
            row["tracebacks_in_log"] = tracebacks
            row["duplicate_pages"] = len(receiver.all) - len(receiver.first)
    return rows


def _seed(seeder: StepSeeder, incidents: int, backend: str) -> float:
    label = f"seed {backend} with {incidents * len(STEPS):,} pending steps"
    started = time.perf_counter()
    with Progress(
        f"[bold]{label}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task(label, total=incidents * len(STEPS))
        seeder.add_background(
            incidents, random.Random(incidents), lambda n: progress.advance(task, n)
        )
    seeder.analyze()
    seconds = time.perf_counter() - started
    console.print(f"{label}: {seconds:.1f} s")
    return round(seconds, 1)


# --- report --------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(
        title="Escalation lateness (ms) after due_at, `tocsin engine` process "
        "(goal: fired p99 < 1000)"
    )
    for column in ("database", "scenario", "pending", "due", "over s", "fired", "paged"):
        out.add_column(column, justify="right")
    for column in ("fired p50", "fired p99", "fired max", "received p50", "received p99"):
        out.add_column(column, justify="right")
    for row in rows:
        fired, received = row["fired_ms"], row["received_ms"]
        out.add_row(
            row["backend"],
            row["scenario"],
            f"{row['pending_at_start']:,}",
            str(row["due"]),
            f"{row['span_s']:g}",
            str(row["fired"]),
            str(row["paged"]),
            ms(fired["p50"]),
            ms(fired["p99"]),
            ms(fired["max"]),
            ms(received["p50"]),
            ms(received["p99"]),
        )
    return out


def run(backends: tuple[str, ...], *, quick: bool) -> dict[str, Any]:
    config = QUICK if quick else EscalationConfig()
    started = datetime.now(UTC).isoformat()
    rows: list[dict[str, Any]] = []
    for backend in backends:
        rows += bench_backend(backend, config)
    console.print(table(rows))
    for row in rows:
        problems = {
            "not fired": row["due"] - row["fired"],
            "not paged": row["due"] - row["paged"],
            "fired twice": row["fired_twice"],
            "other steps fired": row["other_steps_fired"],
            "duplicate pages": row["duplicate_pages"],
            "tracebacks in the engine log": row["tracebacks_in_log"],
        }
        bad = {k: v for k, v in problems.items() if v}
        if bad:
            console.print(f"[red]{row['backend']} {row['scenario']}: {bad}[/]")
    return {
        "benchmark": "escalation",
        "config": asdict(config),
        "started": started,
        "results": rows,
    }
