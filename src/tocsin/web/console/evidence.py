"""The incident page's evidence locker: attaching a file from the browser (multipart) and
downloading one, which is recorded as viewed on the chain before the bytes are sent."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from tocsin.errors import TocsinError
from tocsin.evidence import locker, storage
from tocsin.evidence.locker import Attachment
from tocsin.evidence.storage import Stored
from tocsin.web.api.evidence import _fields, _form, _safe, _stream
from tocsin.web.console.flash import Flash, with_flash
from tocsin.web.console.pages import _missing, problems_of, problems_text
from tocsin.web.console.session import SignedIn, _authorise_post, _to_login
from tocsin.web.deps import PathId, Runtime, RuntimeDep

router = APIRouter()


def _store(
    runtime: Runtime, incident_id: str, attachment: Attachment, stored: Stored, actor: str
) -> int:
    with runtime.database.write_session() as session:
        item = locker.add(
            session, incident_id=incident_id, attachment=attachment, stored=stored, actor=actor
        )
        session.flush()
        return item.id


async def _attach(request: Request, runtime: Runtime, incident_id: str, actor: str) -> Flash:
    try:
        form = await _form(request)
        fields = _fields(form)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return Flash("error", "Attach evidence failed — file: choose a file")
        stored = await run_in_threadpool(storage.configured().put, upload.file)
        attachment = Attachment(
            kind=fields.kind,
            title=fields.title,
            note=fields.note,
            retention_class=fields.retention_class or None,
            filename=upload.filename[:255],
            media_type=(upload.content_type or "")[:200] or None,
        )
        evidence_id = await run_in_threadpool(
            _store, runtime, incident_id, attachment, stored, actor
        )
    except (ValidationError, TocsinError) as exc:
        return Flash("error", f"Attach evidence failed — {problems_text(problems_of(exc))}")
    return Flash("ok", f"Evidence #{evidence_id} attached: sha256 {stored.sha256[:16]}…")


@router.post("/incidents/{incident_id}/evidence")
async def attach_evidence(
    incident_id: str, request: Request, runtime: RuntimeDep, principal: SignedIn
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    flash = await _attach(request, runtime, incident_id, who.name)
    response = RedirectResponse(f"/console/incidents/{incident_id}#evidence", status_code=303)
    return with_flash(response, flash)


@router.get("/incidents/{incident_id}/evidence/{evidence_id}")
def download_evidence(
    incident_id: str,
    evidence_id: PathId,
    request: Request,
    runtime: RuntimeDep,
    principal: SignedIn,
) -> Response:
    if principal is None:
        return _to_login(request)
    try:
        with runtime.database.write_session() as session:
            found = locker.item(session, incident_id, evidence_id)
            handle = storage.configured().open(found.sha256)
            locker.record_custody(
                session,
                incident_id=incident_id,
                evidence_id=evidence_id,
                action="viewed",
                actor=principal.name,
            )
            name = found.filename or found.sha256
    except TocsinError as exc:
        return _missing(request, principal, exc.message)
    # Never the uploader's media type: an "text/html" upload must not render on this origin.
    return StreamingResponse(
        _stream(handle),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{_safe(name)}"'},
    )
