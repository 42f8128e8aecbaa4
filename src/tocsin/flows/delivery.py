"""What an outbox outcome means across domains (tocsin.notify.outbox.Outcomes).

1. On-call's part: the person's contact method shows its last error, a page's delivery is on
   the timeline, and a failed message falls back to the person's next notification rule.
2. Communications' part: a delivered message is on the timeline and may complete its stage;
   a message nothing else will deliver (no rule left, or no person behind the address) is
   told to the fallback contact.
3. The status page's part: a message to a subscriber counts on the subscriber, and one that
   failed for good is kept there (`last_error`), where the admin sees it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.comms import outcomes as comms_outcomes
from tocsin.comms.messages import Sending
from tocsin.incidents.models import Incident
from tocsin.notify.channels import DeliveryError
from tocsin.notify.outbox import Claim
from tocsin.oncall.outcomes import PeopleOutcomes
from tocsin.statuspage import subscribers


class DeliveryOutcomes:
    def __init__(self, sending: Sending) -> None:
        self.sending = sending
        self.people = PeopleOutcomes()

    def lock(self, session: Session, claim: Claim) -> Incident | None:
        return self.people.lock(session, claim)

    def still_wanted(self, session: Session, claim: Claim) -> bool:
        return self.people.still_wanted(session, claim)

    def delivered(
        self, session: Session, claim: Claim, subject: Incident | None, at: datetime
    ) -> None:
        self.people.delivered(session, claim, subject, at)
        if claim.purpose == subscribers.PURPOSE and "subscriber" in claim.data:
            subscribers.delivered(session, int(claim.data["subscriber"]))
        if subject is not None and claim.purpose != "page":
            comms_outcomes.delivered(session, subject, claim, at)

    def failed(
        self,
        session: Session,
        claim: Claim,
        subject: Incident | None,
        error: DeliveryError,
        at: datetime,
    ) -> None:
        if claim.purpose == subscribers.PURPOSE and "subscriber" in claim.data:
            subscribers.failed(session, int(claim.data["subscriber"]), error.message, at)
            return
        instead = self.people.failed(session, claim, subject, error, at)
        if subject is not None and instead is None:
            comms_outcomes.undeliverable(session, subject, claim, error, self.sending, at)
