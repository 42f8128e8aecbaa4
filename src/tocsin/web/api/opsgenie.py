"""Opsgenie's Alert API (v2) over HTTP: the subset monitoring tools use, answered as Opsgenie
answers (`{message, errors?, took, requestId}`, the same headers).

- `POST /v2/alerts` creates an alert; `POST /v2/alerts/{identifier}/close` and `/acknowledge`
  name one by `identifierType=id` (the default: Tocsin's alert id, as the request status
  reports it) or `alias`; `GET /v2/alerts/requests/{requestId}` reports what a request did.
- The bodies and their validation are `alerts.kinds.opsgenie`; the request statuses and the
  close and acknowledge verbs are `alerts.opsgenie_requests`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from tocsin.alerts import integrations
from tocsin.alerts.kinds import OPSGENIE, opsgenie
from tocsin.alerts.normalized import IncomingAlert, IngestResult
from tocsin.alerts.opsgenie_requests import (
    ACKNOWLEDGE,
    CLOSE,
    RequestLog,
    Target,
    Verb,
    acted,
    created,
    find_target,
)
from tocsin.alerts.payloads import BadPayload, parse_json
from tocsin.alerts.writer import RateLimited, UnknownKey
from tocsin.web.api.alerts import store
from tocsin.web.deps import Runtime

router = APIRouter(tags=["alert intake"])
REQUESTS = RequestLog()  # this process's request statuses (see RequestLog for why in memory)


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


# -- the database side (run in the thread pool) ------------------------------------------------


def _authenticate(runtime: Runtime, key: str) -> int:
    with runtime.database.read_session() as session:
        integration = integrations.by_key(session, key)
        if integration is None or integration.kind != OPSGENIE.name:
            raise UnknownKey
        return integration.id


def _find(runtime: Runtime, integration_id: int, identifier: str, by: str) -> Target | None:
    with runtime.database.read_session() as session:
        return find_target(session, integration_id, identifier, by)


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
    key = opsgenie.genie_key(request.headers.get("authorization", ""))
    if key is None:
        raise Refusal(401, "Could not authenticate")
    return key


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
        return await store(request, _genie_key(request), OPSGENIE.name, [alert])
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
        alert = opsgenie.to_incoming(opsgenie.validate(opsgenie.CreateAlert, await _body(request)))
        result = await _store(request, alert)
    except opsgenie.Unprocessable as exc:
        return call.refuse(Refusal.unprocessable(exc.errors))
    except Refusal as refusal:
        return call.refuse(refusal)
    REQUESTS.add(call.request_id, created(integration_id, alert, result))
    return call.accepted()


IdentifierType = Annotated[str, Query(alias="identifierType")]


async def _act(request: Request, verb: Verb, identifier: str, identifier_type: str) -> JSONResponse:
    """1. Authenticate. 2. Validate identifierType and body. 3. Find the alert. 4. If it is
    open, store the event and commit. 5. Record the outcome, then answer 202."""
    call = Call()
    try:
        integration_id = await _caller(request)
        opsgenie.check_identifier_type(identifier_type)
        opsgenie.validate(opsgenie.AlertAction, await _body(request, optional=True))
        runtime = _runtime(request)
        target = await run_in_threadpool(
            _find, runtime, integration_id, identifier, identifier_type
        )
        result = None
        if target is not None and target.firing:
            result = await _store(request, IncomingAlert(target.dedup_key, verb.event))
    except opsgenie.Unprocessable as exc:
        return call.refuse(Refusal.unprocessable(exc.errors))
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
