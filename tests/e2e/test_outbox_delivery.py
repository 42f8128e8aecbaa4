"""The outbox delivering for real: an SMTP server (aiosmtpd) and an HTTP receiver on localhost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from tests.e2e.receivers import HttpReceiver, SmtpCatcher
from tocsin.db import Database
from tocsin.engine.outbox import OutboxStep
from tocsin.flows import incidents as flows
from tocsin.incidents import timeline
from tocsin.incidents.service import Declaration
from tocsin.notify import outbox
from tocsin.notify.channels.email import message_id
from tocsin.notify.models import Notification
from tocsin.notify.outbox import backoff
from tocsin.oncall.models import ContactMethod, NotificationRule, Person
from tocsin.policy.loader import LoadedPolicy

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpCatcher]:
    with SmtpCatcher() as catcher:
        monkeypatch.setenv("TOCSIN_SMTP_URL", catcher.url)
        monkeypatch.setenv("TOCSIN_SMTP_FROM", "tocsin@example.org")
        yield catcher


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as running:
        yield running


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def incident_id(database: Database, default_policy: LoadedPolicy) -> str:
    with database.write_session() as session:
        declaration = Declaration(title="Checkout is down", severity="P1")
        return flows.declare(session, loaded=default_policy, declaration=declaration, actor="ic").id


def alice(database: Database, *methods: tuple[str, str, int]) -> int:
    """Alice, with one contact method and rule per (kind, address, delay_s); returns her id."""
    with database.write_session() as session:
        person = Person(handle="alice", name="Alice", email="alice@example.com")
        session.add(person)
        session.flush()
        for position, (kind, address, delay_s) in enumerate(methods):
            method = ContactMethod(person_id=person.id, name=kind, kind=kind, address=address)
            session.add(method)
            session.flush()
            rule = NotificationRule(
                person_id=person.id,
                contact_method_id=method.id,
                delay_s=delay_s,
                position=position,
            )
            session.add(rule)
        return person.id


def page_alice(database: Database, incident_id: str, person_id: int) -> list[str]:
    """Queue a page to each of Alice's rules, as the paging code does; returns the keys."""
    keys = []
    with database.write_session() as session:
        rules = session.execute(
            select(NotificationRule, ContactMethod)
            .join(ContactMethod)
            .where(NotificationRule.person_id == person_id)
            .order_by(NotificationRule.position)
        ).all()
        for rule, method in rules:
            key = f"{incident_id}/escalation:1/alice/{rule.position}"
            outbox.enqueue(
                session,
                idempotency_key=key,
                purpose="page",
                channel=method.kind,
                address=method.address,
                subject=f"[P1] {incident_id}: Checkout is down",
                body="Checkout is down.\nAcknowledge: http://tocsin.example/ack/abc",
                data={"incident_id": incident_id, "severity": "P1"},
                incident_id=incident_id,
                person_id=person_id,
                contact_method_id=method.id,
                rule_position=rule.position,
                send_after=T0 + timedelta(seconds=rule.delay_s),
            )
            keys.append(key)
    return keys


def drain(database: Database) -> None:
    """What the engine does each tick: run the step until nothing more is due."""
    step = OutboxStep()
    while step.run_due(database):
        pass


def notification(database: Database, key: str) -> Notification:
    with database.read_session() as session:
        found = session.scalar(select(Notification).where(Notification.idempotency_key == key))
        assert found is not None
        return found


def events(database: Database, incident_id: str, kind: str) -> list[dict[str, Any]]:
    with database.read_session() as session:
        return [e.data for e in timeline.events(session, incident_id) if e.kind == kind]


def test_a_page_reaches_a_real_mail_server_with_its_idempotency_key(
    database: Database, incident_id: str, smtp: SmtpCatcher, clock: time_machine.Traveller
) -> None:
    person_id = alice(database, ("email", "alice@example.com", 0))
    [key] = page_alice(database, incident_id, person_id)

    drain(database)

    [mail] = smtp.mails
    assert mail.rcpt_tos == ["alice@example.com"]
    assert mail["From"] == "tocsin@example.org"
    assert mail["Subject"] == f"[P1] {incident_id}: Checkout is down"
    assert mail["Message-ID"] == message_id(key)
    assert mail["X-Tocsin-Idempotency-Key"] == key
    assert "Acknowledge: http://tocsin.example/ack/abc" in mail.text
    assert notification(database, key).status == "sent"
    assert [e["channel"] for e in events(database, incident_id, "page_delivered")] == ["email"]


def test_a_webhook_receiver_gets_the_post_with_the_idempotency_key(
    database: Database, incident_id: str, receiver: HttpReceiver, clock: time_machine.Traveller
) -> None:
    person_id = alice(database, ("webhook", f"{receiver.url}/hooks/alice", 0))
    [key] = page_alice(database, incident_id, person_id)

    drain(database)

    [request] = receiver.requests
    assert (request.method, request.path, request.idempotency_key) == ("POST", "/hooks/alice", key)
    assert request.json() == {
        "idempotency_key": key,
        "purpose": "page",
        "subject": f"[P1] {incident_id}: Checkout is down",
        "body": "Checkout is down.\nAcknowledge: http://tocsin.example/ack/abc",
        "data": {"incident_id": incident_id, "severity": "P1"},
    }


def test_a_receiver_that_fails_twice_gets_the_message_once_on_the_third_attempt(
    database: Database, incident_id: str, receiver: HttpReceiver, clock: time_machine.Traveller
) -> None:
    person_id = alice(database, ("webhook", f"{receiver.url}/hooks/alice", 0))
    [key] = page_alice(database, incident_id, person_id)
    receiver.fail(2, status=500)

    drain(database)
    clock.shift(backoff(1, jitter=0))
    drain(database)
    assert notification(database, key).status == "pending"
    clock.shift(backoff(2, jitter=0))
    drain(database)

    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert {r.idempotency_key for r in receiver.requests} == {key}
    assert len(receiver.delivered) == 1
    sent = notification(database, key)
    assert (sent.status, sent.attempts) == ("sent", 3)


def test_a_hanging_receiver_times_out_and_the_page_is_retried(
    database: Database,
    incident_id: str,
    receiver: HttpReceiver,
    clock: time_machine.Traveller,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOCSIN_WEBHOOK_TIMEOUT", "0.5")
    person_id = alice(database, ("webhook", f"{receiver.url}/hooks/alice", 0))
    [key] = page_alice(database, incident_id, person_id)
    receiver.hang()

    drain(database)

    waiting = notification(database, key)
    assert waiting.status == "pending"
    assert (
        waiting.last_error == f"{receiver.url.removeprefix('http://')} did not answer within 0.5 s"
    )
    clock.shift(backoff(1, jitter=0))
    drain(database)
    assert notification(database, key).status == "sent"
    assert len(receiver.delivered) == 1


def test_a_refused_recipient_fails_at_once_and_the_webhook_rule_is_pulled_forward(
    database: Database,
    incident_id: str,
    smtp: SmtpCatcher,
    receiver: HttpReceiver,
    clock: time_machine.Traveller,
) -> None:
    person_id = alice(
        database, ("email", "alice@example.com", 0), ("webhook", f"{receiver.url}/hooks/alice", 300)
    )
    email_key, webhook_key = page_alice(database, incident_id, person_id)
    smtp.reject("550 5.1.1 mailbox unavailable")

    drain(database)  # no time passes: the webhook does not wait its 5 minutes

    failed = notification(database, email_key)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == "the mail server answered 550 5.1.1 mailbox unavailable"
    assert [r.idempotency_key for r in receiver.delivered] == [webhook_key]
    [event] = events(database, incident_id, "notification_failed")
    assert (event["person"], event["channel"], event["address"]) == (
        "alice",
        "email",
        "a***e@example.com",
    )


def test_a_temporary_mail_refusal_is_retried(
    database: Database, incident_id: str, smtp: SmtpCatcher, clock: time_machine.Traveller
) -> None:
    person_id = alice(database, ("email", "alice@example.com", 0))
    [key] = page_alice(database, incident_id, person_id)
    smtp.reject("451 4.3.0 try again later")

    drain(database)
    assert (
        notification(database, key).last_error
        == "the mail server answered 451 4.3.0 try again later"
    )
    clock.shift(backoff(1, jitter=0))
    drain(database)

    assert [m["X-Tocsin-Idempotency-Key"] for m in smtp.mails] == [key]
    assert notification(database, key).attempts == 2


def test_an_apprise_url_delivers_with_the_key_in_the_footer(
    database: Database, incident_id: str, receiver: HttpReceiver, clock: time_machine.Traveller
) -> None:
    address = receiver.url.replace("http://", "json://") + "/apprise"
    person_id = alice(database, ("apprise", address, 0))
    [key] = page_alice(database, incident_id, person_id)

    drain(database)

    [request] = receiver.delivered
    assert request.path == "/apprise"
    payload = request.json()
    assert payload["title"] == f"[P1] {incident_id}: Checkout is down"
    assert payload["message"].endswith(f"Tocsin message {key}")


def test_a_webhook_answering_404_fails_without_retrying(
    database: Database, incident_id: str, receiver: HttpReceiver, clock: time_machine.Traveller
) -> None:
    person_id = alice(database, ("webhook", f"{receiver.url}/gone", 0))
    [key] = page_alice(database, incident_id, person_id)
    receiver.answer(404)

    drain(database)
    clock.shift(timedelta(hours=1))
    drain(database)

    assert len(receiver.requests) == 1
    failed = notification(database, key)
    assert (failed.status, failed.last_error) == (
        "failed",
        f"{receiver.url.removeprefix('http://')} answered 404 Not Found",
    )


def test_a_webhook_follows_a_redirect_keeping_the_idempotency_key(
    database: Database, incident_id: str, receiver: HttpReceiver, clock: time_machine.Traveller
) -> None:
    person_id = alice(database, ("webhook", f"{receiver.url}/moved", 0))
    [key] = page_alice(database, incident_id, person_id)
    receiver.fail(1, status=307)

    drain(database)

    assert [(r.status, r.idempotency_key) for r in receiver.requests] == [(307, key), (200, key)]
    assert notification(database, key).status == "sent"


def test_a_redirect_loop_is_cut_short_and_fails_for_good(
    database: Database, incident_id: str, receiver: HttpReceiver, clock: time_machine.Traveller
) -> None:
    person_id = alice(database, ("webhook", f"{receiver.url}/loop", 0))
    [key] = page_alice(database, incident_id, person_id)
    receiver.answer(308)

    drain(database)

    assert len(receiver.requests) == 4  # the first request and three redirects
    failed = notification(database, key)
    assert (failed.status, failed.last_error) == (
        "failed",
        f"{receiver.url.removeprefix('http://')} redirected more than 3 times",
    )
