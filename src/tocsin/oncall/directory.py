"""How the communications domain reaches the people of the on-call file (its `Directory`).

A message that is not a page (a stage of the communication tree, a reminder, an update)
goes to a person's first notification rule's contact method, at once: the later rules and
their delays are a page's escalation, not a notice's. If that method fails for good, the
outbox falls back to the next rule, as it does for pages.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident
from tocsin.notify.recipients import Reach, Recipient
from tocsin.oncall import paging
from tocsin.oncall.models import ContactMethod, NotificationRule, Person, Schedule, Team
from tocsin.oncall.rotation import on_call_at
from tocsin.oncall.service import spec_of


class OnCallDirectory:
    def person(self, session: Session, handle: str) -> Reach:
        person = session.scalar(select(Person).where(Person.handle == handle))
        if person is None:
            return Reach(problems=[f"{handle} is not in the on-call file"])
        return _first_rule(session, person)

    def team(self, session: Session, handle: str) -> Reach:
        team = session.scalar(select(Team).where(Team.handle == handle))
        if team is None:
            return Reach(problems=[f"team {handle} is not in the on-call file"])
        reach = Reach()
        for member in team.members:
            reach.merge(self.person(session, member))
        if not team.members:
            reach.problems.append(f"team {handle} has no members")
        return reach

    def schedule(self, session: Session, handle: str, at: datetime) -> Reach:
        schedule = session.scalar(select(Schedule).where(Schedule.handle == handle))
        if schedule is None:
            return Reach(problems=[f"schedule {handle} is not in the on-call file"])
        holder = on_call_at(spec_of(session, schedule), at)
        if holder is None:
            return Reach(problems=[f"nobody is on call on {handle}"])
        return self.person(session, holder)

    def on_call(self, session: Session, incident: Incident, at: datetime) -> Reach:
        policy = paging.escalation_policy_for(session, incident)
        if policy is None or not policy.steps:
            return Reach(problems=["no escalation policy applies (apply an on-call file)"])
        found = paging.reach(session, incident, list(policy.steps[0]["targets"]), at)
        reach = Reach(problems=list(found.problems))
        for person in found.people:
            reach.merge(_first_rule(session, person))
        return reach

    def slack_user(self, session: Session, handle: str) -> str | None:
        return session.scalar(
            select(ContactMethod.address)
            .join(Person, Person.id == ContactMethod.person_id)
            .where(Person.handle == handle, ContactMethod.kind == "slack")
            .limit(1)
        )


def _first_rule(session: Session, person: Person) -> Reach:
    row = session.execute(
        select(NotificationRule, ContactMethod)
        .join(ContactMethod, ContactMethod.id == NotificationRule.contact_method_id)
        .where(NotificationRule.person_id == person.id)
        .order_by(NotificationRule.position, NotificationRule.id)
        .limit(1)
    ).first()
    if row is None:
        return Reach(problems=[f"{person.handle} has no notification rules"])
    rule, method = row
    recipient = Recipient(
        name=person.handle,
        channel=method.kind,
        address=method.address,
        person_id=person.id,
        contact_method_id=method.id,
        rule_position=rule.position,
    )
    return Reach([recipient])
