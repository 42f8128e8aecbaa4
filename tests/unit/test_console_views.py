"""Pure pieces of the console's views: the one escalation ladder, the phase checklist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tocsin.incidents.checklist import PhaseList, current, items_of
from tocsin.incidents.schemas import ClockOut
from tocsin.policy.schema import Phase
from tocsin.web.console.room import ladder

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def step(key: str, minutes: int, targets: list[str], state: str = "pending") -> ClockOut:
    return ClockOut(
        kind="escalation",
        key=key,
        due_at=T0 + timedelta(minutes=minutes),
        state=state,
        action="escalate",
        label=key,
        targets=targets,
    )


def test_two_ladders_due_together_are_one_rung_each_instant() -> None:
    steps = [
        step("escalation:P1:unack:1", 0, ["on_call_engineer"], "fired"),
        step("page:1:1", 0, ["schedule:primary"], "fired"),
        step("escalation:P1:unack:2", 15, ["engineering_manager"]),
        step("page:1:2", 15, ["person:carol"]),
        step("page:2:1", 25, ["schedule:primary"]),
    ]
    rungs = ladder(steps)
    assert [(r.due_at - T0, r.state) for r in rungs] == [
        (timedelta(0), "fired"),
        (timedelta(minutes=15), "pending"),
        (timedelta(minutes=25), "pending"),
    ]
    assert rungs[1].targets == ["engineering_manager", "person:carol"]


def test_a_phase_lists_its_own_items_then_each_steps_and_a_bare_step_is_an_item() -> None:
    phase = Phase.model_validate(
        {
            "id": "detection",
            "name": "Detection",
            "checklist": ["Page the on-call"],
            "steps": [
                {"name": "Triage", "checklist": ["Classify severity", "Open a channel"]},
                {"name": "Assign roles"},
            ],
        }
    )
    items = items_of(phase)
    assert [(i.key, i.text, i.step) for i in items] == [
        ("detection/1", "Page the on-call", None),
        ("detection/2", "Classify severity", "Triage"),
        ("detection/3", "Open a channel", "Triage"),
        ("detection/4", "Assign roles", "Assign roles"),
    ]


def test_the_current_phase_is_the_first_with_something_left() -> None:
    first = Phase.model_validate({"id": "a", "name": "A", "checklist": ["x"]})
    second = Phase.model_validate({"id": "b", "name": "B", "checklist": ["y"]})
    done = [i.__class__(i.key, i.text, i.step, "alice", T0) for i in items_of(first)]
    lists = [PhaseList(first, 1, 2, done), PhaseList(second, 2, 2, items_of(second))]
    assert current(lists) is lists[1]
    assert current(lists, "a") is lists[0], "a phase asked for by id"
    assert current([]) is None
