"""The metrics API's answer (`GET /api/v1/metrics`), documented in the OpenAPI."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

DEFINITIONS = {
    "mttd": "time to detect: impact_started to detected (incidents with an impact start only)",
    "mtta": "time to acknowledge: detected to acknowledged",
    "mttm": "time to mitigate: detected to mitigated",
    "mttr": "time to resolve (MTTR means resolve here): detected to resolved",
    "clocks_met_ratio": "met / (met + breached) per clock kind; pending and cancelled left out",
    "review_on_time_rate": "review clocks met / (met + breached)",
    "action_item_closure_rate": "action-item clocks met (done by the due date) / every "
    "action-item clock not cancelled, pending ones included",
    "period": "incidents declared in [from, to); their clocks, reviews and action items",
}


class Spread(BaseModel):
    count: int = Field(description="How many incidents have both timestamps.")
    mean: float | None
    median: float | None
    p90: float | None


class ClockTally(BaseModel):
    met: int = 0
    breached: int = 0
    pending: int = 0


class SeverityCount(BaseModel):
    severity: str
    count: int


class FollowThrough(BaseModel):
    review_on_time_rate: float | None
    action_item_closure_rate: float | None
    reviews: ClockTally
    action_items: ClockTally


class Bucket(BaseModel):
    start: datetime
    end: datetime
    incidents: int
    mtta_seconds: float | None
    mttr_seconds: float | None


class IncidentRow(BaseModel):
    id: str
    title: str
    severity: str
    type: str | None
    declared_at: datetime
    mtta_seconds: float | None
    mttr_seconds: float | None
    clocks: dict[str, ClockTally] = Field(description="This incident's clocks by kind.")


class Metrics(BaseModel):
    """Figures over incidents declared in [from, to). A figure with no data is null, never 0."""

    model_config = {"populate_by_name": True}

    from_: datetime = Field(alias="from", serialization_alias="from")
    to: datetime
    filters: dict[str, list[str] | str | bool | None]
    incidents: int
    mttd_seconds: float | None
    mtta_seconds: float | None
    mttm_seconds: float | None
    mttr_seconds: float | None
    times: dict[str, Spread] = Field(description="mttd, mtta, mttm and mttr: mean, median, p90.")
    severity_distribution: list[SeverityCount] = Field(
        description="Incidents by severity, in the policy's order, most severe first."
    )
    clocks_met_ratio: dict[str, float | None] = Field(description="By clock kind.")
    clocks: dict[str, ClockTally]
    follow_through: FollowThrough
    series: list[Bucket] = Field(description="Per day, week or month, for charts.")
    top_incidents: list[IncidentRow] = Field(
        default=[], description="The most severe incidents first, when `top` is asked for."
    )
    definitions: dict[str, str] = Field(default_factory=lambda: dict(DEFINITIONS))
