"""Wake the in-process engine early when something falls due sooner than it planned to look.

Only an optimisation: an engine in another process finds the work on its next regular tick.
"""

from __future__ import annotations

import threading
from datetime import datetime

_condition = threading.Condition()
_earliest: datetime | None = None


def notify(due_at: datetime) -> None:
    global _earliest
    with _condition:
        if _earliest is None or due_at < _earliest:
            _earliest = due_at
        _condition.notify_all()


def wait(timeout: float) -> None:
    """Sleep up to `timeout` seconds, or until notify() is called."""
    with _condition:
        _condition.wait(timeout)


def take_earliest() -> datetime | None:
    global _earliest
    with _condition:
        value, _earliest = _earliest, None
        return value
