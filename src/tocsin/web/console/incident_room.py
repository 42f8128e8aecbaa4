"""One incident's page, where responders work it: its clocks, timeline and every action.

The page reads in a read session. Each action calls the incident service in a write session,
as the API does, then redirects back (POST/redirect/GET); a domain error comes back as a flash
message that names the field, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tocsin.alerts import changes
from tocsin.comms.messages import Sending
from tocsin.errors import InvalidInput, NotFound, TocsinError
from tocsin.evidence import locker, switches
from tocsin.evidence.schemas import EvidenceList, EvidenceOut, HoldOut, SwitchIn, SwitchOut
from tocsin.flows import communications
from tocsin.flows import incidents as incident_flows
from tocsin.flows import statuspage as status_flows
from tocsin.incidents import clocks as clock_service
from tocsin.incidents import service, timeline
from tocsin.incidents.schemas import (
    ClockOut,
    CompleteClockIn,
    EventOut,
    IncidentOut,
    NoteIn,
    RoleIn,
    SeverityIn,
    StatusIn,
    UpdateIn,
)
from tocsin.oncall.page_failures import page_failures
from tocsin.policy.clock_kinds import fires, kind_of
from tocsin.policy.schema import Policy
from tocsin.reviews import service as review_service
from tocsin.statuspage import service as status_service
from tocsin.statuspage.models import PublicIncident
from tocsin.statuspage.schemas import PublishIn
from tocsin.statuspage.statuses import INCIDENT_STATUSES
from tocsin.web.console.flash import Flash, with_flash
from tocsin.web.console.incidents import severity_rank
from tocsin.web.console.pages import (
    Form,
    FormDep,
    _missing,
    _page,
    parse_instant,
    problems_of,
    problems_text,
)
from tocsin.web.console.session import SignedIn, _authorise_post, _to_login
from tocsin.web.deps import Runtime, RuntimeDep

router = APIRouter()


@dataclass(frozen=True)
class IncidentView:
    incident: IncidentOut
    events: list[EventOut]
    policy: Policy
    rank: int
    deadlines: list[ClockOut]
    escalations: list[ClockOut]
    completable: list[ClockOut]
    switches: list[SwitchOut]
    evidence: EvidenceList

    public: PublicIncident | None = None
    review_status: str | None = None  # its post-incident review's, once one is open
    public_statuses: tuple[str, ...] = INCIDENT_STATUSES

    @property
    def switches_on(self) -> list[SwitchOut]:
        return [s for s in self.switches if s.state == "on"]

    @property
    def can_escalate(self) -> bool:
        """Someone still to page, and nobody has acknowledged (escalate_now's own rule)."""
        incident = self.incident
        open_ = incident.acknowledged_at is None and incident.status not in ("resolved", "closed")
        return open_ and any(c.state == "pending" for c in self.escalations)

    def name_of(self, items: Sequence[Any], item_id: str) -> str:
        """The policy's name for a role, flag, type or severity id (the id if unknown)."""
        return next((str(i.name) for i in items if i.id == item_id), item_id)


def _incident_view(session: Session, incident_id: str) -> IncidentView:
    incident = service.get(session, incident_id)
    policy = service.policy_of(session, incident).policy
    out = IncidentOut.of(
        incident,
        clock_service.clocks_of(session, incident.id),
        page_failures=page_failures(session, incident.id),
        changes=changes.shown_on(session, incident),
    )
    events = [EventOut.of(e) for e in timeline.events(session, incident.id)]
    return IncidentView(
        incident=out,
        events=events[::-1],
        policy=policy,
        rank=severity_rank(policy, incident.severity),
        deadlines=[c for c in out.clocks if not fires(c.kind)],
        escalations=[c for c in out.clocks if fires(c.kind)],
        # Clocks met by their own action (acknowledge, publish update, resolve) or that fire
        # are not offered in "Complete clock".
        completable=[c for c in out.clocks if c.state == "pending" and kind_of(c.kind).completable],
        switches=[
            SwitchOut.of(incident.id, d, row) for d, row in switches.states(session, incident.id)
        ],
        evidence=_evidence(session, incident.id),
        public=status_service.of_incident(session, incident.id),
        review_status=_review_status(session, incident.id),
    )


def _review_status(session: Session, incident_id: str) -> str | None:
    review = review_service.for_incident(session, incident_id)
    return None if review is None else review.status


def _evidence(session: Session, incident_id: str) -> EvidenceList:
    hold = locker.active_hold(session, incident_id)
    return EvidenceList(
        items=[EvidenceOut.of(i) for i in locker.items(session, incident_id)],
        legal_hold=HoldOut.of(hold) if hold else None,
    )


@router.get("/incidents/{incident_id}")
def incident_page(
    incident_id: str, request: Request, runtime: RuntimeDep, principal: SignedIn
) -> Response:
    if principal is None:
        return _to_login(request)
    try:
        with runtime.database.read_session() as session:
            view = _incident_view(session, incident_id)
    except NotFound:
        return _missing(request, principal, f"There is no incident {incident_id}.")
    title = f"{view.incident.id} · {view.incident.title}"
    return _page(request, "incident.html", principal=principal, live=True, title=title, view=view)


# -- actions ------------------------------------------------------------------------------------

# Each action: (session, incident id, form, actor) → what to tell the responder when it worked.
Action = Callable[[Session, str, Form, str, Sending], str]


def _acknowledge(
    session: Session, incident_id: str, _form: Form, actor: str, sending: Sending
) -> str:
    incident_flows.acknowledge(session, incident_id=incident_id, actor=actor)
    return "Acknowledged: the acknowledge clock is met and the pager stops."


def _escalate(session: Session, incident_id: str, _form: Form, actor: str, sending: Sending) -> str:
    incident_flows.escalate_now(session, incident_id=incident_id, actor=actor)
    return "Escalated: the next step is being paged now."


def _change_status(
    session: Session, incident_id: str, form: Form, actor: str, sending: Sending
) -> str:
    body = StatusIn(status=form.get("status"), message=form.get("message"))
    incident_flows.change_status(
        session, incident_id=incident_id, status=body.status, message=body.message, actor=actor
    )
    return f"Status is now {body.status}."


def _change_severity(
    session: Session, incident_id: str, form: Form, actor: str, sending: Sending
) -> str:
    body = SeverityIn(severity=form.get("severity"), reason=form.get("reason"))
    incident_flows.change_severity(
        session, incident_id=incident_id, severity=body.severity, reason=body.reason, actor=actor
    )
    return f"Severity is now {body.severity}; its clocks were replanned."


def _assign_role(
    session: Session, incident_id: str, form: Form, actor: str, sending: Sending
) -> str:
    body = RoleIn(role=form.get("role"), assignee=form.optional("assignee"))
    incident_flows.assign_role(
        session, incident_id=incident_id, role=body.role, assignee=body.assignee, actor=actor
    )
    return f"{body.role}: {body.assignee}" if body.assignee else f"{body.role} cleared."


def _add_note(session: Session, incident_id: str, form: Form, actor: str, sending: Sending) -> str:
    body = NoteIn(text=form.get("text"))
    incident_flows.add_note(session, incident_id=incident_id, text=body.text, actor=actor)
    return "Note added to the timeline."


def _publish_update(
    session: Session, incident_id: str, form: Form, actor: str, sending: Sending
) -> str:
    body = UpdateIn(message=form.get("message"))
    communications.publish_update(
        session, incident_id=incident_id, message=body.message, actor=actor, sending=sending
    )
    return "Update published; the next update clock starts now."


def _publish_on_status_page(
    session: Session, incident_id: str, form: Form, actor: str, sending: Sending
) -> str:
    body = PublishIn(
        title=form.optional("title"), status=form.get("status"), message=form.get("message")
    )
    policy = service.policy_of(session, service.get(session, incident_id)).policy
    done = status_flows.publish(
        session,
        incident_id=incident_id,
        title=body.title,
        status=body.status,
        message=body.message,
        actor=actor,
        links=status_flows.links(sending.base_url, policy),
    )
    return (
        f"On the status page: {done.row.name} ({body.status}); "
        f"{done.notified} subscriber message(s) queued."
    )


def _set_flag(session: Session, incident_id: str, form: Form, actor: str, sending: Sending) -> str:
    flag = form.get("flag").strip()
    if not flag:
        raise InvalidInput("choose a flag", field="flag")
    value = None if form.get("value") == "clear" else True
    aware_at = parse_instant(form.optional("aware_at"), "aware_at")
    incident_flows.set_flags(
        session,
        incident_id=incident_id,
        flags={flag: value},
        aware_at=aware_at,
        actor=actor,
        sending=sending,
    )
    return f"{flag} {'cleared' if value is None else 'set'}."


def _complete_clock(
    session: Session, incident_id: str, form: Form, actor: str, sending: Sending
) -> str:
    key = form.get("key").strip()
    if not key:
        raise InvalidInput("choose a pending clock", field="key")
    body = CompleteClockIn(note=form.get("note"))
    incident_flows.complete_clock(
        session, incident_id=incident_id, key=key, note=body.note, actor=actor
    )
    return f"Clock {key} completed."


def _flip_switch(
    session: Session, incident_id: str, form: Form, actor: str, sending: Sending
) -> str:
    body = SwitchIn(state=form.get("state"), reason=form.get("reason"))
    name = form.get("switch").strip()
    done = switches.flip(
        session,
        incident_id=incident_id,
        name=name,
        state=body.state,
        reason=body.reason,
        actor=actor,
    )
    how = "its webhook is being called" if done.signed else "flip the real switch by hand"
    return f"{name} is {body.state.upper()}: recorded on the timeline; {how}."


# The URL's last segment → the button's words (named in a failure) and what it does.
ACTIONS: dict[str, tuple[str, Action]] = {
    "acknowledge": ("Acknowledge", _acknowledge),
    "escalate": ("Escalate now", _escalate),
    "status": ("Change status", _change_status),
    "severity": ("Change severity", _change_severity),
    "roles": ("Assign role", _assign_role),
    "notes": ("Add note", _add_note),
    "updates": ("Publish update", _publish_update),
    "status-page": ("Publish on the status page", _publish_on_status_page),
    "flags": ("Set flag", _set_flag),
    "complete": ("Complete clock", _complete_clock),
    "switch": ("Flip switch", _flip_switch),
}


def _run(runtime: Runtime, incident_id: str, action: str, form: Form, actor: str) -> Flash:
    title, run = ACTIONS[action]
    try:
        with runtime.database.write_session() as session:
            done = run(session, incident_id, form, actor, runtime.sending)
    except (ValidationError, TocsinError) as exc:
        return Flash("error", f"{title} failed — {problems_text(problems_of(exc))}")
    return Flash("ok", done)


@router.post("/incidents/{incident_id}/{action}")
def incident_action(
    incident_id: str,
    action: str,
    request: Request,
    runtime: RuntimeDep,
    principal: SignedIn,
    form: FormDep,
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    if action not in ACTIONS:
        return _missing(request, who, f"There is no console action {action!r}.")
    flash = _run(runtime, incident_id, action, form, who.name)
    request.app.state.status_cache.invalidate()  # the page may show this incident
    response = RedirectResponse(f"/console/incidents/{incident_id}", status_code=303)
    return with_flash(response, flash)
