"""Opsgenie's Alert API (v2): the request bodies, query parameters and searches that the
official SDK and monitoring tools send, validated with Opsgenie's limits and refused in
Opsgenie's words; and the Opsgenie fields an alert keeps in its labels and details.

A team leaving Opsgenie changes only the API URL (Tocsin's base URL) and the key (an
integration of kind `opsgenie`, sent as `Authorization: GenieKey <key>`). The routes are in
`tocsin.web.api.opsgenie`; the request statuses and the stored alerts' Opsgenie view are
`alerts.opsgenie_requests`.

- A create's `alias` is the dedup key: a repeat while the alert is open only raises its count
  and keeps every field, as Opsgenie does. Without an alias Opsgenie deduplicates nothing, so
  each create gets a fresh one.
- Priority maps to source severity (P1 critical, P2 error, P3 warning, P4/P5 info), so the
  policy's routing decides what pages, at create and when the priority is updated.
- Alerts with the same `entity` group into one incident; an alert without an entity is a group
  of its own (Opsgenie has no grouping of its own).
- Pure: no web framework, no database (the import contracts check it).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from tocsin.alerts.normalized import AlertEvent, IncomingAlert
from tocsin.timesource import as_utc, now

PRIORITY_SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info", "P5": "info"}
PRIORITY_ERROR = "should be one of [ P1, P2, P3, P4, P5 ]"  # Opsgenie's own words
MAX_DEDUP_KEY = 255  # the alerts table's dedup_key column; Opsgenie allows 512
MAX_ENTITY_GROUP = 200  # keeps the group key inside its column
MAX_DETAILS = 8000  # Opsgenie: characters of keys and values together
IDENTIFIER_TYPES = ("id", "tiny", "alias")  # a Tocsin alert's tiny id is its id
MAX_NOTES = 500  # the newest notes an alert keeps (Opsgenie sets no limit)


def _stripped(value: str) -> str:
    if not value.strip():
        raise ValueError("can not be empty")
    return value.strip()


def _details_within_limit(value: dict[str, str] | None) -> dict[str, str] | None:
    if value and sum(len(k) + len(v) for k, v in value.items()) > MAX_DETAILS:
        raise ValueError(f"can not be longer than {MAX_DETAILS} characters in total")
    return value


Short = Annotated[str, Field(max_length=50)]
Priority = Literal["P1", "P2", "P3", "P4", "P5"]
Message = Annotated[str, Field(max_length=130), AfterValidator(_stripped)]
Details = Annotated[dict[str, str], AfterValidator(_details_within_limit)]


class CreateAlert(BaseModel):
    """The create-alert body, with Opsgenie's limits. Unknown fields are ignored, as Opsgenie
    ignores them."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    message: Message
    alias: str | None = Field(default=None, max_length=512)
    description: str | None = Field(default=None, max_length=15_000)
    responders: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    visible_to: list[dict[str, Any]] | None = Field(default=None, max_length=50, alias="visibleTo")
    actions: list[Short] | None = Field(default=None, max_length=10)
    tags: list[Short] | None = Field(default=None, max_length=20)
    details: Details | None = None
    entity: str | None = Field(default=None, max_length=512)
    source: str | None = Field(default=None, max_length=100)
    priority: Priority | None = None  # absent or null: P3
    user: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=25_000)


class AlertAction(BaseModel):
    """Who did it and why: the body of acknowledge, unacknowledge, close, and the optional
    part of every other action's body."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    user: str | None = Field(default=None, max_length=100)
    source: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=25_000)


class AddNote(AlertAction):
    note: Annotated[str, Field(max_length=25_000), AfterValidator(_stripped)]


class AddTags(AlertAction):
    tags: list[Short] = Field(min_length=1, max_length=20)


class AddDetails(AlertAction):
    details: Details = Field(min_length=1)


class Snooze(AlertAction):
    end_time: datetime = Field(alias="endTime")

    @field_validator("end_time")
    @classmethod
    def _in_the_future(cls, value: datetime) -> datetime:
        # The SDK sends a naive datetime as it is (no offset); Opsgenie reads it as UTC.
        value = as_utc(value)
        if value <= now():
            raise ValueError("should be in the future")
        return value


class Escalation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    name: str | None = None
    type: str = "escalation"

    @model_validator(mode="after")
    def _named(self) -> Escalation:
        if not (self.id or self.name):
            raise ValueError("should have an id or a name")
        return self


class EscalateToNext(AlertAction):
    escalation: Escalation


class UpdateMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: Message


class UpdateDescription(BaseModel):
    """Alertmanager leaves an empty description out (`{}`): that clears the description."""

    model_config = ConfigDict(extra="ignore")

    description: str = Field(default="", max_length=15_000)


class UpdatePriority(BaseModel):
    model_config = ConfigDict(extra="ignore")

    priority: Priority


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


# Opsgenie's words for a required field that is missing or empty.
EMPTY = {"message": "Message can not be empty.", "note": "Note can not be empty."}


def _error_text(error: ErrorDetails) -> str:
    if error["loc"][:1] == ("priority",):
        return PRIORITY_ERROR
    field = error["loc"][0] if len(error["loc"]) == 1 else None
    if field in EMPTY and error["type"] in ("missing", "string_type", "value_error"):
        return EMPTY[str(field)]
    if error["type"] == "missing":
        return "can not be empty"
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
    """An alert is named by Tocsin's alert id (`id`, and `tiny`: the same number) or alias."""
    if identifier_type not in IDENTIFIER_TYPES:
        raise Unprocessable({"identifierType": "should be one of [ id, tiny, alias ]"})


def csv(value: str | None, name: str) -> list[str]:
    """A comma-separated query parameter (remove tags, remove details), at least one item."""
    items = [item.strip() for item in (value or "").split(",") if item.strip()]
    if not items:
        raise Unprocessable({name: "can not be empty"})
    return items


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


# -- the Opsgenie fields a stored alert keeps ---------------------------------------------------
#
# A create keeps its fields in the alert's details (and tags, entity, source and priority in its
# labels too, where routing and silences match them). These read and change them; every change
# returns new dicts, so the JSON columns see a new value.

RESPONDER_TYPES = ("user", "team", "escalation", "schedule")  # what the SDK accepts back


def responders(given: Any) -> list[dict[str, str]]:
    """As Opsgenie reports them, `{type, id}`. Tocsin has no Opsgenie ids: a responder named
    by `name` or `username` is reported by that."""
    reported = []
    for responder in given if isinstance(given, list) else []:
        named = responder.get("id") or responder.get("name") or responder.get("username")
        if responder.get("type") in RESPONDER_TYPES and named:
            reported.append({"type": str(responder["type"]), "id": str(named)})
    return reported


def fields(details: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """The fields a listed alert shows (Opsgenie's BaseAlert), besides ids, times and state."""
    return {
        "tags": list(details.get("tags") or []),
        "source": labels.get("source", ""),
        "owner": str(details.get("owner", "")),
        "priority": str(details.get("priority", "P3")),
        "responders": responders(details.get("responders")),
    }


def full_fields(details: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """What getting one alert adds (Opsgenie's Alert)."""
    return {
        "actions": list(details.get("actions") or []),
        "entity": labels.get("entity", ""),
        "description": str(details.get("description", "")),
        "details": dict(details.get("details") or {}),
    }


def tagged(
    details: Mapping[str, Any], labels: Mapping[str, str], tags: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    kept = list(details.get("tags") or [])
    kept += [tag for tag in dict.fromkeys(tags) if tag not in kept]
    return {**details, "tags": kept}, {**labels, **{f"tag:{tag}": "true" for tag in tags}}


def untagged(
    details: Mapping[str, Any], labels: Mapping[str, str], tags: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    kept = [tag for tag in details.get("tags") or [] if tag not in tags]
    names = {f"tag:{tag}" for tag in tags}
    return {**details, "tags": kept}, {k: v for k, v in labels.items() if k not in names}


def with_extra(details: Mapping[str, Any], extra: Mapping[str, str]) -> dict[str, Any]:
    """Opsgenie's `details` (custom properties) are kept under `details` in Tocsin's."""
    return {**details, "details": {**(details.get("details") or {}), **extra}}


def without_extra(details: Mapping[str, Any], keys: list[str]) -> dict[str, Any]:
    extra = {k: v for k, v in (details.get("details") or {}).items() if k not in keys}
    return {**details, "details": extra}


def with_priority(
    details: Mapping[str, Any], labels: Mapping[str, str], priority: str
) -> tuple[dict[str, Any], dict[str, str]]:
    return {**details, "priority": priority}, {**labels, "priority": priority}


def noted(details: Mapping[str, Any], note: str, owner: str, at: str) -> dict[str, Any]:
    """The alert's notes with one more (the newest MAX_NOTES are kept)."""
    notes = [*(details.get("notes") or []), {"note": note, "owner": owner, "createdAt": at}]
    return {**details, "notes": notes[-MAX_NOTES:]}


# -- listing and counting: paging, sorting and Opsgenie's search --------------------------------

SORT_FIELDS = (
    "createdAt",
    "updatedAt",
    "lastOccurredAt",
    "tinyId",
    "alias",
    "message",
    "status",
    "acknowledged",
    "count",
)
MAX_LIMIT = 100  # Opsgenie: default 20, at most 100


@dataclass(frozen=True)
class Term:
    """One `field:value` of a search (`op` is `:`, `=`, `!=` or a comparison)."""

    field: str
    op: str
    value: str


@dataclass(frozen=True)
class Listing:
    terms: list[Term]
    offset: int = 0
    limit: int = 20
    sort: str = "createdAt"
    order: str = "desc"


# The searchable fields, and the values each takes (None: any text; int: a number).
QUERY_FIELDS: dict[str, tuple[str, ...] | type[int] | None] = {
    "status": ("open", "closed"),
    "acknowledged": ("true", "false"),
    "priority": ("P1", "P2", "P3", "P4", "P5"),
    "alias": None,
    "tag": None,
    "tags": None,
    "message": None,
    "entity": None,
    "source": None,
    "owner": None,
    "id": int,
    "tinyId": int,
    "count": int,
}
COMPARISONS = (">=", "<=", ">", "<")
TOKEN = re.compile(r'(?:[^\s"]+|"[^"]*")+')
TERM = re.compile(r"(?P<field>[A-Za-z]+)(?P<op>!=|>=|<=|:|=|>|<)(?P<value>.*)")
UNSUPPORTED = {"OR", "NOT", "(", ")"}
QUERY_HELP = (
    "Tocsin searches field:value terms joined by AND (fields: "
    + ", ".join(QUERY_FIELDS)
    + "); OR, NOT and parentheses are not supported"
)


def _tokens(query: str) -> list[str]:
    """Words of the search; `status: open` (a space after the colon) is one term."""
    tokens: list[str] = []
    for token in TOKEN.findall(query):
        if tokens and TERM.fullmatch(tokens[-1]) and tokens[-1].endswith((":", "=")):
            tokens[-1] += token
        elif token.upper() != "AND":
            tokens.append(token)
    return tokens


def _term(token: str) -> Term:
    if token.upper() in UNSUPPORTED or token.startswith(("(", "-")):
        raise Unprocessable({"query": QUERY_HELP})
    match = TERM.fullmatch(token)
    if match is None:  # a bare word searches the message, as in Opsgenie
        return Term("message", ":", token.strip('"'))
    term = Term(match["field"], match["op"], match["value"].strip('"'))
    _check_term(term)
    return term


def _check_term(term: Term) -> None:
    if term.field not in QUERY_FIELDS:
        raise Unprocessable({"query": f"unknown field {term.field!r}: {QUERY_HELP}"})
    allowed = QUERY_FIELDS[term.field]
    if allowed is int:
        if not term.value.isdigit() or int(term.value) >= 2**31:
            raise Unprocessable({"query": f"{term.field} should be a number"})
    elif term.op in COMPARISONS:
        raise Unprocessable({"query": f"{term.field} can not be compared with {term.op}"})
    elif isinstance(allowed, tuple) and term.value not in allowed:
        raise Unprocessable({"query": f"{term.field} should be one of [ {', '.join(allowed)} ]"})


def search(query: str | None) -> list[Term]:
    """Opsgenie's search as terms that must all hold (empty: every alert)."""
    return [_term(token) for token in _tokens(query or "")]


def _number(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise Unprocessable({name: f"should be a number from {low} to {high}"})
    return int(raw)


def _choice(raw: str | None, name: str, allowed: tuple[str, ...]) -> str:
    value = raw or allowed[0]
    if value not in allowed:
        raise Unprocessable({name: f"should be one of [ {', '.join(allowed)} ]"})
    return value


def listing(params: Mapping[str, str]) -> Listing:
    """List alerts' query parameters: query, offset, limit, sort, order."""
    if params.get("searchIdentifier"):
        raise Unprocessable({"searchIdentifier": "saved searches are not supported by Tocsin"})
    return Listing(
        terms=search(params.get("query")),
        offset=_number(params.get("offset"), "offset", 0, 0, 2**31 - 1),
        limit=_number(params.get("limit"), "limit", 20, 1, MAX_LIMIT),
        sort=_choice(params.get("sort"), "sort", SORT_FIELDS),
        order=_choice(params.get("order"), "order", ("desc", "asc")),
    )


def notes_listing(params: Mapping[str, str]) -> Listing:
    """List notes' query parameters: offset (notes to skip), limit, order (newest first)."""
    return Listing(
        terms=[],
        offset=_number(params.get("offset"), "offset", 0, 0, 2**31 - 1),
        limit=_number(params.get("limit"), "limit", 20, 1, MAX_LIMIT),
        order=_choice(params.get("order"), "order", ("desc", "asc")),
    )
