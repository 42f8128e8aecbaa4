"""Wake the in-process engine early when something falls due sooner than it planned to look.

Only an optimisation: an engine in another process finds the work on its next regular tick.
But it is what makes a page leave within milliseconds of the alert instead of up to a whole
engine interval later, so two races matter:

- A wake-up sent from inside a transaction reached the engine before the commit: it looked,
  saw nothing yet, and went back to sleep for the full interval. `after_commit()` holds the
  wake-up until the session commits (and drops it on rollback).
- A wake-up that arrived while the engine was busy was lost when it went to sleep. The engine
  now sleeps only if nothing was notified since it last looked (`generation()`).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

_condition = threading.Condition()
_generation = 0
PENDING = "tocsin.db.wakeup"  # where a session keeps its wake-up until it commits


def notify() -> None:
    """Wake the engine now (for work already committed)."""
    global _generation
    with _condition:
        _generation += 1
        _condition.notify_all()


def after_commit(session: Session) -> None:
    """Wake the engine once this session's transaction has committed (it then works out for
    itself what is due and when)."""
    session.info[PENDING] = True


def generation() -> int:
    """A number that changes whenever notify() is called."""
    with _condition:
        return _generation


def wait(timeout: float, *, unless_notified_since: int | None = None) -> None:
    """Sleep up to `timeout` seconds, or until notify(); at once if notify() was called
    after `generation()` returned `unless_notified_since`."""
    with _condition:
        if unless_notified_since is not None and _generation != unless_notified_since:
            return
        _condition.wait(timeout)


# SQLAlchemy fires these for savepoints too (the intake writer stores each delivery under
# one): only the end of the outermost transaction counts.


@event.listens_for(Session, "after_commit")
def _deliver(session: Session) -> None:
    if not session.in_nested_transaction() and session.info.pop(PENDING, None) is not None:
        notify()


@event.listens_for(Session, "after_rollback")
def _drop(session: Session, *_: Any) -> None:
    if not session.in_nested_transaction():
        session.info.pop(PENDING, None)
