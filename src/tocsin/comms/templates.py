"""Rendering a message from a template, in a sandbox, over a live incident.

The variables are those of tocsin.policy.templates (checked by `tocsin policy check`). Times
read as UTC minutes ("2026-11-22 09:12"); a value nobody gave renders as "(not given)",
so a template never fails at 3 a.m. for want of an ETA. The sandbox keeps a template from
reaching anything but the values handed to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import ChainableUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from tocsin.errors import InvalidInput
from tocsin.incidents.models import Incident
from tocsin.incidents.wording import span_text
from tocsin.policy.schema import Policy, Template
from tocsin.policy.templates import BUILTINS, Builtin
from tocsin.timesource import now

NOT_GIVEN = "(not given)"


class NotGiven(ChainableUndefined):
    """A missing value: falsy (so `fields.impact or incident.summary` works), and readable."""

    def __str__(self) -> str:
        return NOT_GIVEN


_ENVIRONMENT = SandboxedEnvironment(
    autoescape=False, undefined=NotGiven, keep_trailing_newline=True
)


@dataclass(frozen=True)
class Rendered:
    template: str  # the policy template's id, or "builtin:<name>"
    subject: str
    body: str


def minute(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def incident_values(incident: Incident, policy: Policy, base_url: str) -> dict[str, Any]:
    severity = policy.severity(incident.severity)
    kind = next((t for t in policy.incident_types if t.id == incident.type), None)
    started = incident.impact_started_at or incident.detected_at
    ended = incident.resolved_at or now()
    return {
        "id": incident.id,
        "title": incident.title,
        "summary": incident.summary,
        "severity": incident.severity,
        "severity_name": severity.name,
        "status": incident.status,
        "type": incident.type or "",
        "type_name": kind.name if kind else "",
        "services": ", ".join(incident.services),
        "service": incident.services[0] if incident.services else "our service",
        "flags": ", ".join(sorted(k for k, v in incident.flags.items() if v)),
        "roles": ", ".join(f"{role}: {who}" for role, who in sorted(incident.roles.items())),
        "commander": incident.roles.get("commander", ""),
        "declared_at": minute(incident.declared_at),
        "detected_at": minute(incident.detected_at),
        "impact_started_at": minute(incident.impact_started_at),
        "started_at": minute(started),
        "acknowledged_at": minute(incident.acknowledged_at),
        "mitigated_at": minute(incident.mitigated_at),
        "resolved_at": minute(incident.resolved_at),
        "duration": span_text(max(0.0, (ended - started).total_seconds())),
        "url": f"{base_url.rstrip('/')}/console/incidents/{incident.id}",
    }


def context(
    incident: Incident,
    policy: Policy,
    *,
    base_url: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every variable a template may use; `extra` adds update, fields, stage or clock."""
    values = incident_values(incident, policy, base_url)
    bridge = policy.bridge(incident.severity)
    chat = next((c.address or c.name for c in policy.channels if c.kind == "slack"), "")
    found: dict[str, Any] = {
        "incident": values,
        "policy": {"name": policy.name, "title": policy.title},
        "service": values["service"],
        "fields": {},
        "bridge": bridge,
        "updates_channel": chat.replace("{{ incident.id }}", incident.id.lower()),
        "status_page": policy.severity(incident.severity).status_page or "",
        "drill": bool(incident.flags.get("drill")),
        "now": minute(now()),
    }
    found.update(extra or {})
    update = found.get("update") or {}
    found.setdefault("next_update_at", update.get("next_update_at", ""))
    found.setdefault("next_update_minutes", update.get("next_update_minutes", ""))
    return found


def render(
    policy: Policy, template_id: str | None, builtin: str, values: Mapping[str, Any]
) -> Rendered:
    """The policy's template `template_id` if given, else the built-in text `builtin`."""
    if template_id is not None:
        template = policy.template(template_id)
        if template is None:
            known = [t.id for t in policy.templates]
            raise InvalidInput(f"unknown template {template_id!r}", field="template", allowed=known)
        default_subject = BUILTINS[builtin].subject
        subject = template.subject or default_subject
        return _render(template_id, Builtin(subject, _with_bridge(template)), values)
    return _render(f"builtin:{builtin}", BUILTINS[builtin], values)


def _with_bridge(template: Template) -> str:
    """A message template that does not place the bridge link gets it as its last line, so
    every page and update carries it (the runbook's texts predate the link)."""
    if template.format != "text" or "bridge" in template.body:
        return template.body
    return template.body.rstrip("\n") + "\n{% if bridge %}Bridge: {{ bridge }}{% endif %}\n"


def _render(name: str, text: Builtin, values: Mapping[str, Any]) -> Rendered:
    try:
        subject = _ENVIRONMENT.from_string(text.subject).render(values)
        body = _ENVIRONMENT.from_string(text.body).render(values)
    except TemplateError as exc:
        raise InvalidInput(
            f"template {name} could not be rendered: {exc}", field="template"
        ) from exc
    return Rendered(name, " ".join(subject.split())[:300], body.strip() + "\n")
