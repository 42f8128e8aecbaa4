"""`/api/v1/status/...`: running the public status page. Thin: parse, call the status page
service or flow, shape the answer; then drop this process's cached copy of the page."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from tocsin.flows import statuspage as status_flows
from tocsin.statuspage import board as boards
from tocsin.statuspage import service, subscribers
from tocsin.statuspage.schemas import (
    ComponentChange,
    ComponentIn,
    ComponentOut,
    DeliveryOut,
    MaintenanceIn,
    OverrideIn,
    PublicIncidentIn,
    PublicIncidentOut,
    PublicUpdateIn,
    PublishIn,
    SubscriberIn,
    SubscriberOut,
)
from tocsin.timesource import now
from tocsin.web.deps import Admin, PathId, Reader, ReadSession, Responder, Runtime, RuntimeDep

router = APIRouter(prefix="/api/v1/status", tags=["status page"])
publishing = APIRouter(prefix="/api/v1/incidents", tags=["status page"])


def _invalidate(request: Request) -> None:
    request.app.state.status_cache.invalidate()


def _links(runtime: Runtime) -> subscribers.Links:
    return status_flows.links(runtime.settings.public_url, runtime.policy.policy)


def _components_out(session: Session, runtime: Runtime) -> list[ComponentOut]:
    board = boards.build(
        session, policy=runtime.policy.policy, at=now(), base_url=runtime.settings.public_url
    )
    status = {c.slug: c.status for c in board.components}
    return [ComponentOut.of(row, status[row.slug]) for row in service.components(session)]


def _one(session: Session, runtime: Runtime, slug: str) -> ComponentOut:
    return next(c for c in _components_out(session, runtime) if c.slug == slug)


def _incident_out(
    session: Session, runtime: Runtime, code: str, notified: int | None = None
) -> PublicIncidentOut:
    row = service.find(session, code)
    updates = service.updates_of(session, [row.id])[row.id]
    return PublicIncidentOut.of(row, updates, runtime.settings.public_url, notified)


# -- components -------------------------------------------------------------------------------


@router.get("/components", summary="Components, with their status now and any override")
def list_components(
    session: ReadSession, runtime: RuntimeDep, _principal: Reader
) -> list[ComponentOut]:
    return _components_out(session, runtime)


@router.post("/components", status_code=201, summary="Add a component (made of services)")
def add_component(
    body: ComponentIn, request: Request, runtime: RuntimeDep, _principal: Admin
) -> ComponentOut:
    with runtime.database.write_session() as session:
        service.add_component(session, **body.model_dump())
        found = _one(session, runtime, body.slug)
    _invalidate(request)
    return found


@router.patch("/components/{slug}", summary="Change a component")
def change_component(
    slug: str, body: ComponentChange, request: Request, runtime: RuntimeDep, _principal: Admin
) -> ComponentOut:
    with runtime.database.write_session() as session:
        service.change_component(session, slug=slug, **body.model_dump(exclude_unset=True))
        found = _one(session, runtime, slug)
    _invalidate(request)
    return found


@router.delete("/components/{slug}", status_code=204, summary="Remove a component")
def remove_component(
    slug: str, request: Request, runtime: RuntimeDep, _principal: Admin
) -> Response:
    with runtime.database.write_session() as session:
        service.remove_component(session, slug=slug)
    _invalidate(request)
    return Response(status_code=204)


@router.put("/components/{slug}/override", summary="Set a component's status by hand")
def override(
    slug: str, body: OverrideIn, request: Request, runtime: RuntimeDep, principal: Responder
) -> ComponentOut:
    with runtime.database.write_session() as session:
        service.override(
            session, slug=slug, status=body.status, note=body.note, actor=principal.name
        )
        found = _one(session, runtime, slug)
    _invalidate(request)
    return found


@router.delete("/components/{slug}/override", summary="Let incidents set the status again")
def clear_override(
    slug: str, request: Request, runtime: RuntimeDep, principal: Responder
) -> ComponentOut:
    with runtime.database.write_session() as session:
        service.override(session, slug=slug, status=None, note=None, actor=principal.name)
        found = _one(session, runtime, slug)
    _invalidate(request)
    return found


# -- incidents and maintenance ----------------------------------------------------------------


@publishing.post(
    "/{incident_id}/status-page",
    status_code=201,
    summary="Publish the incident on the status page, or post its next public update",
)
def publish(
    incident_id: str, body: PublishIn, request: Request, runtime: RuntimeDep, principal: Responder
) -> PublicIncidentOut:
    with runtime.database.write_session() as session:
        done = status_flows.publish(
            session,
            incident_id=incident_id,
            title=body.title,
            status=body.status,
            message=body.message,
            components=body.components,
            actor=principal.name,
            links=_links(runtime),
        )
        found = _incident_out(session, runtime, done.row.code, done.notified)
    _invalidate(request)
    return found


@router.get("/incidents", summary="Public incidents and maintenance, newest first")
def list_incidents(
    session: ReadSession,
    runtime: RuntimeDep,
    _principal: Reader,
    kind: str | None = None,
    open_only: bool = False,
) -> list[PublicIncidentOut]:
    rows = service.listed(session, kind=kind, open_only=open_only)
    updates = service.updates_of(session, [r.id for r in rows])
    base = runtime.settings.public_url
    return [PublicIncidentOut.of(r, updates[r.id], base) for r in rows]


@router.post(
    "/incidents", status_code=201, summary="Open a public incident not linked to an internal one"
)
def open_incident(
    body: PublicIncidentIn, request: Request, runtime: RuntimeDep, principal: Responder
) -> PublicIncidentOut:
    with runtime.database.write_session() as session:
        entry = service.open_incident(
            session,
            name=body.title,
            status=body.status,
            message=body.message,
            components=body.components,
            actor=principal.name,
        )
        row = service.find_by_id(session, entry.status_incident_id)
        notified = subscribers.announce(session, row=row, entry=entry, links=_links(runtime))
        found = _incident_out(session, runtime, row.code, notified)
    _invalidate(request)
    return found


@router.post(
    "/incidents/{code}/updates",
    status_code=201,
    summary="Post an update on a public incident or maintenance",
)
def post_update(
    code: str, body: PublicUpdateIn, request: Request, runtime: RuntimeDep, principal: Responder
) -> PublicIncidentOut:
    with runtime.database.write_session() as session:
        done = status_flows.update_public(
            session,
            code=code,
            status=body.status,
            message=body.message,
            components=body.components,
            actor=principal.name,
            links=_links(runtime),
        )
        found = _incident_out(session, runtime, code, done.notified)
    _invalidate(request)
    return found


@router.post(
    "/maintenances",
    status_code=201,
    summary="Schedule maintenance: shown now, in progress on time, its services' alerts silenced",
)
def schedule_maintenance(
    body: MaintenanceIn, request: Request, runtime: RuntimeDep, principal: Responder
) -> PublicIncidentOut:
    with runtime.database.write_session() as session:
        done = status_flows.schedule_maintenance(
            session,
            name=body.title,
            message=body.message,
            scheduled_for=body.scheduled_for,
            scheduled_until=body.scheduled_until,
            components=body.components,
            auto_complete=body.auto_complete,
            actor=principal.name,
            links=_links(runtime),
        )
        found = _incident_out(session, runtime, done.row.code, done.notified)
    _invalidate(request)
    return found


# -- subscribers ------------------------------------------------------------------------------


@router.get("/subscribers", summary="Subscribers, with their last delivery error")
def list_subscribers(session: ReadSession, _principal: Admin) -> list[SubscriberOut]:
    return [SubscriberOut.of(row) for row in subscribers.listed(session)]


@router.post(
    "/subscribers",
    status_code=201,
    summary="Add a webhook subscriber (live at once) or an email one (sent a confirmation link)",
)
def add_subscriber(body: SubscriberIn, runtime: RuntimeDep, _principal: Admin) -> SubscriberOut:
    with runtime.database.write_session() as session:
        row = subscribers.subscribe(
            session,
            kind=body.kind,
            address=body.address,
            components=body.components,
            links=_links(runtime),
            confirmed=body.kind == "webhook",
        )
        return SubscriberOut.of(row)


@router.delete("/subscribers/{subscriber_id}", summary="Unsubscribe someone")
def remove_subscriber(
    subscriber_id: PathId, runtime: RuntimeDep, _principal: Admin
) -> SubscriberOut:
    with runtime.database.write_session() as session:
        return SubscriberOut.of(subscribers.remove(session, subscriber_id=subscriber_id))


@router.get("/deliveries/failed", summary="Messages to subscribers that failed for good")
def failed_deliveries(session: ReadSession, _principal: Admin) -> list[DeliveryOut]:
    return [DeliveryOut.of(row) for row in subscribers.failures(session)]
