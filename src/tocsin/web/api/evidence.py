"""HTTP routes for the evidence locker and containment switches. Thin: parse, call the
service, shape the answer. Every write commits before its answer is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from tocsin.errors import InvalidInput
from tocsin.evidence import locker, storage, switches
from tocsin.evidence.locker import Attachment
from tocsin.evidence.schemas import (
    AttachmentFields,
    CustodyIn,
    EvidenceDetail,
    EvidenceList,
    EvidenceOut,
    HoldIn,
    HoldOut,
    LinkIn,
    SwitchIn,
    SwitchOut,
)
from tocsin.evidence.storage import Stored
from tocsin.incidents.schemas import EventOut
from tocsin.web.deps import PathId, Reader, ReadSession, Responder, Runtime, RuntimeDep

router = APIRouter(prefix="/api/v1/incidents", tags=["evidence"])
switch_router = APIRouter(prefix="/api/v1/switches", tags=["evidence"])

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "title"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "kind": {"type": "string", "enum": ["file", "log_export", "snapshot"]},
                        "title": {"type": "string", "maxLength": 300},
                        "note": {"type": "string"},
                        "retention_class": {"type": "string"},
                    },
                }
            },
            "application/json": {"schema": LinkIn.model_json_schema()},
        },
    }
}


def _invalid(exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    return InvalidInput(f"{field}: {first['msg']}", field=field)


async def _form(request: Request) -> FormData:
    try:
        return await request.form(max_files=1, max_fields=10)
    except Exception as exc:  # starlette's parser raises several kinds for a broken body
        raise InvalidInput(f"the multipart body could not be read: {exc}", field="body") from None


def _fields(form: FormData) -> AttachmentFields:
    values = {
        k: v
        for k, v in form.multi_items()
        if k not in ("file", "csrf_token") and isinstance(v, str)
    }
    if any("\x00" in v for v in values.values()):
        raise InvalidInput("a form field contains a NUL character", field="body")
    try:
        return AttachmentFields.model_validate(values)
    except ValidationError as exc:
        raise _invalid(exc) from None


async def _link(request: Request) -> LinkIn:
    try:
        return LinkIn.model_validate(json.loads(await request.body()))
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise _invalid(exc) from None
        raise InvalidInput(f"body is not valid JSON: {exc}", field="body") from None


def _add(
    runtime: Runtime,
    incident_id: str,
    attachment: Attachment,
    stored: Stored | None,
    actor: str,
) -> EvidenceOut:
    with runtime.database.write_session() as session:
        item = locker.add(
            session, incident_id=incident_id, attachment=attachment, stored=stored, actor=actor
        )
        session.flush()
        return EvidenceOut.of(item)


@router.post(
    "/{incident_id}/evidence",
    status_code=201,
    summary="Attach evidence: a file (multipart) or a link (JSON)",
    openapi_extra=UPLOAD_BODY,
)
async def add_evidence(
    incident_id: str, request: Request, runtime: RuntimeDep, principal: Responder
) -> EvidenceOut:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await _form(request)
        fields = _fields(form)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("a multipart upload needs a `file` part", field="file")
        if fields.kind == "link":
            raise InvalidInput("a link is sent as JSON, not as a file", field="kind")
        stored = await run_in_threadpool(storage.configured().put, upload.file)
        attachment = Attachment(
            kind=fields.kind,
            title=fields.title,
            note=fields.note,
            retention_class=fields.retention_class,
            filename=(upload.filename or "")[:255] or None,
            media_type=(upload.content_type or "")[:200] or None,
        )
        return await run_in_threadpool(
            _add, runtime, incident_id, attachment, stored, principal.name
        )
    if content_type.startswith("application/json"):
        link = await _link(request)
        if link.kind != "link":
            raise InvalidInput("a file is sent as multipart/form-data", field="kind")
        attachment = Attachment(
            kind="link",
            title=link.title,
            note=link.note,
            retention_class=link.retention_class,
            url=link.url,
        )
        return await run_in_threadpool(_add, runtime, incident_id, attachment, None, principal.name)
    raise InvalidInput(
        "send a file as multipart/form-data or a link as application/json",
        field="content-type",
        allowed=["multipart/form-data", "application/json"],
    )


@router.get("/{incident_id}/evidence", summary="The incident's evidence and its legal hold")
def list_evidence(incident_id: str, session: ReadSession, _principal: Reader) -> EvidenceList:
    found = locker.items(session, incident_id)
    hold = locker.active_hold(session, incident_id)
    return EvidenceList(
        items=[EvidenceOut.of(i) for i in found], legal_hold=HoldOut.of(hold) if hold else None
    )


@router.get(
    "/{incident_id}/evidence/{evidence_id}", summary="One piece of evidence and its custody"
)
def read_evidence(
    incident_id: str, evidence_id: PathId, session: ReadSession, _principal: Reader
) -> EvidenceDetail:
    found = locker.item(session, incident_id, evidence_id)
    custody = [EventOut.of(e) for e in locker.custody(session, incident_id, evidence_id)]
    return EvidenceDetail(**EvidenceOut.of(found).model_dump(), custody=custody)


@router.get(
    "/{incident_id}/evidence/{evidence_id}/content",
    summary="Download evidence (recorded as viewed on the chain first)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_evidence(
    incident_id: str, evidence_id: PathId, runtime: RuntimeDep, principal: Reader
) -> StreamingResponse:
    store = storage.configured()
    with runtime.database.write_session() as session:
        found = locker.item(session, incident_id, evidence_id)
        if found.kind == "link" or found.purged_at is not None:
            raise InvalidInput(
                f"evidence #{evidence_id} has no stored content (a link, or purged)",
                field="evidence_id",
            )
        handle = store.open(found.sha256)  # missing bytes fail here, before custody is recorded
        locker.record_custody(
            session,
            incident_id=incident_id,
            evidence_id=evidence_id,
            action="viewed",
            actor=principal.name,
        )
        digest, name, media = found.sha256, found.filename, found.media_type
    headers = {
        "X-Content-SHA256": digest,
        "Content-Disposition": f'attachment; filename="{_safe(name or digest)}"',
    }
    return StreamingResponse(
        _stream(handle), media_type=media or "application/octet-stream", headers=headers
    )


def _stream(handle: Any) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:150]


@router.post(
    "/{incident_id}/evidence/{evidence_id}/custody",
    status_code=201,
    summary="Record a custody step: viewed, exported or handed over (to whom)",
)
def record_custody(
    incident_id: str,
    evidence_id: PathId,
    body: CustodyIn,
    runtime: RuntimeDep,
    principal: Responder,
) -> EvidenceDetail:
    with runtime.database.write_session() as session:
        found = locker.record_custody(
            session,
            incident_id=incident_id,
            evidence_id=evidence_id,
            action=body.action,
            actor=principal.name,
            to=body.to,
            reason=body.reason,
        )
        session.flush()
        custody = [EventOut.of(e) for e in locker.custody(session, incident_id, evidence_id)]
        return EvidenceDetail(**EvidenceOut.of(found).model_dump(), custody=custody)


@router.post(
    "/{incident_id}/legal-hold", status_code=201, summary="Place a legal hold (stops deletion)"
)
def place_hold(
    incident_id: str, body: HoldIn, runtime: RuntimeDep, principal: Responder
) -> HoldOut:
    with runtime.database.write_session() as session:
        hold = locker.place_hold(
            session, incident_id=incident_id, reason=body.reason, actor=principal.name
        )
        return HoldOut.of(hold)


@router.post("/{incident_id}/legal-hold/release", summary="Release the legal hold")
def release_hold(
    incident_id: str, body: HoldIn, runtime: RuntimeDep, principal: Responder
) -> HoldOut:
    with runtime.database.write_session() as session:
        hold = locker.release_hold(
            session, incident_id=incident_id, reason=body.reason, actor=principal.name
        )
        return HoldOut.of(hold)


def _switches(session: Any, incident_id: str) -> list[SwitchOut]:
    return [SwitchOut.of(incident_id, d, row) for d, row in switches.states(session, incident_id)]


@router.get("/{incident_id}/switches", summary="The policy's containment switches, on or off")
def list_switches(incident_id: str, session: ReadSession, _principal: Reader) -> list[SwitchOut]:
    return _switches(session, incident_id)


@router.post(
    "/{incident_id}/switches/{name}", summary="Flip a containment switch on or off, with a reason"
)
def flip_switch(
    incident_id: str,
    name: str,
    body: SwitchIn,
    runtime: RuntimeDep,
    principal: Responder,
) -> list[SwitchOut]:
    with runtime.database.write_session() as session:
        switches.flip(
            session,
            incident_id=incident_id,
            name=name,
            state=body.state,
            reason=body.reason,
            actor=principal.name,
        )
        return _switches(session, incident_id)


@switch_router.get("", summary="Every containment switch that is on, across incidents")
def switches_on(session: ReadSession, _principal: Reader) -> list[SwitchOut]:
    found = []
    for row in switches.on_now(session):
        declared = next(
            (d for d, _ in switches.states(session, row.incident_id) if d.id == row.name), None
        )
        if declared is not None:
            found.append(SwitchOut.of(row.incident_id, declared, row))
    return found
