"""Statuspage's vocabulary, and the rules that combine statuses. Pure: no database.

- A component shows the worst status anything gives it (COMPONENT_STATUSES, mildest first),
  unless a person overrides it.
- An incident's impact (none, minor, major, critical) follows the worst status it gives a
  component; the page's indicator is the worst of its components and unresolved incidents.
"""

from __future__ import annotations

from collections.abc import Iterable

from tocsin.errors import InvalidInput
from tocsin.policy.status_page import COMPONENT_STATUSES

__all__ = [
    "COMPONENT_STATUSES",
    "IMPACTS",
    "INCIDENT_STATUSES",
    "MAINTENANCE_STATUSES",
    "check",
    "description",
    "impact_of",
    "indicator",
    "worst",
]

INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
MAINTENANCE_STATUSES = ("scheduled", "in_progress", "verifying", "completed")
ENDED = frozenset({"resolved", "completed"})
IMPACTS = ("none", "minor", "major", "critical")

_IMPACT_OF_STATUS = {
    "operational": "none",
    "under_maintenance": "none",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}
_DESCRIPTION = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}
STATUS_WORDS = {
    "operational": "Operational",
    "under_maintenance": "Under maintenance",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
    "no_data": "No data",
}


def check(value: str, allowed: tuple[str, ...], field: str) -> str:
    """`value` if it is one of `allowed`; else a clear error naming the field."""
    if value not in allowed:
        raise InvalidInput(
            f"unknown {field.rsplit('.', 1)[-1]} {value!r}; allowed: {', '.join(allowed)}",
            field=field,
            allowed=list(allowed),
        )
    return value


def worst(statuses: Iterable[str]) -> str:
    """The most severe component status (operational when there are none)."""
    ranked = [COMPONENT_STATUSES.index(s) for s in statuses if s in COMPONENT_STATUSES]
    return COMPONENT_STATUSES[max(ranked, default=0)]


def impact_of(component_statuses: Iterable[str]) -> str:
    """An incident's impact from the statuses it gives components."""
    return _IMPACT_OF_STATUS[worst(component_statuses)]


def indicator(component_statuses: Iterable[str], incident_impacts: Iterable[str]) -> str:
    """The page's overall indicator: none, minor, major or critical."""
    impacts = [impact_of(component_statuses), *incident_impacts]
    return IMPACTS[max(IMPACTS.index(i) for i in impacts if i in IMPACTS)]


def description(indicator_value: str, maintenance_active: bool = False) -> str:
    if indicator_value == "none" and maintenance_active:
        return "Service Under Maintenance"
    return _DESCRIPTION[indicator_value]


def words(status: str) -> str:
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())
