"""A storm: 500 distinct Alertmanager groups fire within one second (issue #16).

Each group opens its own P1 incident and pages one person through a webhook. Issue goal: the
last of the 500 pages received within 2 s of its alert on SQLite, within 3 s on PostgreSQL
(p99 over 3 runs).

For each database:
1. Write a policy file: the bundled `proofkit` plus one routing rule, `severity=critical`
   pages P1 on service `checkout` (so the storm does not depend on the default rules' choice).
2. Start a real `tocsin serve` (engine included; `--workers N`, 1 unless asked) on a
   throwaway database, and a threaded HTTP receiver in this process.
3. Apply an on-call file: one person whose only contact method is a webhook to the receiver,
   and `checkout`'s escalation policy, one step after 0m paging `person:pager`, no repeat; so
   each incident is paged exactly once.
4. Per run: open one keep-alive connection per group (Alertmanager sends groups concurrently),
   then send 500 Alertmanager webhook payloads (version 4, one group per POST, one critical
   alert each, its own groupKey and alertname) spread evenly over 1 s, open loop.
5. Wait until every incident has its page, then a little longer (to see duplicates).
6. Scenarios `idle` and `1,000 alerts/s` (paging.py's background load: warning alerts to a
   second integration, on a fixed schedule), `runs` times each.

Per group, from the moment its POST was written: *accepted* (the 2xx answer, which comes after
the incident is committed), *declared* (the incident's `declared_at`, its first timeline
event), *fired* (the `escalated` event) and *received* (the receiver has the page's request
line and headers). Server times are wall clock (the same host), read from the database.

Checks: every POST answered 2xx with one incident, 500 distinct incidents, each paged exactly
once (by the webhook's Idempotency-Key and per incident), no Traceback in the server log.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from bench.common import (
    TOCSIN,
    console,
    create_token,
    free_port,
    load_average,
    ms,
    percentile,
    stop_process,
    summary,
    throwaway_database,
    tocsin_env,
    wait_healthy,
)
from bench.ingest import BATCH
from bench.loadgen import _read_response, encode_post
from bench.paging import PacedLoad, PageReceiver, load_batch
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.timesource import as_utc


@dataclass(frozen=True)
class StormConfig:
    groups: int = 500
    spread_s: float = 1.0  # the groups' POSTs are spread evenly over this long
    runs: int = 3  # per scenario
    scenarios: tuple[str, ...] = ("idle", "1,000 alerts/s")
    load_alerts_per_s: int = 1_000
    load_connections: int = 8
    load_settle_s: float = 3.0  # the load runs this long before the storm
    pages_timeout_s: float = 120.0
    linger_s: float = 2.0  # after the last page, wait this long for duplicates
    pause_s: float = 3.0  # between runs, so the engine and outbox are idle again


QUICK = StormConfig(runs=1)

SCENARIOS = ("idle", "1,000 alerts/s")

# The storm's own routing rule, ahead of Tocsin's defaults: a critical alert pages P1.
ROUTING = """
routing:
  rules:
    - {name: storm-critical, match: {severity: critical}, service: checkout, severity: P1}
"""

ONCALL_FILE = """\
people:
  - handle: pager
    name: Storm Pager
    contact_methods:
      - {{name: hook, kind: webhook, address: "{hook}"}}
    notification_rules:
      - {{method: hook, after: 0m}}
escalation_policies:
  - handle: storm
    name: Page the person at once
    default: true
    repeat: 0
    steps:
      - {{after: 0m, targets: ["person:pager"]}}
services:
  - {{handle: checkout, name: Checkout, escalation_policy: storm}}
"""


def write_policy(workdir: Path) -> Path:
    """proofkit with the storm's routing rule (proofkit itself sets no routing)."""
    bundled = Path(__file__).resolve().parent.parent / "src/tocsin/policy/bundled/proofkit.yaml"
    text = bundled.read_text()
    if "\nrouting:" in text:
        raise RuntimeError("proofkit.yaml has routing of its own now: merge the storm's rule")
    path = workdir / "storm-policy.yaml"
    path.write_text(text.rstrip("\n") + "\n" + ROUTING)
    return path


# --- the server ----------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log: Path
    database_url: str


def start_server(database_url: str, workdir: Path, workers: int) -> Server:
    env = tocsin_env(database_url, workdir) | {"TOCSIN_POLICY": str(write_policy(workdir))}
    token = create_token(env, role="admin", name="bench")
    port = free_port()
    log = workdir / "serve.log"
    args = [str(TOCSIN), "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--workers", str(workers)]  # serve's own default is one per core
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", port, token, process, log, database_url)
    wait_healthy(server.url, process, log)
    return server


def set_up(server: Server, receiver: PageReceiver) -> tuple[str, str]:
    """Apply the on-call file and create the integrations; their webhook paths (storm, load)."""
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
        applied = api.post(
            "/api/v1/oncall/apply", json={"text": ONCALL_FILE.format(hook=receiver.url)}
        )
        applied.raise_for_status()
        paths = []
        for name in ("storm", "storm-load"):
            created = api.post("/api/v1/integrations", json={"name": name, "kind": "alertmanager"})
            created.raise_for_status()
            paths.append(f"/api/v1/integrations/{created.json()['key']}/alertmanager")
    return paths[0], paths[1]


# --- the storm -----------------------------------------------------------------------------


def group_payload(tag: str) -> bytes:
    """Alertmanager's webhook (version 4) for one group of one critical alert."""
    alertname = f"Storm{tag}"
    labels = {
        "alertname": alertname,
        "severity": "critical",
        "service": "checkout",
        "instance": f"checkout-{tag}.prod.example:9100",
        "region": "eu-west-1",
    }
    payload = {
        "version": "4",
        "groupKey": f'{{}}/{{severity="critical"}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "tocsin",
        "groupLabels": {"alertname": alertname},
        "commonLabels": labels,
        "commonAnnotations": {"summary": f"Checkout is down in eu-west-1 ({tag})"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"Checkout is down in eu-west-1 ({tag})"},
                "startsAt": datetime.now(UTC).isoformat(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up%3D%3D0",
                "fingerprint": f"storm-{tag}",
            }
        ],
    }
    return json.dumps(payload).encode()


@dataclass
class Group:
    tag: str
    request: bytes
    sent_perf: float = 0.0
    sent_wall: float = 0.0
    answered_perf: float = 0.0
    status: int = 0
    incident_id: str | None = None
    error: str = ""

    @property
    def accepted_ms(self) -> float:
        return (self.answered_perf - self.sent_perf) * 1000


async def _fire(
    group: Group, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], due: float
) -> None:
    reader, writer = connection
    delay = due - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
    group.sent_perf, group.sent_wall = time.perf_counter(), time.time()
    try:
        writer.write(group.request)
        group.status, body = await _read_response(reader)
        group.answered_perf = time.perf_counter()
        incidents = json.loads(body).get("incidents") or [] if group.status == 200 else []
        group.incident_id = str(incidents[0]) if len(incidents) == 1 else None
        if group.status != 200 or len(incidents) != 1:
            group.error = f"{group.status} {body[:200]!r}"
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        group.error = f"connection error: {exc!r}"
    finally:
        writer.close()


async def storm(port: int, groups: list[Group], spread_s: float) -> float:
    """Open one connection per group, then write each group's POST at its slot; the wall time
    from the first write to the last answer."""
    connections = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in groups)
    )
    start = time.perf_counter() + 0.05
    step = spread_s / len(groups)
    await asyncio.gather(
        *(
            _fire(group, connection, start + n * step)
            for n, (group, connection) in enumerate(zip(groups, connections, strict=True))
        )
    )
    return max(g.answered_perf for g in groups) - start


def make_groups(server: Server, path: str, run_tag: str, count: int) -> list[Group]:
    tags = [f"{run_tag}-{n:04d}" for n in range(count)]
    return [
        Group(tag, encode_post("127.0.0.1", server.port, path, group_payload(tag), {}))
        for tag in tags
    ]


def wait_for_pages(receiver: PageReceiver, ids: set[str], config: StormConfig) -> None:
    deadline = time.monotonic() + config.pages_timeout_s
    while receiver.count(ids) < len(ids) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(config.linger_s)


# --- measuring -----------------------------------------------------------------------------


def server_times(database_url: str, ids: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Per incident, from the database (epoch seconds): declared_at, and its first
    `escalated` event."""
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as conn:
        declared = {
            i: as_utc(at).timestamp()
            for i, at in conn.execute(
                select(Incident.id, Incident.declared_at).where(Incident.id.in_(ids))
            ).all()
        }
        fired: dict[str, float] = {}
        events = conn.execute(
            select(TimelineEvent.incident_id, TimelineEvent.at)
            .where(TimelineEvent.incident_id.in_(ids), TimelineEvent.kind == "escalated")
            .order_by(TimelineEvent.seq)
        ).all()
        for incident_id, at in events:
            fired.setdefault(incident_id, as_utc(at).timestamp())
    engine.dispose()
    return declared, fired


@dataclass
class RunFigures:
    groups: list[Group]
    wall_s: float
    load: Any = None  # paging.LoadFigures under the background load
    window: tuple[float, float] = (0.0, 0.0)
    pages: dict[str, list[Any]] = field(default_factory=dict)  # incident -> arrivals


def _figures(
    backend: str, scenario: str, run: int, figures: RunFigures, server: Server
) -> dict[str, Any]:
    groups = figures.groups
    ids = [g.incident_id for g in groups if g.incident_id]
    declared, fired = server_times(server.database_url, ids)
    by_id = {g.incident_id: g for g in groups if g.incident_id}
    received = {i: arrivals[0] for i, arrivals in figures.pages.items() if i in by_id}
    sent = [g.sent_perf for g in groups]
    row: dict[str, Any] = {
        "backend": backend,
        "scenario": scenario,
        "run": run,
        "groups": len(groups),
        "accepted_2xx": sum(1 for g in groups if 200 <= g.status < 300),
        "errors": [g.error for g in groups if g.error][:5],
        "incidents": len(set(ids)),
        "incidents_in_database": len(declared),
        "paged": len(received),
        "pages_received": sum(len(figures.pages.get(i, [])) for i in by_id),
        "duplicate_pages": sum(max(0, len(figures.pages.get(i, [])) - 1) for i in by_id),
        "duplicate_idempotency_keys": _repeated_keys(figures),
        "send_spread_ms": (max(sent) - min(sent)) * 1000,
        "storm_wall_s": figures.wall_s,
        "accepted_ms": summary([g.accepted_ms for g in groups if g.status == 200]),
        "declared_ms": summary(
            [(declared[i] - by_id[i].sent_wall) * 1000 for i in declared if i in by_id]
        ),
        "fired_ms": summary([(fired[i] - by_id[i].sent_wall) * 1000 for i in fired]),
        "received_ms": summary([(a.perf - by_id[i].sent_perf) * 1000 for i, a in received.items()]),
    }
    last = max((a.perf for a in received.values()), default=float("nan"))
    row["last_page_after_first_post_ms"] = (last - min(sent)) * 1000
    if figures.load is not None:
        row["background"] = {
            "achieved_alerts_per_s": figures.load.rate_between(*figures.window),
            "accepted_alerts": figures.load.accepted(),
            "statuses": {str(k): v for k, v in sorted(figures.load.statuses.items())},
            "errors": figures.load.errors,
            "max_schedule_lag_ms": figures.load.max_lag_s * 1000,
        }
    return row


def _repeated_keys(figures: RunFigures) -> int:
    keys = Counter(a.idempotency_key for arrivals in figures.pages.values() for a in arrivals)
    return sum(n - 1 for n in keys.values() if n > 1)


def _pages_by_incident(receiver: PageReceiver, ids: set[str]) -> dict[str, list[Any]]:
    pages: dict[str, list[Any]] = {}
    for arrival in list(receiver.all):
        if arrival.incident_id in ids:
            pages.setdefault(arrival.incident_id, []).append(arrival)
    return pages


def one_run(
    server: Server,
    receiver: PageReceiver,
    paths: tuple[str, str],
    config: StormConfig,
    scenario: str,
    run_tag: str,
    load_offset: int,
) -> RunFigures:
    """One storm, under the background load unless the scenario is `idle`."""
    groups = make_groups(server, paths[0], run_tag, config.groups)
    if scenario == SCENARIOS[0]:
        figures = RunFigures(groups, asyncio.run(storm(server.port, groups, config.spread_s)))
        _wait(receiver, figures, config)
        return figures
    per_s = config.load_alerts_per_s / BATCH
    ahead = int((config.load_settle_s + 30) * per_s)  # later batches are encoded as they go
    load = PacedLoad(
        "127.0.0.1",
        server.port,
        paths[1],
        lambda n: load_batch(load_offset + n),
        ahead,
        per_s,
        config.load_connections,
    )
    with load:
        time.sleep(config.load_settle_s)
        started = time.perf_counter()
        figures = RunFigures(groups, asyncio.run(storm(server.port, groups, config.spread_s)))
        _wait(receiver, figures, config)
        figures.window = (started, time.perf_counter())
    figures.load = load.figures
    return figures


def _wait(receiver: PageReceiver, figures: RunFigures, config: StormConfig) -> None:
    ids = {g.incident_id for g in figures.groups if g.incident_id}
    wait_for_pages(receiver, ids, config)
    figures.pages = _pages_by_incident(receiver, ids)


def bench_backend(backend: str, config: StormConfig, workers: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="tocsin-bench-storm-") as directory,
        throwaway_database(backend) as database_url,
        PageReceiver() as receiver,
    ):
        server = start_server(database_url, Path(directory), workers)
        try:
            paths = set_up(server, receiver)
            for scenario in config.scenarios:
                for run in range(1, config.runs + 1):
                    load_before = load_average()
                    tag = f"{backend[:2]}{scenario[:2]}{run}-{int(time.time())}"
                    console.print(f"[bold]storm[/] {backend} {scenario} run {run}")
                    offset = len(rows) * 100_000  # the load's alerts are new in every run
                    figures = one_run(server, receiver, paths, config, scenario, tag, offset)
                    row = _figures(backend, scenario, run, figures, server)
                    row.update(load_before=load_before, load_after=load_average())
                    rows.append(row)
                    time.sleep(config.pause_s)
        finally:
            stop_process(server.process, signal_first=signal.SIGINT)
        tracebacks = server.log.read_text(errors="replace").count("Traceback")
        for row in rows:
            row["workers"] = workers
            row["tracebacks_in_log"] = tracebacks
        if tracebacks:
            console.print(f"[red]{backend}: {tracebacks} traceback(s) in the serve log[/]")
            console.print(server.log.read_text(errors="replace")[-3000:])
    return rows


# --- report --------------------------------------------------------------------------------


def _ok(row: dict[str, Any]) -> bool:
    n = row["groups"]
    return (
        row["accepted_2xx"] == n
        and row["incidents"] == n
        and row["incidents_in_database"] == n
        and row["paged"] == n
        and row["pages_received"] == n
        and row["duplicate_idempotency_keys"] == 0
        and row["tracebacks_in_log"] == 0
    )


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(
        title="Storm: 500 Alertmanager groups in 1 s, each a P1 incident paging one person (ms "
        "from each group's POST; goal: last page < 2000 SQLite, < 3000 PostgreSQL)"
    )
    columns = ("database", "scenario", "run", "load/s", "checks", "accepted p50/p99/max")
    for column in (*columns, "declared p50/p99/max", "fired p50/p99/max"):
        out.add_column(column, justify="right", no_wrap=column == "scenario")
    out.add_column("received p50/p99/max", justify="right")
    for row in rows:
        background = row.get("background")
        out.add_row(
            row["backend"],
            row["scenario"],
            str(row["run"]),
            f"{background['achieved_alerts_per_s']:,.0f}" if background else "-",
            "ok" if _ok(row) else "[red]FAILED[/]",
            *(_three(row[k]) for k in ("accepted_ms", "declared_ms", "fired_ms", "received_ms")),
        )
    return out


def _three(figures: dict[str, float]) -> str:
    return " / ".join(ms(figures[k]).split(".")[0] for k in ("p50", "p99", "max"))


def goal_table(rows: list[dict[str, Any]]) -> Table:
    """Per database and scenario: p99 over the runs of the last page's delay (a run's max)."""
    out = Table(title="The last page of each run (received max, ms): p99 over the runs")
    for column in ("database", "scenario", "runs", "each run", "p99 of runs", "goal", "met"):
        out.add_column(column, justify="right")
    cells: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        cells.setdefault((row["backend"], row["scenario"]), []).append(row["received_ms"]["max"])
    for (backend, scenario), lasts in cells.items():
        goal = 2000.0 if backend == "sqlite" else 3000.0
        p99 = percentile(lasts, 99)
        out.add_row(
            backend,
            scenario,
            str(len(lasts)),
            ", ".join(f"{x:,.0f}" for x in lasts),
            f"{p99:,.0f}",
            f"{goal:,.0f}",
            "yes" if p99 <= goal else "no",
        )
    return out


def run(backends: tuple[str, ...], *, quick: bool, workers: int = 1) -> dict[str, Any]:
    config = QUICK if quick else StormConfig()
    started = datetime.now(UTC).isoformat()
    rows: list[dict[str, Any]] = []
    for backend in backends:
        rows += bench_backend(backend, config, workers)
    console.print(table(rows))
    console.print(goal_table(rows))
    for row in rows:
        if not _ok(row):
            console.print(f"[red]{row['backend']} {row['scenario']} run {row['run']}: {row}[/]")
    return {
        "benchmark": "storm",
        "config": asdict(config),
        "workers": workers,
        "started": started,
        "results": rows,
    }
