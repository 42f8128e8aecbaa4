"""In-process burst drain: seed N escalation steps that are all due, then call the engine's
clock step until it settles nothing more, and report the cost of one step.

This is the yardstick of issue #16's bursts without the engine process, the outbox or the
webhook: only what firing a step costs (`tocsin.engine.clocks.ClockStep.run_due` with the
engine's own handlers), and how many SQL statements each engine transaction sends.

    .venv/bin/python -m bench burst_drain [--quick] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.table import Table
from sqlalchemy import event, func, select

from bench.common import BENCH_SECRET_KEY, console, load_average, throwaway_database
from bench.escalation import StepSeeder
from bench.paging import ONCALL_FILE
from tocsin import migrate
from tocsin.db import Database
from tocsin.engine.steps import clock_step
from tocsin.incidents.models import TimelineEvent
from tocsin.notify.models import Notification
from tocsin.policy.loader import load_policy
from tocsin.timesource import now

STEPS_DUE = 1_000
QUICK_STEPS_DUE = 200
ROUNDS, QUICK_ROUNDS = 3, 2


class StatementCounter:
    """SQL statements the engine sends, and the transactions (COMMITs) they went in."""

    def __init__(self, database: Database) -> None:
        self.statements = self.commits = 0
        event.listen(database.engine, "before_cursor_execute", self._statement)
        event.listen(database.engine, "commit", self._commit)

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def _commit(self, *_: Any) -> None:
        self.commits += 1


def _count(database: Database, model: Any, kind: str | None = None) -> int:
    with database.read_session() as session:
        query = select(func.count()).select_from(model)
        if kind is not None:
            query = query.where(TimelineEvent.kind == kind)
        return int(session.scalar(query) or 0)


def drain_once(backend: str, steps: int) -> dict[str, Any]:
    """One fresh database, `steps` incidents each with one step due now, drained."""
    with throwaway_database(backend) as url:
        migrate.upgrade(url)
        database = Database(url)
        try:
            seeder = StepSeeder(
                database, load_policy("proofkit"), ONCALL_FILE.format(hook="http://127.0.0.1:9/")
            )
            seeder.add_measured([now() - timedelta(seconds=1)] * steps)
            seeder.analyze()
            clocks = clock_step()
            counter = StatementCounter(database)
            load_before = load_average()
            started = time.perf_counter()
            fired = passes = 0
            while settled := clocks.run_due(database):
                fired += settled
                passes += 1
            seconds = time.perf_counter() - started
            return {
                "backend": backend,
                "steps": steps,
                "fired": fired,
                "passes": passes,
                "seconds": round(seconds, 3),
                "ms_per_step": round(1000 * seconds / max(fired, 1), 2),
                "transactions": counter.commits,
                "statements": counter.statements,
                "statements_per_step": round(counter.statements / max(fired, 1), 1),
                "paged_events": _count(database, TimelineEvent, "paged"),
                "outbox_rows": _count(database, Notification),
                "load_before": load_before,
                "load_after": load_average(),
            }
        finally:
            database.dispose()


def table(rows: list[dict[str, Any]]) -> Table:
    out = Table(title="Burst drain in process: ms per escalation step (goal: 1,000 in < 1 s)")
    for column in ("database", "steps", "fired", "s", "ms/step", "txns", "stmts/step", "load"):
        out.add_column(column, justify="right")
    for row in rows:
        out.add_row(
            row["backend"],
            str(row["steps"]),
            str(row["fired"]),
            f"{row['seconds']:.2f}",
            f"{row['ms_per_step']:.2f}",
            str(row["transactions"]),
            f"{row['statements_per_step']:.1f}",
            f"{row['load_before'][0]:.1f}" if row["load_before"] else "",
        )
    return out


def run(backends: tuple[str, ...], *, quick: bool) -> dict[str, Any]:
    os.environ.setdefault("TOCSIN_SECRET_KEY", BENCH_SECRET_KEY)
    steps, rounds = (QUICK_STEPS_DUE, QUICK_ROUNDS) if quick else (STEPS_DUE, ROUNDS)
    started = datetime.now(UTC).isoformat()
    rows = [drain_once(b, steps) for _ in range(rounds) for b in backends]
    console.print(table(rows))
    for row in rows:
        if row["fired"] != steps or row["paged_events"] != steps or row["outbox_rows"] != steps:
            console.print(f"[red]{row['backend']}: not every step fired and paged once: {row}[/]")
    return {"benchmark": "burst_drain", "started": started, "results": rows}
