"""The status page's part of a policy: its branding, the audience it speaks for, and what a
severity does to the components of the services an incident affects.

Pure: no database. The statuses are Atlassian Statuspage's, so its readers understand them.
"""

from __future__ import annotations

from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator

ComponentStatus = Literal[
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
]
# Mildest first: a component shows the worst status anything gives it.
COMPONENT_STATUSES: tuple[str, ...] = get_args(ComponentStatus)


class PageLink(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str
    url: str


class StatusPageSettings(BaseModel):
    """`status_page:` in a policy file.

    - name, url, logo_url, links, timezone: what the public page shows (timezone defaults to
      the policy's).
    - audience: the audience the page and its subscribers are (default: `customers`, if the
      policy has it). Publishing to the page answers the update clocks owed to it.
    - impact: severity id -> the status the affected services' components take while an
      incident of that severity is open (`{P0: major_outage}`); a severity not listed leaves
      components alone until someone publishes an incident.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    url: str | None = None
    logo_url: str | None = None
    links: list[PageLink] = []
    timezone: str | None = None
    audience: str | None = None
    impact: dict[str, ComponentStatus] = {}

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like UTC") from None
        return value
