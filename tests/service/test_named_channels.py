"""Named channels in the service layer (SQLite and PostgreSQL): saved and validated, reached by
the policy's audiences, their settings read by the outbox when it claims a message (so a fix
serves the retries), and a removed channel a visible failure told to the fallback contact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.service.test_communications import ADMIN, FRIDAY_10, Room, room_at
from tocsin.db import Database
from tocsin.engine.steps import outbox_step
from tocsin.errors import Conflict, InvalidInput
from tocsin.flows import incidents as flows
from tocsin.incidents.service import Declaration
from tocsin.notify import channels, named_channels, sealed
from tocsin.notify.channels import Message
from tocsin.notify.models import NamedChannel, Notification
from tocsin.notify.outbox import claim_due
from tocsin.policy.loader import load_policy
from tocsin.timesource import now

HOOK = {"url": "https://hooks.example.com/tocsin", "secret": "s3cret-signing-key-0042"}
SMS = {"url": "json://sms.example.com/exec"}


@pytest.fixture
def room(database: Database) -> Iterator[Room]:
    yield from room_at(database, FRIDAY_10)


def save(database: Database, name: str, kind: str, config: dict[str, Any]) -> None:
    with database.write_session() as session:
        named_channels.add(session, name=name, kind=kind, config=config, actor="admin")


def saved(database: Database, name: str) -> dict[str, Any]:
    """The settings as the sending channel reads them (opened from their sealed form)."""
    with database.read_session() as session:
        return sealed.open_config(session, named_channels.get(session, name).config)


def test_the_database_holds_a_channels_settings_only_sealed(database: Database) -> None:
    save(database, "hooks", "webhook", HOOK)
    with database.read_session() as session:
        stored = session.execute(text("SELECT config FROM notification_channels")).scalar_one()
    as_text = stored if isinstance(stored, str) else json.dumps(stored)
    assert HOOK["secret"] not in as_text and "hooks.example.com" not in as_text
    assert "fernet:" in as_text
    assert saved(database, "hooks")["secret"] == HOOK["secret"]


def test_settings_saved_before_sealing_are_sealed_and_still_read(database: Database) -> None:
    with database.write_session() as session:
        session.add(
            NamedChannel(
                name="old",
                kind="webhook",
                config=dict(HOOK),
                created_at=now(),
                updated_at=now(),
                updated_by="admin",
            )
        )
    with database.write_session() as session:
        assert named_channels.reseal(session) == 1
        assert named_channels.reseal(session) == 0
        assert sealed.is_sealed(named_channels.get(session, "old").config)
    assert saved(database, "old") == HOOK


def rows_to(database: Database, name: str) -> list[Notification]:
    with database.read_session() as session:
        query = select(Notification).where(Notification.address == f"channel:{name}")
        return list(session.scalars(query.order_by(Notification.id)))


def test_a_saved_channel_keeps_its_secret_and_shows_it_masked(database: Database) -> None:
    save(database, "hooks", "webhook", HOOK)
    with database.read_session() as session:
        shown = named_channels.shown(session, named_channels.get(session, "hooks"))
    assert shown.config["secret"] == "********"
    assert shown.config["url"] == "https://hooks.example.com/********"
    assert HOOK["secret"] not in repr(shown) and "/tocsin" not in repr(shown)
    assert saved(database, "hooks")["secret"] == HOOK["secret"]


def test_a_change_merges_and_a_masked_or_missing_secret_keeps_its_value(
    database: Database,
) -> None:
    save(database, "hooks", "webhook", HOOK)
    with database.write_session() as session:
        named_channels.change(
            session, name="hooks", config={"timeout_s": 3, "secret": "********"}, actor="admin"
        )
        named_channels.change(
            session, name="hooks", config={"url": "https://other.example.com/x"}, actor="admin"
        )
    config = saved(database, "hooks")
    assert config["secret"] == HOOK["secret"]
    assert config["timeout_s"] == 3 and config["url"] == "https://other.example.com/x"


def test_an_invalid_change_is_refused_and_changes_nothing(database: Database) -> None:
    save(database, "hooks", "webhook", HOOK)
    with pytest.raises(InvalidInput) as refused, database.write_session() as session:
        named_channels.change(session, name="hooks", config={"secret": "short"}, actor="admin")
    assert refused.value.field == "config.secret"
    assert "short" not in refused.value.message
    assert saved(database, "hooks")["secret"] == HOOK["secret"]


def test_a_name_is_saved_once_and_must_fit_the_policys_channel_references(
    database: Database,
) -> None:
    save(database, "hooks", "webhook", HOOK)
    with pytest.raises(Conflict), database.write_session() as session:
        named_channels.add(session, name="hooks", kind="webhook", config=HOOK, actor="admin")
    with pytest.raises(InvalidInput) as refused, database.write_session() as session:
        named_channels.add(session, name="Exec SMS", kind="apprise", config=SMS, actor="admin")
    assert refused.value.field == "name"


def test_rastups_exec_sms_list_is_sent_to_its_named_channel(room: Room) -> None:
    save(room.database, "exec-sms", "apprise", SMS)
    incident_id = room.declare(load_policy("rastup"), "SEV3")
    (message,) = [m for m in room.inbox.messages if m.address == "channel:exec-sms"]
    assert message.channel == "apprise"
    assert message.named is not None and message.named.config == SMS
    assert message.subject == f"[SEV3] {incident_id}: Checkout errors"
    activation = [
        e for e in room.events(incident_id, "message_queued") if e["key"].endswith(":activation")
    ]
    assert activation and not any("exec-sms" in p for e in activation for p in e["problems"])
    (row,) = rows_to(room.database, "exec-sms")
    assert row.status == "sent" and "sms.example.com" not in row.body + str(row.data)


def test_the_outbox_reads_the_settings_as_they_are_when_it_sends(database: Database) -> None:
    save(database, "hooks", "webhook", HOOK)
    with database.write_session() as session:
        named_channels.queue_test(session, name="hooks", actor="admin")
        named_channels.change(
            session, name="hooks", config={"url": "https://fixed.example.com/x"}, actor="admin"
        )
    (claim,) = claim_due(database, now()).claims
    assert claim.named is not None
    assert claim.named.kind == "webhook"
    assert claim.named.config["url"] == "https://fixed.example.com/x"
    assert HOOK["secret"] not in repr(claim) and HOOK["secret"] not in repr(claim.message)


def test_a_removed_channel_fails_for_good_and_the_fallback_hears_of_it(room: Room) -> None:
    """The stage was queued while the channel existed; it is removed before the send."""
    save(room.database, "exec-sms", "apprise", SMS)

    def deliver(message: Message) -> None:  # the real channels for channel:, else the inbox
        (channels.deliver if message.address.startswith("channel:") else room.inbox)(message)

    room.outbox = outbox_step("http://tocsin.test", (ADMIN,), deliver=deliver)
    with room.database.write_session() as session:
        incident_id = flows.declare(
            session,
            loaded=load_policy("rastup"),
            declaration=Declaration(title="Checkout errors", severity="SEV3"),
            actor="ic",
            sending=room.sending,
        ).id
    room.clocks.run_due(room.database)  # the activation stage queues its messages
    with room.database.write_session() as session:
        named_channels.remove(session, name="exec-sms", actor="admin")
    room.run()
    (row,) = rows_to(room.database, "exec-sms")
    assert row.status == "failed"
    assert "no notification channel named 'exec-sms' (was it removed?)" in (row.last_error or "")
    assert room.inbox.said(ADMIN, "exec-sms"), "the fallback contact is told what failed"
    (failed,) = room.events(incident_id, "notification_failed")
    assert "was it removed?" in str(failed)
