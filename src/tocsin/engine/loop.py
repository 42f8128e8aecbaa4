"""The durable engine loop.

Every timer lives in the database; the loop only asks "what is due?" and acts on it, so a
restart (or a second engine) picks up exactly where the last one stopped. Each step is a
module with a name and `run_due(database, deadline) -> int` that claims and settles due rows
in its own short transactions (the steps are listed in tocsin.engine.steps). A failing step
is logged and retried on the next tick; it never stops the others.

Guards, as GoAlert's engine has them:
- each pass of a step has a time limit (`STEP_LIMIT_S`): the step stops taking new work once
  its deadline passes and leaves the rest for the next pass;
- a watchdog thread logs "engine possibly stuck" with the step's name when a pass runs well
  past its limit (a hung database call, a channel that ignores its timeout);
- an engine whose code does not match the database schema (a rolling upgrade migrated the
  database to a revision this code does not know, or this code is newer than the database)
  processes nothing and says so, until the two match again.

A tick takes turns: one pass of each step, again and again until none has anything left. So
in a storm the outbox sends the first pages while the clocks step is still firing the rest,
instead of waiting until every escalation has been queued.

One engine per deployment processes: the holder of the engine lease (tocsin.engine.lease).
Every other engine stands by, trying to take the lease every third of its length, and runs
nothing meanwhile. The holder also listens for wake-ups from other processes
(`wakeup.Listener`): a commit in any serving worker, or on another host on PostgreSQL, wakes
it at once. A graceful stop releases the lease, so a standby takes over at once. With the
lease turned off (`TOCSIN_ENGINE_LEASE_SECONDS=0`) every engine processes, and the claims
below keep each effect once.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Protocol

from tocsin import migrate
from tocsin.db import Database, wakeup
from tocsin.engine.lease import DEFAULT_LEASE_SECONDS, Lease
from tocsin.engine.status import StatusRecorder
from tocsin.timesource import now

log = logging.getLogger("tocsin.engine")

STEP_LIMIT_S = 10.0  # one pass of one step; the rest waits for the next pass
STUCK_AFTER_S = 30.0  # a pass this far past its limit is reported as possibly stuck
SCHEMA_CHECK_EVERY_S = 30.0

# Why the engine must not process now (the schema does not match its code), or None.
SchemaCheck = Callable[[], str | None]


class EngineStep(Protocol):
    name: str

    def run_due(self, database: Database, deadline: float | None = None) -> int:
        """Act on what is due now, taking no new work after `deadline` (time.monotonic());
        return how many items were handled."""
        ...

    def next_due(self, database: Database) -> datetime | None:
        """When the next item falls due, or None if nothing is pending."""
        ...


@dataclass
class TickReport:
    handled: dict[str, int]
    failed: dict[str, str]
    seconds: float


def schema_check(database: Database) -> SchemaCheck:
    """The engine's guard for rolling upgrades: the database's revision must be this code's."""

    def check() -> str | None:
        current, head = migrate.current_revision(database.url), migrate.head_revision(database.url)
        if current == head:
            return None
        return (
            f"database schema is at revision {current}, this engine's code expects {head}: "
            "processing nothing until they match (upgrade the code, or run `tocsin db upgrade`)"
        )

    return check


class Watchdog:
    """Remembers which step is running since when; a thread reports a pass that overruns."""

    def __init__(self, stuck_after: float) -> None:
        self.stuck_after = stuck_after
        self._running: tuple[str, float] | None = None
        self._reported: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def started(self, name: str) -> None:
        with self._lock:
            self._running = (name, time.monotonic())

    def finished(self) -> None:
        with self._lock:
            self._running = None

    def check(self) -> str | None:
        """The warning to log now, once per overrunning pass."""
        with self._lock:
            running = self._running
            if running is None or running == self._reported:
                return None
            name, since = running
            elapsed = time.monotonic() - since
            if elapsed < self.stuck_after:
                return None
            self._reported = running
        return f"engine possibly stuck: step {name} has been running for {elapsed:.0f} s"

    def watch(self, stopping: threading.Event) -> None:
        while not stopping.wait(1.0):
            warning = self.check()
            if warning:
                log.warning(warning)


class Engine:
    def __init__(
        self,
        database: Database,
        steps: Sequence[EngineStep],
        *,
        max_sleep: float = 1.0,
        step_limit: float = STEP_LIMIT_S,
        schema: SchemaCheck | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self.database = database
        self.steps = list(steps)
        self.max_sleep = max_sleep
        self.step_limit = step_limit
        self.schema = schema or schema_check(database)
        self.status = StatusRecorder(database)
        self.lease = Lease(database, self.status.id, seconds=lease_seconds)
        self._listener: wakeup.Listener | None = None
        self._thread: threading.Thread | None = None
        self.watchdog = Watchdog(step_limit + STUCK_AFTER_S)
        self.stopping = threading.Event()
        self.last_tick_at: float | None = None
        self.passes = 0  # completed ticks, for whoever waits on the engine (tests, health)
        self.paused: str | None = None  # why the engine is not processing, if it is not
        self._schema_checked_at: float | None = None

    def tick(self, max_rounds: int = 100) -> TickReport:
        """Run the steps in turn, one pass each per round, until none has anything left.

        A step that found nothing, or failed, sits out the rest of the tick (a failed step is
        retried next tick); the number of rounds is bounded so a tick always ends.
        """
        started = time.monotonic()
        handled = {step.name: 0 for step in self.steps}
        failed: dict[str, str] = {}
        if self._schema_mismatch():
            self.last_tick_at = time.monotonic()
            return TickReport({}, {}, self.last_tick_at - started)
        busy = list(self.steps)
        for _ in range(max_rounds):
            busy = [step for step in busy if self._pass(step, handled, failed)]
            if not busy or self.stopping.is_set():
                break
        for name in failed:
            handled.pop(name, None)
        self.last_tick_at = time.monotonic()
        self.passes += 1
        return TickReport(handled, failed, self.last_tick_at - started)

    def _schema_mismatch(self) -> bool:
        """Look at the schema at start and every SCHEMA_CHECK_EVERY_S; True while it differs."""
        at = time.monotonic()
        checked = self._schema_checked_at
        if checked is None or at - checked >= SCHEMA_CHECK_EVERY_S:
            self._schema_checked_at = at
            try:
                problem = self.schema()
            except Exception as exc:  # the database is down: the steps will say so themselves
                log.warning("engine could not read the schema revision: %s", exc)
                problem = None
            if problem and problem != self.paused:
                log.error(problem)
            elif self.paused and not problem:
                log.info("database schema matches this engine's code again; processing")
            self.paused = problem
        return self.paused is not None

    def _pass(self, step: EngineStep, handled: dict[str, int], failed: dict[str, str]) -> bool:
        """One run of `step`; True if it found something to do (it may have more)."""
        if self.stopping.is_set():
            return False
        self.watchdog.started(step.name)
        try:
            count = step.run_due(self.database, time.monotonic() + self.step_limit)
        except Exception as exc:  # one broken step must not stop the others
            log.exception("engine step %s failed; retrying next tick", step.name)
            failed[step.name] = repr(exc)
            return False
        finally:
            self.watchdog.finished()
        handled[step.name] += count
        return count > 0

    def seconds_until_next(self) -> float:
        upcoming = [d for d in (s.next_due(self.database) for s in self.steps) if d is not None]
        if not upcoming:
            return self.max_sleep
        delay = (min(upcoming) - now()).total_seconds()
        return max(0.0, min(self.max_sleep, delay))

    def run_forever(self) -> None:
        """Tick until stop(), while holding the engine lease; in a process's main thread,
        SIGTERM calls stop()."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._terminate)
        log.info("engine started with steps: %s", ", ".join(s.name for s in self.steps))
        threading.Thread(
            target=self.watchdog.watch, args=(self.stopping,), name="tocsin-watchdog", daemon=True
        ).start()
        if self.leased:
            threading.Thread(target=self._keep_lease, name="tocsin-lease", daemon=True).start()
        try:
            while not self.stopping.is_set():
                if self._standing_by():
                    continue
                seen = wakeup.generation()  # work committed after this is worth another look
                self.tick()
                self.status.record(self.passes, self.paused)
                self._sleep(seen)
        finally:
            self._stop_listening()
            self.lease.release()
        log.info("engine stopped")

    def _standing_by(self) -> bool:
        """While another engine holds the lease: wait, then say so (and try again)."""
        if not self.leased or self.lease.held() or self.lease.refresh():
            self._start_listening()
            return False
        self._stop_listening()
        self.stopping.wait(self.lease.renew_every)
        return True

    @property
    def leased(self) -> bool:
        """False when the lease is turned off (TOCSIN_ENGINE_LEASE_SECONDS=0): every engine then
        processes at once, active-active, and the per-row claims alone keep each effect once."""
        return self.lease.seconds > 0

    def _keep_lease(self) -> None:
        """Renew the lease while we hold it, whatever a long tick is doing meanwhile."""
        while not self.stopping.wait(self.lease.renew_every):
            if self.lease.held():
                self.lease.refresh()

    def _sleep(self, seen: int) -> None:
        try:
            delay = self.seconds_until_next()
        except Exception:
            log.exception("engine could not read the next due time")
            delay = self.max_sleep
        if delay > 0:
            wakeup.wait(delay, unless_notified_since=seen)

    def _start_listening(self) -> None:
        if self._listener is None:
            self._listener = wakeup.Listener(self.database.url)
            self._listener.start()

    def _stop_listening(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def start_in_thread(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run_forever, name="tocsin-engine", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, *, wait: float = 0.0) -> None:
        """Stop after the work in hand; with `wait`, give an engine thread that long to finish
        its sends in flight, record them and release the lease."""
        self.stopping.set()
        wakeup.notify()
        if wait and self._thread is not None:
            self._thread.join(wait)

    def _terminate(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM: finish the sends in flight, then stop. A second SIGTERM ends it at once."""
        log.info("engine stopping: finishing the work in hand (SIGTERM again to stop now)")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.stop()
