"""Import every domain's tables so `Base.metadata` is complete (for Alembic and checks)."""

from tocsin.alerts.models import Alert, AlertGroup, Integration, OpsgenieRequest, Silence
from tocsin.auth.models import ApiToken, ConsoleSession, User
from tocsin.engine.models import EngineInstance
from tocsin.evidence.models import Checkpoint, ContainmentSwitch, EvidenceItem, LegalHold
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
from tocsin.reviews.drill_models import Drill, RunbookReview
from tocsin.reviews.models import ActionItem, Review
from tocsin.statuspage.models import (
    Component,
    PageState,
    PublicIncident,
    PublicUpdate,
    Subscriber,
)

__all__ = [
    "ActionItem",
    "Alert",
    "AlertGroup",
    "ApiToken",
    "Checkpoint",
    "Clock",
    "Component",
    "ConsoleSession",
    "ContactMethod",
    "ContainmentSwitch",
    "Drill",
    "EngineInstance",
    "EscalationPolicy",
    "EvidenceItem",
    "Incident",
    "IncidentCounter",
    "Integration",
    "LegalHold",
    "NamedChannel",
    "Notification",
    "NotificationRule",
    "OpsgenieRequest",
    "PageState",
    "Person",
    "PolicySnapshot",
    "PublicIncident",
    "PublicUpdate",
    "Review",
    "RunbookReview",
    "Schedule",
    "ScheduleOverride",
    "ServerSecret",
    "Service",
    "Silence",
    "Subscriber",
    "Team",
    "TimelineEvent",
    "UsedAckToken",
    "User",
]
