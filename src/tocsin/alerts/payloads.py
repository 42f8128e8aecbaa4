"""Shared helpers for the wire-format adapters: JSON parsing and field-naming errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from tocsin.errors import TocsinError


class BadPayload(TocsinError):
    """The sender's payload is malformed; `errors` name each bad field."""

    code = "invalid_payload"

    def __init__(self, message: str, errors: list[dict[str, str]]) -> None:
        super().__init__(message, field=errors[0]["field"] if errors else "body")
        self.errors = errors


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPayload(
            f"body is not valid JSON: {exc}", [{"field": "body", "message": f"invalid JSON: {exc}"}]
        ) from None


def invalid_json_or_fields(error: ValidationError) -> BadPayload:
    """Errors from `validate_json`: a body that is not JSON at all reads as parse_json's does."""
    for detail in error.errors():
        if detail["type"] == "json_invalid":
            message = f"invalid JSON: {detail['ctx'].get('error', detail['msg'])}"
            return BadPayload(
                f"body is not valid JSON: {message}", [{"field": "body", "message": message}]
            )
    return field_errors(error)


def field_errors(error: ValidationError, prefix: str = "") -> BadPayload:
    errors = []
    for detail in error.errors():
        field = ".".join(str(p) for p in detail["loc"]) or "body"
        errors.append({"field": prefix + field, "message": detail["msg"]})
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return BadPayload(f"invalid payload: {summary}", errors)


def labels_fingerprint(labels: Mapping[str, str]) -> str:
    """A stable dedup key from labels, for senders that give none."""
    canonical = json.dumps(dict(sorted(labels.items())), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def parse_time(value: str | None, field: str) -> datetime | None:
    """An RFC 3339 time from a sender; a value that is not one is refused, naming `field`."""
    if not value or value.startswith("0001-01-01"):  # Go's zero time means "not set"
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        message = f"{value[:40]!r} is not an RFC 3339 time such as 2026-11-22T09:12:00Z"
        raise BadPayload(f"{field}: {message}", [{"field": field, "message": message}])
    return parsed
