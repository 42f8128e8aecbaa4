"""Turn domain exceptions and validation failures into JSON errors that name the field."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tocsin.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    TocsinError,
    TooLarge,
    Unavailable,
)
from tocsin.timesource import time_error_text

STATUS_FOR: dict[type[TocsinError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    IllegalTransition: 409,
    Conflict: 409,
    Forbidden: 403,
    TooLarge: 413,
    Unavailable: 503,
}


def error_json(
    status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": code, "message": message, "errors": errors or []},
    )


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _validation_entry(err: dict[str, Any]) -> dict[str, Any]:
    field = _field_of(tuple(err.get("loc", ())))
    timed = time_error_text(str(err.get("type")), err.get("input"))
    entry: dict[str, Any] = {"field": field, "message": timed or err["msg"]}
    expected = (err.get("ctx") or {}).get("expected")
    if expected:
        entry["allowed"] = expected
    if err.get("type") == "json_invalid":
        entry = {"field": "body", "message": f"body is not valid JSON: {err['msg']}"}
    return entry


async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_validation_entry(dict(e)) for e in exc.errors()]
    message = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return error_json(422, "invalid", message, errors)


async def on_domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TocsinError)
    status = next((s for cls, s in STATUS_FOR.items() if isinstance(exc, cls)), 400)
    entry: dict[str, Any] = {"field": exc.field or "body", "message": exc.message}
    if exc.allowed is not None:
        entry["allowed"] = exc.allowed
    entries = [{"field": field, "message": text} for field, text in exc.problems] or [entry]
    return error_json(status, exc.code, exc.message, entries)


async def on_database_down(_request: Request, exc: Exception) -> JSONResponse:
    # Connection-level failures mean "try again", so senders retry rather than drop data.
    assert isinstance(exc, DBAPIError)
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        response = error_json(503, "unavailable", "the database is unavailable; retry shortly")
        response.headers["Retry-After"] = "5"
        return response
    raise exc


# The part of a request each HTTP-level refusal is about, for the error's `field`.
HTTP_FIELDS = {401: "authorization", 403: "authorization", 404: "path", 405: "method"}


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
    message = str(exc.detail)
    entry: dict[str, Any] = {
        "field": HTTP_FIELDS.get(exc.status_code, "request"),
        "message": message,
    }
    if exc.status_code == 404 and message == "Not Found":
        entry["message"] = message = f"no such address: {request.url.path}"
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        entry["allowed"] = [m.strip() for m in allowed.split(",") if m.strip()]
    code = codes.get(exc.status_code, "error")
    response = error_json(exc.status_code, code, message, [entry])
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(TocsinError, on_domain_error)
    app.add_exception_handler(DBAPIError, on_database_down)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
