"""Alert intake over HTTP, in the formats senders already speak, plus alert listing.

Every intake answers 2xx only after the delivery is committed; a database outage is 503 so
the sender retries; an unknown key is 404 and says nothing more. The plain webhooks get their
routes from the table of kinds (`alerts.kinds.KINDS`); PagerDuty's and the heartbeat's answer
in shapes of their own, so theirs are written out here, and Opsgenie's are in `opsgenie`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select

from tocsin.alerts import changes, integrations
from tocsin.alerts.kinds import HEARTBEAT, KINDS, PAGERDUTY, pagerduty
from tocsin.alerts.models import Alert
from tocsin.alerts.normalized import IncomingAlert, IncomingChange, IngestResult
from tocsin.alerts.payloads import BadPayload
from tocsin.alerts.schemas import AlertOut, AlertPage
from tocsin.alerts.writer import IntakeWriter, RateLimited, UnknownKey
from tocsin.errors import InvalidInput
from tocsin.flows import intake as intake_flow
from tocsin.incidents.schemas import ChangeOut
from tocsin.web.deps import QueryId, Reader, ReadSession, Runtime

INGEST_LIMIT = 512 * 1024
intake = APIRouter(tags=["alert intake"])
router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

Parse = Callable[[bytes], list[IncomingAlert]]
Receiver = Callable[[str, Request], Awaitable[JSONResponse]]


async def store(request: Request, key: str, kind: str, alerts: list[IncomingAlert]) -> IngestResult:
    """Store one delivery through the app's group-commit writer; returns once committed.
    Raises UnknownKey, RateLimited, or the database's error (which the app answers with 503)."""
    writer: IntakeWriter = request.app.state.intake_writer
    return await writer.submit(key, kind, alerts)


def _not_found() -> JSONResponse:
    return JSONResponse(
        status_code=404, content={"error": "not_found", "message": "unknown integration key"}
    )


def _bad(exc: BadPayload) -> JSONResponse:
    return JSONResponse(
        status_code=400,
        content={"error": "invalid_payload", "message": exc.message, "errors": exc.errors},
    )


def _too_many() -> JSONResponse:
    return JSONResponse(
        status_code=429,
        content={"error": "rate_limited", "message": "too many requests for this integration"},
        headers={"Retry-After": "1"},
    )


async def _accept(request: Request, key: str, kind: str, parse: Parse) -> JSONResponse:
    try:
        alerts = parse(await request.body())
    except BadPayload as exc:
        return _bad(exc)
    try:
        result = await store(request, key, kind, alerts)
    except UnknownKey:
        return _not_found()
    except RateLimited:
        return _too_many()
    return JSONResponse(
        content={
            "status": "success",
            "alerts": len(alerts),
            "created": len(result.created),
            "updated": len(result.updated),
            "resolved": len(result.resolved),
            "incidents": result.incidents,
        }
    )


def _webhook(kind: str, parse: Parse) -> Receiver:
    async def receive(key: str, request: Request) -> JSONResponse:
        # No docstring: FastAPI would publish it as the operation's description.
        return await _accept(request, key, kind, parse)

    return receive


def _add_webhooks() -> None:
    """One route per plain webhook in the table. The route's name makes its operation id
    (`alertmanager_webhook_api_v1_integrations__key__alertmanager_post`), which stays as it
    was when these routes were written out by hand."""
    for kind in KINDS.values():
        if kind.parse_webhook is None:
            continue
        for method in kind.webhook_methods:  # one operation per method: ids stay unique
            intake.add_api_route(
                kind.urls["webhook"],
                _webhook(kind.name, kind.parse_webhook),
                methods=[method],
                name=f"{kind.name}_webhook" + ("" if method == "POST" else f"_{method.lower()}"),
                summary=kind.description,
            )


_add_webhooks()


def _pd_error(status: int, message: str, errors: list[str]) -> JSONResponse:
    body = {"status": "invalid event", "message": message, "errors": errors}
    return JSONResponse(status_code=status, content=body)


def _pd_unknown_key() -> JSONResponse:
    """PagerDuty's answer to a routing key it does not know: 400, not 404."""
    return _pd_error(400, "Event object is invalid", ["Invalid routing key"])


def _pd_throttled() -> JSONResponse:
    message = "Requests for this service are arriving too quickly."
    return JSONResponse(
        status_code=429,
        content={"status": "throttle event", "message": message},
        headers={"Retry-After": "1"},
    )


@intake.post("/v2/enqueue", summary="PagerDuty Events API v2", status_code=202)
async def pagerduty_enqueue(request: Request) -> JSONResponse:
    try:
        routing_key, alert = pagerduty.parse_body(await request.body())
    except BadPayload as exc:
        return _pd_error(400, exc.message, [e["message"] for e in exc.errors])
    try:
        await store(request, routing_key, PAGERDUTY.name, [alert])
    except UnknownKey:
        return _pd_unknown_key()
    except RateLimited:
        return _pd_throttled()
    return JSONResponse(
        status_code=202,
        content={"status": "success", "message": "Event processed", "dedup_key": alert.dedup_key},
    )


def _record_change(request: Request, key: str, change: IncomingChange) -> int:
    runtime: Runtime = request.app.state.runtime
    writer: IntakeWriter = request.app.state.intake_writer
    with runtime.database.write_session() as session:
        integration = integrations.by_key(session, key)
        if integration is None or integration.kind != PAGERDUTY.name:
            raise UnknownKey
        if not writer.limiter.allow(integration.id):
            raise RateLimited
        return changes.record(session, integration=integration, change=change).id


@intake.post("/v2/change/enqueue", summary="PagerDuty change events", status_code=202)
async def pagerduty_change(request: Request) -> JSONResponse:
    """A deploy or another change: recorded on the integration and its service, and shown on
    the incidents it may explain; it pages nobody."""
    try:
        routing_key, change = pagerduty.parse_change_body(await request.body())
    except BadPayload as exc:
        return _pd_error(400, exc.message, [e["message"] for e in exc.errors])
    try:
        change_id = await run_in_threadpool(_record_change, request, routing_key, change)
    except UnknownKey:
        return _pd_unknown_key()
    except RateLimited:
        return _pd_throttled()
    return JSONResponse(
        status_code=202,
        content={"status": "success", "message": "Change event processed", "id": str(change_id)},
    )


def _ping(runtime: Runtime, key: str) -> str | None:
    with runtime.database.write_session() as session:
        integration = integrations.by_key(session, key)
        if integration is None or integration.kind != HEARTBEAT.name:
            raise UnknownKey
        intake_flow.heartbeat_ping(session, integration=integration, loaded=runtime.policy)
        due = integration.heartbeat_due_at
        return due.isoformat() if due else None


# GET for cron one-liners (curl -fsS URL), POST for senders that can only POST, HEAD for
# uptime monitors (the server sends no body to a HEAD); each gets its own operation id, so
# the OpenAPI document stays valid.
@intake.head(
    "/api/v1/heartbeats/{key}", summary="Heartbeat ping", operation_id="heartbeat_ping_head"
)
@intake.get("/api/v1/heartbeats/{key}", summary="Heartbeat ping", operation_id="heartbeat_ping_get")
@intake.post("/api/v1/heartbeats/{key}", summary="Heartbeat ping", operation_id="heartbeat_ping")
async def heartbeat_ping(key: str, request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    try:
        next_due = await run_in_threadpool(_ping, runtime, key)
    except UnknownKey:
        return _not_found()
    return JSONResponse(content={"status": "ok", "next_due_at": next_due})


# -- reading alerts ----------------------------------------------------------------------------

STATUSES = ("firing", "resolved")


@router.get("", summary="List alerts, newest first")
def list_alerts(
    session: ReadSession,
    _principal: Reader,
    status: str | None = None,
    integration: QueryId = None,
    service: str | None = None,
    action: str | None = None,
    incident: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: QueryId = None,
) -> AlertPage:
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"unknown status {status!r}; allowed: firing, resolved",
            field="status",
            allowed=STATUSES,
        )
    query = select(Alert).order_by(Alert.id.desc()).limit(limit)
    filters = {
        "status": status,
        "integration_id": integration,
        "service": service,
        "action": action,
        "incident_id": incident,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(getattr(Alert, column) == value)
    if cursor is not None:
        query = query.where(Alert.id < cursor)
    rows = list(session.scalars(query))
    next_cursor = rows[-1].id if len(rows) == limit else None
    return AlertPage(items=[AlertOut.of(a) for a in rows], next_cursor=next_cursor)


# -- reading change events ---------------------------------------------------------------------

changes_router = APIRouter(prefix="/api/v1/changes", tags=["alerts"])


@changes_router.get("", summary="List change events, newest first")
def list_changes(
    session: ReadSession,
    _principal: Reader,
    integration: QueryId = None,
    service: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[ChangeOut]:
    return changes.listed(session, integration_id=integration, service=service, limit=limit)
