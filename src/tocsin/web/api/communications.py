"""HTTP routes for an incident's communications: what was sent to whom and how it went,
sending a stage of the communication tree, and previewing a template."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from tocsin.comms import records
from tocsin.flows import communications
from tocsin.incidents import service
from tocsin.incidents.schemas import CommunicationOut, PreviewIn, PreviewOut, SendStageIn
from tocsin.web.deps import Reader, ReadSession, Responder, RuntimeDep

router = APIRouter(prefix="/api/v1/incidents", tags=["communications"])


@router.get(
    "/{incident_id}/communications",
    summary="Every message about the incident (stages, updates, reminders, pages) and its outcome",
)
def list_communications(
    incident_id: str, session: ReadSession, principal: Reader
) -> list[CommunicationOut]:
    service.get(session, incident_id)
    return [CommunicationOut(**asdict(c)) for c in records.communications(session, incident_id)]


@router.post(
    "/{incident_id}/communications",
    status_code=201,
    summary="Send a stage of the communication tree now (a prompt stage, or a resend)",
)
def send_stage(
    incident_id: str, body: SendStageIn, runtime: RuntimeDep, principal: Responder
) -> list[CommunicationOut]:
    with runtime.database.write_session() as session:
        communications.send_stage(
            session,
            incident_id=incident_id,
            stage_id=body.stage,
            actor=principal.name,
            sending=runtime.sending,
            fields=body.fields,
        )
        found = records.communications(session, incident_id, pages=False)
        return [CommunicationOut(**asdict(c)) for c in found]


@router.post(
    "/{incident_id}/communications/preview",
    summary="Render a template against the live incident, as it would be sent now",
)
def preview(
    incident_id: str, body: PreviewIn, runtime: RuntimeDep, principal: Reader
) -> PreviewOut:
    with runtime.database.read_session() as session:
        rendered = communications.preview(
            session,
            incident_id=incident_id,
            template=body.template,
            builtin=body.builtin,
            sending=runtime.sending,
            fields=body.fields,
            message=body.message,
        )
    return PreviewOut(template=rendered.template, subject=rendered.subject, body=rendered.body)
