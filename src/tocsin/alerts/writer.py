"""Group commit for alert intake: a writer stores every delivery that is waiting in one
transaction, and each sender is answered only after that transaction commits.

In a storm, monitoring posts many deliveries at once. Storing each in its own transaction
pays, per delivery, for starting a transaction, looking up the integration, reading the active
silences and committing; on SQLite those cost more than the alerts themselves, and every
writer queues on the one write lock anyway. The writer instead takes whatever is waiting (it
never waits for more, so a lone alert is not delayed), stores each delivery under its own
savepoint, so that one bad delivery cannot spoil the others, and commits once.

SQLite gets one writer thread (it has one writer anyway); PostgreSQL several, since its
transactions run side by side (TOCSIN_INTAKE_WRITERS overrides either).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tocsin.alerts import integrations
from tocsin.alerts.ingest import Delivery
from tocsin.alerts.models import Integration
from tocsin.alerts.normalized import IncomingAlert, IngestResult
from tocsin.alerts.ratelimit import TokenBuckets
from tocsin.db import Database, is_retryable
from tocsin.policy.loader import LoadedPolicy

log = logging.getLogger(__name__)

RETRIES = 3  # a PostgreSQL deadlock victim is retried; nothing of it was committed
MAX_ALERTS_PER_GROUP = 5_000  # bounds one transaction's length, and so every sender's wait


class Store(Protocol):
    """Stores one delivery in the caller's transaction: tocsin.flows.intake.deliver, which
    also opens and tells incidents. Passed in, because that flow is a layer above alerts."""

    def __call__(
        self, session: Session, *, delivery: Delivery, alerts: Sequence[IncomingAlert]
    ) -> IngestResult: ...


class UnknownKey(Exception):
    """No live integration of this kind has this key."""


class RateLimited(Exception):
    """The integration is over its request rate."""


@dataclass
class Pending:
    key: str
    kind: str
    alerts: list[IncomingAlert]
    outcome: Future[IngestResult] = field(default_factory=Future)


class IntakeWriter:
    def __init__(
        self,
        database: Database,
        policy: LoadedPolicy,
        limiter: TokenBuckets,
        store: Store,
        threads: int | None = None,
    ) -> None:
        self.database, self.policy, self.limiter = database, policy, limiter
        self.store = store
        self.threads = threads or _default_threads(database)
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._start_lock = threading.Lock()

    async def submit(self, key: str, kind: str, alerts: list[IncomingAlert]) -> IngestResult:
        """Store one delivery; returns once it is committed, or raises UnknownKey,
        RateLimited or the database's error."""
        self._ensure_started()
        pending = Pending(key, kind, alerts)
        self._queue.put(pending)
        return await asyncio.wrap_future(pending.outcome)

    def stop(self, timeout: float = 10.0) -> None:
        """Store what is queued, then end the writer threads."""
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout)
        self._workers.clear()

    def _ensure_started(self) -> None:
        if self._workers:
            return
        with self._start_lock:
            if self._workers:
                return
            for n in range(self.threads):
                worker = threading.Thread(target=self._run, name=f"intake-writer-{n}", daemon=True)
                worker.start()
                self._workers.append(worker)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, stopping = self._gather(first)
            self._store_group(group)
            if stopping:
                return

    def _gather(self, first: Pending) -> tuple[list[Pending], bool]:
        """The first delivery and whatever else is already waiting, up to the group bound."""
        group, alerts = [first], len(first.alerts)
        while alerts < MAX_ALERTS_PER_GROUP:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                return group, False
            if more is None:
                return group, True
            group.append(more)
            alerts += len(more.alerts)
        return group, False

    def _store_group(self, group: list[Pending]) -> None:
        for attempt in range(RETRIES):
            try:
                outcomes = self._store_once(group)
            except DBAPIError as exc:
                if attempt < RETRIES - 1 and is_retryable(exc):
                    continue
                _fail_all(group, exc)
                return
            except Exception as exc:  # an unexpected failure still answers every sender
                log.exception("storing %d alert deliveries failed", len(group))
                _fail_all(group, exc)
                return
            for pending, outcome in zip(group, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    pending.outcome.set_exception(outcome)
                else:
                    pending.outcome.set_result(outcome)
            return

    def _store_once(self, group: list[Pending]) -> list[IngestResult | Exception]:
        with self.database.write_session() as session:
            self._top_up(group)
            known: dict[str, Integration | None] = {}
            return [self._store_one(session, pending, known) for pending in group]

    def _top_up(self, group: list[Pending]) -> None:
        """Add to the group what queued while its writer waited for the write lock.

        On SQLite the writers of several serving processes take turns at the lock: what
        arrived during another process's turn rides in this transaction rather than waiting
        for the next (measured: docs/performance.md, "SQLite writers across processes").
        The group list grows in place, so a retry stores the same deliveries.
        """
        alerts = sum(len(pending.alerts) for pending in group)
        while alerts < MAX_ALERTS_PER_GROUP:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                return
            if more is None:  # a stop: leave it for _run to see after this group
                self._queue.put(None)
                return
            group.append(more)
            alerts += len(more.alerts)

    def _store_one(
        self, session: Session, pending: Pending, known: dict[str, Integration | None]
    ) -> IngestResult | Exception:
        if pending.key not in known:
            known[pending.key] = integrations.by_key(session, pending.key)
        integration = known[pending.key]
        if integration is None or integration.kind != pending.kind:
            return UnknownKey()
        if not self.limiter.allow(integration.id):
            return RateLimited()
        delivery = Delivery(integration=integration, loaded=self.policy)
        savepoint = session.begin_nested()
        try:
            result = self.store(session, delivery=delivery, alerts=pending.alerts)
        except Exception as exc:
            if isinstance(exc, DBAPIError) and is_retryable(exc):
                raise  # the whole group is retried
            savepoint.rollback()  # if even this fails, the group fails and every sender retries
            log.exception("a delivery to integration %s could not be stored", integration.id)
            return exc
        savepoint.commit()
        return result


def _fail_all(group: list[Pending], exc: Exception) -> None:
    for pending in group:
        if not pending.outcome.done():
            pending.outcome.set_exception(exc)


def _default_threads(database: Database) -> int:
    configured = os.environ.get("TOCSIN_INTAKE_WRITERS")
    if configured:
        return max(1, int(configured))
    return 1 if database.is_sqlite else 4
