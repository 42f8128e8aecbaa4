"""The intake writer's group commit, on a real database (both databases).

Deliveries waiting together are stored in one transaction, each under its own savepoint: a
delivery that fails leaves nothing behind and spoils none of the others, and every sender
hears its own outcome only after the commit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import event, func, select

from tocsin.alerts import integrations
from tocsin.alerts.models import Alert
from tocsin.alerts.normalized import AlertEvent, IncomingAlert, IngestResult
from tocsin.alerts.ratelimit import TokenBuckets
from tocsin.alerts.writer import IntakeWriter, Pending, RateLimited, UnknownKey
from tocsin.db import Database
from tocsin.flows.intake import deliver
from tocsin.policy.loader import LoadedPolicy

UNLIMITED = TokenBuckets(rate_per_second=1e9, burst=1e9)


def warning(key: str) -> IncomingAlert:
    return IncomingAlert(
        dedup_key=key,
        event=AlertEvent.TRIGGER,
        summary=f"{key} is slow",
        source_severity="warning",
        labels={"alertname": "Slow", "instance": key},
    )


@pytest.fixture
def generic_key(database: Database) -> str:
    with database.write_session() as session:
        _integration, key = integrations.create(
            session, name="scripts", kind="generic", actor="admin"
        )
    return key


@pytest.fixture
def commits(database: Database) -> Iterator[list[int]]:
    """Counts the commits the database sees while the test runs."""
    seen: list[int] = []

    def on_commit(_connection: object) -> None:
        seen.append(1)

    event.listen(database.engine, "commit", on_commit)
    yield seen
    event.remove(database.engine, "commit", on_commit)


def stored_keys(database: Database) -> set[str]:
    with database.read_session() as session:
        return set(session.scalars(select(Alert.dedup_key)))


def run_queued(writer: IntakeWriter, pending: list[Pending]) -> None:
    """Queue every delivery first, then let one writer thread take them (as in a storm)."""
    for item in pending:
        writer._queue.put(item)
    writer._queue.put(None)
    thread = threading.Thread(target=writer._run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()


def test_waiting_deliveries_share_one_commit(
    database: Database, default_policy: LoadedPolicy, generic_key: str, commits: list[int]
) -> None:
    writer = IntakeWriter(database, default_policy, UNLIMITED, store=deliver, threads=1)
    pending = [
        Pending(generic_key, "generic", [warning(f"host-{n}-{i}") for i in range(10)])
        for n in range(8)
    ]
    run_queued(writer, pending)
    results = [p.outcome.result(timeout=1) for p in pending]
    assert [len(r.created) for r in results] == [10] * 8
    assert len(commits) == 1
    assert len(stored_keys(database)) == 80


def test_deliveries_that_queue_while_the_writer_waits_for_the_lock_join_its_commit(
    sqlite_url: str, default_policy: LoadedPolicy
) -> None:
    """SQLite: another process's turn at the write lock (held here by the test's thread)."""
    database = Database(sqlite_url)
    with database.write_session() as session:
        _integration, key = integrations.create(session, name="lock", kind="generic", actor="a")
    writer = IntakeWriter(database, default_policy, UNLIMITED, store=deliver, threads=1)
    first, *later = [Pending(key, "generic", [warning(f"turn-{n}")]) for n in range(3)]
    seen: list[int] = []
    event.listen(database.engine, "commit", lambda _connection: seen.append(1))
    thread = threading.Thread(target=writer._run)
    with database.write_lock.held():
        writer._queue.put(first)
        thread.start()
        while not writer._queue.empty():  # the writer took the first and went for the lock
            time.sleep(0.01)
        time.sleep(0.2)
        for pending in [*later, None]:
            writer._queue.put(pending)
    thread.join(timeout=60)
    assert [p.outcome.result(timeout=1).created != [] for p in (first, *later)] == [True] * 3
    assert len(seen) == 1, "what queued during the wait should ride in the same transaction"
    database.dispose()


def test_a_failing_delivery_leaves_nothing_and_spoils_no_other(
    database: Database,
    default_policy: LoadedPolicy,
    generic_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def ingest_then_fail_for_poison(*args: object, **kwargs: object) -> IngestResult:
        result = deliver(*args, **kwargs)  # type: ignore[arg-type]
        alerts: list[IncomingAlert] = kwargs["alerts"]  # type: ignore[assignment]
        if any(a.dedup_key.startswith("poison") for a in alerts):
            raise ValueError("this delivery breaks after writing")
        return result

    writer = IntakeWriter(
        database, default_policy, UNLIMITED, store=ingest_then_fail_for_poison, threads=1
    )
    good_before = Pending(generic_key, "generic", [warning("good-1")])
    poison = Pending(generic_key, "generic", [warning("poison-1"), warning("poison-2")])
    good_after = Pending(generic_key, "generic", [warning("good-2")])
    run_queued(writer, [good_before, poison, good_after])

    assert good_before.outcome.result(timeout=1).created
    assert good_after.outcome.result(timeout=1).created
    with pytest.raises(ValueError, match="breaks after writing"):
        poison.outcome.result(timeout=1)
    assert stored_keys(database) == {"good-1", "good-2"}


def test_unknown_keys_and_rate_limits_are_answered_per_delivery(
    database: Database, default_policy: LoadedPolicy, generic_key: str
) -> None:
    writer = IntakeWriter(
        database, default_policy, TokenBuckets(0.001, burst=1), store=deliver, threads=1
    )
    allowed = Pending(generic_key, "generic", [warning("first")])
    throttled = Pending(generic_key, "generic", [warning("second")])
    unknown = Pending("no-such-key", "generic", [warning("third")])
    wrong_kind = Pending(generic_key, "alertmanager", [warning("fourth")])
    run_queued(writer, [allowed, throttled, unknown, wrong_kind])

    assert allowed.outcome.result(timeout=1).created
    assert isinstance(throttled.outcome.exception(timeout=1), RateLimited)
    assert isinstance(unknown.outcome.exception(timeout=1), UnknownKey)
    assert isinstance(wrong_kind.outcome.exception(timeout=1), UnknownKey)
    assert stored_keys(database) == {"first"}


def test_concurrent_senders_each_hear_their_own_committed_outcome(
    database: Database, default_policy: LoadedPolicy, generic_key: str
) -> None:
    """Many senders at once through submit(): every alert is stored once, repeats counted."""
    writer = IntakeWriter(database, default_policy, UNLIMITED, store=deliver)

    async def storm() -> list[IngestResult]:
        sends = [
            writer.submit(generic_key, "generic", [warning(f"k{i % 25}") for i in range(n, n + 5)])
            for n in range(0, 200, 5)
        ]
        return await asyncio.gather(*sends)

    try:
        results = asyncio.run(storm())
    finally:
        writer.stop()
    assert sum(len(r.created) for r in results) == 25
    assert sum(len(r.created) + len(r.updated) for r in results) == 200
    with database.read_session() as session:
        total = session.scalar(select(func.sum(Alert.count)))
    assert total == 200


def test_stop_stores_what_is_queued_first(
    database: Database, default_policy: LoadedPolicy, generic_key: str
) -> None:
    writer = IntakeWriter(database, default_policy, UNLIMITED, store=deliver, threads=1)

    async def send_then_stop() -> IngestResult:
        sending = asyncio.ensure_future(writer.submit(generic_key, "generic", [warning("last")]))
        await asyncio.sleep(0)  # the delivery is queued
        await asyncio.get_running_loop().run_in_executor(None, writer.stop)
        return await sending

    assert asyncio.run(send_then_stop()).created
    assert stored_keys(database) == {"last"}
