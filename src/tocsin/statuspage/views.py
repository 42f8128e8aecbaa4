"""What the page shows at one moment, as plain values (built by `board.build`). Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tocsin.statuspage.statuses import ENDED, worst
from tocsin.statuspage.uptime import Uptime

ACTIVE_MAINTENANCE = ("in_progress", "verifying")


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class PageInfo:
    id: str
    name: str
    url: str
    time_zone: str
    logo_url: str | None
    links: list[Link]
    updated_at: datetime


@dataclass(frozen=True)
class ComponentView:
    slug: str
    name: str
    description: str
    group: str | None
    group_id: str | None
    status: str
    position: int
    created_at: datetime
    updated_at: datetime
    uptime: Uptime


@dataclass(frozen=True)
class GroupView:
    id: str
    name: str
    position: int
    components: list[ComponentView]
    created_at: datetime
    updated_at: datetime

    @property
    def status(self) -> str:
        return worst(c.status for c in self.components)


@dataclass(frozen=True)
class UpdateView:
    id: int
    status: str
    body: str
    created_at: datetime
    affected: list[dict[str, str]]


@dataclass(frozen=True)
class IncidentView:
    code: str
    kind: str
    name: str
    status: str
    impact: str
    components: list[str]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    monitoring_at: datetime | None
    resolved_at: datetime | None
    scheduled_for: datetime | None
    scheduled_until: datetime | None
    updates: list[UpdateView]

    @property
    def ended(self) -> bool:
        return self.status in ENDED


@dataclass(frozen=True)
class Board:
    page: PageInfo
    components: list[ComponentView]
    groups: list[GroupView]
    history: list[IncidentView]  # newest first, incidents and maintenance
    indicator: str
    description: str
    at: datetime
    ungrouped: list[ComponentView] = field(default_factory=list)

    @property
    def incidents(self) -> list[IncidentView]:
        return [i for i in self.history if i.kind == "incident" and not i.ended]

    @property
    def active_maintenance(self) -> list[IncidentView]:
        return [
            i for i in self.history if i.kind == "maintenance" and i.status in ACTIVE_MAINTENANCE
        ]

    @property
    def upcoming_maintenance(self) -> list[IncidentView]:
        found = [i for i in self.history if i.kind == "maintenance" and i.status == "scheduled"]
        return sorted(found, key=lambda i: i.scheduled_for or i.created_at)

    def maintenance(self) -> list[IncidentView]:
        return [i for i in self.history if i.kind == "maintenance"]

    def past(self, days: int = 14) -> list[IncidentView]:
        since = self.at - timedelta(days=days)
        return [i for i in self.history if i.ended and (i.resolved_at or i.updated_at) >= since]

    def component_names(self, slugs: Iterable[str]) -> list[str]:
        names = {c.slug: c.name for c in self.components}
        return [names[s] for s in slugs if s in names]
