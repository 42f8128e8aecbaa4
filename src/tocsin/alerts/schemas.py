"""Alert and integration API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tocsin.alerts.kinds import KINDS, in_words
from tocsin.alerts.models import Alert, Integration


class AlertOut(BaseModel):
    id: int
    integration_id: int
    dedup_key: str
    status: str
    summary: str
    source_severity: str | None
    severity: str | None
    service: str | None
    action: str
    rule: str | None
    suppressed_by: int | None
    labels: dict[str, Any]
    details: dict[str, Any]
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    incident_id: str | None

    @classmethod
    def of(cls, alert: Alert) -> AlertOut:
        return cls.model_validate(alert, from_attributes=True)


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: int | None


class IntegrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(description=in_words())
    service: str | None = Field(default=None, max_length=200)
    heartbeat_interval_s: int | None = Field(default=None, ge=10, le=7 * 86400)
    heartbeat_grace_s: int | None = Field(default=None, ge=0, le=86400)
    default_severity: str | None = Field(
        default=None,
        description="critical, error, warning or info: the severity of its alerts that carry "
        "none (a Grafana rule without a severity label). Grafana integrations start with "
        "warning; alertmanager and generic ones with none (unknown).",
    )


class IntegrationOut(BaseModel):
    id: int
    name: str
    kind: str
    service: str | None
    default_severity: str | None = Field(
        default=None, description="The severity of its alerts that carry none."
    )
    key_prefix: str
    created_at: datetime
    created_by: str
    heartbeat_interval_s: int | None
    heartbeat_grace_s: int | None
    last_ping_at: datetime | None
    key: str | None = Field(default=None, description="Only when created or rotated.")
    urls: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(
        cls, integration: Integration, *, key: str | None = None, base: str = ""
    ) -> IntegrationOut:
        out = cls.model_validate(integration, from_attributes=True)
        out.key = key
        if key:
            out.urls = KINDS[integration.kind].urls_for(key, base)
        return out
