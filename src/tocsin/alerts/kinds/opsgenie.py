"""Opsgenie's Alert API (v2): the request bodies monitoring tools send, validated with
Opsgenie's limits and refused in Opsgenie's words.

A team leaving Opsgenie changes only the API URL (Tocsin's base URL) and the key (an
integration of kind `opsgenie`, sent as `Authorization: GenieKey <key>`). The routes are in
`tocsin.web.api.opsgenie`; what each request did is kept by `alerts.opsgenie_requests`.

- A create's `alias` is the dedup key: a repeat while the alert is open only raises its count.
  Without an alias Opsgenie deduplicates nothing, so each create gets a fresh one.
- Priority maps to source severity (P1 critical, P2 error, P3 warning, P4/P5 info), so the
  policy's routing decides what pages.
- Alerts with the same `entity` group into one incident; an alert without an entity is a group
  of its own (Opsgenie has no grouping of its own).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from tocsin.alerts.normalized import AlertEvent, IncomingAlert

PRIORITY_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info", "P5": "info"}
PRIORITY_ERROR = "should be one of [ P1, P2, P3, P4, P5 ]"  # Opsgenie's own words
MAX_DEDUP_KEY = 255  # the alerts table's dedup_key column; Opsgenie allows 512
MAX_ENTITY_GROUP = 200  # keeps the group key inside its column
MAX_DETAILS = 8000  # Opsgenie: characters of keys and values together
IDENTIFIER_TYPES = ("id", "alias")

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


class Unprocessable(Exception):
    """A request Opsgenie would refuse as unprocessable (422); `errors` maps each bad field,
    named as Opsgenie names it, to Opsgenie's message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def genie_key(authorization: str) -> str | None:
    """The key in an `Authorization: GenieKey <key>` header, or None."""
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "geniekey" or not key.strip():
        return None
    return key.strip()


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
    """The body as `model`; raises Unprocessable naming every bad field."""
    if not isinstance(document, dict):
        raise Unprocessable({"body": "must be a JSON object"})
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise Unprocessable({_field_name(e["loc"]): _error_text(e) for e in exc.errors()}) from None


def check_identifier_type(identifier_type: str) -> None:
    """Close and acknowledge name the alert by Tocsin's alert id or by alias."""
    if identifier_type not in IDENTIFIER_TYPES:
        message = "should be one of [ id, alias ]"
        if identifier_type == "tiny":
            message = "tiny ids are not supported by Tocsin; use id or alias"
        raise Unprocessable({"identifierType": message})


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
