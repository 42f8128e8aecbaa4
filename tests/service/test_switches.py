"""Containment switches on a real database (SQLite and PostgreSQL): a flip is on the chain
and queues a signed webhook; the limit reminds; the watch after release is met only if no new
alert came from the incident's services."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

import tocsin.policy
from tocsin.alerts.models import Alert, Integration
from tocsin.db import Database
from tocsin.engine.steps import clock_step
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.evidence import switches
from tocsin.flows import incidents as flows
from tocsin.incidents import timeline
from tocsin.incidents.clocks import all_clocks
from tocsin.incidents.service import Declaration
from tocsin.notify.models import Notification, ServerSecret
from tocsin.policy.loader import LoadedPolicy, load_policy_text

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
HOOK = "http://127.0.0.1:9/readonly"
SECRET = "s3cret-shared-with-the-switch"


def rastup(webhook: str | None = HOOK) -> LoadedPolicy:
    text = (Path(tocsin.policy.__file__).parent / "bundled" / "rastup.yaml").read_text()
    if webhook:
        text = text.replace(
            "    watch: 30m\n", f"    webhook: {{url: '{webhook}'}}\n    watch: 30m\n"
        )
    return load_policy_text(text, source="rastup")


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def declare(database: Database, loaded: LoadedPolicy) -> str:
    with database.write_session() as session:
        switches.set_secret(session, switch="global-readonly", value=SECRET)
        declaration = Declaration(title="Corruption", severity="SEV3", services=["listings"])
        return flows.declare(session, loaded=loaded, declaration=declaration, actor="ic").id


def flip(database: Database, incident_id: str, state: str, reason: str = "integrity") -> None:
    with database.write_session() as session:
        switches.flip(
            session,
            incident_id=incident_id,
            name="global-readonly",
            state=state,
            reason=reason,
            actor="ic",
        )


def clocks(database: Database, incident_id: str) -> dict[str, tuple[str, datetime]]:
    with database.read_session() as session:
        rows = sorted(all_clocks(session, incident_id), key=lambda c: c.id)
        return {c.key: (c.state, c.due_at) for c in rows}


def kinds(database: Database, incident_id: str) -> list[str]:
    with database.read_session() as session:
        return [e.kind for e in timeline.events(session, incident_id)]


def test_flipping_on_is_on_the_chain_and_queues_a_signed_webhook(
    database: Database, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, rastup())
    flip(database, incident_id, "on", "listings table rewritten by a bad migration")
    with database.read_session() as session:
        (event,) = [e for e in timeline.events(session, incident_id) if e.kind == "switch_flipped"]
        assert event.data == {
            "switch": "global-readonly",
            "state": "on",
            "reason": "listings table rewritten by a bad migration",
            "how": "webhook",
        }
        (row,) = switches.held(session, incident_id)
        assert (row.state, row.on_since, row.changed_by) == ("on", T0, "ic")
        sent = session.scalar(select(Notification).where(Notification.channel == "signed_webhook"))
        assert sent is not None and sent.address == HOOK
        expected = hmac.new(SECRET.encode(), sent.body.encode(), hashlib.sha256).hexdigest()
        assert sent.data["signature"] == f"sha256={expected}"
        assert json.loads(sent.body)["state"] == "on"
        stored = session.get(ServerSecret, "switch:global-readonly")
        assert stored is not None and SECRET not in stored.value  # sealed at rest
    assert clocks(database, incident_id)["switch_limit:global-readonly"] == (
        "pending",
        T0 + timedelta(hours=4),
    )


def test_bad_flips_are_refused_naming_the_field(
    database: Database, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, rastup())
    with pytest.raises(Conflict) as off_already:
        flip(database, incident_id, "off")
    assert off_already.value.field == "state"
    with pytest.raises(InvalidInput) as bad_state:
        flip(database, incident_id, "sideways")
    assert bad_state.value.allowed == ["on", "off"]
    with pytest.raises(InvalidInput) as no_reason:
        flip(database, incident_id, "on", reason=" ")
    assert no_reason.value.field == "reason"
    with database.write_session() as session, pytest.raises(NotFound) as unknown:
        switches.flip(
            session, incident_id=incident_id, name="nope", state="on", reason="x", actor="ic"
        )
    assert unknown.value.allowed == ["global-readonly"]


def test_a_webhook_without_a_secret_is_refused(
    database: Database, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, rastup())
    with database.write_session() as session:
        session.delete(session.get(ServerSecret, "switch:global-readonly"))
    with pytest.raises(Conflict) as refused:
        flip(database, incident_id, "on")
    assert "tocsin secrets switch global-readonly" in refused.value.message


def test_a_switch_without_a_webhook_is_recorded_as_flipped_by_hand(
    database: Database, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, rastup(webhook=None))
    flip(database, incident_id, "on")
    with database.read_session() as session:
        assert (
            session.scalar(select(Notification).where(Notification.channel == "signed_webhook"))
            is None
        )
        flipped = [e for e in timeline.events(session, incident_id) if e.kind == "switch_flipped"]
        assert flipped[0].data["how"] == "by hand"


def test_left_on_past_its_limit_the_commander_is_reminded_then_told(
    database: Database, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, rastup())
    flip(database, incident_id, "on")
    clock.shift(timedelta(hours=3, minutes=15))
    clock_step().run_due(database)
    assert "clock_warning" in kinds(database, incident_id)
    clock.shift(timedelta(hours=1))
    clock_step().run_due(database)
    assert clocks(database, incident_id)["switch_limit:global-readonly"][0] == "breached"


def test_release_meets_the_limit_and_a_quiet_watch_is_met(
    database: Database, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, rastup())
    flip(database, incident_id, "on")
    clock.shift(timedelta(hours=1))
    flip(database, incident_id, "off", "synthetic monitors green")
    found = clocks(database, incident_id)
    assert found["switch_limit:global-readonly"][0] == "met"
    watch_due = T0 + timedelta(hours=1, minutes=30)
    assert found["switch_watch:global-readonly"] == ("pending", watch_due)
    clock.shift(timedelta(minutes=29))
    clock_step().run_due(database)
    assert clocks(database, incident_id)["switch_watch:global-readonly"][0] == "pending"
    clock.shift(timedelta(minutes=1))
    clock_step().run_due(database)
    assert clocks(database, incident_id)["switch_watch:global-readonly"][0] == "met"


def test_a_new_alert_on_the_services_during_the_watch_breaches_it(
    database: Database, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, rastup())
    flip(database, incident_id, "on")
    flip(database, incident_id, "off", "monitors green")
    clock.shift(timedelta(minutes=12))
    with database.write_session() as session:
        hook = Integration(
            name="am",
            kind="alertmanager",
            key_digest="0" * 64,
            key_prefix="x",
            created_at=T0,
            created_by="admin",
        )
        session.add(hook)
        session.flush()
        session.add(
            Alert(
                integration_id=hook.id,
                dedup_key="e",
                status="firing",
                summary="5xx rate 7%",
                service="listings",
                action="page",
                labels={},
                details={},
                count=1,
                first_seen_at=T0 + timedelta(minutes=12),
                last_seen_at=T0 + timedelta(minutes=12),
            )
        )
    clock.shift(timedelta(minutes=18))
    clock_step().run_due(database)
    assert clocks(database, incident_id)["switch_watch:global-readonly"][0] == "breached"
    with database.read_session() as session:
        (alerted,) = [e for e in timeline.events(session, incident_id) if e.kind == "watch_alerted"]
        assert alerted.data["alerts"] == ["listings: 5xx rate 7%"]


def test_turning_it_on_again_cancels_the_watch(
    database: Database, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, rastup())
    flip(database, incident_id, "on")
    flip(database, incident_id, "off", "green")
    flip(database, incident_id, "on", "errors again")
    found = clocks(database, incident_id)
    assert found["switch_watch:global-readonly"][0] == "cancelled"
    with database.read_session() as session:
        assert [s.name for s in switches.on_now(session)] == ["global-readonly"]
