"""Import every domain's tables so `Base.metadata` is complete (for Alembic and checks)."""

from tocsin.auth.models import ApiToken, User
from tocsin.incidents.models import Clock, Incident, IncidentCounter, TimelineEvent
from tocsin.policy.models import PolicySnapshot

__all__ = [
    "ApiToken",
    "Clock",
    "Incident",
    "IncidentCounter",
    "PolicySnapshot",
    "TimelineEvent",
    "User",
]
