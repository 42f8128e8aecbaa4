"""Import every domain's tables so `Base.metadata` is complete (for Alembic and checks)."""

from tocsin.alerts.models import Alert, AlertGroup, Integration, OpsgenieRequest, Silence
from tocsin.auth.models import ApiToken, User
from tocsin.engine.models import EngineInstance
from tocsin.evidence.models import Checkpoint
from tocsin.incidents.models import Clock, Incident, IncidentCounter, TimelineEvent
from tocsin.notify.models import NamedChannel, Notification, ServerSecret, UsedAckToken
from tocsin.oncall.models import (
    ContactMethod,
    EscalationPolicy,
    NotificationRule,
    Person,
    Schedule,
    ScheduleOverride,
    Service,
    Team,
)
from tocsin.policy.models import PolicySnapshot

__all__ = [
    "Alert",
    "AlertGroup",
    "ApiToken",
    "Checkpoint",
    "Clock",
    "ContactMethod",
    "EngineInstance",
    "EscalationPolicy",
    "Incident",
    "IncidentCounter",
    "Integration",
    "NamedChannel",
    "Notification",
    "NotificationRule",
    "OpsgenieRequest",
    "Person",
    "PolicySnapshot",
    "Schedule",
    "ScheduleOverride",
    "ServerSecret",
    "Service",
    "Silence",
    "Team",
    "TimelineEvent",
    "UsedAckToken",
    "User",
]
