"""Engine step: sign a checkpoint every TOCSIN_CHECKPOINT_INTERVAL (an hour by default) when a
timeline has moved, and hand it to the witnesses. Without TOCSIN_CHECKPOINT_KEY it does
nothing (and `tocsin verify` says that nothing is signed).

Witness files are written after the checkpoint commits, catching up on any the file lacks,
so a crash between the two leaves the checkpoint to be witnessed on the next pass, never a
witness of a checkpoint that did not commit. Webhook and email witnesses go through the
outbox in the checkpoint's own transaction.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tocsin.db import Database
from tocsin.evidence import checkpoints
from tocsin.evidence.sealing import make
from tocsin.timesource import now

INTERVAL_ENV = "TOCSIN_CHECKPOINT_INTERVAL"


def interval() -> timedelta:
    return timedelta(seconds=float(os.environ.get(INTERVAL_ENV, "3600")))


class CheckpointStep:
    name = "checkpoints"

    def __init__(self, key: Ed25519PrivateKey, witnesses: list[str], every: timedelta) -> None:
        self.key, self.witnesses, self.every = key, witnesses, every

    def run_due(self, database: Database, deadline: float | None = None) -> int:
        due = self.next_due(database)
        if due is None or due > now():
            return 0
        made = make(database, self.key, self.witnesses)
        return 1 if made else 0

    def next_due(self, database: Database) -> datetime | None:
        with database.read_session() as session:
            latest = checkpoints.latest(session)
        return now() if latest is None else latest.created_at + self.every
