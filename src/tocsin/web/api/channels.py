"""Named notification channels over HTTP: save (validated), list and show (secrets masked),
change, remove, and send a test message through the outbox."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from tocsin.comms.audiences import channel_references
from tocsin.notify import named_channels
from tocsin.notify.channels import NAMED
from tocsin.notify.models import Notification
from tocsin.web.deps import Admin, PathId, Reader, ReadSession, RuntimeDep

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])

ChannelName = Annotated[
    str, Path(pattern=named_channels.NAME_PATTERN, description="The channel's name.")
]
Settings = Annotated[
    dict[str, Any],
    Field(
        description="The kind's settings (docs/channels.md). Secrets are never shown back: "
        "a secret left out of a change, or given back as ********, keeps its saved value."
    ),
]
STATUS = {"pending": "pending", "sending": "pending", "sent": "sent", "bundled": "sent"}


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=named_channels.NAME_PATTERN, description="As `channel:<name>`.")
    kind: Literal["email", "webhook", "apprise", "teams", "slack"] = Field(
        description=", ".join(NAMED)
    )
    config: Settings


class ChannelChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: Settings


class ChannelOut(BaseModel):
    name: str
    kind: str
    config: dict[str, Any] = Field(description="The settings, secrets masked.")
    updated_at: datetime
    updated_by: str
    last_status: str | None = Field(description="The outbox status of its latest message.")
    last_at: datetime | None
    last_error: str | None
    audiences: list[str] = Field(description="The policy's audiences that reach it.")


class MissingChannel(BaseModel):
    name: str
    audiences: list[str] = Field(description="The policy's audiences that list it.")


class ChannelList(BaseModel):
    items: list[ChannelOut]
    missing: list[MissingChannel] = Field(
        description="Channels the policy's audiences name that are not saved: "
        "messages to them reach nobody, and the fallback contact is told."
    )


class TestOut(BaseModel):
    id: int
    channel: str
    status: Literal["pending", "sent", "failed", "cancelled"]
    attempts: int
    queued_at: datetime
    sent_at: datetime | None
    error: str | None = Field(description="Why the last attempt failed, if it did.")


def _out(runtime: RuntimeDep, shown: named_channels.Shown) -> ChannelOut:
    references = channel_references(runtime.policy.policy)
    return ChannelOut(**asdict(shown), audiences=references.get(shown.name, []))


def _test_out(row: Notification, name: str) -> TestOut:
    return TestOut(
        id=row.id,
        channel=name,
        status=STATUS.get(row.status, row.status),
        attempts=row.attempts,
        queued_at=row.created_at,
        sent_at=row.sent_at,
        error=row.last_error,
    )


@router.get("", summary="The named channels (settings masked), and those the policy lacks")
def list_channels(session: ReadSession, runtime: RuntimeDep, _principal: Reader) -> ChannelList:
    rows = named_channels.all_channels(session)
    saved = {row.name for row in rows}
    references = channel_references(runtime.policy.policy)
    return ChannelList(
        items=[_out(runtime, named_channels.shown(session, row)) for row in rows],
        missing=[
            MissingChannel(name=name, audiences=audiences)
            for name, audiences in sorted(references.items())
            if name not in saved
        ],
    )


@router.post("", status_code=201, summary="Save a channel under a name (settings validated)")
def add_channel(body: ChannelIn, runtime: RuntimeDep, principal: Admin) -> ChannelOut:
    with runtime.database.write_session() as session:
        row = named_channels.add(
            session, name=body.name, kind=body.kind, config=body.config, actor=principal.name
        )
        return _out(runtime, named_channels.shown(session, row))


@router.get("/{name}", summary="One channel, its settings masked")
def show_channel(
    name: ChannelName, session: ReadSession, runtime: RuntimeDep, _principal: Reader
) -> ChannelOut:
    return _out(runtime, named_channels.shown(session, named_channels.get(session, name)))


@router.patch("/{name}", summary="Change some of a channel's settings (validated as a whole)")
def change_channel(
    name: ChannelName, body: ChannelChange, runtime: RuntimeDep, principal: Admin
) -> ChannelOut:
    with runtime.database.write_session() as session:
        row = named_channels.change(session, name=name, config=body.config, actor=principal.name)
        return _out(runtime, named_channels.shown(session, row))


@router.delete("/{name}", status_code=204, summary="Remove a channel")
def remove_channel(name: ChannelName, runtime: RuntimeDep, principal: Admin) -> Response:
    with runtime.database.write_session() as session:
        named_channels.remove(session, name=name, actor=principal.name)
    return Response(status_code=204)


@router.post(
    "/{name}/tests",
    status_code=202,
    summary="Send a test message through the outbox; poll its outcome",
)
def send_test(name: ChannelName, runtime: RuntimeDep, principal: Admin) -> TestOut:
    with runtime.database.write_session() as session:
        row = named_channels.queue_test(session, name=name, actor=principal.name)
        return _test_out(row, name)


@router.get("/{name}/tests/{notification_id}", summary="What became of a test message")
def test_outcome(
    name: ChannelName, notification_id: PathId, session: ReadSession, _principal: Reader
) -> TestOut:
    row = named_channels.test_message(session, name=name, notification_id=notification_id)
    return _test_out(row, name)
