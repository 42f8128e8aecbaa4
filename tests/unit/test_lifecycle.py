from __future__ import annotations

import pytest

from tocsin.errors import IllegalTransition, InvalidInput
from tocsin.incidents.lifecycle import allowed_next, check_transition


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("investigating", "identified"),
        ("investigating", "resolved"),  # skipping forward is allowed
        ("identified", "monitoring"),
        ("monitoring", "resolved"),
        ("resolved", "investigating"),  # reopen
        ("resolved", "closed"),
    ],
)
def test_allowed_moves(current: str, target: str) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("monitoring", "identified", ["resolved", "closed"]),
        ("resolved", "monitoring", ["investigating", "closed"]),
        ("closed", "investigating", []),
        ("investigating", "investigating", ["identified", "monitoring", "resolved", "closed"]),
    ],
)
def test_illegal_moves_name_what_is_allowed(current: str, target: str, allowed: list[str]) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target)
    assert caught.value.allowed == allowed
    assert caught.value.field == "status"


def test_closed_is_final() -> None:
    assert allowed_next("closed") == []
    with pytest.raises(IllegalTransition, match="closed is final"):
        check_transition("closed", "resolved")


def test_an_unknown_status_lists_every_status() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_transition("investigating", "fixed")
    assert caught.value.allowed == [
        "investigating",
        "identified",
        "monitoring",
        "resolved",
        "closed",
    ]
