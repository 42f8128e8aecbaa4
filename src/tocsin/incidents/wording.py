"""Incidents in words: timeline events as the lines responders read, and times as they say them.

Pure functions with no web, template or database code, so the web console and the CLI tell
an incident's story in the same words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tocsin.policy.clock_kinds import fires

if TYPE_CHECKING:  # the schemas load the models (SQLAlchemy); the CLI's tables need neither
    from tocsin.incidents.schemas import ClockOut, EventOut

# -- time in words ------------------------------------------------------------------------------


def utc_text(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_text(value: datetime) -> str:
    """For machines (`datetime` attributes, countdowns): UTC to the millisecond."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def span_text(seconds: float) -> str:
    """A duration as a responder says it: '45 s', '12 min', '3 h 20 min', '2 d 4 h'."""
    whole = int(abs(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"


def until_text(due: datetime, at: datetime) -> str:
    seconds = (due - at).total_seconds()
    return f"in {span_text(seconds)}" if seconds >= 0 else f"overdue by {span_text(seconds)}"


def ago_text(value: datetime, at: datetime) -> str:
    seconds = (at - value).total_seconds()
    return "just now" if seconds < 5 else f"{span_text(seconds)} ago"


def countdown_text(clock: ClockOut, at: datetime) -> str:
    """A step (an escalation) is not a duty anyone misses: when due it fires, it is not overdue."""
    if fires(clock.kind) and clock.due_at <= at:
        return "firing now"
    return until_text(clock.due_at, at)


def clock_phase(clock: ClockOut, at: datetime) -> str:
    """How urgent a clock looks: overdue, warning or pending while it runs; else its state."""
    if clock.state != "pending":
        return clock.state
    if clock.due_at <= at:
        return "pending" if fires(clock.kind) else "overdue"
    return "warning" if clock.warn_at is not None and clock.warn_at <= at else "pending"


# -- timeline events in words -------------------------------------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items())
    return str(value)


def _pairs(data: Mapping[str, Any]) -> str:
    """Any event's data, readably: 'key: value; other: a, b', cut at 240 characters."""
    text = "; ".join(f"{k}: {_value(v)}" for k, v in data.items() if v not in (None, "", [], {}))
    return text if len(text) <= 240 else text[:239] + "…"


def _move(data: Mapping[str, Any], why: str) -> str:
    text = f"{data.get('from')} → {data.get('to')}"
    return f"{text}: {data[why]}" if data.get(why) else text


# An event kind missing here still reads, as its data's key: value pairs (see `_pairs`).
SUMMARIES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "declared": lambda d: f"{d.get('severity')} · {d.get('title')}",
    "status_changed": lambda d: _move(d, "message"),
    "reopened": lambda d: _move(d, "message"),
    "severity_changed": lambda d: _move(d, "reason"),
    "role_assigned": lambda d: f"{d.get('role')}: {d.get('assignee')}",
    "role_unassigned": lambda d: f"{d.get('role')} cleared (was {d.get('previous')})",
    "note": lambda d: str(d.get("text", "")),
    "update_published": lambda d: str(d.get("message", "")),
    "clock_met": lambda d: str(d.get("label", d.get("key", ""))),
    "clock_breached": lambda d: str(d.get("label", d.get("key", ""))),
    "clock_warning": lambda d: f"{d.get('label')} — due {d.get('due_at')}",
    "escalated": lambda d: str(d.get("label", d.get("key", ""))),
    "clock_fired": lambda d: str(d.get("label", d.get("key", ""))),
    "escalated_now": lambda d: f"brought forward: {d.get('label', d.get('key', ''))}",
    "clocks_cancelled": lambda d: f"{', '.join(d.get('keys', []))} — {d.get('reason')}",
    "flags_changed": lambda d: f"{_pairs(d.get('changes', {}))} (aware {d.get('aware_at')})",
    "page_failed": lambda d: _value(d.get("problems")) or _pairs(d),
    "evidence_added": lambda d: (
        f"#{d.get('evidence_id')} {d.get('kind')} {d.get('title')} · sha256 "
        f"{str(d.get('sha256'))[:16]}… · {d.get('size')} B"
    ),
    "evidence_viewed": lambda d: f"#{d.get('evidence_id')} viewed",
    "evidence_exported": lambda d: f"#{d.get('evidence_id')} exported to {d.get('to')}",
    "evidence_handed_over": lambda d: _why(
        f"#{d.get('evidence_id')} handed over to {d.get('to')}", d
    ),
    "evidence_purged": lambda d: (
        f"#{d.get('evidence_id')} purged: {d.get('retention_class')} kept until "
        f"{d.get('retain_until')}"
    ),
    "legal_hold_placed": lambda d: str(d.get("reason", "")),
    "legal_hold_released": lambda d: str(d.get("reason", "")),
    "switch_flipped": lambda d: (
        f"{d.get('switch')} {str(d.get('state')).upper()} ({d.get('how')}): {d.get('reason')}"
    ),
    "review_opened": lambda d: (
        f"{'drill' if d.get('kind') == 'short' else 'post-incident'} review opened for "
        f"{d.get('owner') or 'nobody yet'}, due {d.get('due_at') or 'no date'}"
    ),
    "review_edited": lambda d: (
        f"review {', '.join(d.get('changed', []))} changed (v{d.get('version')})"
    ),
    "review_status_changed": lambda d: f"review {d.get('from')} → {d.get('to')}",
    "action_item_added": lambda d: (
        f"#{d.get('action_item_id')} {d.get('title')} · {d.get('owner') or 'unassigned'} · "
        f"due {d.get('due_at')}"
    ),
    "action_item_updated": lambda d: (
        f"#{d.get('action_item_id')} {d.get('title')}: {d.get('status')} "
        f"({', '.join(d.get('changed', []))} changed)"
    ),
    "checklist_ticked": lambda d: f"done: {d.get('text')} ({d.get('phase')})",
    "checklist_unticked": lambda d: f"not done after all: {d.get('text')} ({d.get('phase')})",
    "watch_alerted": lambda d: f"{d.get('count')} new alert(s): {_value(d.get('alerts'))}",
}


def _why(text: str, data: Mapping[str, Any]) -> str:
    return f"{text}: {data['reason']}" if data.get("reason") else text


def summarise(event: EventOut) -> str:
    """What happened in this event, in one line (the timeline's Details column)."""
    summary = SUMMARIES.get(event.kind)
    return summary(event.data) if summary else _pairs(event.data)
