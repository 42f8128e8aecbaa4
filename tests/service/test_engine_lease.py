"""The engine lease: one engine of a deployment processes, others stand by and take over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tocsin.db import Database
from tocsin.engine import lease
from tocsin.engine.lease import Lease


class Clock:
    """Wall time the test moves on (expiry is judged by the database rows' timestamps)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def engines(database: Database, clock: Clock) -> tuple[Lease, Lease]:
    return (
        Lease(database, "a" * 32, seconds=15, clock=clock),
        Lease(database, "b" * 32, seconds=15, clock=clock),
    )


def test_the_first_engine_takes_the_lease_and_the_second_stands_by(database: Database) -> None:
    first, second = engines(database, Clock())
    assert first.refresh() and first.held()
    assert not second.refresh() and not second.held()


def test_the_holder_renews_its_lease(database: Database) -> None:
    clock = Clock()
    first, second = engines(database, clock)
    first.refresh()
    for _ in range(5):  # well past one lease length in all, renewed every 10 s
        clock.advance(10)
        assert first.refresh()
        assert not second.refresh()


def test_an_expired_lease_is_taken_over(database: Database) -> None:
    clock = Clock()
    first, second = engines(database, clock)
    first.refresh()
    clock.advance(14)
    assert not second.refresh(), "taken over before it expired"
    clock.advance(2)  # the holder crashed: no renewal for 16 s
    assert second.refresh() and second.held()
    assert not first.refresh() and not first.held(), "the old holder must stand by"


def test_a_released_lease_is_taken_over_at_once(database: Database) -> None:
    first, second = engines(database, Clock())
    first.refresh()
    first.release()
    assert not first.held()
    assert second.refresh()


def test_releasing_a_lease_another_holds_changes_nothing(database: Database) -> None:
    first, second = engines(database, Clock())
    first.refresh()
    second.refresh()
    second.release()  # never held it
    assert not second.refresh()
    assert first.refresh()


def test_health_names_the_holder(database: Database) -> None:
    assert lease.current_holder(database) is None
    holder = Lease(database, "c" * 32, seconds=15)
    holder.refresh()
    seen = lease.current_holder(database)
    assert seen is not None and seen.holder == "c" * 32
    holder.release()
    assert lease.current_holder(database) is None


def test_a_database_outage_keeps_the_lease_until_it_would_run_out(database: Database) -> None:
    holder = Lease(database, "d" * 32, seconds=15)
    holder.refresh()
    database.dispose()
    broken = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    holder.database = broken
    assert holder.refresh(), "one failed renewal must not drop a lease that is still valid"
    holder._valid_until = 0.0  # as if the lease length had passed without a renewal
    assert not holder.refresh()
