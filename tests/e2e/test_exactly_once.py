"""Paging that never loses or doubles a page (issue #5): real `tocsin engine` processes on one
PostgreSQL database, sending real HTTP requests to a receiver that records every one of them.

PostgreSQL only, by nature: several engines sharing a database is the point, and that needs
row locks (`FOR UPDATE SKIP LOCKED`) that SQLite does not have. Without PostgreSQL these tests
fail (the suite's throwaway database fixture fails loudly); they never skip.

What "exactly once" can honestly mean over HTTP
-----------------------------------------------
A sender that crashes after the receiver answered 200 but before it recorded "sent" cannot
know the page arrived, so it must send it again: at-least-once delivery is the best any sender
can do, and the idempotency key is what turns it into an exactly-once *effect*. So:

* with engines that stay alive, each idempotency key reaches the receiver exactly once, and
  no outbox row is ever claimed twice (every row is sent on its first attempt);
* across a `kill -9`, the set of distinct keys the receiver saw is exactly the set of pages
  due; a key may arrive a second time only if its send was in flight when the engine died
  (its row was still leased), it then arrives with the same key (a receiver deduplicating on
  it sees exactly one page), and never a third time;
* a send slower than the lease is not taken over (and sent again) by another live engine;
* SIGTERM is not a crash: the engine finishes its sends in flight, so nothing is sent twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from tests.e2e.conftest import BIN
from tests.e2e.receivers import HttpReceiver, Received
from tocsin.db import Database
from tocsin.flows import incidents as flows
from tocsin.incidents.models import Clock, TimelineEvent
from tocsin.incidents.service import Declaration
from tocsin.notify.models import Notification
from tocsin.notify.outbox import BATCH
from tocsin.oncall import service as oncall
from tocsin.oncall.config import OnCallConfig
from tocsin.policy.loader import LoadedPolicy, load_policy

pytestmark = pytest.mark.e2e

# One paging severity and nothing else due within the test: the only work is the escalation.
POLICY = """\
name: exactly-once
title: One paging severity; the acknowledge deadline is an hour away
severities:
  - id: P1
    name: High
    pages: true
    respond_within: 1h
"""
PEOPLE = ("ana", "ben", "cai", "dee")  # one service and escalation policy each
STEP = "page:1:1"  # the escalation policy's only step, in its only round


@pytest.fixture
def database_url(postgresql_url: str) -> str:
    """PostgreSQL only (overrides the suite's SQLite-and-PostgreSQL parametrisation)."""
    return postgresql_url


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "exactly-once.yaml"
    path.write_text(POLICY)
    return path


# -- The receiver ---------------------------------------------------------------------------------


class Receiver(HttpReceiver):
    """An HttpReceiver for many senders at once, that can answer `delay` seconds late.

    With a delay, a sender killed during the wait has delivered a page it never heard was
    delivered: the request is already recorded (as answered 200) when the answer would go
    out.
    """

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay
        self.count = 0
        # Called with each request and its number (from 1) after it is recorded and before
        # it is answered: a test can kill the sender at the moment it has a send in flight.
        self.on_request: Callable[[Received, int], None] | None = None
        self._gauge = threading.Lock()
        # Answering a sender that was killed meanwhile fails; that is expected here.
        self._server.handle_error = _quiet  # type: ignore[method-assign]

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def _record(self, received: Received) -> None:
        super()._record(received)
        with self._gauge:
            self.count += 1
            number = self.count
        if self.on_request is not None:
            self.on_request(received, number)
        time.sleep(self.delay)


def _quiet(request: object, client_address: object) -> None:
    pass


def keys_of(requests: list[Received]) -> list[str]:
    """Each request's idempotency key, checking the header and the JSON body agree."""
    keys = []
    for request in requests:
        header, body = request.idempotency_key, request.json()["idempotency_key"]
        assert header is not None and header == body, (header, body)
        keys.append(header)
    return keys


# -- Setup: people, services and hundreds of escalations due now ---------------------------------


def apply_oncall(database: Database, receiver: HttpReceiver) -> None:
    """Four people, each reached by one webhook, each the only step of their service's policy."""
    config = OnCallConfig.model_validate(
        {
            "people": [
                {
                    "handle": handle,
                    "name": handle.title(),
                    "contact_methods": [
                        {"name": "hook", "kind": "webhook", "address": f"{receiver.url}/{handle}"}
                    ],
                }
                for handle in PEOPLE
            ],
            "escalation_policies": [
                {
                    "handle": f"page-{handle}",
                    "name": f"Page {handle}",
                    "default": handle == PEOPLE[0],
                    "steps": [{"after": "0m", "targets": [f"person:{handle}"]}],
                }
                for handle in PEOPLE
            ],
            "services": [
                {"handle": f"svc-{handle}", "name": handle, "escalation_policy": f"page-{handle}"}
                for handle in PEOPLE
            ],
        }
    )
    with database.write_session() as session:
        oncall.apply(session, config)


def declare(database: Database, loaded: LoadedPolicy, count: int) -> set[str]:
    """Declare `count` incidents in one transaction, so every engine sees them all at once.

    Each escalates at once (its step is due at the declaration) to one person; returns the
    idempotency keys of the pages that must reach the receiver, as the paging code names them.
    """
    expected = set()
    with database.write_session() as session:
        for number in range(count):
            handle = PEOPLE[number % len(PEOPLE)]
            declaration = Declaration(
                title=f"Escalation {number}", severity="P1", services=[f"svc-{handle}"]
            )
            incident = flows.declare(session, loaded=loaded, declaration=declaration, actor="test")
            expected.add(f"{incident.id}/{STEP}/{handle}/0")
    return expected


# -- Engine processes -----------------------------------------------------------------------------


@dataclass
class EngineProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (exit {self.process.poll()}) ---\n{text[-3000:]}"

    def says(self, text: str) -> bool:
        return text in self.log.read_text(errors="replace")


@dataclass
class Engines:
    database_url: str
    policy: Path
    folder: Path
    running: list[EngineProcess]

    def start(self, name: str, **env: str) -> EngineProcess:
        """A real `tocsin engine` process; TOCSIN_PUBLIC_URL names it in the links it writes.

        The webhook timeout is raised to 30 s: the receiver always answers, so a timeout
        could only come from a starved test machine, and the retry it causes (a legitimate
        second delivery, with the same key) is not what these tests are about.
        """
        log = self.folder / f"{name}.log"
        environment = {
            **os.environ,
            "TOCSIN_DATABASE_URL": self.database_url,
            "TOCSIN_POLICY": str(self.policy),
            "TOCSIN_ENGINE_INTERVAL": "0.2",
            "TOCSIN_PUBLIC_URL": f"http://{name}.invalid",
            "TOCSIN_WEBHOOK_TIMEOUT": "30",
            # No engine lease: these engines run at once, so what is tested is the per-row
            # claims, which keep each effect once even when two engines overlap (a stalled
            # lease holder and its successor, or a deployment that turns the lease off).
            "TOCSIN_ENGINE_LEASE_SECONDS": "0",
            **env,
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(BIN / "tocsin"), "engine"],
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        engine = EngineProcess(name, process, log)
        self.running.append(engine)
        return engine

    def wait_until_up(self, *engines: EngineProcess) -> None:
        for engine in engines:
            until(
                partial(engine.says, "Tocsin engine running"),
                60,
                lambda: f"an engine did not start\n{self.logs()}",
                engines=[engine],
            )

    def logs(self) -> str:
        return "\n".join(engine.output() for engine in self.running)


@pytest.fixture
def engines(database: Database, policy_file: Path, tmp_path: Path) -> Iterator[Engines]:
    started = Engines(database.url, policy_file, tmp_path, [])
    yield started
    for engine in started.running:  # before the database fixture wipes the tables
        if engine.process.poll() is None:
            engine.process.kill()
        engine.process.wait(timeout=10)


def until(
    condition: Callable[[], bool],
    seconds: float,
    failure: Callable[[], str],
    *,
    engines: list[EngineProcess],
) -> None:
    """Poll until `condition` holds; fail at the deadline, or at once if an engine died."""
    deadline = time.monotonic() + seconds
    while not condition():
        dead = [e for e in engines if e.process.poll() is not None]
        if dead:
            raise AssertionError(f"an engine died\n{dead[0].output()}")
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        time.sleep(0.05)


def stop(engine: EngineProcess) -> None:
    engine.process.terminate()
    engine.process.wait(timeout=10)


# -- Reading the outcome --------------------------------------------------------------------------


def statuses(database: Database) -> dict[str, int]:
    with database.read_session() as session:
        rows = session.execute(
            select(Notification.status, func.count()).group_by(Notification.status)
        )
        return {status: count for status, count in rows}


def outbox_rows(database: Database) -> dict[str, tuple[str, int]]:
    """Every outbox row's (status, attempts), by idempotency key."""
    with database.read_session() as session:
        rows = session.execute(
            select(Notification.idempotency_key, Notification.status, Notification.attempts)
        )
        return {key: (status, attempts) for key, status, attempts in rows}


def leased_keys(database: Database) -> set[str]:
    with database.read_session() as session:
        query = select(Notification.idempotency_key).where(Notification.status == "sending")
        return set(session.scalars(query))


def events_per_incident(database: Database, kind: str) -> Counter[str]:
    with database.read_session() as session:
        query = select(TimelineEvent.incident_id).where(TimelineEvent.kind == kind)
        return Counter(session.scalars(query))


def delivered_events(database: Database) -> Counter[Any]:
    """How many `page_delivered` timeline events name each outbox row."""
    with database.read_session() as session:
        query = select(TimelineEvent.data).where(TimelineEvent.kind == "page_delivered")
        return Counter(data["notification_id"] for data in session.scalars(query))


def assert_every_effect_recorded_once(database: Database, expected: set[str]) -> None:
    """Every escalation fired once, paged once, and its page is recorded delivered once."""
    incident_ids = {key.split("/")[0] for key in expected}
    with database.read_session() as session:
        steps = session.execute(
            select(Clock.state, func.count())
            .where(Clock.kind == "escalation")
            .group_by(Clock.state)
        )
        assert dict(steps.all()) == {"fired": len(expected)}
        row_ids = set(session.scalars(select(Notification.id)))
    for kind in ("escalated", "paged"):
        per_incident = events_per_incident(database, kind)
        assert set(per_incident) == incident_ids, kind
        assert set(per_incident.values()) == {1}, kind
    delivered = delivered_events(database)
    assert set(delivered) == row_ids
    assert set(delivered.values()) == {1}


# -- The tests ------------------------------------------------------------------------------------

# Enough for ~20 claims of BATCH rows, so three engines polling every 0.2 s all win some and
# contend for the rest; a bigger figure adds time, not interleaving. The 1,000-page run
# is a load figure, not a test: TOCSIN_EXACTLY_ONCE_ESCALATIONS=1000 runs it.
ESCALATIONS = int(os.environ.get("TOCSIN_EXACTLY_ONCE_ESCALATIONS", 20 * BATCH))


def test_three_engines_race_for_hundreds_of_escalations_and_each_page_arrives_once(
    database: Database, engines: Engines, policy_file: Path
) -> None:
    """Three engines race for 320 escalations (by default) that all fall due at the same moment.

    Proves: every page is sent exactly once (each idempotency key reaches the receiver once,
    and the count is the number due), no outbox row was claimed by two engines (every row was
    sent on its first attempt: a stolen or doubled claim would have counted a second), every
    database effect (step fired, `paged`, `page_delivered`) was recorded once, and all three
    engines did part of the work.
    """
    with Receiver() as receiver:
        apply_oncall(database, receiver)
        trio = [engines.start(f"engine-{n}") for n in (1, 2, 3)]
        # All three are polling before the work appears, and it appears all at once (one
        # commit): the engines race from the same moment, so every claim is contested.
        engines.wait_until_up(*trio)
        expected = declare(database, load_policy(str(policy_file)), ESCALATIONS)

        until(
            lambda: statuses(database) == {"sent": ESCALATIONS},
            120,
            lambda: (
                f"outbox {statuses(database)}, receiver has {len(receiver.requests)}\n"
                + engines.logs()
            ),
            engines=trio,
        )
        for engine in trio:  # once they are gone, nothing more can arrive
            stop(engine)
        requests = list(receiver.requests)

    keys = Counter(keys_of(requests))
    doubled = {key: n for key, n in keys.items() if n > 1}
    assert doubled == {}, f"{len(doubled)} pages arrived more than once"
    assert set(keys) == expected
    assert len(requests) == ESCALATIONS
    assert {r.status for r in requests} == {200}
    assert {r.path for r in requests} == {f"/{handle}" for handle in PEOPLE}
    assert set(outbox_rows(database).values()) == {("sent", 1)}, "\n".join(
        line for e in trio for line in e.log.read_text().splitlines() if "attempt" in line
    )
    assert_every_effect_recorded_once(database, expected)
    # Which engine fired each escalation (its TOCSIN_PUBLIC_URL is in the acknowledge link):
    # all three took part, so the race really happened.
    firing = Counter(urlsplit(r.json()["data"]["ack_url"]).hostname for r in requests)
    print(f"escalations fired per engine: {dict(firing)}")
    assert set(firing) == {f"{engine.name}.invalid" for engine in trio}, firing


KILL_ESCALATIONS = 240
KILL_AT = 3 * BATCH + 1  # the request during which the engine is killed
LEASE_S = "2"  # how long the dead engine's leases hold its rows (TOCSIN_OUTBOX_LEASE)


def test_an_engine_killed_mid_batch_loses_nothing_and_its_replacement_doubles_nothing(
    database: Database, engines: Engines, policy_file: Path
) -> None:
    """`kill -9` an engine while a batch of sends is in flight, then start another.

    The receiver kills the engine itself, on receiving request 49 and before answering it
    (it answers each request 0.3 s late, so the rest of that batch is in flight too): the
    engine dies with pages delivered that it never heard were delivered. Proves:
    - nothing is lost: the distinct keys the receiver saw are exactly the pages due, every
      outbox row ends `sent`, and each is recorded delivered once on its incident's timeline;
    - nothing is doubled in effect: a key arrives twice only if the dead engine held its row
      when it died (its lease, committed before the send, is the only way a send starts), and
      then with the same key (a receiver deduplicating on it sees each page once), never three
      times; only those rows needed a second attempt;
    - the page whose answer the engine never got is delivered again, with the same key.
    """
    lease = {"TOCSIN_OUTBOX_LEASE": LEASE_S}
    killed: list[str] = []
    with Receiver(delay=0.3) as receiver:
        apply_oncall(database, receiver)
        first = engines.start("engine-1", **lease)
        engines.wait_until_up(first)

        def kill_mid_send(request: Received, number: int) -> None:
            if number == KILL_AT:
                os.kill(first.process.pid, signal.SIGKILL)
                killed.append(str(request.idempotency_key))

        receiver.on_request = kill_mid_send
        expected = declare(database, load_policy(str(policy_file)), KILL_ESCALATIONS)
        try:
            first.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the engine was never killed\n{first.output()}") from None
        in_flight = leased_keys(database)
        seen_at_kill = receiver.count

        second = engines.start("engine-2", **lease)
        until(
            lambda: statuses(database) == {"sent": KILL_ESCALATIONS},
            60,
            lambda: (
                f"outbox {statuses(database)}, receiver has {len(receiver.requests)}\n"
                + engines.logs()
            ),
            engines=[second],
        )
        stop(second)
        requests = list(receiver.requests)

    assert first.process.returncode == -signal.SIGKILL, first.output()
    assert killed and killed[0] in in_flight, "the page being sent was not left leased"
    assert len(in_flight) <= BATCH, "the dead engine should hold at most one batch"
    assert seen_at_kill < KILL_ESCALATIONS

    keys = Counter(keys_of(requests))
    assert set(keys) == expected, "a page was lost (or an unexpected one sent)"
    doubled = {key for key, n in keys.items() if n > 1}
    assert killed[0] in doubled, "the page cut short by the crash was not sent again"
    assert doubled <= in_flight, f"doubled without a crash in between: {doubled - in_flight}"
    assert set(keys.values()) <= {1, 2}
    rows = outbox_rows(database)
    assert {key: status for key, (status, _) in rows.items()} == dict.fromkeys(expected, "sent")
    retried = {key for key, (_, attempts) in rows.items() if attempts > 1}
    assert retried == in_flight, "only the dead engine's rows needed a second attempt"
    assert {rows[key][1] for key in retried} <= {2}
    assert_every_effect_recorded_once(database, expected)
    print(
        f"killed during request {KILL_AT} with {len(in_flight)} rows leased; "
        f"{len(doubled)} pages redelivered with their key"
    )


SLOW_ESCALATIONS = 8


def test_a_send_slower_than_the_lease_is_not_taken_over_by_another_engine(
    database: Database, engines: Engines, policy_file: Path
) -> None:
    """A live engine keeps the lease of every send in flight, however long the send takes.

    The receiver takes 7 s to answer and the lease is 3 s: an engine that did not renew its
    leases would see the other take every row over and send it a second time. Proves each page
    still arrives once, and every row was sent on its first (and only) claim.
    """
    env = {"TOCSIN_OUTBOX_LEASE": "3"}
    with Receiver(delay=7.0) as receiver:
        apply_oncall(database, receiver)
        pair = [engines.start(f"engine-{n}", **env) for n in (1, 2)]
        engines.wait_until_up(*pair)
        expected = declare(database, load_policy(str(policy_file)), SLOW_ESCALATIONS)

        until(
            lambda: statuses(database) == {"sent": SLOW_ESCALATIONS},
            60,
            lambda: (
                f"outbox {statuses(database)}, receiver has {len(receiver.requests)}\n"
                + engines.logs()
            ),
            engines=pair,
        )
        for engine in pair:
            stop(engine)
        requests = list(receiver.requests)

    assert Counter(keys_of(requests)) == Counter(expected)
    assert set(outbox_rows(database).values()) == {("sent", 1)}
    assert not any(engine.says("lost its lease") for engine in pair), engines.logs()


TERM_ESCALATIONS = 120


def test_a_stopped_engine_finishes_its_sends_and_its_successor_sends_nothing_twice(
    database: Database, engines: Engines, policy_file: Path
) -> None:
    """SIGTERM (a routine restart) is not a crash: the engine finishes the sends in flight and
    records them before it exits, so no send's outcome is left unknown.

    The receiver sends the SIGTERM itself, on receiving request 17 and before answering it
    (0.3 s later). Proves: the engine exits cleanly with no row left leased and that page
    recorded sent, and together with its successor every page arrives exactly once (not even
    the batch in flight at the SIGTERM is redelivered).
    The lease is the default 30 s, so a row left leased could not have been redelivered
    within the test anyway: the check that none is left is what makes this honest.
    """
    stopped: list[str] = []
    with Receiver(delay=0.3) as receiver:
        apply_oncall(database, receiver)
        first = engines.start("engine-1")
        engines.wait_until_up(first)

        def stop_mid_send(request: Received, number: int) -> None:
            if number == BATCH + 1:
                first.process.terminate()
                stopped.append(str(request.idempotency_key))

        receiver.on_request = stop_mid_send
        expected = declare(database, load_policy(str(policy_file)), TERM_ESCALATIONS)
        try:
            assert first.process.wait(timeout=60) == 0, first.output()
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the engine did not stop\n{first.output()}") from None
        assert leased_keys(database) == set(), "the stopped engine left sends unrecorded"
        assert outbox_rows(database)[stopped[0]] == ("sent", 1)
        seen_at_stop = receiver.count

        second = engines.start("engine-2")
        until(
            lambda: statuses(database) == {"sent": TERM_ESCALATIONS},
            60,
            lambda: (
                f"outbox {statuses(database)}, receiver has {len(receiver.requests)}\n"
                + engines.logs()
            ),
            engines=[second],
        )
        stop(second)
        requests = list(receiver.requests)

    assert seen_at_stop < TERM_ESCALATIONS, "the engine was stopped too late"
    assert Counter(keys_of(requests)) == Counter(expected)
    assert set(outbox_rows(database).values()) == {("sent", 1)}
    assert_every_effect_recorded_once(database, expected)
