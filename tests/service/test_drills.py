"""Drills (SQLite and PostgreSQL): the programme falls due and is overdue like any clock,
and a drill runs the real policy, marked DRILL or sent only to the drill audience.

The engine's clock and outbox steps run in the test's process with time held still and moved
by the test; what leaves is recorded by a stand-in channel, as a person's inbox would see it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from tests.service.test_communications import ADMIN, FIXTURE, URL, Inbox
from tocsin.db import Database
from tocsin.engine.steps import clock_step, outbox_step, sending
from tocsin.errors import Conflict, InvalidInput
from tocsin.evidence import switches
from tocsin.flows import drills as drill_flows
from tocsin.flows import incidents as incident_flows
from tocsin.flows import statuspage as status_flows
from tocsin.incidents import service as incident_service
from tocsin.incidents import timeline
from tocsin.oncall import service as oncall
from tocsin.oncall.config import OnCallConfig
from tocsin.policy.cadence import next_due
from tocsin.policy.loader import LoadedPolicy, load_policy, load_policy_text, load_yaml_model
from tocsin.reviews import drills
from tocsin.reviews import service as review_service
from tocsin.statuspage.subscribers import Links

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # bob's week in the on-call fixture


class Drills:
    """The engine on the test's clock, under one policy."""

    def __init__(self, database: Database, clock: time_machine.Coordinates, loaded: LoadedPolicy):
        self.database, self.clock, self.loaded = database, clock, loaded
        self.inbox = Inbox()
        self.sending = sending(URL, (ADMIN,))
        self.clocks = clock_step(URL, (ADMIN,), loaded=loaded)
        self.outbox = outbox_step(URL, (ADMIN,), deliver=self.inbox)

    def sync(self) -> int:
        with self.database.write_session() as session:
            return len(drill_flows.sync(session, self.loaded))

    def run(self) -> None:
        for _ in range(20):
            if not self.clocks.run_due(self.database) + self.outbox.run_due(self.database):
                return

    def move(self, **delta: float) -> None:
        """Let time pass a day at a time, the engine acting as it would live."""
        left = timedelta(**delta)
        while left > timedelta(0):
            step = min(left, timedelta(days=1))
            self.clock.shift(step)
            self.run()
            left -= step

    def programme(self) -> dict[str, drills.Due]:
        with self.database.read_session() as session:
            return {d.id: d for d in drills.programme(session, self.loaded.policy)}

    def start(self, scenario: str, **fields: object) -> tuple[int, str]:
        with self.database.write_session() as session:
            started = drill_flows.start(
                session,
                loaded=self.loaded,
                scenario=scenario,
                actor="ic",
                sending=self.sending,
                **fields,  # type: ignore[arg-type]
            )
            found = started.drill.id, started.incident.id
        self.run()
        return found

    def end(self, drill_id: int, outcome: str, lessons: str = "") -> None:
        with self.database.write_session() as session:
            drill_flows.end(
                session,
                loaded=self.loaded,
                drill_id=drill_id,
                outcome=outcome,
                lessons=lessons,
                actor="ic",
            )
        self.run()

    def apply_oncall(self) -> None:
        config = load_yaml_model(FIXTURE.read_text(), file="oncall.yaml", model=OnCallConfig)
        with self.database.write_session() as session:
            oncall.apply(session, config)


def at_monday(database: Database, loaded: LoadedPolicy) -> Iterator[Drills]:
    with time_machine.travel(MONDAY_10, tick=False) as clock:
        yield Drills(database, clock, loaded)


@pytest.fixture
def proofkit(database: Database) -> Iterator[Drills]:
    yield from at_monday(database, load_policy("proofkit"))


@pytest.fixture
def maxai(database: Database) -> Iterator[Drills]:
    yield from at_monday(database, load_policy("maxai"))


AUDIENCE_POLICY = load_policy_text(
    load_policy("proofkit")
    .text.replace(
        "audiences:\n",
        "audiences:\n  - {id: drill_team, name: Drill team, email: drills@proofkit.com}\n",
        1,
    )
    .replace("drills:\n", "drill_audience: drill_team\ndrills:\n", 1),
    source="proofkit-with-a-drill-audience",
)


# -- the programme as clocks ------------------------------------------------------------------


def test_proofkits_programme_falls_due_on_the_cadence_its_runbook_sets(proofkit: Drills) -> None:
    assert proofkit.sync() == 4  # three drills and the runbook's review
    due = proofkit.programme()
    assert due["p0-tabletop"].due_at == datetime(2027, 2, 23, 10, 0, tzinfo=UTC)  # quarterly
    assert due["full-simulation"].due_at == datetime(2027, 5, 23, 10, 0, tzinfo=UTC)  # bi-annual
    assert due["runbook-review"].due_at == datetime(2027, 11, 23, 10, 0, tzinfo=UTC)  # annual
    assert {d.state for d in due.values() if d.kind != "runbook_review"} == {"scheduled"}
    assert proofkit.sync() == 0, "loading the same policy again arms nothing"


def test_maxais_p0_dry_runs_are_monthly_and_p1_p2_quarterly(maxai: Drills) -> None:
    maxai.sync()
    due = maxai.programme()
    assert due["dry-run-p0"].due_at == datetime(2026, 12, 23, 10, 0, tzinfo=UTC)
    assert due["dry-run-p1"].due_at == due["dry-run-p2"].due_at
    assert due["dry-run-p1"].due_at == datetime(2027, 2, 23, 10, 0, tzinfo=UTC)
    assert due["annual-tabletop"].due_at == datetime(2027, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "entry", "due"),
    [
        ("harborlist", "simulation", datetime(2027, 2, 23, 10, 0, tzinfo=UTC)),
        ("rastup", "sev2-tabletop", datetime(2027, 2, 23, 10, 0, tzinfo=UTC)),
        ("rastup", "sev3-drill", datetime(2027, 11, 23, 10, 0, tzinfo=UTC)),
    ],
)
def test_harborlist_and_rastup_drills_fall_due_on_their_cadence(
    database: Database, policy: str, entry: str, due: datetime
) -> None:
    for room in at_monday(database, load_policy(policy)):
        room.sync()
        assert room.programme()[entry].due_at == due


def test_a_drill_warns_then_is_overdue_and_someone_is_told(maxai: Drills) -> None:
    maxai.sync()
    # MaxAI names no commander contact or fallback: the admins hear of it.
    maxai.move(days=23)  # 30 days' span, warned a fifth before: 24 days in
    assert maxai.programme()["dry-run-p0"].state == "scheduled"
    maxai.move(days=2)
    assert maxai.programme()["dry-run-p0"].state == "due_soon"
    assert any("P0 dry run" in s and s.startswith("Due") for s in maxai.inbox.subjects(ADMIN))
    maxai.move(days=6)
    assert maxai.programme()["dry-run-p0"].state == "overdue"
    overdue = [m for m in maxai.inbox.to(ADMIN) if m.subject.startswith("Overdue: Monthly P0")]
    assert len(overdue) == 1 and "tocsin drill start --scenario dry-run-p0" in overdue[0].body
    assert maxai.sync() == 0, "an overdue drill stays overdue until one is held"
    assert maxai.programme()["dry-run-p0"].state == "overdue"


def test_the_reminder_goes_to_the_commanders_standing_contact(proofkit: Drills) -> None:
    proofkit.sync()
    proofkit.move(days=86)  # a week before the quarterly tabletop
    told = proofkit.inbox.subjects("tom@proofkit.com")
    assert any("P0 tabletop" in s for s in told), told


OWNED_POLICY = load_policy_text(
    AUDIENCE_POLICY.text.replace(
        "audiences:\n",
        "audiences:\n  - {id: tabletop_lead, name: Tabletop lead, email: lead@proofkit.com}\n",
        1,
    )
    .replace(
        "scope: Tabletop exercises for P0 scenarios}", "scope: P0 tabletops, owner: tabletop_lead}"
    )
    .replace("participants: external team}", "participants: external team, owner: 'person:carol'}"),
    source="proofkit-with-drill-owners",
)


def test_a_drills_owner_is_reminded_first_before_its_audience_and_the_commander(
    database: Database,
) -> None:
    for room in at_monday(database, OWNED_POLICY):
        room.sync()
        assert room.programme()["p0-tabletop"].owner == "tabletop_lead"
        room.move(days=86)  # a week before the quarterly tabletop
        assert any("P0 tabletops" in s for s in room.inbox.subjects("lead@proofkit.com"))
        for other in ("drills@proofkit.com", "tom@proofkit.com", ADMIN):
            assert not any("P0 tabletops" in s for s in room.inbox.subjects(other)), other


def test_a_person_who_owns_a_drill_is_reminded_through_the_oncall_file(
    database: Database,
) -> None:
    for room in at_monday(database, OWNED_POLICY):
        room.apply_oncall()
        room.sync()
        assert room.programme()["full-simulation"].owner == "person:carol"
        room.move(days=175)  # the bi-annual simulation falls due soon
        told = room.inbox.subjects("carol@example.com")
        assert any("simulation" in s.lower() for s in told), told
        assert not any(
            "simulation" in s.lower() for s in room.inbox.subjects("drills@proofkit.com")
        )


def test_a_team_owner_reaches_its_members_and_an_owner_nobody_reaches_falls_through(
    database: Database,
) -> None:
    text = OWNED_POLICY.text.replace("owner: 'person:carol'", "owner: 'team:sre'")
    for room in at_monday(database, load_policy_text(text, source="team-owned")):
        room.sync()  # no on-call file yet: team sre reaches nobody
        room.move(days=175)
        assert any("simulation" in s.lower() for s in room.inbox.subjects("drills@proofkit.com"))
        room.apply_oncall()
        room.move(days=14)  # overdue now: the team hears of it
        for member in ("http://127.0.0.1:9/alice", "http://127.0.0.1:9/bob"):
            told = room.inbox.subjects(member)
            assert any(s.startswith("Overdue") and "simulation" in s.lower() for s in told), told


def test_a_changed_cadence_re_plans_the_clock_from_when_it_started(database: Database) -> None:
    proofkit = load_policy("proofkit")
    monthly = load_policy_text(
        proofkit.text.replace("severity: P0, cadence: quarterly", "severity: P0, cadence: monthly"),
        source="proofkit-monthly",
    )
    for room in at_monday(database, proofkit):
        room.sync()
        room.loaded = monthly
        assert room.sync() == 1
        assert room.programme()["p0-tabletop"].due_at == datetime(2026, 12, 23, 10, tzinfo=UTC)


# -- the runbook's own review ------------------------------------------------------------------


def test_the_runbooks_review_date_is_a_clock_and_a_review_re_arms_it(proofkit: Drills) -> None:
    proofkit.sync()  # ProofKit's next review was 2025-11-06: long overdue
    proofkit.run()
    assert proofkit.programme()["runbook_review"].state == "overdue"
    assert any(
        s.startswith("Overdue: Review the runbook")
        for s in proofkit.inbox.subjects("tom@proofkit.com")
    )
    with proofkit.database.write_session() as session:
        drills.runbook_reviewed(session, policy=proofkit.loaded.policy, actor="tom", note="ok")
    review = proofkit.programme()["runbook_review"]
    assert review.state == "scheduled"
    assert review.due_at == MONDAY_10 + (
        datetime(2027, 2, 23, tzinfo=UTC) - datetime(2026, 11, 23, tzinfo=UTC)
    )
    assert review.last_held_at == MONDAY_10


# -- holding a drill --------------------------------------------------------------------------


def test_a_drill_pages_the_on_call_marked_drill_and_ends_with_its_lessons(
    proofkit: Drills,
) -> None:
    proofkit.apply_oncall()
    proofkit.sync()
    drill_id, incident_id = proofkit.start("p0-tabletop", services=["checkout"])
    with proofkit.database.read_session() as session:
        incident = incident_service.get(session, incident_id)
        assert incident.flags == {"drill": True}
        assert incident.severity == "P0"
    pages = [m for m in proofkit.inbox.messages if m.address == "http://127.0.0.1:9/bob"]
    assert pages, "the on-call engineer (bob this week) is paged, as for a real P0"
    said = [m for m in proofkit.inbox.messages if m.data.get("incident_id") == incident_id]
    assert len(said) > len(pages), "the stages the policy sends at declaration went out too"
    assert [m.subject for m in said if not m.subject.startswith("[DRILL] ")] == []
    assert all("DRILL - this is an exercise." in m.body for m in said)

    proofkit.move(days=1)
    proofkit.end(drill_id, "partial", "The bridge link was stale")
    with proofkit.database.read_session() as session:
        incident = incident_service.get(session, incident_id)
        assert incident.status == "resolved"
        ended = [e.data for e in timeline.events(session, incident_id) if e.kind == "drill_ended"]
        row = drills.get(session, drill_id)
    assert ended[0]["outcome"] == "partial" and ended[0]["lessons"] == "The bridge link was stale"
    assert (row.outcome, row.lessons) == ("partial", "The bridge link was stale")
    with proofkit.database.read_session() as session:
        review = review_service.for_incident(session, incident_id)
    assert review.body.startswith(f"# Drill review: {incident_id}")
    assert "## Outcome\n\n**Partial**" in review.body
    assert "## Lessons learned\n\nThe bridge link was stale" in review.body
    assert "5 Whys" not in review.body, "a drill's review is the short one"
    due = proofkit.programme()["p0-tabletop"]
    assert due.last_outcome == "partial"
    assert due.last_held_at == MONDAY_10 + timedelta(days=1)
    assert due.due_at == datetime(2027, 2, 24, 10, 0, tzinfo=UTC), "re-armed from the drill"
    with pytest.raises(Conflict), proofkit.database.write_session() as session:
        drill_flows.end(
            session,
            loaded=proofkit.loaded,
            drill_id=drill_id,
            outcome="passed",
            lessons="",
            actor="ic",
        )


def test_a_drill_with_a_drill_audience_tells_only_that_audience(database: Database) -> None:
    for room in at_monday(database, AUDIENCE_POLICY):
        room.apply_oncall()
        room.sync()
        _, incident_id = room.start("p0-tabletop", services=["checkout"])
        room.move(days=1)  # stages, reminders, breaches: all of them
        said = [m for m in room.inbox.messages if m.data.get("incident_id") == incident_id]
        assert {m.address for m in said} == {"drills@proofkit.com"}
        assert len(said) > 1, "the declaration notice, then the stages and clocks' messages"
        assert all(m.subject.startswith("[DRILL] ") for m in said)
        assert not [m for m in room.inbox.messages if m.purpose == "page"], "nobody is paged"
        with room.database.read_session() as session:
            assert (
                incident_service.get(session, incident_id).flags["drill_audience"] == "drill_team"
            )
        with pytest.raises(Conflict) as refused, room.database.write_session() as session:
            incident_flows.escalate_now(session, incident_id=incident_id, actor="ic")
        assert "pages nobody on call" in refused.value.message


def test_a_drill_is_never_published_to_the_status_page(proofkit: Drills) -> None:
    proofkit.sync()
    _, incident_id = proofkit.start("full-simulation")
    with pytest.raises(Conflict) as refused, proofkit.database.write_session() as session:
        status_flows.publish(
            session,
            incident_id=incident_id,
            status="investigating",
            message="We are looking into it",
            actor="ic",
            links=Links(URL, "Status"),
        )
    assert "drill" in refused.value.message


def test_an_unknown_scenario_or_outcome_is_refused_naming_what_is_allowed(proofkit: Drills) -> None:
    with pytest.raises(InvalidInput) as refused, proofkit.database.write_session() as session:
        drill_flows.start(
            session,
            loaded=proofkit.loaded,
            scenario="fire",
            drill="fire-drill",
            actor="ic",
            sending=proofkit.sending,
        )
    assert refused.value.field == "drill"
    assert refused.value.allowed == ["p0-tabletop", "full-simulation", "runbook-review"]
    drill_id, _ = proofkit.start("p0-tabletop")
    with pytest.raises(InvalidInput) as bad, proofkit.database.write_session() as session:
        drill_flows.end(
            session,
            loaded=proofkit.loaded,
            drill_id=drill_id,
            outcome="great",
            lessons="",
            actor="ic",
        )
    assert bad.value.field == "outcome" and bad.value.allowed == ["passed", "partial", "failed"]


def test_only_a_drill_from_the_programme_names_a_drill_audience(proofkit: Drills) -> None:
    with pytest.raises(InvalidInput) as refused, proofkit.database.write_session() as session:
        incident_service.declare(
            session,
            loaded=proofkit.loaded,
            declaration=incident_service.Declaration(
                title="Real", severity="P1", flags={"drill": True, "drill_audience": "legal"}
            ),
            actor="ic",
        )
    assert refused.value.field == "flags"


# -- SCENARIOS.md 10: the quarterly tabletop (Rastup) ----------------------------------------


def test_rastups_quarterly_tabletop_is_reminded_held_with_its_switch_and_counted(
    database: Database,
) -> None:
    loaded = rastup_with_a_switch_webhook()
    for room in at_monday(database, loaded):
        room.sync()
        tabletop = room.programme()["sev2-tabletop"]
        assert tabletop.due_at == datetime(2027, 2, 23, 10, 0, tzinfo=UTC)
        room.move(days=84)  # 8 days before: not yet
        assert not [s for s in room.inbox.subjects(ADMIN) if "SEV2 tabletop" in s]
        room.move(days=1)  # a week before: the reminder
        [reminder] = [s for s in room.inbox.subjects(ADMIN) if "SEV2 tabletop" in s]
        assert reminder.startswith("Due 2027-02-23")

        with room.database.write_session() as session:
            switches.set_secret(
                session, switch="global-readonly", value="s3cret-shared-with-the-switch"
            )
        drill_id, incident_id = room.start("credential-leak", services=["listings"])
        with room.database.write_session() as session:
            incident = incident_service.get(session, incident_id)
            assert (incident.severity, incident.title) == ("SEV2", "Drill: credential-leak")
            switches.flip(
                session,
                incident_id=incident_id,
                name="global-readonly",
                state="on",
                reason="rehearse integrity protection",
                actor="ic",
            )
        room.run()
        [flipped] = [m for m in room.inbox.messages if m.channel == "signed_webhook"]
        assert json.loads(flipped.body)["drill"] is True, "the receiver flips its test flag"
        assert flipped.subject.startswith("[DRILL] ")

        room.end(drill_id, "passed", "Read-only held; comms template needs the status URL")
        after = room.programme()["sev2-tabletop"]
        assert (after.state, after.last_outcome) == ("scheduled", "passed")
        assert after.last_held_at is not None
        assert after.due_at == next_due(after.last_held_at, "quarterly"), (
            "counted for the programme"
        )


def rastup_with_a_switch_webhook() -> LoadedPolicy:
    text = load_policy("rastup").text.replace(
        "    watch: 30m\n", "    webhook: {url: 'http://127.0.0.1:9/readonly'}\n    watch: 30m\n"
    )
    return load_policy_text(text, source="rastup-with-a-switch-webhook")
