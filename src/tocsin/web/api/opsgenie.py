"""Opsgenie's Alert API (v2): the subset monitoring tools use, answered as Opsgenie answers.

A team leaving Opsgenie changes only the API URL (Tocsin's base URL) and the key (an
integration of kind `opsgenie`, sent as `Authorization: GenieKey <key>`):

- `POST /v2/alerts` creates an alert. `alias` is the dedup key: a repeat while the alert is
  open only raises its count. Without an alias Opsgenie deduplicates nothing, so each create
  gets a fresh one, reported back as the alert's `alias` by the request status.
- `POST /v2/alerts/{identifier}/close` and `/acknowledge`, with `identifierType=id` (the
  default: Tocsin's alert id, as the request status reports it) or `alias`.
- `GET /v2/alerts/requests/{requestId}` reports what a request did.

Opsgenie answers 202 and processes later; Tocsin answers 202 only once the alert is committed,
so a request's status is final the first time a client asks for it.

Priority maps to source severity (P1 critical, P2 error, P3 warning, P4/P5 info), so the
policy's routing decides what pages. Alerts with the same `entity` group into one incident;
an alert without an entity is a group of its own (Opsgenie has no grouping of its own).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from sqlalchemy import select

from tocsin.alerts import integrations
from tocsin.alerts.models import Alert
from tocsin.alerts.normalized import AlertEvent, IncomingAlert, IngestResult
from tocsin.alerts.payloads import BadPayload, parse_json
from tocsin.alerts.writer import RateLimited, UnknownKey
from tocsin.timesource import now
from tocsin.web.api.alerts import store
from tocsin.web.deps import Runtime

KIND = "opsgenie"
PRIORITY_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info", "P5": "info"}
PRIORITY_ERROR = "should be one of [ P1, P2, P3, P4, P5 ]"  # Opsgenie's own words
MAX_DEDUP_KEY = 255  # the alerts table's dedup_key column; Opsgenie allows 512
MAX_ENTITY_GROUP = 200  # keeps the group key inside its column
MAX_DETAILS = 8000  # Opsgenie: characters of keys and values together

router = APIRouter(tags=["alert intake"])

# -- parsing (pure) ----------------------------------------------------------------------------

Short = Annotated[str, Field(max_length=50)]
Priority = Literal["P1", "P2", "P3", "P4", "P5"]


class CreateAlert(BaseModel):
    """The create-alert body, with Opsgenie's limits. Unknown fields are ignored, as Opsgenie
    ignores them."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    message: str = Field(max_length=130)
    alias: str | None = Field(default=None, max_length=512)
    description: str | None = Field(default=None, max_length=15_000)
    responders: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    visible_to: list[dict[str, Any]] | None = Field(default=None, max_length=50, alias="visibleTo")
    actions: list[Short] | None = Field(default=None, max_length=10)
    tags: list[Short] | None = Field(default=None, max_length=20)
    details: dict[str, str] | None = None
    entity: str | None = Field(default=None, max_length=512)
    source: str | None = Field(default=None, max_length=100)
    priority: Priority | None = None  # absent or null: P3
    user: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=25_000)

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("Message can not be empty.")
        return value.strip()

    @field_validator("details")
    @classmethod
    def _details_size(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value and sum(len(k) + len(v) for k, v in value.items()) > MAX_DETAILS:
            raise ValueError(f"can not be longer than {MAX_DETAILS} characters in total")
        return value


class AlertAction(BaseModel):
    """The optional body of close and acknowledge."""

    model_config = ConfigDict(extra="ignore")

    user: str | None = Field(default=None, max_length=100)
    source: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=25_000)


class Refusal(Exception):
    """Any answer but 202, in Opsgenie's shape: `{message, errors?, took, requestId}`."""

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


def _field_name(loc: tuple[int | str, ...]) -> str:
    """Opsgenie names fields like `tags[3]` and `details.team`."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def _error_text(error: ErrorDetails) -> str:
    if error["loc"][:1] == ("priority",):
        return PRIORITY_ERROR
    if error["loc"] == ("message",) and error["type"] in ("missing", "string_type"):
        return "Message can not be empty."
    if error["type"] == "value_error":
        return str((error.get("ctx") or {}).get("error", error["msg"]))
    return error["msg"]


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], document: Any) -> M:
    """The body as `model`, or a 422 refusal naming every bad field."""
    if not isinstance(document, dict):
        raise Refusal.unprocessable({"body": "must be a JSON object"})
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = {_field_name(e["loc"]): _error_text(e) for e in exc.errors()}
        raise Refusal.unprocessable(errors) from None


def bounded(text: str, limit: int) -> str:
    """`text` itself, or a digest of it when it is longer than `limit`."""
    if len(text) <= limit:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def dedup_key(alias: str) -> str:
    return bounded(alias, MAX_DEDUP_KEY)


def _labels(body: CreateAlert, priority: str) -> dict[str, str]:
    labels = {f"tag:{tag}": "true" for tag in body.tags or []}
    labels.update(
        {name: value for name, value in (("entity", body.entity), ("source", body.source)) if value}
    )
    labels["priority"] = priority
    return labels


def _details(body: CreateAlert, alias: str, priority: str) -> dict[str, Any]:
    kept: dict[str, Any] = {
        "alias": alias,
        "priority": priority,
        "description": body.description,
        "details": body.details,
        "entity": body.entity,
        "responders": body.responders,
        "visibleTo": body.visible_to,
        "actions": body.actions,
        "tags": body.tags,
        "user": body.user,
        "note": body.note,
    }
    return {name: value for name, value in kept.items() if value}


def to_incoming(body: CreateAlert) -> IncomingAlert:
    """The alert a create asks for; without an alias, a new one (so nothing deduplicates)."""
    alias = body.alias or str(uuid.uuid4())
    priority = body.priority or "P3"
    key = dedup_key(alias)
    group = f"entity:{bounded(body.entity, MAX_ENTITY_GROUP)}" if body.entity else f"alias:{key}"
    return IncomingAlert(
        dedup_key=key,
        event=AlertEvent.TRIGGER,
        summary=body.message,
        source_severity=PRIORITY_SEVERITY[priority],
        labels=_labels(body, priority),
        details=_details(body, alias, priority),
        group_key=group,
        source=body.source,
    )


# -- request outcomes --------------------------------------------------------------------------


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Outcome:
    """What one request did, as `GET /v2/alerts/requests/{requestId}` reports it."""

    integration_id: int
    action: str  # Create | Close | Acknowledge
    success: bool
    status: str
    alert_id: str = ""
    alias: str = ""
    processed_at: datetime = field(default_factory=now)

    def data(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "action": self.action,
            "processedAt": _stamp(self.processed_at),
            "integrationId": str(self.integration_id),
            "isSuccess": self.success,
            "status": self.status,
            "alertId": self.alert_id,
            "alias": self.alias,
        }


class RequestLog:
    """The outcomes of the last `capacity` requests, by requestId.

    In memory and per process: after a restart, or when a poll reaches another instance than
    the one that took the request, the status is unknown and the answer is 404, which
    Opsgenie's own clients already retry (Opsgenie answers 404 until it has processed a
    request). The alert itself is committed before the 202; only this status is best-effort.
    """

    def __init__(self, capacity: int = 5000) -> None:
        self.capacity = capacity
        self._outcomes: OrderedDict[str, Outcome] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, request_id: str, outcome: Outcome) -> None:
        with self._lock:
            self._outcomes[request_id] = outcome
            while len(self._outcomes) > self.capacity:
                self._outcomes.popitem(last=False)

    def get(self, request_id: str, integration_id: int) -> Outcome | None:
        """Only the integration that made the request may read it."""
        with self._lock:
            outcome = self._outcomes.get(request_id)
        return outcome if outcome and outcome.integration_id == integration_id else None


REQUESTS = RequestLog()


@dataclass(frozen=True)
class Verb:
    action: str
    event: AlertEvent
    done: str
    already: str


CLOSE = Verb("Close", AlertEvent.RESOLVE, "Closed alert", "Alert is already closed")
ACKNOWLEDGE = Verb(
    "Acknowledge", AlertEvent.ACKNOWLEDGE, "Acknowledged alert", "Alert is already acknowledged"
)


@dataclass(frozen=True)
class Target:
    """The alert a close or acknowledge names."""

    alert_id: int
    dedup_key: str
    firing: bool


def created(integration_id: int, alert: IncomingAlert, result: IngestResult) -> Outcome:
    alert_ids = result.created or result.updated
    status = "Created alert" if result.created else "Alert already exists: count increased"
    alias = str(alert.details.get("alias", alert.dedup_key))
    alert_id = str(alert_ids[0]) if alert_ids else ""
    return Outcome(integration_id, "Create", True, status, alert_id, alias)


def _verdict(verb: Verb, target: Target | None, changed: bool) -> tuple[bool, str]:
    if target is None:
        return False, "Alert does not exist"
    if changed:
        return True, verb.done
    if not target.firing:
        return verb is CLOSE, "Alert is already closed"
    return True, verb.already


def acted(
    verb: Verb, integration_id: int, target: Target | None, result: IngestResult | None
) -> Outcome:
    changed = bool(result and (result.resolved if verb is CLOSE else result.acknowledged))
    success, status = _verdict(verb, target, changed)
    if target is None:
        return Outcome(integration_id, verb.action, success, status)
    alert_id = str(target.alert_id)
    return Outcome(integration_id, verb.action, success, status, alert_id, target.dedup_key)


# -- the database side (run in the thread pool) ------------------------------------------------


def _authenticate(runtime: Runtime, key: str) -> int:
    with runtime.database.read_session() as session:
        integration = integrations.by_key(session, key)
        if integration is None or integration.kind != KIND:
            raise UnknownKey
        return integration.id


ALERT_ID = re.compile(r"[0-9]{1,10}")


def _find(runtime: Runtime, integration_id: int, identifier: str, by: str) -> Target | None:
    """The integration's alert with that id, or its newest alert with that alias."""
    query = select(Alert).where(Alert.integration_id == integration_id)
    if by == "id":
        if not ALERT_ID.fullmatch(identifier) or int(identifier) >= 2**31:
            return None
        query = query.where(Alert.id == int(identifier))
    else:
        query = query.where(Alert.dedup_key == dedup_key(identifier))
    with runtime.database.read_session() as session:
        alert = session.scalar(query.order_by(Alert.id.desc()).limit(1))
        if alert is None:
            return None
        return Target(alert.id, alert.dedup_key, alert.status == "firing")


# -- HTTP --------------------------------------------------------------------------------------


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


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _genie_key(request: Request) -> str:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "geniekey" or not key.strip():
        raise Refusal(401, "Could not authenticate")
    return key.strip()


async def _caller(request: Request) -> int:
    """The integration id behind the GenieKey; 401, saying nothing more, for any other key."""
    key = _genie_key(request)
    try:
        return await run_in_threadpool(_authenticate, _runtime(request), key)
    except UnknownKey:
        raise Refusal(401, "Could not authenticate") from None


async def _body(request: Request, *, optional: bool = False) -> Any:
    raw = await request.body()
    if optional and not raw.strip():
        return {}
    try:
        return parse_json(raw)
    except BadPayload as exc:
        # Opsgenie: "400 Bad Request (Syntax Error only): Invalid JSON body".
        raise Refusal(400, "Request body is not valid JSON.", {"body": exc.message}) from None


async def _store(request: Request, alert: IncomingAlert) -> IngestResult:
    try:
        return await store(request, _genie_key(request), KIND, [alert])
    except UnknownKey:  # the key was rotated or deleted a moment ago
        raise Refusal(401, "Could not authenticate") from None
    except RateLimited:
        raise Refusal(429, "Too many requests.", headers={"Retry-After": "1"}) from None


@router.post("/v2/alerts", status_code=202, summary="Opsgenie Alert API: create alert")
async def create_alert(request: Request) -> JSONResponse:
    """1. Authenticate the GenieKey. 2. Validate the body. 3. Store and commit the alert.
    4. Record the outcome for the request status, then answer 202."""
    call = Call()
    try:
        integration_id = await _caller(request)
        alert = to_incoming(validate(CreateAlert, await _body(request)))
        result = await _store(request, alert)
    except Refusal as refusal:
        return call.refuse(refusal)
    REQUESTS.add(call.request_id, created(integration_id, alert, result))
    return call.accepted()


IDENTIFIER_TYPES = ("id", "alias")
IdentifierType = Annotated[str, Query(alias="identifierType")]


def _check_identifier_type(identifier_type: str) -> None:
    if identifier_type not in IDENTIFIER_TYPES:
        message = "should be one of [ id, alias ]"
        if identifier_type == "tiny":
            message = "tiny ids are not supported by Tocsin; use id or alias"
        raise Refusal.unprocessable({"identifierType": message})


async def _act(request: Request, verb: Verb, identifier: str, identifier_type: str) -> JSONResponse:
    """1. Authenticate. 2. Validate identifierType and body. 3. Find the alert. 4. If it is
    open, store the event and commit. 5. Record the outcome, then answer 202."""
    call = Call()
    try:
        integration_id = await _caller(request)
        _check_identifier_type(identifier_type)
        validate(AlertAction, await _body(request, optional=True))
        runtime = _runtime(request)
        target = await run_in_threadpool(
            _find, runtime, integration_id, identifier, identifier_type
        )
        result = None
        if target is not None and target.firing:
            result = await _store(request, IncomingAlert(target.dedup_key, verb.event))
    except Refusal as refusal:
        return call.refuse(refusal)
    REQUESTS.add(call.request_id, acted(verb, integration_id, target, result))
    return call.accepted()


@router.post(
    "/v2/alerts/{identifier:path}/close",
    status_code=202,
    summary="Opsgenie Alert API: close alert",
)
async def close_alert(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    return await _act(request, CLOSE, identifier, identifier_type)


@router.post(
    "/v2/alerts/{identifier:path}/acknowledge",
    status_code=202,
    summary="Opsgenie Alert API: acknowledge alert",
)
async def acknowledge_alert(
    identifier: str, request: Request, identifier_type: IdentifierType = "id"
) -> JSONResponse:
    return await _act(request, ACKNOWLEDGE, identifier, identifier_type)


@router.get("/v2/alerts/requests/{request_id}", summary="Opsgenie Alert API: get request status")
async def request_status(request_id: str, request: Request) -> JSONResponse:
    call = Call()
    try:
        outcome = REQUESTS.get(request_id, await _caller(request))
        if outcome is None:
            raise Refusal(404, "Request not found. It might not be processed, yet.")
    except Refusal as refusal:
        return call.refuse(refusal)
    return call.answer(200, {"data": outcome.data()})
