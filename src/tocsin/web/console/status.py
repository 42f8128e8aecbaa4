"""The status page's console: components and their overrides, the open public incidents and
maintenance with their updates, scheduling maintenance, and the subscribers with every
delivery that failed. Actions run the same services and flows as the API, then redirect
back with a flash message (a domain error names the field, never a 500)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput, TocsinError
from tocsin.flows import statuspage as status_flows
from tocsin.notify.models import Notification
from tocsin.statuspage import board as boards
from tocsin.statuspage import service, subscribers
from tocsin.statuspage.models import Subscriber
from tocsin.statuspage.schemas import MaintenanceIn, OverrideIn, PublicUpdateIn
from tocsin.statuspage.statuses import COMPONENT_STATUSES, INCIDENT_STATUSES, MAINTENANCE_STATUSES
from tocsin.statuspage.views import Board
from tocsin.timesource import now
from tocsin.web.console.flash import Flash, with_flash
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
class StatusAdmin:
    board: Board
    subscribers: list[Subscriber]
    failures: list[Notification]
    component_statuses: tuple[str, ...] = COMPONENT_STATUSES
    incident_statuses: tuple[str, ...] = INCIDENT_STATUSES
    maintenance_statuses: tuple[str, ...] = MAINTENANCE_STATUSES


@router.get("/status")
def status_admin(request: Request, runtime: RuntimeDep, principal: SignedIn) -> Response:
    if principal is None:
        return _to_login(request)
    with runtime.database.read_session() as session:
        view = StatusAdmin(
            board=boards.build(
                session,
                policy=runtime.policy.policy,
                at=now(),
                base_url=runtime.settings.public_url,
            ),
            subscribers=subscribers.listed(session),
            failures=subscribers.failures(session),
        )
    return _page(request, "status_admin.html", principal=principal, title="Status page", view=view)


Action = Callable[[Session, Form, str, Runtime], str]


def _override(session: Session, form: Form, actor: str, runtime: Runtime) -> str:
    slug = form.get("component")
    if form.get("clear"):
        service.override(session, slug=slug, status=None, note=None, actor=actor)
        return f"{slug}: incidents set its status again."
    body = OverrideIn(status=form.get("status"), note=form.optional("note"))
    service.override(session, slug=slug, status=body.status, note=body.note, actor=actor)
    return f"{slug} shows {body.status} until cleared."


def _update(session: Session, form: Form, actor: str, runtime: Runtime) -> str:
    code = form.get("id")
    body = PublicUpdateIn(status=form.get("status"), message=form.get("message"))
    done = status_flows.update_public(
        session,
        code=code,
        status=body.status,
        message=body.message,
        actor=actor,
        links=status_flows.links(runtime.settings.public_url, runtime.policy.policy),
    )
    return f"{done.row.name}: {body.status}; {done.notified} subscriber message(s) queued."


def _maintenance(session: Session, form: Form, actor: str, runtime: Runtime) -> str:
    start = parse_instant(form.optional("scheduled_for"), "scheduled_for")
    end = parse_instant(form.optional("scheduled_until"), "scheduled_until")
    if start is None or end is None:
        raise InvalidInput("give when it starts and when it ends", field="scheduled_for")
    body = MaintenanceIn(
        title=form.get("title"),
        message=form.get("message"),
        scheduled_for=start,
        scheduled_until=end,
        components=form.fields.get("components", []),
    )
    status_flows.schedule_maintenance(
        session,
        name=body.title,
        message=body.message,
        scheduled_for=body.scheduled_for,
        scheduled_until=body.scheduled_until,
        components=body.components,
        actor=actor,
        links=status_flows.links(runtime.settings.public_url, runtime.policy.policy),
    )
    return f"Maintenance {body.title!r} scheduled."


ACTIONS: dict[str, tuple[str, Action]] = {
    "override": ("Set status", _override),
    "update": ("Post update", _update),
    "maintenance": ("Schedule maintenance", _maintenance),
}


@router.post("/status/{action}")
def status_action(
    action: str, request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    if action not in ACTIONS:
        return _missing(request, who, f"There is no status page action {action!r}.")
    title, run = ACTIONS[action]
    try:
        with runtime.database.write_session() as session:
            flash = Flash("ok", run(session, form, who.name, runtime))
    except (ValidationError, TocsinError) as exc:
        flash = Flash("error", f"{title} failed — {problems_text(problems_of(exc))}")
    request.app.state.status_cache.invalidate()
    return with_flash(RedirectResponse("/console/status", status_code=303), flash)
