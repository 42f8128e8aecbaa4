"""The journeys in SCENARIOS.md that need no pager, played with moved time (both databases)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import time_machine

from tocsin.db import Database
from tocsin.engine.steps import clock_step, sending
from tocsin.flows import incidents as flows
from tocsin.incidents.clocks import all_clocks
from tocsin.incidents.service import Declaration
from tocsin.policy.loader import LoadedPolicy, load_policy, load_policy_text

SENDING = sending("http://tocsin.test")


def latest(database: Database, incident_id: str) -> dict[str, tuple[str, datetime]]:
    with database.read_session() as session:
        rows = sorted(all_clocks(session, incident_id), key=lambda c: c.id)
        return {c.key: (c.state, c.due_at) for c in rows}


def declare(database: Database, loaded: LoadedPolicy, severity: str, **fields: object) -> str:
    with database.write_session() as session:
        declaration = Declaration(title="Scenario", severity=severity, **fields)  # type: ignore[arg-type]
        return flows.declare(session, loaded=loaded, declaration=declaration, actor="ic").id


def test_journey_2_a_personal_data_breach_under_proofkit(database: Database) -> None:
    proofkit = load_policy("proofkit")
    start = datetime(2026, 11, 23, 9, 40, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        incident_id = declare(database, proofkit, "P0", type="security")
        clocks = latest(database, incident_id)
        # Legal, customer success and leadership are owed notice within 30 minutes.
        assert clocks["comms:P0:extended"] == ("pending", start + timedelta(minutes=30))
        clock.shift(timedelta(minutes=30))
        with database.write_session() as session:
            flows.set_flags(
                session,
                incident_id=incident_id,
                actor="security",
                sending=SENDING,
                flags={"personal_data_breach": True},
                aware_at=datetime(2026, 11, 23, 9, 12, tzinfo=UTC),
            )
        clocks = latest(database, incident_id)
        assert clocks["regulatory:gdpr"] == ("pending", datetime(2026, 11, 26, 9, 12, tzinfo=UTC))
        assert "regulatory:fda" not in clocks  # not device-related
        clock_step().run_due(database)
        assert latest(database, incident_id)["comms:P0:extended"][0] == "breached"
        clock.shift(timedelta(hours=2))
        with database.write_session() as session:
            flows.change_status(
                session, incident_id=incident_id, status="resolved", message="Contained", actor="ic"
            )
        resolved_at = start + timedelta(hours=2, minutes=30)
        clocks = latest(database, incident_id)
        assert clocks["review"] == ("pending", resolved_at + timedelta(hours=48))
        assert clocks["regulatory:gdpr"][0] == "pending"  # the regulator is still owed notice


def test_journey_3_rastups_reversed_ladder(database: Database) -> None:
    rastup = load_policy("rastup")
    assert rastup.policy.severity_ids()[0] == "SEV4"  # most severe first
    friday = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    with time_machine.travel(friday, tick=False):
        sev3 = declare(database, rastup, "SEV3")
        sev0 = declare(database, rastup, "SEV0")
        clocks = latest(database, sev3)
        assert clocks["resolve"] == ("pending", friday + timedelta(hours=1))
        assert clocks["update"] == ("pending", friday + timedelta(minutes=30))
        assert "resolve" not in latest(database, sev0)
        with database.write_session() as session:
            flows.change_status(
                session, incident_id=sev3, status="resolved", message="ok", actor="ic"
            )
    # 5 business days from Friday 15:00: skips the weekend -> Friday 27th 15:00.
    assert latest(database, sev3)["review"][1] == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def test_journey_3_with_a_holiday_in_the_policy_calendar(database: Database) -> None:
    # Thursday 26 November is a holiday in this copy of the policy: the review moves a day.
    with_holiday = _with_extra_holiday(load_policy("rastup").text, date(2026, 11, 26))
    loaded = load_policy_text(with_holiday, source="rastup-with-holiday")
    friday = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    with time_machine.travel(friday, tick=False):
        incident_id = declare(database, loaded, "SEV3")
        with database.write_session() as session:
            flows.change_status(
                session, incident_id=incident_id, status="resolved", message="ok", actor="ic"
            )
    assert latest(database, incident_id)["review"][1] == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def _with_extra_holiday(text: str, day: date) -> str:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("holidays:"):
            lines.insert(index + 1, f"  extra: [{day.isoformat()}]")
            return "\n".join(lines) + "\n"
    return text + f"\nholidays:\n  extra: [{day.isoformat()}]\n"


def test_journey_4_a_quiet_friday_under_maxai(database: Database) -> None:
    maxai = load_policy("maxai")
    friday_4pm = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    with time_machine.travel(friday_4pm, tick=False) as clock:
        incident_id = declare(database, maxai, "P3")
        monday_9am = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        assert latest(database, incident_id)["acknowledge"] == ("pending", monday_9am)
        clock.shift(timedelta(hours=14))  # Saturday 06:00: nothing is due overnight
        clock_step().run_due(database)
        assert latest(database, incident_id)["acknowledge"][0] == "pending"
