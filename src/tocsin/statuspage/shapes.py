"""The page in the shape of Atlassian Statuspage's public API v2 (`/api/v2/*.json`), so the
readers people already run (dashboards, Slack apps, status aggregators) read Tocsin. Pure:
from a `Board` to plain dicts; field names and enums are Statuspage's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.statuspage.views import Board, ComponentView, GroupView, IncidentView, UpdateView

Json = dict[str, Any]


def summary(board: Board) -> Json:
    return {
        "page": page(board),
        "components": components(board),
        "incidents": [incident(board, i) for i in board.incidents],
        "scheduled_maintenances": [
            incident(board, i) for i in board.active_maintenance + board.upcoming_maintenance
        ],
        "status": status(board),
    }


def page(board: Board) -> Json:
    info = board.page
    return {
        "id": info.id,
        "name": info.name,
        "url": info.url,
        "time_zone": info.time_zone,
        "updated_at": stamp(board, info.updated_at),
    }


def status(board: Board) -> Json:
    return {"indicator": board.indicator, "description": board.description}


def components(board: Board) -> list[Json]:
    found = [_component(board, c) for c in board.components]
    found += [_group(board, g) for g in board.groups]
    return sorted(found, key=lambda c: (c["position"], c["group"], c["name"]))


def incidents(board: Board, *, unresolved: bool = False) -> list[Json]:
    chosen = board.incidents if unresolved else [i for i in board.history if i.kind == "incident"]
    return [incident(board, i) for i in chosen]


def maintenances(board: Board, which: str = "all") -> list[Json]:
    chosen = {
        "all": board.maintenance(),
        "upcoming": board.upcoming_maintenance,
        "active": board.active_maintenance,
    }[which]
    return [incident(board, i) for i in chosen]


def incident(board: Board, item: IncidentView) -> Json:
    shaped: Json = {
        "id": item.code,
        "name": item.name,
        "status": item.status,
        "created_at": stamp(board, item.created_at),
        "updated_at": stamp(board, item.updated_at),
        "monitoring_at": stamp(board, item.monitoring_at),
        "resolved_at": stamp(board, item.resolved_at),
        "impact": item.impact,
        "shortlink": f"{board.page.url}/incidents/{item.code}",
        "started_at": stamp(board, item.started_at or item.created_at),
        "page_id": board.page.id,
        "incident_updates": [_update(board, item, u) for u in item.updates],
        "components": [_component(board, c) for c in board.components if c.slug in item.components],
    }
    if item.kind == "maintenance":
        shaped["scheduled_for"] = stamp(board, item.scheduled_for)
        shaped["scheduled_until"] = stamp(board, item.scheduled_until)
    return shaped


def _update(board: Board, item: IncidentView, update: UpdateView) -> Json:
    at = stamp(board, update.created_at)
    return {
        "id": f"{item.code}-{update.id}",
        "status": update.status,
        "body": update.body,
        "incident_id": item.code,
        "created_at": at,
        "updated_at": at,
        "display_at": at,
        "affected_components": update.affected or None,
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


def _component(board: Board, view: ComponentView) -> Json:
    return {
        "id": view.slug,
        "name": view.name,
        "status": view.status,
        "created_at": stamp(board, view.created_at),
        "updated_at": stamp(board, view.updated_at),
        "position": view.position,
        "description": view.description or None,
        "showcase": True,
        "start_date": None,
        "group_id": view.group_id,
        "page_id": board.page.id,
        "group": False,
        "only_show_if_degraded": False,
    }


def _group(board: Board, group: GroupView) -> Json:
    return {
        "id": group.id,
        "name": group.name,
        "status": group.status,
        "created_at": stamp(board, group.created_at),
        "updated_at": stamp(board, group.updated_at),
        "position": group.position,
        "description": None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": board.page.id,
        "group": True,
        "only_show_if_degraded": False,
        "components": [c.slug for c in group.components],
    }


def stamp(board: Board, at: datetime | None) -> str | None:
    """ISO 8601 in the page's time zone, to the millisecond, as Statuspage writes times."""
    if at is None:
        return None
    return at.astimezone(ZoneInfo(board.page.time_zone)).isoformat(timespec="milliseconds")
