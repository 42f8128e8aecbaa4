"""Engine step: open an alert for every heartbeat whose ping is overdue, once per miss."""

from __future__ import annotations

import time
from datetime import datetime

from tocsin.alerts import heartbeats
from tocsin.db import Database
from tocsin.flows import intake
from tocsin.policy.loader import LoadedPolicy
from tocsin.timesource import now


class HeartbeatStep:
    name = "heartbeats"

    def __init__(self, loaded: LoadedPolicy) -> None:
        self.loaded = loaded

    def run_due(self, database: Database, deadline: float | None = None) -> int:
        at = now()
        with database.read_session() as session:
            ids = heartbeats.overdue(session, at)
        handled = 0
        for integration_id in ids:
            if deadline is not None and time.monotonic() > deadline:
                break  # the rest are still overdue next pass
            handled += self._miss(database, integration_id, at)
        return handled

    def _miss(self, database: Database, integration_id: int, at: datetime) -> int:
        with database.write_session() as session:
            integration = heartbeats.claim_miss(session, integration_id, at)
            if integration is None:
                return 0  # pinged meanwhile, or another engine has it
            intake.heartbeat_missed(session, integration=integration, loaded=self.loaded)
            return 1

    def next_due(self, database: Database) -> datetime | None:
        with database.read_session() as session:
            return heartbeats.next_due(session)
