"""Import every domain's tables so `Base.metadata` is complete (for Alembic and checks)."""

from tocsin.alerts.models import Alert, AlertGroup, Integration, Silence
from tocsin.auth.models import ApiToken, User
from tocsin.incidents.models import Clock, Incident, IncidentCounter, TimelineEvent
from tocsin.policy.models import PolicySnapshot

__all__ = [
    "Alert",
    "AlertGroup",
    "ApiToken",
    "Clock",
    "Incident",
    "IncidentCounter",
    "Integration",
    "PolicySnapshot",
    "Silence",
    "TimelineEvent",
    "User",
]
