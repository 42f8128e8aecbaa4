"""The web console: server-rendered pages for responders (Jinja2, autoescaped, no build step).

One module per concern: `session` (sign-in, and who may POST), `flash` (the message after a
redirect), `pages` (templates, rendering and forms), and one per page family: `incidents`
(the list and declaring), `incident_room` (one incident and its actions), `evidence` (its
locker's uploads and downloads), `reviews` (its post-incident review), `policy`, `status`
(the status page), `channels` (the named notification channels), `drills` (the drill
programme), `metrics` (figures and charts over a period), `users` (people who sign in, for
admins), `dashboard`, `oncall`, `alerts` (alerts, silences and integrations), `room` (what
the incident room shows from other domains) and `live` (the server-sent events that keep
pages current).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tocsin.web.console import (
    alerts,
    channels,
    dashboard,
    drills,
    evidence,
    incident_room,
    incidents,
    live,
    metrics,
    oncall,
    policy,
    reviews,
    session,
    status,
    users,
)

# csrf_guard notes, for every POST, whether it carries the session's CSRF token.
router = APIRouter(
    prefix="/console", include_in_schema=False, dependencies=[Depends(session.csrf_guard)]
)
router.include_router(session.router)
# The incident list is /console itself. FastAPI refuses to include a router holding an
# empty path unless the include itself gives a prefix, so that one route is added here.
router.add_api_route("", incidents.incidents_page, methods=["GET"])
router.include_router(incidents.router)
# Before the incident room: its `/incidents/{id}/{action}` would take `evidence` as an action.
router.include_router(evidence.router)
router.include_router(reviews.router)
router.include_router(incident_room.router)
router.include_router(policy.router)
router.include_router(status.router)
router.include_router(channels.router)
router.include_router(drills.router)
router.include_router(live.router)
router.include_router(dashboard.router)
router.include_router(oncall.router)
router.include_router(alerts.router)
router.include_router(metrics.router)
router.include_router(users.router)

__all__ = ["router"]
