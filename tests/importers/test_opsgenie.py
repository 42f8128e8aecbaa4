"""Importing a realistic Opsgenie organisation from a stand-in of its API (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.importers.opsgenie_standin import API_KEY, Opsgenie
from tests.importers.standin import StandIn, serving
from tocsin.alerts import integrations
from tocsin.db import Database
from tocsin.importers import opsgenie, plan, verify
from tocsin.importers.http import VendorApi
from tocsin.importers.model import Imported
from tocsin.oncall import service
from tocsin.oncall.config import OnCallConfig
from tocsin.oncall.export import current_config
from tocsin.oncall.models import EscalationPolicy, Person, Schedule
from tocsin.policy.loader import load_yaml_model

NOW = datetime(2026, 10, 22, tzinfo=UTC)  # the fixture's timelines start here


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with serving(Opsgenie()) as running:
        yield running


def client(standin: StandIn) -> VendorApi:
    return opsgenie.api(API_KEY, base_url=standin.url)


def load(database: Database, standin: StandIn) -> Imported:
    with database.read_session() as session:
        current = current_config(session)
    api = client(standin)
    try:
        return opsgenie.mapped(opsgenie.fetch(api), current, NOW)
    finally:
        api.close()


def run(database: Database, standin: StandIn, *, apply: bool) -> plan.Outcome:
    return plan.run(database, load(database, standin), apply=apply)


def reasons(outcome: plan.Outcome) -> str:
    return "\n".join(str(item) for item in outcome.left_out)


def test_the_plan_lists_what_would_be_made_and_left_out_and_changes_nothing(
    database: Database, standin: StandIn
) -> None:
    outcome = run(database, standin, apply=False)
    assert "created person alice" in outcome.changes
    assert "created schedule payments-on-call" in outcome.changes
    assert any(c.startswith("created integration Payments API") for c in outcome.changes)
    left = reasons(outcome)
    assert "person alice: sms contact 44-7700900123" in left
    assert "team Payments: routing rule 'Card outages'" in left
    assert "schedule Legacy pager: none of its rotations could be imported" in left
    assert "integration Mobile crash mails (Email)" in left
    assert "integration Old webhook (API): it is disabled" in left
    assert "rule at 9m" in left and "until the alert is closed" in left
    assert "override old-swap: it ended before the import" in left
    with database.read_session() as session:
        assert session.scalars(select(Person)).all() == []
        assert integrations.list_all(session) == []


def test_apply_imports_everything_and_a_second_run_changes_nothing(
    database: Database, standin: StandIn
) -> None:
    first = run(database, standin, apply=True)
    assert len([c for c in first.changes if c.startswith("created person")]) == 12
    with database.read_session() as session:
        config = current_config(session)
        assert {t.handle for t in config.teams} == {"payments", "platform", "mobile"}
        assert len(config.schedules) == 4
        for key in ("2f0b9a3e-6d1c-4e8a-9b7f-3c5d8e1a2b4c", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"):
            found = integrations.by_key(session, key)
            assert found is not None and found.kind == "opsgenie"
    again = run(database, standin, apply=True)
    assert again.changes == []


def test_escalation_delays_are_exact_and_repeats_kept(database: Database, standin: StandIn) -> None:
    run(database, standin, apply=True)
    with database.read_session() as session:
        policy = session.scalar(
            select(EscalationPolicy).where(EscalationPolicy.handle == "payments-escalation")
        )
        assert policy is not None
        assert [s["after_s"] for s in policy.steps] == [0, 240, 780]
        assert policy.steps[2]["targets"] == ["team:payments"]
        assert (policy.repeat, policy.repeat_after_s) == (2, 420)
        platform = session.scalar(
            select(EscalationPolicy).where(EscalationPolicy.handle == "platform-escalation")
        )
        assert platform is not None
        assert platform.steps[0]["targets"] == [
            "schedule:platform-primary",
            "schedule:platform-business-hours",
        ]


def test_restrictions_overrides_and_notification_rules_come_across(
    database: Database, standin: StandIn
) -> None:
    run(database, standin, apply=True)
    with database.read_session() as session:
        config = current_config(session)
    mobile = next(s for s in config.schedules if s.handle == "mobile-on-call")
    weekdays = mobile.layers[0].restrictions
    assert [(r.days, str(r.start), str(r.end)) for r in weekdays] == [
        ([0], "08:00:00", "00:00:00"),
        ([1, 2, 3], "00:00:00", "00:00:00"),
        ([4], "00:00:00", "18:00:00"),
    ]
    payments = next(s for s in config.schedules if s.handle == "payments-on-call")
    assert [(o.person, o.start.isoformat()) for o in payments.overrides] == [
        ("carol", "2026-10-27T12:00:00+00:00")
    ]
    carol = next(p for p in config.people if p.handle == "carol")
    assert [(r.method, r.after) for r in carol.notification_rules] == [
        ("email", "0m"),
        ("email-2", "3m"),
    ]
    grace = next(p for p in config.people if p.handle == "grace")
    assert grace.notification_rules[0].after == "90s"


def test_a_rename_at_the_source_updates_in_place(database: Database) -> None:
    source = Opsgenie()
    with serving(source) as standin:
        run(database, standin, apply=True)
        source.org["users"][1]["fullName"] = "Robert Lindqvist"
        source.org["schedules"][0]["name"] = "Payments primary"
        outcome = run(database, standin, apply=True)
    assert outcome.changes == [
        "updated person bob",
        "updated schedule payments-on-call (name)",
    ]


def test_verify_finds_no_differing_hour(database: Database, standin: StandIn) -> None:
    run(database, standin, apply=True)
    api = client(standin)
    with database.read_session() as session:
        parity = verify.compare(
            session, "opsgenie", lambda ident, a, b: opsgenie.on_call(api, ident, a, b), NOW
        )
    api.close()
    assert parity.schedules == [
        "mobile-on-call",
        "payments-on-call",
        "platform-business-hours",
        "platform-primary",
    ]
    assert parity.hours == 14 * 24
    assert parity.differences == []


def test_verify_lists_an_hour_that_differs(database: Database, standin: StandIn) -> None:
    run(database, standin, apply=True)
    with database.write_session() as session:
        service.add_override(
            session,
            handle="platform-primary",
            person="dan",
            start=datetime(2026, 10, 23, 3, tzinfo=UTC),
            end=datetime(2026, 10, 23, 4, tzinfo=UTC),
            actor="test",
        )
    api = client(standin)
    with database.read_session() as session:
        parity = verify.compare(
            session, "opsgenie", lambda ident, a, b: opsgenie.on_call(api, ident, a, b), NOW
        )
    api.close()
    assert [str(d) for d in parity.differences] == [
        "platform-primary at 2026-10-23 03:00Z: source erin, Tocsin dan"
    ]


def test_the_rate_limit_is_waited_out_and_pages_are_followed(
    database: Database, standin: StandIn
) -> None:
    run(database, standin, apply=False)
    team_lists = [r for r in standin.seen if r.path == "/v2/teams"]
    assert len(team_lists) == 2  # refused once with 429, then answered
    offsets = [r.param("offset") for r in standin.seen if r.path == "/v2/users"]
    assert offsets == ["0", "5", "10"]


def test_the_written_file_applies_to_the_same_result(database: Database, standin: StandIn) -> None:
    outcome = run(database, standin, apply=False)
    text = plan.as_yaml(outcome.config)
    config = load_yaml_model(text, file="oncall.yaml", model=OnCallConfig)
    with database.write_session() as session:
        service.apply(session, config)
    assert [c for c in run(database, standin, apply=True).changes if "integration" not in c] == []
    with database.read_session() as session:
        assert session.scalar(select(Schedule).where(Schedule.handle == "mobile-on-call"))
