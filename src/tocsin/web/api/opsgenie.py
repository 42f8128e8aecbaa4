"""Opsgenie's Alert API (v2) over HTTP, as the official SDK and Alertmanager's `opsgenie_configs`
use it, answered as Opsgenie answers (`{message, errors?, took, requestId}`, the same headers).

- Create, get (by `identifierType=id`, the default, `tiny` or `alias`), list, count; acknowledge,
  unacknowledge, close, snooze, escalate; notes, tags and details; message, description and
  priority updates; the request status. Anything else under /v2/alerts is 404 in Opsgenie's
  shape (never 405, which the SDK reports as an authentication error).
- Every write is one transaction: the work, its request status and what it means for
  incidents commit together before the 202. Incidents change only through the flows
  (`flows.intake` stores, opens, joins, resolves and acknowledges; `flows.incidents` notes,
  escalates and raises severity).
- The bodies, searches and validation are `alerts.kinds.opsgenie`; the alerts' Opsgenie view,
  the changes to them and the request statuses are `alerts.opsgenie_requests`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.datastructures import URL

from tocsin.alerts import integrations
from tocsin.alerts import opsgenie_requests as requests
from tocsin.alerts.ingest import Delivery, NewAlert
from tocsin.alerts.kinds import OPSGENIE, opsgenie
from tocsin.alerts.kinds.opsgenie import AlertAction, Listing
from tocsin.alerts.models import Alert, Integration
from tocsin.alerts.normalized import AlertEvent, IncomingAlert, IngestResult
from tocsin.alerts.opsgenie_requests import Outcome, Verb
from tocsin.alerts.payloads import BadPayload, parse_json
from tocsin.alerts.routing import Route
from tocsin.alerts.writer import UnknownKey
from tocsin.db import is_retryable
from tocsin.errors import Conflict
from tocsin.flows import incidents as incident_flows
from tocsin.flows import intake as intake_flow
from tocsin.incidents import service as incident_service
from tocsin.incidents.lifecycle import OPEN_STATUSES
from tocsin.timesource import now
from tocsin.web.deps import Runtime

router = APIRouter(tags=["alert intake"])
RETRIES = 3  # a PostgreSQL deadlock victim is retried whole; nothing of it was committed
M = TypeVar("M", bound=BaseModel)


class Refusal(Exception):
    """Any answer but 2xx, in Opsgenie's shape: `{message, errors?, took, requestId}`."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = status, message, errors, headers

    @classmethod
    def unprocessable(cls, errors: dict[str, str]) -> Refusal:
        return cls(422, "Request body is not processable. Please check the errors.", errors)


UNAUTHENTICATED = "Could not authenticate"


@dataclass
class Call:
    """One request: its id and clock, for the `took` and `requestId` every answer carries."""

    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.perf_counter)

    def answer(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> JSONResponse:
        took = round(time.perf_counter() - self.started, 3)
        content = {**body, "took": took, "requestId": self.request_id}
        stamps = {"X-Request-ID": self.request_id, "X-Response-Time": str(took)}
        return JSONResponse(status_code=status, content=content, headers=stamps | (headers or {}))

    def accepted(self) -> JSONResponse:
        return self.answer(202, {"result": "Request will be processed"})

    def refuse(self, refusal: Refusal) -> JSONResponse:
        body: dict[str, Any] = {"message": refusal.message}
        if refusal.errors is not None:
            body["errors"] = refusal.errors
        return self.answer(refusal.status, body, refusal.headers)


async def _answering(call: Call, work: Awaitable[JSONResponse]) -> JSONResponse:
    """`work`'s answer, or its refusal in Opsgenie's shape."""
    try:
        return await work
    except opsgenie.Unprocessable as exc:
        return call.refuse(Refusal.unprocessable(exc.errors))
    except UnknownKey:  # the key was rotated or deleted a moment ago
        return call.refuse(Refusal(401, UNAUTHENTICATED))
    except Refusal as refusal:
        return call.refuse(refusal)


# -- who is calling ----------------------------------------------------------------------------


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _genie_key(request: Request) -> str:
    key = opsgenie.genie_key(request.headers.get("authorization", ""))
    if key is None:
        raise Refusal(401, UNAUTHENTICATED)
    return key


def _integration(session: Session, key: str) -> Integration:
    """The integration behind the GenieKey; UnknownKey (401, saying nothing more) otherwise."""
    integration = integrations.by_key(session, key)
    if integration is None or integration.kind != OPSGENIE.name:
        raise UnknownKey
    return integration


def _authenticate(runtime: Runtime, key: str) -> int:
    with runtime.database.read_session() as session:
        return _integration(session, key).id


async def _caller(request: Request) -> int:
    return await run_in_threadpool(_authenticate, _runtime(request), _genie_key(request))


def _within_rate(request: Request, integration_id: int) -> None:
    """TOCSIN_INGEST_RATE, as every intake: 429 with Opsgenie's words."""
    if not request.app.state.intake_writer.limiter.allow(integration_id):
        raise Refusal(429, "Too many requests.", headers={"Retry-After": "1"})


async def _body(request: Request) -> Any:
    """The JSON body; none at all reads as `{}` (acknowledge and close may send nothing)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return parse_json(raw)
    except BadPayload as exc:
        # Opsgenie: "400 Bad Request (Syntax Error only): Invalid JSON body".
        raise Refusal(400, "Request body is not valid JSON.", {"body": exc.message}) from None


# -- writes: one transaction each --------------------------------------------------------------


@dataclass
class Act:
    """One write inside its transaction: the caller, the policy, and the moment."""

    session: Session
    runtime: Runtime
    integration: Integration
    at: datetime

    @property
    def delivery(self) -> Delivery:
        return Delivery(integration=self.integration, loaded=self.runtime.policy)

    def deliver(self, alert: IncomingAlert) -> IngestResult:
        """Through the intake flow, as every sender's alerts: it tells the incidents."""
        return intake_flow.deliver(self.session, delivery=self.delivery, alerts=[alert])

    def who(self, body: AlertAction) -> str:
        return body.user or self.integration.name


Work = Callable[[Act], Outcome]


def _transact_once(runtime: Runtime, key: str, request_id: str, work: Work) -> None:
    with runtime.database.write_session() as session:
        integration = _integration(session, key)  # again: the key may have changed meanwhile
        requests.prune(session, now() - requests.RETENTION)
        done = work(Act(session, runtime, integration, now()))
        requests.record(session, request_id, done)


def _transact(runtime: Runtime, key: str, request_id: str, work: Work) -> None:
    """The work and its request status, committed together; retried whole on a deadlock."""
    for attempt in range(RETRIES):
        try:
            return _transact_once(runtime, key, request_id, work)
        except DBAPIError as exc:
            if attempt == RETRIES - 1 or not is_retryable(exc):
                raise


async def _write(request: Request, prepare: Callable[[], Awaitable[Work]]) -> JSONResponse:
    """1. Authenticate (401) and keep to the rate (429). 2. Validate (400, 422). 3. Do the
    work and record its outcome in one transaction. 4. Answer 202."""
    call = Call()

    async def run() -> JSONResponse:
        _within_rate(request, await _caller(request))
        work = await prepare()
        runtime, key = _runtime(request), _genie_key(request)
        await run_in_threadpool(_transact, runtime, key, call.request_id, work)
        return call.accepted()

    return await _answering(call, run())


Action = Callable[[Act, Alert], Outcome]


def _on_target(verb: Verb, identifier: str, identifier_type: str, action: Action) -> Work:
    """`action` on the alert the request names: a missing one, or a closed one for an
    action that needs it open, is the request's status, not an error (as in Opsgenie)."""

    def work(act: Act) -> Outcome:
        alert = requests.find(
            act.session, act.integration.id, identifier, identifier_type, lock=True
        )
        if alert is None:
            return requests.missing(verb, act.integration.id)
        if alert.status != "firing" and not verb.on_closed:
            return requests.closed(verb, alert)
        return action(act, alert)

    return work


async def _on_alert(
    request: Request,
    verb: Verb,
    target: tuple[str, str],
    model: type[M],
    action: Callable[[Act, Alert, M], Outcome],
) -> JSONResponse:
    """A write on one alert, whose body `model` validates."""
    identifier, identifier_type = target

    async def prepare() -> Work:
        opsgenie.check_identifier_type(identifier_type)
        body = opsgenie.validate(model, await _body(request))
        return _on_target(verb, identifier, identifier_type, lambda act, a: action(act, a, body))

    return await _write(request, prepare)


def _said(alert: Alert, verb: Verb, body: AlertAction, more: str = "") -> str:
    """The incident's timeline entry for an action from Opsgenie."""
    text = f"Opsgenie {verb.action} on alert {alert.id} ({requests.alias_of(alert)}){more}"
    if body.user:
        text += f" by {body.user}"
    return text + (f": {body.note}" if body.note else "")


def _keep(act: Act, alert: Alert, verb: Verb, body: AlertAction, more: str = "") -> None:
    """Who did it and why: a note on the alert, and one on its incident's timeline (through
    the incident flow) if it belongs to one. The actor stays the integration: `user` is a
    name the sender gives, not someone Tocsin authenticated."""
    if not (body.user or body.note):
        return
    requests.add_note(alert, body.note or verb.done, act.who(body), act.at)
    if alert.incident_id is not None:
        text = _said(alert, verb, body, more)
        actor = act.delivery.actor
        incident_flows.add_note(act.session, incident_id=alert.incident_id, text=text, actor=actor)


# -- create ------------------------------------------------------------------------------------


def _created(act: Act, result: IngestResult, alias: str) -> Outcome:
    ids = result.created or result.updated
    alert_id = str(ids[0]) if ids else ""
    verb = requests.CREATE
    return Outcome(act.integration.id, verb.action, True, verb.done, alert_id, alias)


def _create(body: opsgenie.CreateAlert) -> Work:
    incoming = opsgenie.to_incoming(body)
    alias = str(incoming.details["alias"])

    def work(act: Act) -> Outcome:
        """1. Creates of one alias take turns. 2. An open alert with it only counts the
        repeat, keeping its fields. 3. Otherwise the intake flow stores the new alert (routed,
        silenced, grouped into an incident)."""
        requests.lock_alias(act.session, act.integration.id, alias)
        existing = requests.find_open(act.session, act.integration.id, alias)
        if existing is not None:
            requests.repeat(existing, act.at)
            return requests.outcome(requests.CREATE, existing, status=requests.CREATE.already)
        return _created(act, act.deliver(incoming), alias)

    return work


@router.post("/v2/alerts", status_code=202, summary="Opsgenie Alert API: create alert")
async def create_alert(request: Request) -> JSONResponse:
    async def prepare() -> Work:
        return _create(opsgenie.validate(opsgenie.CreateAlert, await _body(request)))

    return await _write(request, prepare)


# -- reads -------------------------------------------------------------------------------------

Read = Callable[[Session, Integration], dict[str, Any]]


def _reading(runtime: Runtime, key: str, read: Read) -> dict[str, Any]:
    with runtime.database.read_session() as session:
        return read(session, _integration(session, key))


async def _read(request: Request, prepare: Callable[[], Read]) -> JSONResponse:
    """1. Authenticate (401). 2. Validate (422). 3. Read, answer 200 `{data, ...}`."""
    call = Call()

    async def run() -> JSONResponse:
        key = _genie_key(request)
        read = prepare()
        body = await run_in_threadpool(_reading, _runtime(request), key, read)
        return call.answer(200, body)

    return await _answering(call, run())


def _paging(url: URL, offset: int, limit: int, total: int) -> dict[str, str]:
    """Opsgenie's paging links: first, and next, prev and last where there are such pages."""

    def at(start: int) -> str:
        return str(url.include_query_params(offset=start, limit=limit))

    links = {"first": at(0)}
    if offset + limit < total:
        links["next"] = at(offset + limit)
    if offset > 0:
        links["prev"] = at(max(0, offset - limit))
    links["last"] = at(max(0, (total - 1) // limit * limit))
    return links


def _listed(listing: Listing, url: URL) -> Read:
    def read(session: Session, integration: Integration) -> dict[str, Any]:
        alerts, total = requests.listed(session, integration.id, listing)
        at = now()
        data = [requests.view(alert, integration, at, full=False) for alert in alerts]
        return {"data": data, "paging": _paging(url, listing.offset, listing.limit, total)}

    return read


@router.get("/v2/alerts", summary="Opsgenie Alert API: list alerts")
async def list_alerts(request: Request) -> JSONResponse:
    def prepare() -> Read:
        return _listed(opsgenie.listing(request.query_params), request.url)

    return await _read(request, prepare)


@router.get("/v2/alerts/count", summary="Opsgenie Alert API: count alerts")
async def count_alerts(request: Request, query: str | None = None) -> JSONResponse:
    def prepare() -> Read:
        if request.query_params.get("searchIdentifier"):
            raise opsgenie.Unprocessable({"searchIdentifier": "saved searches are not supported"})
        terms = opsgenie.search(query)
        return lambda s, i: {"data": {"count": requests.counted(s, i.id, terms)}}

    return await _read(request, prepare)


@router.get("/v2/alerts/requests/{request_id}", summary="Opsgenie Alert API: get request status")
async def request_status(request_id: str, request: Request) -> JSONResponse:
    def read(session: Session, integration: Integration) -> dict[str, Any]:
        done = requests.recorded(session, request_id, integration.id)
        if done is None:
            raise Refusal(404, "Request not found. It might not be processed, yet.")
        return {"data": done.data()}

    return await _read(request, lambda: read)


IdentifierType = Annotated[str, Query(alias="identifierType")]


def _alert_read(
    identifier: str, identifier_type: str, read: Callable[[Alert, Integration], dict[str, Any]]
) -> Read:
    """`read(alert, integration)` on the alert named; 404 "Alert does not exist" without one."""
    opsgenie.check_identifier_type(identifier_type)

    def on_alert(session: Session, integration: Integration) -> dict[str, Any]:
        alert = requests.find(session, integration.id, identifier, identifier_type)
        if alert is None:
            raise Refusal(404, requests.MISSING)
        return read(alert, integration)

    return on_alert


def _notes_page(notes: list[dict[str, Any]], params: dict[str, str], url: URL) -> dict[str, Any]:
    """Opsgenie's note paging: newest first unless `order=asc`; `offset` notes skipped."""
    listing = opsgenie.notes_listing(params)
    if listing.order == "desc":
        notes = notes[::-1]
    page = notes[listing.offset : listing.offset + listing.limit]
    paging = {"first": str(url.include_query_params(offset=0))}
    if listing.offset + listing.limit < len(notes):
        paging["next"] = str(url.include_query_params(offset=listing.offset + listing.limit))
    return {"data": page, "paging": paging}


@router.get("/v2/alerts/{identifier:path}/notes", summary="Opsgenie Alert API: list alert notes")
async def list_notes(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    params, url = dict(request.query_params), request.url

    def page(alert: Alert, integration: Integration) -> dict[str, Any]:
        return _notes_page(requests.notes(alert, integration), params, url)

    return await _read(request, lambda: _alert_read(identifier, identifier_type, page))


# -- acknowledge, unacknowledge, close, snooze, escalate ---------------------------------------


def _acknowledge(act: Act, alert: Alert, body: AlertAction) -> Outcome:
    """1. Acknowledge the alert through intake, which acknowledges its incident if nobody
    has (flows.incidents.acknowledge). 2. Keep who and why."""
    verb = requests.ACKNOWLEDGE
    fresh = alert.acknowledged_at is None
    if fresh:
        act.deliver(IncomingAlert(alert.dedup_key, AlertEvent.ACKNOWLEDGE))
        act.session.refresh(alert)
        requests.mark(alert, "acknowledgedBy", act.who(body), act.at)
    _keep(act, alert, verb, body)
    return requests.outcome(verb, alert, status=None if fresh else verb.already)


def _unacknowledge(act: Act, alert: Alert, body: AlertAction) -> Outcome:
    """1. The alert is no longer acknowledged; its incident stays acknowledged (a person's
    acknowledgement is not the source's to take back). 2. Keep who and why."""
    verb = requests.UNACKNOWLEDGE
    acknowledged = alert.acknowledged_at is not None
    if acknowledged:
        requests.unacknowledge(alert, act.at)
    _keep(act, alert, verb, body)
    return requests.outcome(verb, alert, status=None if acknowledged else verb.already)


def _close(act: Act, alert: Alert, body: AlertAction) -> Outcome:
    """1. Close the alert through intake, which tells its incident (`alerts_resolved`).
    2. Keep who and why."""
    act.deliver(IncomingAlert(alert.dedup_key, AlertEvent.RESOLVE))
    act.session.refresh(alert)
    requests.mark(alert, "closedBy", act.who(body), act.at)
    _keep(act, alert, requests.CLOSE, body)
    return requests.outcome(requests.CLOSE, alert)


def _snooze(act: Act, alert: Alert, body: opsgenie.Snooze) -> Outcome:
    """1. The alert reads snoozed until the end time (Tocsin's paging follows the incident,
    not this). 2. Keep who and why."""
    requests.snooze(alert, body.end_time, act.at)
    _keep(act, alert, requests.SNOOZE, body, f" until {requests.stamp(body.end_time)}")
    return requests.outcome(requests.SNOOZE, alert)


def _escalated(act: Act, alert: Alert) -> bool:
    """Page the alert's incident's next escalation step now (flows.incidents.escalate_now),
    if it has an incident that is still paging."""
    if alert.incident_id is None:
        return False
    try:
        actor = act.delivery.actor
        incident_flows.escalate_now(act.session, incident_id=alert.incident_id, actor=actor)
    except Conflict:  # acknowledged, over, or no step left: raised before anything changed
        return False
    return True


def _escalate(act: Act, alert: Alert, body: opsgenie.EscalateToNext) -> Outcome:
    """1. Escalate the incident the alert belongs to (Tocsin follows the policy's ladder, not
    the escalation named). 2. Keep who and why."""
    verb = requests.ESCALATE
    escalated = _escalated(act, alert)
    _keep(act, alert, verb, body)
    status = None if escalated else verb.already
    return requests.outcome(verb, alert, success=escalated, status=status)


def _target(identifier: str, identifier_type: str) -> tuple[str, str]:
    return identifier, identifier_type


@router.post(
    "/v2/alerts/{identifier:path}/acknowledge",
    status_code=202,
    summary="Opsgenie Alert API: acknowledge alert",
)
async def acknowledge_alert(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    target = _target(identifier, identifier_type)
    return await _on_alert(request, requests.ACKNOWLEDGE, target, AlertAction, _acknowledge)


@router.post(
    "/v2/alerts/{identifier:path}/unacknowledge",
    status_code=202,
    summary="Opsgenie Alert API: unacknowledge alert",
)
async def unacknowledge_alert(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    target = _target(identifier, identifier_type)
    return await _on_alert(request, requests.UNACKNOWLEDGE, target, AlertAction, _unacknowledge)


@router.post(
    "/v2/alerts/{identifier:path}/close", status_code=202, summary="Opsgenie Alert API: close alert"
)
async def close_alert(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    target = _target(identifier, identifier_type)
    return await _on_alert(request, requests.CLOSE, target, AlertAction, _close)


@router.post(
    "/v2/alerts/{identifier:path}/snooze",
    status_code=202,
    summary="Opsgenie Alert API: snooze alert",
)
async def snooze_alert(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    target = _target(identifier, identifier_type)
    return await _on_alert(request, requests.SNOOZE, target, opsgenie.Snooze, _snooze)


@router.post(
    "/v2/alerts/{identifier:path}/escalate",
    status_code=202,
    summary="Opsgenie Alert API: escalate alert to next",
)
async def escalate_alert(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    target = _target(identifier, identifier_type)
    return await _on_alert(request, requests.ESCALATE, target, opsgenie.EscalateToNext, _escalate)


# -- notes, tags, details ----------------------------------------------------------------------


def _add_note(act: Act, alert: Alert, body: opsgenie.AddNote) -> Outcome:
    """The note on the alert, and on its incident's timeline if it belongs to one."""
    _keep(act, alert, requests.ADD_NOTE, body)
    return requests.outcome(requests.ADD_NOTE, alert)


def _add_tags(act: Act, alert: Alert, body: opsgenie.AddTags) -> Outcome:
    requests.tag(alert, body.tags, act.at)
    _keep(act, alert, requests.ADD_TAGS, body)
    return requests.outcome(requests.ADD_TAGS, alert)


def _add_details(act: Act, alert: Alert, body: opsgenie.AddDetails) -> Outcome:
    requests.add_extra(alert, body.details, act.at)
    _keep(act, alert, requests.ADD_DETAILS, body)
    return requests.outcome(requests.ADD_DETAILS, alert)


Removal = Callable[[Act, Alert, AlertAction], Outcome]


def _removal(
    names: list[str], verb: Verb, change: Callable[[Alert, list[str], datetime], None]
) -> Removal:
    def remove(act: Act, alert: Alert, body: AlertAction) -> Outcome:
        change(alert, names, act.at)
        _keep(act, alert, verb, body)
        return requests.outcome(verb, alert)

    return remove


def _said_in_query(request: Request) -> dict[str, Any]:
    """Removals are DELETEs: who and why come as query parameters."""
    wanted = ("user", "note", "source")
    return {k: v for k, v in request.query_params.items() if k in wanted}


@router.post(
    "/v2/alerts/{identifier:path}/notes",
    status_code=202,
    summary="Opsgenie Alert API: add note to alert",
)
async def add_note(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    target = _target(identifier, identifier_type)
    return await _on_alert(request, requests.ADD_NOTE, target, opsgenie.AddNote, _add_note)


@router.post(
    "/v2/alerts/{identifier:path}/tags",
    status_code=202,
    summary="Opsgenie Alert API: add tags to alert",
)
async def add_tags(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    target = _target(identifier, identifier_type)
    return await _on_alert(request, requests.ADD_TAGS, target, opsgenie.AddTags, _add_tags)


@router.delete(
    "/v2/alerts/{identifier:path}/tags",
    status_code=202,
    summary="Opsgenie Alert API: remove tags from alert",
)
async def remove_tags(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    async def prepare() -> Work:
        tags = opsgenie.csv(request.query_params.get("tags"), "tags")
        remove = _removal(tags, requests.REMOVE_TAGS, requests.untag)
        return await _removing(identifier, identifier_type, requests.REMOVE_TAGS, remove, request)

    return await _write(request, prepare)


@router.post(
    "/v2/alerts/{identifier:path}/details",
    status_code=202,
    summary="Opsgenie Alert API: add details to alert",
)
async def add_details(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    target = _target(identifier, identifier_type)
    verb = requests.ADD_DETAILS
    return await _on_alert(request, verb, target, opsgenie.AddDetails, _add_details)


@router.delete(
    "/v2/alerts/{identifier:path}/details",
    status_code=202,
    summary="Opsgenie Alert API: remove details from alert",
)
async def remove_details(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    async def prepare() -> Work:
        keys = opsgenie.csv(request.query_params.get("keys"), "keys")
        remove = _removal(keys, requests.REMOVE_DETAILS, requests.remove_extra)
        verb = requests.REMOVE_DETAILS
        return await _removing(identifier, identifier_type, verb, remove, request)

    return await _write(request, prepare)


async def _removing(
    identifier: str,
    identifier_type: str,
    verb: Verb,
    remove: Removal,
    request: Request,
) -> Work:
    opsgenie.check_identifier_type(identifier_type)
    body = opsgenie.validate(AlertAction, _said_in_query(request))
    return _on_target(verb, identifier, identifier_type, lambda act, a: remove(act, a, body))


# -- message, description, priority ------------------------------------------------------------


def _update_message(act: Act, alert: Alert, body: opsgenie.UpdateMessage) -> Outcome:
    requests.set_message(alert, body.message, act.at)
    return requests.outcome(requests.UPDATE_MESSAGE, alert)


def _update_description(act: Act, alert: Alert, body: opsgenie.UpdateDescription) -> Outcome:
    requests.set_description(alert, body.description, act.at)
    return requests.outcome(requests.UPDATE_DESCRIPTION, alert)


def _page_now(act: Act, alert: Alert, routed: Route) -> None:
    """An open alert that pages only now opens or joins its group's incident (flows.intake)."""
    key = alert.group_key or alert.dedup_key
    paged = NewAlert(alert.id, alert.dedup_key, alert.summary, key, routed, suppressed=False)
    intake_flow.page_stored(act.session, delivery=act.delivery, alerts=[paged])
    act.session.refresh(alert)


def _raise_incident(act: Act, alert: Alert, incident_id: str, routed: Route) -> None:
    """The incident takes the alert's new severity when it is more severe under the
    incident's own policy (flows.incidents.change_severity); a lower one is its people's call."""
    incident = incident_service.get(act.session, incident_id)
    policy = incident_service.policy_of(act.session, incident).policy
    known = routed.severity in policy.severity_ids()
    if incident.status not in OPEN_STATUSES or not known:
        return
    if policy.rank(routed.severity) < policy.rank(incident.severity):
        priority = alert.details.get("priority")
        reason = f"alert {alert.id} ({requests.alias_of(alert)}) is now {priority} in Opsgenie"
        incident_flows.change_severity(
            act.session,
            incident_id=incident_id,
            severity=routed.severity,
            reason=reason,
            actor=act.delivery.actor,
        )


def _update_priority(act: Act, alert: Alert, body: opsgenie.UpdatePriority) -> Outcome:
    """1. Route the alert again by its new priority: the policy decides its severity and
    whether it pages. 2. If it is open and now pages, it opens or joins an incident as a new
    alert would, or raises its incident's severity."""
    policy = act.runtime.policy.policy
    routed = requests.set_priority(alert, act.integration, policy, body.priority, act.at)
    pages = routed.action == "page" and alert.suppressed_by is None
    if alert.status == "firing" and pages:
        if alert.incident_id is None:
            _page_now(act, alert, routed)
        else:
            _raise_incident(act, alert, alert.incident_id, routed)
    return requests.outcome(requests.UPDATE_PRIORITY, alert)


@router.put(
    "/v2/alerts/{identifier:path}/message",
    status_code=202,
    summary="Opsgenie Alert API: update alert message",
)
async def update_message(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    target, verb = _target(identifier, identifier_type), requests.UPDATE_MESSAGE
    return await _on_alert(request, verb, target, opsgenie.UpdateMessage, _update_message)


@router.put(
    "/v2/alerts/{identifier:path}/description",
    status_code=202,
    summary="Opsgenie Alert API: update alert description",
)
async def update_description(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    target, verb = _target(identifier, identifier_type), requests.UPDATE_DESCRIPTION
    model = opsgenie.UpdateDescription
    return await _on_alert(request, verb, target, model, _update_description)


@router.put(
    "/v2/alerts/{identifier:path}/priority",
    status_code=202,
    summary="Opsgenie Alert API: update alert priority",
)
async def update_priority(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    target, verb = _target(identifier, identifier_type), requests.UPDATE_PRIORITY
    return await _on_alert(request, verb, target, opsgenie.UpdatePriority, _update_priority)


# -- get, and everything else ------------------------------------------------------------------


async def unsupported(request: Request) -> JSONResponse:
    """Opsgenie calls Tocsin does not take (attachments, responders, teams, assign, custom
    actions, saved searches, logs, recipients, delete): 404 in Opsgenie's shape, after
    authentication, never 405 (which the SDK reports as an authentication error)."""
    call = Call()

    async def run() -> JSONResponse:
        await _caller(request)
        raise Refusal(404, f"Tocsin does not support {request.method} {request.url.path}")

    return await _answering(call, run())


# Reads Tocsin does not answer, before "get alert" takes their paths for alert ids.
for path in ("saved-searches", "saved-searches/{rest:path}", "{identifier:path}/logs"):
    router.add_api_route(f"/v2/alerts/{path}", unsupported, include_in_schema=False)
for part in ("recipients", "attachments", "attachments/{attachment:path}"):
    router.add_api_route(
        f"/v2/alerts/{{identifier:path}}/{part}", unsupported, include_in_schema=False
    )


@router.get("/v2/alerts/{identifier:path}", summary="Opsgenie Alert API: get alert")
async def get_alert(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    def shown(alert: Alert, integration: Integration) -> dict[str, Any]:
        return {"data": requests.view(alert, integration, now(), full=True)}

    return await _read(request, lambda: _alert_read(identifier, identifier_type, shown))


router.add_api_route(
    "/v2/alerts/{rest:path}",
    unsupported,
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
