"""The incident status lifecycle: investigating → identified → monitoring → resolved → closed.

Moving forward may skip steps; `resolved → investigating` reopens; `closed` is final.
"""

from __future__ import annotations

from tocsin.errors import IllegalTransition, InvalidInput

STATUSES: tuple[str, ...] = ("investigating", "identified", "monitoring", "resolved", "closed")
OPEN_STATUSES: tuple[str, ...] = STATUSES[:3]


def allowed_next(status: str) -> list[str]:
    if status == "closed":
        return []
    if status == "resolved":
        return ["investigating", "closed"]
    return list(STATUSES[STATUSES.index(status) + 1 :])


def check_transition(current: str, target: str) -> None:
    if target not in STATUSES:
        raise InvalidInput(
            f"unknown status {target!r}; allowed: {', '.join(STATUSES)}",
            field="status",
            allowed=list(STATUSES),
        )
    allowed = allowed_next(current)
    if target not in allowed:
        hint = ", ".join(allowed) if allowed else "none: closed is final"
        raise IllegalTransition(
            f"cannot move from {current} to {target}; allowed next: {hint}",
            field="status",
            allowed=allowed,
        )


def is_reopen(current: str, target: str) -> bool:
    return current == "resolved" and target == "investigating"
