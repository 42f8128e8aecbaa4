"""The drills API's shapes (apart from the ORM)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from tocsin.incidents.schemas import Strict
from tocsin.reviews.drill_models import Drill
from tocsin.reviews.drills import Due


class DrillStartIn(Strict):
    scenario: str = Field(
        min_length=1,
        max_length=200,
        description="What is rehearsed: a drills[].id of the policy, or a scenario's name",
    )
    drill: str | None = Field(
        default=None,
        max_length=80,
        description="The drills[].id it counts for (default: the scenario's, else the one due "
        "first)",
    )
    title: str | None = Field(default=None, max_length=280)
    severity: str | None = Field(default=None, max_length=40)
    services: list[str] = Field(default_factory=list, max_length=100)


class DrillEndIn(Strict):
    outcome: Literal["passed", "partial", "failed"]
    lessons: str = Field(default="", max_length=20_000)


class RunbookReviewIn(Strict):
    note: str = Field(default="", max_length=20_000)


class DrillOut(BaseModel):
    id: int
    programme_id: str
    kind: str
    title: str
    severity: str
    audience: str | None
    incident_id: str
    started_at: datetime
    started_by: str
    ended_at: datetime | None
    ended_by: str | None
    outcome: str | None
    lessons: str

    @classmethod
    def of(cls, row: Drill) -> DrillOut:
        return cls.model_validate(row, from_attributes=True)


class DueOut(BaseModel):
    """One entry of the drill programme (or the runbook's review) and where it stands:
    `state` is scheduled, due_soon (warned), overdue, or unscheduled."""

    id: str
    what: str
    kind: str
    cadence: str | None
    severity: str | None
    audience: str | None
    owner: str | None = Field(description="Who runs it and is reminded first (drills[].owner)")
    state: Literal["scheduled", "due_soon", "overdue", "unscheduled"]
    due_at: datetime | None
    last_held_at: datetime | None
    last_outcome: str | None
    running: int | None

    @classmethod
    def of(cls, due: Due) -> DueOut:
        return cls.model_validate(due, from_attributes=True)


class DrillsOut(BaseModel):
    programme: list[DueOut]
    held: list[DrillOut]
