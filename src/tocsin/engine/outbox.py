"""Engine step: claim due outbox rows, send them outside any transaction, record each outcome.

The outbox (tocsin.notify.outbox) does the work; this step wires in what its outcomes mean
for the rest of Tocsin (tocsin.flows.delivery: timeline events, contact errors, fallback to
the next rule, stages met, and the fallback contact told of what nothing could deliver).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from tocsin.comms.messages import Sending
from tocsin.db import Database
from tocsin.flows.delivery import DeliveryOutcomes
from tocsin.notify import channels
from tocsin.notify.channels import Send
from tocsin.notify.models import Notification
from tocsin.notify.outbox import Outcomes, claim_due, delivery
from tocsin.notify.outbox.claims import PENDING, SENDING
from tocsin.oncall.directory import OnCallDirectory
from tocsin.timesource import as_utc, now


class OutboxStep:
    name = "outbox"

    def __init__(self, deliver: Send = channels.deliver, outcomes: Outcomes | None = None) -> None:
        self.deliver = deliver
        self.outcomes: Outcomes = outcomes or DeliveryOutcomes(
            Sending("http://127.0.0.1:8080", OnCallDirectory())
        )

    def run_due(self, database: Database, deadline: float | None = None) -> int:
        """1. Claim due rows and commit the claim (rate limits and bundling decided there).
        2. Give up on rows whose lease expired on their last attempt.
        3. Send the rest in parallel, outside any transaction, renewing their leases while
           they are in flight; record each outcome on its own as soon as it is known.
        One pass is one batch, so it needs no deadline of its own.
        """
        taken = claim_due(database, now())
        delivery.give_up(database, taken.exhausted, self.outcomes)
        delivery.send_all(database, taken.claims, self.deliver, self.outcomes)
        return taken.handled

    def next_due(self, database: Database) -> datetime | None:
        with database.read_session() as session:
            pending = session.scalar(
                select(func.min(Notification.next_attempt_at)).where(Notification.status == PENDING)
            )
            leased = session.scalar(
                select(func.min(Notification.lease_until)).where(Notification.status == SENDING)
            )
        found = [as_utc(value) for value in (pending, leased) if value is not None]
        return min(found) if found else None
