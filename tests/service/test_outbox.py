"""The outbox on a real database (SQLite and PostgreSQL), with a stand-in channel function."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select, update

from tocsin.db import Database
from tocsin.engine.outbox import OutboxStep
from tocsin.errors import InvalidInput
from tocsin.flows import incidents as flows
from tocsin.incidents import timeline
from tocsin.incidents.service import Declaration
from tocsin.notify import named_channels, outbox
from tocsin.notify.channels import DeliveryError, Message, mask_address
from tocsin.notify.models import Notification
from tocsin.notify.outbox import MAX_ATTEMPTS, backoff
from tocsin.oncall.models import ContactMethod, NotificationRule, Person
from tocsin.policy.loader import LoadedPolicy

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
HOOK = "https://hooks.example.com/tocsin/s3cr3t-token"


class Recorder:
    """A channel function that records what it was given and fails when told to."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.failures: dict[str, list[Exception]] = {}
        self._lock = threading.Lock()

    def fail(self, address: str, *errors: Exception) -> None:
        self.failures.setdefault(address, []).extend(errors)

    def __call__(self, message: Message) -> None:
        with self._lock:
            queued = self.failures.get(message.address)
            if queued:
                raise queued.pop(0)
            self.sent.append(message)

    @property
    def keys(self) -> list[str]:
        return [m.idempotency_key for m in self.sent]


@dataclass
class Someone:
    id: int
    handle: str
    methods: list[int]


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def step(recorder: Recorder) -> OutboxStep:
    return OutboxStep(deliver=recorder)


def declare(database: Database, policy: LoadedPolicy, title: str = "Checkout down") -> str:
    with database.write_session() as session:
        declaration = Declaration(title=title, severity="P2")
        return flows.declare(session, loaded=policy, declaration=declaration, actor="ic").id


def person(database: Database, handle: str, *methods: tuple[str, str, int]) -> Someone:
    """A person with one contact method and notification rule per (kind, address, delay_s)."""
    with database.write_session() as session:
        someone = Person(handle=handle, name=handle.title(), timezone="UTC")
        session.add(someone)
        session.flush()
        ids = []
        for position, (kind, address, delay_s) in enumerate(methods):
            method = ContactMethod(
                person_id=someone.id, name=f"{kind}-{position}", kind=kind, address=address
            )
            session.add(method)
            session.flush()
            session.add(
                NotificationRule(
                    person_id=someone.id,
                    contact_method_id=method.id,
                    delay_s=delay_s,
                    position=position,
                )
            )
            ids.append(method.id)
        return Someone(someone.id, handle, ids)


def queue(database: Database, key: str, **fields: Any) -> bool:
    values: dict[str, Any] = {
        "purpose": "page",
        "channel": "webhook",
        "address": HOOK,
        "subject": f"subject of {key}",
        "body": f"body of {key}",
    }
    values.update(fields)
    with database.write_session() as session:
        return outbox.enqueue(session, idempotency_key=key, **values)


def page(database: Database, incident_id: str, who: Someone, *, rules: int | None = None) -> None:
    """Queue a page to every rule of `who`, the way the paging code does."""
    with database.read_session() as session:
        rows = session.execute(
            select(NotificationRule, ContactMethod)
            .join(ContactMethod, ContactMethod.id == NotificationRule.contact_method_id)
            .where(NotificationRule.person_id == who.id)
            .order_by(NotificationRule.position)
        ).all()
    for rule, method in rows[:rules]:
        queue(
            database,
            f"{incident_id}/page/{who.handle}/{rule.position}",
            channel=method.kind,
            address=method.address,
            incident_id=incident_id,
            person_id=who.id,
            contact_method_id=method.id,
            rule_position=rule.position,
            send_after=T0 + timedelta(seconds=rule.delay_s),
        )


def row(database: Database, key: str) -> Notification:
    with database.read_session() as session:
        found = session.scalar(select(Notification).where(Notification.idempotency_key == key))
        assert found is not None, key
        return found


def rows(database: Database) -> list[Notification]:
    with database.read_session() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def events(database: Database, incident_id: str, kind: str) -> list[dict[str, Any]]:
    with database.read_session() as session:
        return [e.data for e in timeline.events(session, incident_id) if e.kind == kind]


def contact_error(database: Database, method_id: int) -> str | None:
    with database.read_session() as session:
        method = session.get(ContactMethod, method_id)
        assert method is not None
        return method.last_error


def set_row(database: Database, key: str, **values: Any) -> None:
    with database.write_session() as session:
        session.execute(
            update(Notification).where(Notification.idempotency_key == key).values(**values)
        )


# -- enqueue ------------------------------------------------------------------------------------


def test_enqueue_is_idempotent(database: Database, clock: time_machine.Traveller) -> None:
    assert queue(database, "k-1") is True
    assert queue(database, "k-1", subject="a different rendering") is False
    [only] = rows(database)
    assert (only.status, only.subject, only.attempts) == ("pending", "subject of k-1", 0)
    assert only.next_attempt_at == T0


def test_enqueue_names_the_field_it_rejects(database: Database) -> None:
    with pytest.raises(InvalidInput) as caught:
        queue(database, "k-1", channel="carrier-pigeon")
    assert caught.value.field == "channel"
    assert "webhook" in (caught.value.allowed or [])


# -- claim, send, record -------------------------------------------------------------------------


def test_it_claims_sends_and_records(
    database: Database, clock: time_machine.Traveller, recorder: Recorder, step: OutboxStep
) -> None:
    queue(database, "k-1", data={"severity": "P2"})

    assert step.run_due(database) == 1

    [message] = recorder.sent
    assert (message.idempotency_key, message.address) == ("k-1", HOOK)
    assert message.data == {"severity": "P2"}
    sent = row(database, "k-1")
    assert (sent.status, sent.attempts, sent.sent_at, sent.lease_until) == ("sent", 1, T0, None)
    assert step.run_due(database) == 0
    assert recorder.keys == ["k-1"]


def test_a_delayed_message_waits_for_its_time(
    database: Database, clock: time_machine.Traveller, recorder: Recorder, step: OutboxStep
) -> None:
    queue(database, "later", send_after=T0 + timedelta(minutes=2))

    assert step.run_due(database) == 0
    assert step.next_due(database) == T0 + timedelta(minutes=2)
    clock.shift(timedelta(minutes=2))
    assert step.run_due(database) == 1
    assert recorder.keys == ["later"]
    assert step.next_due(database) is None


def test_page_delivered_is_recorded_on_the_incident(
    database: Database,
    default_policy: LoadedPolicy,
    clock: time_machine.Traveller,
    step: OutboxStep,
) -> None:
    incident_id = declare(database, default_policy)
    alice = person(database, "alice", ("webhook", HOOK, 0))
    page(database, incident_id, alice)

    step.run_due(database)

    [delivered] = events(database, incident_id, "page_delivered")
    key = f"{incident_id}/page/alice/0"
    assert delivered == {
        "person": "alice",
        "channel": "webhook",
        "notification_id": row(database, key).id,
    }


# -- failures ------------------------------------------------------------------------------------


def test_backoff_grows_threefold_and_is_capped() -> None:
    assert [backoff(n, jitter=0).total_seconds() for n in (1, 2, 3, 4)] == [5, 15, 45, 135]
    assert backoff(20, jitter=0) == timedelta(minutes=10)
    assert backoff(1, jitter=1) == timedelta(seconds=4)


def test_it_retries_a_transient_failure_with_backoff(
    database: Database, clock: time_machine.Traveller, recorder: Recorder, step: OutboxStep
) -> None:
    recorder.fail(HOOK, DeliveryError("hooks.example.com answered 503 Service Unavailable"))
    queue(database, "k-1")

    step.run_due(database)

    waiting = row(database, "k-1")
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.last_error == "hooks.example.com answered 503 Service Unavailable"
    assert T0 + timedelta(seconds=4) <= waiting.next_attempt_at <= T0 + timedelta(seconds=5)
    assert step.run_due(database) == 0  # no retry back to back
    clock.shift(timedelta(seconds=5))
    step.run_due(database)
    assert recorder.keys == ["k-1"]
    assert (row(database, "k-1").status, row(database, "k-1").attempts) == ("sent", 2)


def test_a_permanent_failure_fails_at_once_and_falls_back_to_the_next_rule(
    database: Database,
    default_policy: LoadedPolicy,
    clock: time_machine.Traveller,
    recorder: Recorder,
    step: OutboxStep,
) -> None:
    incident_id = declare(database, default_policy)
    alice = person(database, "alice", ("email", "alice@example.com", 0), ("webhook", HOOK, 120))
    page(database, incident_id, alice)
    recorder.fail(
        "alice@example.com",
        DeliveryError("the mail server answered 550 no such user", permanent=True),
    )

    step.run_due(database)  # the email fails for good; the webhook rule is pulled forward
    step.run_due(database)

    failed = row(database, f"{incident_id}/page/alice/0")
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert contact_error(database, alice.methods[0]) == "the mail server answered 550 no such user"
    assert recorder.keys == [f"{incident_id}/page/alice/1"]  # at T0, not T0 + 2 min
    [event] = events(database, incident_id, "notification_failed")
    assert event["person"] == "alice"
    assert event["address"] == "a***e@example.com"
    assert event["error"] == "the mail server answered 550 no such user"
    assert event["attempts"] == 1
    assert event["fallback"] == "webhook (rule 1), sending now"


def test_after_max_attempts_it_fails_falls_back_and_tells_the_timeline(
    database: Database,
    default_policy: LoadedPolicy,
    clock: time_machine.Traveller,
    recorder: Recorder,
    step: OutboxStep,
) -> None:
    incident_id = declare(database, default_policy)
    alice = person(
        database, "alice", ("webhook", HOOK, 0), ("apprise", "ntfy://ntfy.sh/alice", 300)
    )
    page(database, incident_id, alice, rules=1)  # the second rule has no message queued yet
    recorder.fail(HOOK, *[DeliveryError(f"timeout {n}") for n in range(MAX_ATTEMPTS)])

    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert step.run_due(database) >= 1
        clock.shift(backoff(attempt, jitter=0))
    step.run_due(database)  # the fallback queued by the last failure

    key = f"{incident_id}/page/alice/0"
    assert (row(database, key).status, row(database, key).attempts) == ("failed", MAX_ATTEMPTS)
    assert contact_error(database, alice.methods[0]) == f"timeout {MAX_ATTEMPTS - 1}"
    fallback = row(database, f"{key}/fallback-1")
    assert (fallback.channel, fallback.address, fallback.status) == (
        "apprise",
        "ntfy://ntfy.sh/alice",
        "sent",
    )
    assert recorder.keys == [f"{key}/fallback-1"]
    [event] = events(database, incident_id, "notification_failed")
    assert event["attempts"] == MAX_ATTEMPTS
    assert event["address"] == "https://hooks.ex***oken"
    assert event["fallback"] == "apprise 'apprise-1' (rule 1), sending now"


def test_the_last_rule_failing_still_shows_on_the_incident(
    database: Database,
    default_policy: LoadedPolicy,
    clock: time_machine.Traveller,
    recorder: Recorder,
    step: OutboxStep,
) -> None:
    incident_id = declare(database, default_policy)
    alice = person(database, "alice", ("webhook", HOOK, 0))
    page(database, incident_id, alice)
    recorder.fail(HOOK, DeliveryError("hooks.example.com answered 410 Gone", permanent=True))

    step.run_due(database)

    [event] = events(database, incident_id, "notification_failed")
    assert event["fallback"] is None
    with database.read_session() as session:
        [failed] = outbox.failures_for(session, incident_id)
    assert failed.last_error == "hooks.example.com answered 410 Gone"


def test_a_channel_that_crashes_counts_as_one_failed_attempt(
    database: Database, clock: time_machine.Traveller, recorder: Recorder, step: OutboxStep
) -> None:
    recorder.fail(HOOK, RuntimeError("bug in a channel"))
    queue(database, "k-1")

    step.run_due(database)

    waiting = row(database, "k-1")
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.last_error == "unexpected error: RuntimeError('bug in a channel')"


def test_a_contact_error_is_cleared_by_the_next_delivery(
    database: Database, clock: time_machine.Traveller, recorder: Recorder, step: OutboxStep
) -> None:
    alice = person(database, "alice", ("webhook", HOOK, 0))
    with database.write_session() as session:
        session.execute(update(ContactMethod).values(last_error="old trouble"))
    queue(database, "k-1", person_id=alice.id, contact_method_id=alice.methods[0])

    step.run_due(database)

    assert contact_error(database, alice.methods[0]) is None


# -- crashes and leases --------------------------------------------------------------------------


def test_an_expired_lease_is_retried_and_sent_exactly_once(
    database: Database, clock: time_machine.Traveller, recorder: Recorder, step: OutboxStep
) -> None:
    queue(database, "crashed")
    queue(database, "in-flight")
    # An engine claimed both, then died before recording "crashed"; "in-flight" is still live.
    set_row(
        database, "crashed", status="sending", attempts=1, lease_until=T0 - timedelta(seconds=1)
    )
    set_row(
        database, "in-flight", status="sending", attempts=1, lease_until=T0 + timedelta(seconds=20)
    )

    assert step.run_due(database) == 1
    assert step.run_due(database) == 0

    assert recorder.keys == ["crashed"]
    assert (row(database, "crashed").status, row(database, "crashed").attempts) == ("sent", 2)
    assert row(database, "in-flight").status == "sending"
    assert step.next_due(database) == T0 + timedelta(seconds=20)


def test_a_lease_that_expires_on_the_last_attempt_fails_visibly(
    database: Database, clock: time_machine.Traveller, recorder: Recorder, step: OutboxStep
) -> None:
    queue(database, "poison")
    set_row(
        database,
        "poison",
        status="sending",
        attempts=MAX_ATTEMPTS,
        lease_until=T0 - timedelta(seconds=1),
    )

    assert step.run_due(database) == 1

    failed = row(database, "poison")
    assert failed.status == "failed"
    assert (
        failed.last_error == f"no result after {MAX_ATTEMPTS} attempts: the sender stopped mid-send"
    )
    assert recorder.sent == []


def test_an_outcome_is_only_recorded_by_the_holder_of_the_lease(
    database: Database, clock: time_machine.Traveller
) -> None:
    def slow_send(message: Message) -> None:
        # While this send hangs, its lease expires and another engine claims the row again.
        set_row(database, message.idempotency_key, attempts=2)

    queue(database, "k-1")
    OutboxStep(deliver=slow_send).run_due(database)

    assert row(database, "k-1").status == "sending"  # left for the new holder to settle


# -- acknowledgement -------------------------------------------------------------------------


def test_cancel_pending_stops_delayed_rules(
    database: Database,
    default_policy: LoadedPolicy,
    clock: time_machine.Traveller,
    recorder: Recorder,
    step: OutboxStep,
) -> None:
    incident_id = declare(database, default_policy)
    alice = person(database, "alice", ("webhook", HOOK, 0), ("webhook", f"{HOOK}/sms", 120))
    page(database, incident_id, alice)
    step.run_due(database)

    with database.write_session() as session:
        assert outbox.cancel_pending(session, incident_id=incident_id) == 1
    clock.shift(timedelta(minutes=5))
    step.run_due(database)

    assert recorder.keys == [f"{incident_id}/page/alice/0"]
    assert row(database, f"{incident_id}/page/alice/1").status == "cancelled"


def test_a_page_failing_after_the_acknowledgement_is_not_retried(
    database: Database,
    default_policy: LoadedPolicy,
    clock: time_machine.Traveller,
    recorder: Recorder,
) -> None:
    incident_id = declare(database, default_policy)
    alice = person(database, "alice", ("webhook", HOOK, 0))
    page(database, incident_id, alice)

    def acknowledged_during_the_send(message: Message) -> None:
        with database.write_session() as session:
            flows.acknowledge(session, incident_id=incident_id, actor="alice")
        raise DeliveryError("hooks.example.com answered 502 Bad Gateway")

    OutboxStep(deliver=acknowledged_during_the_send).run_due(database)

    assert row(database, f"{incident_id}/page/alice/0").status == "cancelled"


# -- rate limits and bundling --------------------------------------------------------------------


def test_a_second_email_to_the_same_method_within_a_minute_is_deferred(
    database: Database,
    default_policy: LoadedPolicy,
    clock: time_machine.Traveller,
    recorder: Recorder,
    step: OutboxStep,
) -> None:
    first, second = declare(database, default_policy), declare(database, default_policy)
    alice = person(database, "alice", ("email", "alice@example.com", 0))
    page(database, first, alice)
    step.run_due(database)
    clock.shift(timedelta(seconds=10))
    page(database, second, alice)

    assert step.run_due(database) == 1  # deferred, not sent

    deferred = row(database, f"{second}/page/alice/0")
    assert (deferred.status, deferred.attempts) == ("pending", 0)
    assert deferred.next_attempt_at == T0 + timedelta(seconds=60)
    clock.shift(timedelta(seconds=50))
    step.run_due(database)
    assert recorder.keys == [f"{first}/page/alice/0", f"{second}/page/alice/0"]


def test_webhooks_are_not_rate_limited(
    database: Database, clock: time_machine.Traveller, recorder: Recorder, step: OutboxStep
) -> None:
    alice = person(database, "alice", ("webhook", HOOK, 0))
    for n in range(3):
        queue(database, f"k-{n}", person_id=alice.id, contact_method_id=alice.methods[0])

    step.run_due(database)

    assert sorted(recorder.keys) == ["k-0", "k-1", "k-2"]


def test_a_named_channel_gets_at_most_its_per_minute_and_the_rest_wait_their_turn(
    database: Database, clock: time_machine.Traveller, recorder: Recorder, step: OutboxStep
) -> None:
    with database.write_session() as session:
        named_channels.add(
            session,
            name="ops-slack",
            kind="slack",
            config={"token": "xoxb-test-token-1", "channel": "#ops", "per_minute": 2},
            actor="admin",
        )
        named_channels.add(
            session,
            name="unlimited",
            kind="teams",
            config={"url": "https://prod.example.com/workflows/1?sig=s"},
            actor="admin",
        )
    for n in range(5):
        queue(
            database, f"slack-{n}", purpose="notify", channel="slack", address="channel:ops-slack"
        )
        queue(
            database, f"teams-{n}", purpose="notify", channel="teams", address="channel:unlimited"
        )

    step.run_due(database)
    step.run_due(database)
    slack_sent = [k for k in recorder.keys if k.startswith("slack")]
    assert slack_sent == ["slack-0", "slack-1"], "two a minute; the rest wait, none refused"
    assert len([k for k in recorder.keys if k.startswith("teams")]) == 5, "no limit set"
    waiting = row(database, "slack-2")
    assert (waiting.status, waiting.attempts) == ("pending", 0)
    assert waiting.next_attempt_at == T0 + timedelta(seconds=60)

    clock.shift(timedelta(seconds=60))
    step.run_due(database)
    assert [k for k in recorder.keys if k.startswith("slack")] == [f"slack-{n}" for n in range(4)]
    clock.shift(timedelta(seconds=60))
    step.run_due(database)
    assert [k for k in recorder.keys if k.startswith("slack")] == [f"slack-{n}" for n in range(5)]
    assert {r.status for r in rows(database)} == {"sent"}


def test_a_per_minute_outside_1_to_600_is_refused_naming_the_field(database: Database) -> None:
    with database.write_session() as session, pytest.raises(InvalidInput) as refused:
        named_channels.add(
            session,
            name="ops",
            kind="slack",
            config={"token": "xoxb-test-token-1", "channel": "#ops", "per_minute": 0},
            actor="admin",
        )
    assert "config.per_minute" in str(refused.value)


def test_updates_to_the_same_address_and_incident_are_bundled(
    database: Database,
    default_policy: LoadedPolicy,
    clock: time_machine.Traveller,
    recorder: Recorder,
    step: OutboxStep,
) -> None:
    incident_id = declare(database, default_policy)
    alice = person(database, "alice", ("email", "alice@example.com", 0))
    target = {
        "purpose": "update",
        "channel": "email",
        "address": "alice@example.com",
        "incident_id": incident_id,
        "person_id": alice.id,
        "contact_method_id": alice.methods[0],
    }
    for n in range(4):
        queue(database, f"update-{n}", **target, send_after=T0 + timedelta(seconds=10 * n))

    step.run_due(database)

    [message] = recorder.sent
    assert message.idempotency_key == "update-0"
    assert message.body.startswith("body of update-0")
    assert "And 3 more updates:\n- subject of update-1\n- subject of update-2\n" in message.body
    lead = row(database, "update-0").id
    assert [(r.status, r.bundled_into) for r in rows(database)[1:]] == [("bundled", lead)] * 3


# -- the real channels, where no network is needed ----------------------------------------------


def test_an_invalid_apprise_url_fails_at_once_and_marks_the_contact_method(
    database: Database, clock: time_machine.Traveller
) -> None:
    alice = person(database, "alice", ("apprise", "not-a-service://", 0))
    queue(
        database,
        "k-1",
        channel="apprise",
        address="not-a-service://",
        person_id=alice.id,
        contact_method_id=alice.methods[0],
    )

    OutboxStep().run_due(database)

    assert (row(database, "k-1").status, row(database, "k-1").attempts) == ("failed", 1)
    assert contact_error(database, alice.methods[0]) == "not a valid Apprise URL"


def test_email_without_an_smtp_server_fails_loudly(
    database: Database, clock: time_machine.Traveller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOCSIN_SMTP_URL", raising=False)
    queue(database, "k-1", channel="email", address="alice@example.com")

    OutboxStep().run_due(database)

    failed = row(database, "k-1")
    assert (failed.status, failed.last_error) == (
        "failed",
        "no SMTP server configured: set TOCSIN_SMTP_URL",
    )


def test_addresses_are_masked_in_the_middle() -> None:
    assert mask_address("alice@example.com") == "a***e@example.com"
    assert (
        mask_address("https://hooks.slack.com/services/T0/B0/XXXXSECRET")
        == "https://hooks.sl***CRET"
    )
    assert mask_address("tgram://123456:bottoken/42") == "tgram://1234***n/42"


# -- many engines --------------------------------------------------------------------------------


def test_two_engines_in_parallel_never_send_a_row_twice(
    database: Database, default_policy: LoadedPolicy
) -> None:
    incidents = [declare(database, default_policy, f"Storm {n}") for n in range(4)]
    alice = person(database, "alice", ("email", "alice@example.com", 0))
    for n in range(60):
        queue(database, f"hook-{n}", address=f"{HOOK}/{n}")
    for incident_id in incidents:  # one email method: only one of these may go out now
        queue(
            database,
            f"{incident_id}/email",
            channel="email",
            address="alice@example.com",
            incident_id=incident_id,
            person_id=alice.id,
            contact_method_id=alice.methods[0],
        )
    sends: list[tuple[str, str]] = []
    guard = threading.Lock()
    start = threading.Barrier(2)

    def engine(name: str) -> None:
        def deliver(message: Message) -> None:
            time.sleep(0.002)  # a send takes a moment, so the two engines overlap
            with guard:
                sends.append((name, message.idempotency_key))

        step = OutboxStep(deliver=deliver)
        start.wait()
        while step.run_due(database):
            pass

    threads = [threading.Thread(target=engine, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert {name for name, _ in sends} == {"a", "b"}  # both engines really took work
    counts = Counter(key for _, key in sends)
    assert all(count == 1 for count in counts.values()), counts.most_common(3)
    assert {f"hook-{n}" for n in range(60)} <= set(counts)
    assert sum(1 for key in counts if key.endswith("/email")) == 1
    statuses = Counter(r.status for r in rows(database))
    assert statuses == {"sent": 61, "pending": 3}
