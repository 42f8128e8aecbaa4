"""What the reviews API takes and answers. Separate from the ORM rows (tocsin.reviews.models)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tocsin.incidents.models import Clock
from tocsin.reviews.models import ActionItem, Review


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ClockState(BaseModel):
    kind: str
    key: str
    due_at: datetime
    state: str
    settled_at: datetime | None

    @classmethod
    def of(cls, clock: Clock | None) -> ClockState | None:
        if clock is None:
            return None
        return cls(
            kind=clock.kind,
            key=clock.key,
            due_at=clock.due_at,
            state=clock.state,
            settled_at=clock.settled_at,
        )


class ActionItemOut(BaseModel):
    id: int
    incident_id: str
    review_id: int
    title: str
    owner: str | None
    item_class: str | None = Field(serialization_alias="class")
    due_at: datetime
    status: Literal["open", "in_progress", "done", "wont_do"]
    tracker_url: str | None
    overdue: bool
    created_at: datetime
    created_by: str
    done_at: datetime | None
    clock: ClockState | None

    @classmethod
    def of(cls, item: ActionItem, *, overdue: bool, clock: Clock | None) -> ActionItemOut:
        return cls(
            id=item.id,
            incident_id=item.incident_id,
            review_id=item.review_id,
            title=item.title,
            owner=item.owner,
            item_class=item.item_class,
            due_at=item.due_at,
            status=item.status,
            tracker_url=item.tracker_url,
            overdue=overdue,
            created_at=item.created_at,
            created_by=item.created_by,
            done_at=item.done_at,
            clock=ClockState.of(clock),
        )


class ReviewOut(BaseModel):
    id: int
    incident_id: str
    kind: Literal["full", "short"]
    status: Literal["draft", "in_review", "reviewed", "closed"]
    owner: str | None
    due_at: datetime | None
    overdue: bool
    body: str
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str
    reviewed_at: datetime | None
    closed_at: datetime | None
    allowed_moves: list[str]
    clock: ClockState | None
    action_items: list[ActionItemOut]

    @classmethod
    def of(
        cls,
        review: Review,
        *,
        overdue: bool,
        allowed: list[str],
        clock: Clock | None,
        items: list[ActionItemOut],
    ) -> ReviewOut:
        return cls(
            id=review.id,
            incident_id=review.incident_id,
            kind=review.kind,
            status=review.status,
            owner=review.owner,
            due_at=review.due_at,
            overdue=overdue,
            body=review.body,
            version=review.version,
            created_at=review.created_at,
            updated_at=review.updated_at,
            updated_by=review.updated_by,
            reviewed_at=review.reviewed_at,
            closed_at=review.closed_at,
            allowed_moves=allowed,
            clock=ClockState.of(clock),
            action_items=items,
        )


class ReviewList(BaseModel):
    items: list[ReviewOut]


class ActionItemList(BaseModel):
    items: list[ActionItemOut]


class ReviewPatch(Strict):
    """Any of: a new body (Markdown), owner, or status. `version` guards against overwriting
    an edit made since you read the review."""

    body: str | None = Field(default=None, max_length=500_000)
    owner: str | None = Field(default=None, max_length=200)
    status: str | None = None
    version: int | None = None


class ActionItemIn(Strict):
    """Give a `class` (its due date follows the policy) or a `due_at`, or both."""

    title: str = Field(min_length=1, max_length=300)
    owner: str | None = Field(default=None, max_length=200)
    item_class: str | None = Field(default=None, alias="class", max_length=80)
    due_at: AwareDatetime | None = None
    tracker_url: str | None = Field(default=None, max_length=2000)


class ActionItemPatch(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    owner: str | None = Field(default=None, max_length=200)
    status: str | None = None
    due_at: AwareDatetime | None = None
    tracker_url: str | None = Field(default=None, max_length=2000)
