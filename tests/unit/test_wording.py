"""Timeline events and times in the words a responder reads, in the console and the CLI alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tocsin.incidents.schemas import ClockOut, EventOut
from tocsin.incidents.wording import (
    ago_text,
    clock_phase,
    countdown_text,
    iso_text,
    span_text,
    summarise,
    until_text,
    utc_text,
)

AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def event(kind: str, /, actor: str = "alice", **data: Any) -> EventOut:
    return EventOut(
        seq=2, kind=kind, at=AT, actor=actor, data=data, prev_hash="0" * 64, hash="1" * 64
    )


def clock(kind: str = "acknowledge", state: str = "pending", **times: datetime) -> ClockOut:
    return ClockOut(
        kind=kind,
        key=kind,
        due_at=times.get("due_at", AT + timedelta(minutes=5)),
        state=state,
        action="remind",
        label=f"{kind.capitalize()} within 5 minutes",
        targets=[],
        warn_at=times.get("warn_at"),
    )


# -- events -------------------------------------------------------------------------------------


def test_a_declaration_reads_as_its_severity_and_title() -> None:
    declared = event(
        "declared",
        title="Checkout errors after deploy 4411",
        summary="5xx on /pay since 02:58",
        severity="P1",
        type=None,
        services=["checkout", "payments"],
    )
    assert summarise(declared) == "P1 · Checkout errors after deploy 4411"


def test_a_status_change_reads_as_the_move_and_why() -> None:
    resolved = event(
        "status_changed", **{"from": "investigating", "to": "resolved"}, message="Rolled back 4411"
    )
    assert summarise(resolved) == "investigating → resolved: Rolled back 4411"


def test_a_severity_change_reads_as_the_move_and_the_reason() -> None:
    raised = event("severity_changed", **{"from": "P2", "to": "P0"}, reason="All regions now")
    assert summarise(raised) == "P2 → P0: All regions now"


def test_a_move_without_a_reason_is_just_the_move() -> None:
    assert summarise(event("reopened", **{"from": "resolved", "to": "investigating"})) == (
        "resolved → investigating"
    )


def test_a_role_reads_as_who_holds_it_and_clearing_it_names_who_had_it() -> None:
    assigned = event("role_assigned", role="commander", assignee="dana", previous=None)
    cleared = event("role_unassigned", role="commander", assignee=None, previous="dana")
    assert summarise(assigned) == "commander: dana"
    assert summarise(cleared) == "commander cleared (was dana)"


def test_a_breached_clock_reads_as_the_duty_that_was_missed() -> None:
    breached = event(
        "clock_breached",
        actor="engine",
        key="acknowledge",
        kind="acknowledge",
        label="Acknowledge within 5 minutes",
        due_at="2026-11-20T03:05:00.000Z",
        targets=[],
    )
    assert summarise(breached) == "Acknowledge within 5 minutes"


def test_a_page_reads_as_the_step_and_who_it_reached() -> None:
    paged = event(
        "paged",
        actor="engine",
        key="escalation:unacknowledged:1",
        people=["alice", "bob"],
        messages=3,
        problems=[],
    )
    assert summarise(paged) == ("key: escalation:unacknowledged:1; people: alice, bob; messages: 3")


def test_a_page_that_reached_nobody_reads_as_why() -> None:
    failed = event(
        "page_failed",
        actor="engine",
        key="escalation:unacknowledged:1",
        people=[],
        messages=0,
        problems=["on_call_engineer reaches nobody (map it in the on-call file)"],
    )
    assert summarise(failed) == "on_call_engineer reaches nobody (map it in the on-call file)"


def test_flag_changes_read_as_the_flags_and_when_the_team_became_aware() -> None:
    flagged = event(
        "flags_changed",
        changes={"personal_data_breach": True},
        aware_at="2026-11-20T02:40:00.000Z",
    )
    assert summarise(flagged) == ("personal_data_breach: True (aware 2026-11-20T02:40:00.000Z)")


def test_an_unworded_kind_reads_as_its_data_and_a_long_one_is_cut() -> None:
    attached = event("alerts_attached", count=2, fingerprints=["a1", "b2"], note="")
    assert summarise(attached) == "count: 2; fingerprints: a1, b2"
    long = summarise(event("alerts_attached", text="x" * 300))
    assert len(long) == 240 and long.endswith("x…")


# -- times --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (45, "45 s"),
        (12 * 60 + 30, "12 min"),
        (3 * 3600, "3 h"),
        (3 * 3600 + 20 * 60, "3 h 20 min"),
        (2 * 86400, "2 d"),
        (2 * 86400 + 4 * 3600 + 59, "2 d 4 h"),
        (-90, "1 min"),
    ],
)
def test_a_span_reads_as_a_responder_says_it(seconds: float, words: str) -> None:
    assert span_text(seconds) == words


def test_times_read_in_utc_for_people_and_to_the_millisecond_for_machines() -> None:
    assert utc_text(AT) == "2026-11-20 03:00:00 UTC"
    assert utc_text(None) == "—"
    assert iso_text(AT + timedelta(microseconds=123_456)) == "2026-11-20T03:00:00.123Z"


def test_deadlines_read_as_how_long_is_left_or_how_late() -> None:
    assert until_text(AT + timedelta(minutes=5), AT) == "in 5 min"
    assert until_text(AT - timedelta(seconds=30), AT) == "overdue by 30 s"
    assert ago_text(AT - timedelta(seconds=3), AT) == "just now"
    assert ago_text(AT - timedelta(hours=2), AT) == "2 h ago"


def test_a_due_escalation_step_is_firing_not_overdue() -> None:
    late = AT - timedelta(minutes=1)
    assert countdown_text(clock("escalation", due_at=late), AT) == "firing now"
    assert countdown_text(clock("acknowledge", due_at=late), AT) == "overdue by 1 min"
    assert clock_phase(clock("escalation", due_at=late), AT) == "pending"
    assert clock_phase(clock("acknowledge", due_at=late), AT) == "overdue"


def test_a_clock_warns_from_its_warning_time_and_settled_clocks_show_their_state() -> None:
    assert clock_phase(clock(warn_at=AT - timedelta(seconds=1)), AT) == "warning"
    assert clock_phase(clock(warn_at=AT + timedelta(seconds=1)), AT) == "pending"
    assert clock_phase(clock(state="met"), AT) == "met"
