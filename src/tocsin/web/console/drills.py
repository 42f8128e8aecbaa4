"""The drills page: the drill programme (due, due soon, overdue, last held), the drills held
with their outcome and lessons, and buttons to start a drill, end one, and record the
runbook's review."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from tocsin.errors import TocsinError
from tocsin.flows import drills as drill_flows
from tocsin.reviews import drills
from tocsin.reviews.drills import OUTCOMES
from tocsin.web.console.flash import Flash, with_flash
from tocsin.web.console.pages import FormDep, _page, split_services
from tocsin.web.console.session import SignedIn, _authorise_post, _to_login
from tocsin.web.deps import PathId, RuntimeDep

router = APIRouter()
PAGE = "/console/drills"


@router.get("/drills")
def drills_page(request: Request, runtime: RuntimeDep, principal: SignedIn) -> Response:
    if principal is None:
        return _to_login(request)
    policy = runtime.policy.policy
    with runtime.database.read_session() as session:
        programme = drills.programme(session, policy)
        held = drills.held(session)
    return _page(
        request,
        "drills.html",
        principal=principal,
        title="Drills",
        programme=programme,
        held=held,
        outcomes=OUTCOMES,
    )


def _guard(request: Request, principal: SignedIn) -> Response | None:
    """The console's POST checks (same site, signed in, the session's CSRF token, a
    responder or admin); None when the drill form may go ahead."""
    who = _authorise_post(request, principal)
    return who if isinstance(who, Response) else None


def _back(flash: Flash, to: str = PAGE) -> Response:
    return with_flash(RedirectResponse(to, status_code=303), flash)


@router.post("/drills")
def start_drill(
    request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep
) -> Response:
    refused = _guard(request, principal)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    try:
        with runtime.database.write_session() as session:
            started = drill_flows.start(
                session,
                loaded=runtime.policy,
                scenario=form.optional("scenario") or form.get("drill"),
                drill=form.optional("drill"),
                title=form.optional("title"),
                services=split_services(form.get("services")),
                actor=principal.name,
                sending=runtime.sending,
            )
            incident_id = started.incident.id
    except TocsinError as exc:
        return _back(Flash("error", exc.message))
    flash = Flash("ok", f"Drill started: {incident_id}. End it from the drills page.")
    return _back(flash, f"/console/incidents/{incident_id}")


@router.post("/drills/{drill_id}/end")
def end_drill(
    drill_id: PathId, request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep
) -> Response:
    refused = _guard(request, principal)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    try:
        with runtime.database.write_session() as session:
            row = drill_flows.end(
                session,
                loaded=runtime.policy,
                drill_id=drill_id,
                outcome=form.get("outcome"),
                lessons=form.get("lessons").strip(),
                actor=principal.name,
            )
            flash = Flash("ok", f"Drill {row.id} ended: {row.outcome}.")
    except TocsinError as exc:
        flash = Flash("error", exc.message)
    return _back(flash)


@router.post("/drills/runbook-review")
def runbook_reviewed(
    request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep
) -> Response:
    refused = _guard(request, principal)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    with runtime.database.write_session() as session:
        drills.runbook_reviewed(
            session, policy=runtime.policy.policy, actor=principal.name, note=form.get("note")
        )
    return _back(Flash("ok", "Runbook review recorded."))
