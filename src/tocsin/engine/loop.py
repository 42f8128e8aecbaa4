"""The durable engine loop.

Every timer lives in the database; the loop only asks "what is due?" and acts on it, so a
restart (or a second engine) picks up exactly where the last one stopped. Each step is a
module with a name and `run_due(database) -> int` that claims and settles due rows in its own
short transactions. A failing step is logged and retried on the next tick; it never stops the
others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tocsin.db import Database
from tocsin.engine import wakeup
from tocsin.timesource import now

log = logging.getLogger("tocsin.engine")


class EngineStep(Protocol):
    name: str

    def run_due(self, database: Database) -> int:
        """Act on everything due now; return how many items were handled."""
        ...

    def next_due(self, database: Database) -> datetime | None:
        """When the next item falls due, or None if nothing is pending."""
        ...


@dataclass
class TickReport:
    handled: dict[str, int]
    failed: dict[str, str]
    seconds: float


class Engine:
    def __init__(
        self, database: Database, steps: Sequence[EngineStep], *, max_sleep: float = 1.0
    ) -> None:
        self.database = database
        self.steps = list(steps)
        self.max_sleep = max_sleep
        self.stopping = threading.Event()
        self.last_tick_at: float | None = None

    def tick(self) -> TickReport:
        """One pass over every step: run until nothing more is due (bounded per step)."""
        started = time.monotonic()
        handled: dict[str, int] = {}
        failed: dict[str, str] = {}
        for step in self.steps:
            try:
                handled[step.name] = self._drain(step)
            except Exception as exc:  # one broken step must not stop the others
                log.exception("engine step %s failed; retrying next tick", step.name)
                failed[step.name] = repr(exc)
        self.last_tick_at = time.monotonic()
        return TickReport(handled, failed, self.last_tick_at - started)

    def _drain(self, step: EngineStep, max_rounds: int = 100) -> int:
        total = 0
        for _ in range(max_rounds):
            count = step.run_due(self.database)
            total += count
            if count == 0 or self.stopping.is_set():
                break
        return total

    def seconds_until_next(self) -> float:
        upcoming = [d for d in (s.next_due(self.database) for s in self.steps) if d is not None]
        if not upcoming:
            return self.max_sleep
        delay = (min(upcoming) - now()).total_seconds()
        return max(0.0, min(self.max_sleep, delay))

    def run_forever(self) -> None:
        log.info("engine started with steps: %s", ", ".join(s.name for s in self.steps))
        while not self.stopping.is_set():
            self.tick()
            try:
                delay = self.seconds_until_next()
            except Exception:
                log.exception("engine could not read the next due time")
                delay = self.max_sleep
            if delay > 0:
                wakeup.take_earliest()
                wakeup.wait(delay)
        log.info("engine stopped")

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="tocsin-engine", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()
        wakeup.notify(now())
