"""Each engine's record of itself: written at start and after every pass, read by /healthz.

Why in the database: the engine may run in another process or on another host (`tocsin
engine` beside `serve --no-engine`), and a web node or an operator must still see that it is
alive. Recording is best effort: a database outage must not stop the engine (its steps will
report the outage themselves).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from tocsin import __version__
from tocsin.db import Database
from tocsin.engine.models import EngineInstance
from tocsin.timesource import now

log = logging.getLogger("tocsin.engine")
FORGET_AFTER = timedelta(days=1)  # engines silent this long are gone (restarted, scaled in)


@dataclass(frozen=True)
class EngineSeen:
    host: str
    pid: int
    version: str
    passes: int
    last_pass_at: datetime
    paused: str | None


class StatusRecorder:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.id = uuid.uuid4().hex
        self._written = False

    def record(self, passes: int, paused: str | None) -> None:
        try:
            with self.database.write_session() as session:
                if not self._written:
                    _forget_stale(session)
                    session.add(_new_row(self.id))
                    self._written = True
                session.execute(
                    update(EngineInstance)
                    .where(EngineInstance.id == self.id)
                    .values(passes=passes, last_pass_at=now(), paused=paused)
                )
        except Exception as exc:
            log.warning("engine could not record its pass: %s", exc)


def _new_row(engine_id: str) -> EngineInstance:
    at = now()
    return EngineInstance(
        id=engine_id,
        host=socket.gethostname()[:255],
        pid=os.getpid(),
        version=__version__,
        started_at=at,
        last_pass_at=at,
        passes=0,
    )


def _forget_stale(session: Session) -> None:
    session.execute(
        delete(EngineInstance).where(EngineInstance.last_pass_at < now() - FORGET_AFTER)
    )


def seen(database: Database, within: timedelta) -> list[EngineSeen]:
    """Engines that completed a pass within `within`, most recent first."""
    with database.read_session() as session:
        rows = session.scalars(
            select(EngineInstance)
            .where(EngineInstance.last_pass_at >= now() - within)
            .order_by(EngineInstance.last_pass_at.desc())
        )
        return [
            EngineSeen(r.host, r.pid, r.version, r.passes, r.last_pass_at, r.paused) for r in rows
        ]
