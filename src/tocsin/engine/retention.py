"""Engine step: purge evidence whose retention ran out (tocsin.evidence.locker).

Each item is purged in its own short transaction: its `evidence_purged` event is recorded on
the incident's chain, and only once that commits are its bytes deleted (if no other item
names them). A crash in between leaves bytes nobody names, never a purge without its record.
An incident under legal hold is skipped until the hold is released.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from tocsin.db import Database
from tocsin.evidence import locker, storage
from tocsin.evidence.storage import EvidenceStore
from tocsin.timesource import now

log = logging.getLogger("tocsin.engine")
BATCH = 100


class RetentionStep:
    name = "retention"

    def __init__(self, store: EvidenceStore | None = None) -> None:
        self.store = store or storage.configured()

    def run_due(self, database: Database, deadline: float | None = None) -> int:
        at = now()
        with database.read_session() as session:
            due = [item.id for item in locker.due_for_purge(session, at, limit=BATCH)]
        purged = 0
        for evidence_id in due:
            if deadline is not None and time.monotonic() > deadline:
                break
            purged += self._purge(database, evidence_id, at)
        return purged

    def _purge(self, database: Database, evidence_id: int, at: datetime) -> int:
        try:
            with database.write_session() as session:
                digest = locker.purge(session, evidence_id=evidence_id, at=at)
        except Exception:  # one bad item must not stop the others; it is retried next pass
            log.exception("could not purge evidence #%s", evidence_id)
            return 0
        if digest is not None:
            self.store.delete(digest)
        return 1

    def next_due(self, database: Database) -> datetime | None:
        with database.read_session() as session:
            return locker.next_purge_at(session)
