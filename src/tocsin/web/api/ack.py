"""`/ack/{token}`: acknowledge from the link in a page, without logging in.

GET shows what will be acknowledged and a button; only POST acknowledges, so mail scanners
and link previews that fetch the URL cannot acknowledge on someone's behalf.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, select_autoescape

from tocsin.errors import Conflict, InvalidInput, TocsinError
from tocsin.flows import incidents as incident_flows
from tocsin.incidents import service as incident_service
from tocsin.notify import acklinks
from tocsin.web.deps import Runtime, RuntimeDep

router = APIRouter(tags=["acknowledge links"])
# The page is one self-contained document: its own inline style, no script, one form back to
# itself. Not cached, and its URL (the secret) is never sent on as a Referer.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
PAGE = _env.from_string(
    """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ heading }} · Tocsin</title>
<style>body{font:18px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}
button{font-size:1.2rem;padding:.7rem 1.4rem;border-radius:.4rem;border:0;background:#b42318;
color:#fff}.muted{color:#555}</style></head><body>
<h1>{{ heading }}</h1><p>{{ message }}</p>
{% if incident %}<p><strong>{{ incident.id }}</strong> [{{ incident.severity }}]
{{ incident.title }}<br><span class="muted">status {{ incident.status }}</span></p>{% endif %}
{% if can_ack %}<form method="post"><button type="submit">Acknowledge as {{ person }}</button>
</form>{% endif %}</body></html>"""
)


def _html(status: int, heading: str, message: str, **context: object) -> HTMLResponse:
    body = PAGE.render(heading=heading, message=message, **context)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def _status_of(exc: TocsinError) -> int:
    if isinstance(exc, Conflict):
        return 409
    return 400 if isinstance(exc, InvalidInput) else 404


def _message_of(exc: TocsinError) -> str:
    """A link we did not sign, and one for an incident that is gone, read the same."""
    return exc.message if isinstance(exc, InvalidInput | Conflict) else acklinks.NO_SUCH_LINK


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.get("/ack/{token}", response_class=HTMLResponse, summary="Show an acknowledge link")
def show(token: str, runtime: RuntimeDep) -> HTMLResponse:
    with runtime.database.read_session() as session:
        try:
            claim = acklinks.read_token(session, token)
            incident = incident_service.get(session, claim.incident_id)
        except TocsinError as exc:
            return _html(_status_of(exc), "This link cannot be used", _message_of(exc))
        if incident.acknowledged_at is not None:
            message = f"Already acknowledged by {incident.acknowledged_by}."
            return _html(200, "Already acknowledged", message, incident=incident)
        return _html(
            200,
            "Acknowledge this incident?",
            "Acknowledging stops escalation for everyone.",
            incident=incident,
            can_ack=True,
            person=claim.person,
        )


def _acknowledge(runtime: Runtime, token: str) -> tuple[int, str, str]:
    with runtime.database.write_session() as session:
        claim = acklinks.read_token(session, token)
        acklinks.consume(session, claim)
        incident_flows.acknowledge(session, incident_id=claim.incident_id, actor=claim.person)
        return 200, claim.incident_id, claim.person


@router.post("/ack/{token}", summary="Acknowledge from a page's link (single use)")
def acknowledge(token: str, request: Request, runtime: RuntimeDep) -> Response:
    try:
        _status, incident_id, person = _acknowledge(runtime, token)
    except TocsinError as exc:
        status, message = _status_of(exc), _message_of(exc)
        if _wants_json(request):
            code = "not_found" if status == 404 else exc.code
            return JSONResponse({"error": code, "message": message}, status_code=status)
        return _html(status, "Not acknowledged", message)
    if _wants_json(request):
        return JSONResponse({"status": "acknowledged", "incident_id": incident_id, "by": person})
    return _html(
        200,
        "Acknowledged",
        f"{incident_id} is acknowledged by {person}. Escalation has stopped for everyone.",
    )
