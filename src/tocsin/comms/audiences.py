"""From a policy's targets to the addresses a message goes to.

A target is a role id (the incident's role holder; if nobody holds the role, the policy's
standing contact for it, such as ProofKit's tech@ for the technical lead), an audience id
(its email, role, chat channel and members), or `policy_channel:<id>` (a coordination channel
the policy names, such as MaxAI's #incident-<id>). A member that names a condition the
incident does not meet is left out; one that reaches nobody is named in `problems`, never
dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.comms.recipients import Directory, Reach, Recipient
from tocsin.errors import InvalidInput
from tocsin.incidents.models import Incident
from tocsin.notify import named_channels
from tocsin.notify.channels import NAMED_PREFIX
from tocsin.policy.schema import Audience, CommunicationStage, Policy, StageCondition

POLICY_CHANNEL = "policy_channel:"


def resolve(
    session: Session,
    *,
    policy: Policy,
    incident: Incident,
    targets: Sequence[str],
    directory: Directory,
    at: datetime,
    stage: CommunicationStage | None = None,
) -> Reach:
    """Everyone the targets reach (without repeats), and what could not be reached."""
    reach = Reach()
    for target in targets:
        condition = policy.condition(stage, target) if stage is not None else None
        if condition is not None and not applies(condition, incident):
            continue
        reach.merge(_target(session, policy, incident, target, directory, at))
    return reach


def resolve_standing(
    session: Session,
    *,
    policy: Policy,
    audience_ids: Sequence[str],
    directory: Directory,
    at: datetime,
) -> Reach:
    """Everyone the policy's audiences reach when there is no incident (an alert that only
    notifies): their addresses, named channels, people, teams and schedules."""
    reach = Reach()
    for audience_id in audience_ids:
        audience = policy.audience(audience_id)
        if audience is None:
            reach.problems.append(f"{audience_id!r} is not an audience of the policy")
            continue
        reach.merge(_audience(session, policy, None, audience, directory, at))
    return reach


def normalize(policy: Policy, targets: Sequence[str]) -> list[str]:
    """Targets a person names (role, audience or coordination channel ids) as clocks hold
    them; an unknown one is refused, naming what is allowed."""
    allowed = policy.target_ids() + [c.id for c in policy.channels]
    found = []
    for target in targets:
        plain = target.removeprefix(POLICY_CHANNEL)
        if plain not in allowed:
            raise InvalidInput(
                f"unknown audience {target!r}; allowed: {', '.join(allowed)}",
                field="audience",
                allowed=allowed,
            )
        is_channel = policy.channel(plain) is not None and plain not in policy.target_ids()
        found.append(f"{POLICY_CHANNEL}{plain}" if is_channel else plain)
    return found


def applies(condition: StageCondition, incident: Incident) -> bool:
    return applies_to(condition, incident.flags, incident.type)


def applies_to(condition: StageCondition, flags: Mapping[str, Any], type_: str | None) -> bool:
    """Whether an incident with these flags and type meets the condition."""
    flagged = any(flags.get(flag) for flag in condition.flags)
    return flagged or (type_ is not None and type_ in condition.types)


def _target(
    session: Session,
    policy: Policy,
    incident: Incident,
    target: str,
    directory: Directory,
    at: datetime,
) -> Reach:
    if target.startswith(POLICY_CHANNEL):
        return _policy_channel(policy, incident, target.removeprefix(POLICY_CHANNEL))
    if target in policy.role_ids():
        return _role(session, policy, incident, target, directory, at)
    audience = policy.audience(target)
    if audience is not None:
        return _audience(session, policy, incident, audience, directory, at)
    if policy.channel(target) is not None:
        return _policy_channel(policy, incident, target)
    return Reach(problems=[f"{target!r} is not a role, audience or channel of the policy"])


def _role(
    session: Session,
    policy: Policy,
    incident: Incident,
    role_id: str,
    directory: Directory,
    at: datetime,
) -> Reach:
    """The role holder; else the policy's standing contacts for the role."""
    name = policy.target_name(role_id)
    holder = incident.roles.get(role_id)
    reach = directory.person(session, holder) if holder else Reach()
    if reach.recipients:
        return reach
    standing = [a for a in policy.audiences if a.role == role_id]
    for audience in standing:
        members = [m for m in audience.reach() if not m.startswith("role:")]
        reach.merge(_members(session, policy, incident, audience, members, directory, at))
    if not reach.recipients:
        why = f"held by {holder}, who cannot be reached" if holder else "not assigned"
        reach.problems.append(f"{name} is {why}, and the policy has no standing contact for it")
    return reach


def _audience(
    session: Session,
    policy: Policy,
    incident: Incident | None,
    audience: Audience,
    directory: Directory,
    at: datetime,
) -> Reach:
    members = audience.reach()
    reach = _members(session, policy, incident, audience, members, directory, at)
    if not members:
        reach.problems.append(
            f"{audience.name} has no address: give it an email or members in the policy"
        )
    return reach


def _members(
    session: Session,
    policy: Policy,
    incident: Incident | None,
    audience: Audience,
    members: Sequence[str],
    directory: Directory,
    at: datetime,
) -> Reach:
    reach = Reach()
    for member in members:
        found = _member(session, policy, incident, member, directory, at)
        reach.add(found.recipients)
        reach.problems += [f"{audience.name}: {problem}" for problem in found.problems]
    return reach


def _member(
    session: Session,
    policy: Policy,
    incident: Incident | None,
    member: str,
    directory: Directory,
    at: datetime,
) -> Reach:
    kind, _, value = member.partition(":")
    match kind:
        case "email":
            return Reach([Recipient(value, "email", value)])
        case "slack":
            channel = render_name(value, incident) if incident is not None else value
            return Reach([Recipient(value, "slack", channel)])
        case "person":
            return directory.person(session, value)
        case "team":
            return directory.team(session, value)
        case "schedule":
            return directory.schedule(session, value, at)
        case "role":
            if incident is None:
                return Reach(problems=[f"{member}: nobody holds a role outside an incident"])
            return _role(session, policy, incident, value, directory, at)
        case "channel":
            return named_channel(session, value)
    return Reach(problems=[f"{member!r} is not a member reference Tocsin knows"])


def named_channel(session: Session, name: str) -> Reach:
    """A notification channel saved under a name (`tocsin notify channel add NAME ...`). The
    outbox reads its settings when it sends, so a channel fixed after a failure serves the
    retries."""
    channel = named_channels.find(session, name)
    if channel is None:
        return Reach(
            problems=[
                f"no notification channel named {name!r}: add it with `tocsin notify channel add`"
            ]
        )
    return Reach([Recipient(name, channel.kind, f"{NAMED_PREFIX}{name}")])


def channel_references(policy: Policy) -> dict[str, list[str]]:
    """Each named channel the policy's audiences reach (`channel:<name>`), with the ids of
    the audiences that list it."""
    found: dict[str, list[str]] = {}
    for audience in policy.audiences:
        for member in audience.reach():
            if member.startswith(NAMED_PREFIX):
                found.setdefault(member.removeprefix(NAMED_PREFIX), []).append(audience.id)
    return found


def _policy_channel(policy: Policy, incident: Incident, channel_id: str) -> Reach:
    channel = policy.channel(channel_id)
    if channel is None:
        return Reach(problems=[f"the policy has no channel {channel_id!r}"])
    if channel.kind == "slack" and channel.address:
        return Reach([Recipient(channel.name, "slack", render_name(channel.address, incident))])
    return Reach(problems=[f"{channel.name} has no address Tocsin can post to"])


def render_name(text: str, incident: Incident) -> str:
    """A channel name the policy writes with the incident in it: `#incident-{{ incident.id }}`."""
    for placeholder in ("{{ incident.id }}", "{{incident.id}}", "[incident-id]"):
        text = text.replace(placeholder, incident.id.lower())
    return text
