"""`/api/v1/silences`: maintenance windows and silences."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tocsin.alerts import silences
from tocsin.alerts.models import Silence
from tocsin.timesource import Instant
from tocsin.web.deps import PathId, Reader, ReadSession, Responder, RuntimeDep

router = APIRouter(prefix="/api/v1/silences", tags=["silences"])


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=2000)
    ends_at: Instant
    starts_at: Instant | None = None
    service: str | None = Field(default=None, max_length=200)
    matchers: dict[str, str] = Field(default_factory=dict, description="Labels that must match.")
    kind: str = Field(default="silence", description="maintenance or silence")


class SilenceOut(BaseModel):
    id: int
    kind: str
    service: str | None
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    cancelled: bool

    @classmethod
    def of(cls, silence: Silence) -> SilenceOut:
        return cls.model_validate(silence, from_attributes=True)


@router.post("", status_code=201, summary="Silence alerts or announce maintenance")
def create(body: SilenceIn, runtime: RuntimeDep, principal: Responder) -> SilenceOut:
    with runtime.database.write_session() as session:
        silence = silences.create(session, actor=principal.name, **body.model_dump())
        return SilenceOut.of(silence)


@router.get("", summary="List silences (active ones by default)")
def list_silences(
    session: ReadSession, _principal: Reader, include_ended: bool = False
) -> list[SilenceOut]:
    rows = silences.list_silences(session, active_only=not include_ended)
    return [SilenceOut.of(s) for s in rows]


@router.delete("/{silence_id}", summary="End a silence now")
def cancel(silence_id: PathId, runtime: RuntimeDep, _principal: Responder) -> SilenceOut:
    with runtime.database.write_session() as session:
        return SilenceOut.of(silences.cancel(session, silence_id=silence_id))
