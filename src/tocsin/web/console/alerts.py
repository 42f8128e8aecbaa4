"""The alerts page (filtered by status, integration and service), one alert's detail,
silences created and ended here, and the integrations page where an admin rotates a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts import integrations, silences
from tocsin.alerts.kinds import KINDS
from tocsin.alerts.models import Alert, Integration, Silence
from tocsin.errors import InvalidInput, TocsinError
from tocsin.web.api.silences import SilenceIn
from tocsin.web.console.flash import Flash, with_flash
from tocsin.web.console.pages import (
    Form,
    FormDep,
    _missing,
    _page,
    _refused,
    parse_instant,
    problems_of,
    problems_text,
)
from tocsin.web.console.session import SignedIn, _authorise_post, _to_login
from tocsin.web.deps import RuntimeDep

PAGE_SIZE = 50
STATUSES = ("firing", "resolved")
KEY_SLOT = "tocsin-key-slot"
router = APIRouter()


@dataclass(frozen=True)
class AlertFilter:
    status: str = ""
    integration: int | None = None
    service: str = ""
    before: int | None = None

    def problems(self) -> str | None:
        if self.status and self.status not in STATUSES:
            return f"status: unknown {self.status!r}; allowed: firing, resolved"
        return None


def _alerts(session: Session, chosen: AlertFilter) -> list[Alert]:
    query = select(Alert).order_by(Alert.id.desc()).limit(PAGE_SIZE)
    if chosen.status:
        query = query.where(Alert.status == chosen.status)
    if chosen.integration is not None:
        query = query.where(Alert.integration_id == chosen.integration)
    if chosen.service:
        query = query.where(Alert.service == chosen.service)
    if chosen.before is not None:
        query = query.where(Alert.id < chosen.before)
    return list(session.scalars(query))


def _services(session: Session) -> list[str]:
    query = select(Alert.service).where(Alert.service.is_not(None)).distinct()
    return sorted(str(s) for s in session.scalars(query))


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 18 else None


@router.get("/alerts")
def alerts_page(
    request: Request,
    runtime: RuntimeDep,
    principal: SignedIn,
    status: str = "",
    integration: str = "",
    service: str = "",
    before: str = "",
) -> Response:
    if principal is None:
        return _to_login(request)
    chosen = AlertFilter(status, _number(integration), service.strip(), _number(before))
    problem = chosen.problems()
    with runtime.database.read_session() as session:
        rows = [] if problem else _alerts(session, chosen)
        sources = {i.id: i for i in integrations.list_all(session)}
        context = {
            "rows": rows,
            "sources": sources,
            "services": _services(session),
            "active": silences.list_silences(session, active_only=True),
        }
    older = rows[-1].id if len(rows) == PAGE_SIZE else None
    return _page(
        request,
        "alerts.html",
        principal=principal,
        status=422 if problem else 200,
        live="alerts",
        title="Alerts",
        chosen=chosen,
        problem=problem,
        older=older,
        statuses=STATUSES,
        **context,
    )


@router.get("/alerts/{alert_id}")
def alert_page(
    alert_id: int, request: Request, runtime: RuntimeDep, principal: SignedIn
) -> Response:
    if principal is None:
        return _to_login(request)
    with runtime.database.read_session() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            return _missing(request, principal, f"There is no alert {alert_id}.")
        source = session.get(Integration, alert.integration_id)
        silence = session.get(Silence, alert.suppressed_by) if alert.suppressed_by else None
    title = f"Alert {alert.id} · {alert.summary or alert.dedup_key}"
    return _page(
        request,
        "alert.html",
        principal=principal,
        live="alerts",
        title=title,
        alert=alert,
        source=source,
        silence=silence,
    )


# -- silences ----------------------------------------------------------------------------------


def _matchers(text: str) -> dict[str, str]:
    """`name=value` pairs, one a line or comma-separated."""
    found = {}
    for part in text.replace("\n", ",").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"{part.strip()!r} is not name=value", field="matchers")
        found[name.strip()] = value.strip()
    return found


def _silence_in(form: Form) -> SilenceIn:
    ends_at = parse_instant(form.optional("ends_at"), "ends_at")
    if ends_at is None:
        raise InvalidInput("say when the silence ends (UTC)", field="ends_at")
    return SilenceIn(
        reason=form.get("reason"),
        ends_at=ends_at,
        starts_at=parse_instant(form.optional("starts_at"), "starts_at"),
        service=form.optional("service"),
        matchers=_matchers(form.get("matchers")),
        kind=form.get("kind") or "silence",
    )


def _back(request: Request, flash: Flash, fallback: str = "/console/alerts") -> Response:
    """Back to the alert the form was on, else to the alerts page."""
    target = fallback
    path = urlsplit(request.headers.get("referer", "")).path
    alert_id = path.removeprefix("/console/alerts/")
    if path.startswith("/console/alerts/") and alert_id.isdigit():
        target = f"/console/alerts/{alert_id}"
    return with_flash(RedirectResponse(target, status_code=303), flash)


@router.post("/silences")
def create_silence(
    request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    try:
        body = _silence_in(form)
        with runtime.database.write_session() as session:
            silence = silences.create(session, actor=who.name, **body.model_dump())
            until = f"{silence.ends_at:%Y-%m-%d %H:%M} UTC"
            text = f"Silence {silence.id} until {until}: matching alerts do not page."
    except (ValidationError, TocsinError) as exc:
        return _back(
            request, Flash("error", f"Silence not created — {problems_text(problems_of(exc))}")
        )
    return _back(request, Flash("ok", text))


@router.post("/silences/{silence_id}/end")
def end_silence(
    silence_id: int, request: Request, runtime: RuntimeDep, principal: SignedIn
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    try:
        with runtime.database.write_session() as session:
            silences.cancel(session, silence_id=silence_id)
    except TocsinError as exc:
        return _back(
            request, Flash("error", f"Silence not ended — {problems_text(problems_of(exc))}")
        )
    return _back(request, Flash("ok", f"Silence {silence_id} ended: matching alerts page again."))


# -- integrations ------------------------------------------------------------------------------


def _url_templates(integration: Integration, base: str) -> dict[str, str]:
    """Where to point the sender, with the key shown as <key> (it is stored only hashed)."""
    urls = KINDS[integration.kind].urls_for(KEY_SLOT, base)
    return {name: url.replace(KEY_SLOT, "<key>") for name, url in urls.items()}


@router.get("/integrations")
def integrations_page(request: Request, runtime: RuntimeDep, principal: SignedIn) -> Response:
    if principal is None:
        return _to_login(request)
    base = str(request.base_url)
    with runtime.database.read_session() as session:
        rows = [(i, _url_templates(i, base)) for i in integrations.list_all(session)]
    return _page(
        request,
        "integrations.html",
        principal=principal,
        title="Integrations",
        rows=rows,
        is_admin=principal.can("admin"),
    )


@router.post("/integrations/{integration_id}/rotate-key")
def rotate_key(
    integration_id: int, request: Request, runtime: RuntimeDep, principal: SignedIn
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    if not who.can("admin"):
        return _refused(request, who, "Only an admin can rotate an integration's key.")
    back = RedirectResponse("/console/integrations", status_code=303)
    try:
        with runtime.database.write_session() as session:
            integration, key = integrations.rotate_key(session, integration_id=integration_id)
            urls = KINDS[integration.kind].urls_for(key, str(request.base_url))
            name = integration.name
    except TocsinError as exc:
        return with_flash(
            back, Flash("error", f"Key not rotated — {problems_text(problems_of(exc))}")
        )
    where = "; ".join(f"{k}: {v}" for k, v in urls.items())
    text = f"New key for {name} (shown once; the old key stopped working): {key} — {where}"
    return with_flash(back, Flash("ok", text))
