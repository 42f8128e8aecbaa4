"""The evidence locker's and the containment switches' API shapes (apart from the ORM)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from tocsin.evidence.models import ContainmentSwitch, EvidenceItem, LegalHold
from tocsin.incidents.schemas import EventOut, Strict
from tocsin.policy.schema import ContainmentFlag

Text = Field(default="", max_length=20_000)


class AttachmentFields(Strict):
    """What comes with a file (multipart form fields) or makes up a link (JSON)."""

    kind: Literal["file", "log_export", "snapshot", "link"] = "file"
    title: str = Field(min_length=1, max_length=300)
    note: str = Text
    retention_class: str | None = Field(default=None, max_length=80)


class LinkIn(AttachmentFields):
    kind: Literal["file", "log_export", "snapshot", "link"] = "link"
    url: str = Field(min_length=1, max_length=4000)


class CustodyIn(Strict):
    action: Literal["viewed", "exported", "handed_over"]
    to: str | None = Field(default=None, max_length=300)
    reason: str = Text


class HoldIn(Strict):
    reason: str = Field(min_length=1, max_length=20_000)


class SwitchIn(Strict):
    state: Literal["on", "off"]
    reason: str = Field(min_length=1, max_length=20_000)


class EvidenceOut(BaseModel):
    id: int
    incident_id: str
    kind: str
    title: str
    note: str
    filename: str | None
    media_type: str | None
    url: str | None
    sha256: str
    size: int
    retention_class: str | None
    retain_until: datetime | None
    added_by: str
    added_at: datetime
    purged_at: datetime | None
    content: str | None  # where to download it (stored kinds that are not purged)

    @classmethod
    def of(cls, item: EvidenceItem) -> EvidenceOut:
        stored = item.kind != "link" and item.purged_at is None
        return cls(
            id=item.id,
            incident_id=item.incident_id,
            kind=item.kind,
            title=item.title,
            note=item.note,
            filename=item.filename,
            media_type=item.media_type,
            url=item.url,
            sha256=item.sha256,
            size=item.size,
            retention_class=item.retention_class,
            retain_until=item.retain_until,
            added_by=item.added_by,
            added_at=item.added_at,
            purged_at=item.purged_at,
            content=(
                f"/api/v1/incidents/{item.incident_id}/evidence/{item.id}/content"
                if stored
                else None
            ),
        )


class HoldOut(BaseModel):
    reason: str
    placed_by: str
    placed_at: datetime

    @classmethod
    def of(cls, hold: LegalHold) -> HoldOut:
        return cls(reason=hold.reason, placed_by=hold.placed_by, placed_at=hold.placed_at)


class EvidenceList(BaseModel):
    items: list[EvidenceOut]
    legal_hold: HoldOut | None


class EvidenceDetail(EvidenceOut):
    custody: list[EventOut]


class SwitchOut(BaseModel):
    incident_id: str
    name: str
    description: str
    state: Literal["on", "off"]
    on_since: datetime | None
    changed_at: datetime | None
    changed_by: str | None
    reason: str | None
    flipped_by: Literal["webhook", "hand"]
    watch: str | None
    limit: str | None

    @classmethod
    def of(
        cls, incident_id: str, declared: ContainmentFlag, row: ContainmentSwitch | None
    ) -> SwitchOut:
        return cls(
            incident_id=incident_id,
            name=declared.id,
            description=declared.description,
            state="on" if row is not None and row.state == "on" else "off",
            on_since=row.on_since if row else None,
            changed_at=row.changed_at if row else None,
            changed_by=row.changed_by if row else None,
            reason=row.reason if row else None,
            flipped_by="webhook" if declared.webhook else "hand",
            watch=str(declared.watch) if declared.watch else None,
            limit=str(declared.limit) if declared.limit else None,
        )
