"""The durable engine loop.

Every timer lives in the database; the loop only asks "what is due?" and acts on it, so a
restart (or a second engine) picks up exactly where the last one stopped. Each step is a
module with a name and `run_due(database) -> int` that claims and settles due rows in its own
short transactions. A failing step is logged and retried on the next tick; it never stops the
others.

A tick takes turns: one pass of each step, again and again until none has anything left. So
in a storm the outbox sends the first pages while the clocks step is still firing the rest,
instead of waiting until every escalation has been queued.

Run as its own process (`tocsin engine`), SIGTERM stops the engine gracefully: the sends in
flight finish and are recorded before it exits, so a routine restart sends nothing twice.
Only a crash (`kill -9`, power loss) can leave a send whose outcome is unknown; the outbox
sends it again, with the same idempotency key, once its lease runs out.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
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

    def tick(self, max_rounds: int = 100) -> TickReport:
        """Run the steps in turn, one pass each per round, until none has anything left.

        A step that found nothing, or failed, sits out the rest of the tick (a failed step is
        retried next tick); the number of rounds is bounded so a tick always ends.
        """
        started = time.monotonic()
        handled = {step.name: 0 for step in self.steps}
        failed: dict[str, str] = {}
        busy = list(self.steps)
        for _ in range(max_rounds):
            busy = [step for step in busy if self._pass(step, handled, failed)]
            if not busy or self.stopping.is_set():
                break
        for name in failed:
            handled.pop(name, None)
        self.last_tick_at = time.monotonic()
        return TickReport(handled, failed, self.last_tick_at - started)

    def _pass(self, step: EngineStep, handled: dict[str, int], failed: dict[str, str]) -> bool:
        """One run of `step`; True if it found something to do (it may have more)."""
        if self.stopping.is_set():
            return False
        try:
            count = step.run_due(self.database)
        except Exception as exc:  # one broken step must not stop the others
            log.exception("engine step %s failed; retrying next tick", step.name)
            failed[step.name] = repr(exc)
            return False
        handled[step.name] += count
        return count > 0

    def seconds_until_next(self) -> float:
        upcoming = [d for d in (s.next_due(self.database) for s in self.steps) if d is not None]
        if not upcoming:
            return self.max_sleep
        delay = (min(upcoming) - now()).total_seconds()
        return max(0.0, min(self.max_sleep, delay))

    def run_forever(self) -> None:
        """Tick until stop(); in a process's main thread, SIGTERM calls stop()."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._terminate)
        log.info("engine started with steps: %s", ", ".join(s.name for s in self.steps))
        while not self.stopping.is_set():
            seen = wakeup.generation()  # work committed after this is worth another look
            self.tick()
            try:
                delay = self.seconds_until_next()
            except Exception:
                log.exception("engine could not read the next due time")
                delay = self.max_sleep
            if delay > 0:
                wakeup.wait(delay, unless_notified_since=seen)
        log.info("engine stopped")

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="tocsin-engine", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()
        wakeup.notify()

    def _terminate(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM: finish the sends in flight, then stop. A second SIGTERM ends it at once."""
        log.info("engine stopping: finishing the work in hand (SIGTERM again to stop now)")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.stop()
