"""Where a review and an action item may go next, and when an action item is due.

Pure: no database, no clock.
"""

from __future__ import annotations

from datetime import datetime

from tocsin.errors import IllegalTransition, InvalidInput
from tocsin.policy.schema import ActionItemClass, Policy

REVIEW_STATUSES = ("draft", "in_review", "reviewed", "closed")
# Forward one step at a time; back to draft while it is being reviewed; reviewed may be reopened.
REVIEW_MOVES: dict[str, tuple[str, ...]] = {
    "draft": ("in_review",),
    "in_review": ("draft", "reviewed"),
    "reviewed": ("in_review", "closed"),
    "closed": (),
}
# The review's clock is met once the review is held (reviewed or closed).
HELD = ("reviewed", "closed")

ITEM_STATUSES = ("open", "in_progress", "done", "wont_do")
ITEM_MOVES: dict[str, tuple[str, ...]] = {
    "open": ("in_progress", "done", "wont_do"),
    "in_progress": ("open", "done", "wont_do"),
    "done": ("open",),
    "wont_do": ("open",),
}
ITEM_FINISHED = ("done", "wont_do")

# Tocsin's classes when the policy lists none (the seeds' common ground).
DEFAULT_CLASSES = (
    ActionItemClass.model_validate({"id": "immediate", "name": "Immediate", "within": "1w"}),
    ActionItemClass.model_validate({"id": "short_term", "name": "Short-term", "within": "1 month"}),
    ActionItemClass.model_validate({"id": "long_term", "name": "Long-term", "within": "1 quarter"}),
)


def check_review_move(current: str, wanted: str) -> None:
    _check(current, wanted, REVIEW_STATUSES, REVIEW_MOVES, "review")


def check_item_move(current: str, wanted: str) -> None:
    _check(current, wanted, ITEM_STATUSES, ITEM_MOVES, "action item")


def _check(
    current: str,
    wanted: str,
    statuses: tuple[str, ...],
    moves: dict[str, tuple[str, ...]],
    what: str,
) -> None:
    if wanted not in statuses:
        raise InvalidInput(
            f"unknown status {wanted!r}; allowed: {', '.join(statuses)}",
            field="status",
            allowed=statuses,
        )
    allowed = moves[current]
    if wanted not in allowed:
        options = ", ".join(allowed) or "none (it is final)"
        raise IllegalTransition(
            f"a {what} cannot move from {current} to {wanted}; from {current}: {options}",
            field="status",
            allowed=allowed,
        )


def classes(policy: Policy) -> tuple[ActionItemClass, ...]:
    return tuple(policy.post_incident.action_item_classes) or DEFAULT_CLASSES


def item_class(policy: Policy, class_id: str) -> ActionItemClass:
    found = {c.id: c for c in classes(policy)}
    if class_id not in found:
        raise InvalidInput(
            f"unknown action item class {class_id!r}; allowed: {', '.join(found)}",
            field="class",
            allowed=list(found),
        )
    return found[class_id]


def item_due(policy: Policy, class_id: str, from_: datetime) -> datetime:
    """When an action item of this class, raised at `from_`, is due (business time as the
    policy's calendar counts it)."""
    return policy.calendar().add(from_, item_class(policy, class_id).within)
