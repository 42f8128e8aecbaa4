"""Opsgenie's REST API v2 as documented, answered from tests/fixtures/opsgenie.json.

Lists page five items at a time with `paging.next` links (Opsgenie's own limit is 100; a
small page makes the importer follow links), and the first request for the team list is
refused with 429 and `Retry-After: 0`, as a rate-limited account would be.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.importers.standin import Reply, Request

FIXTURE = Path(__file__).parent.parent / "fixtures" / "opsgenie.json"
API_KEY = "c1b2a3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
PAGE = 5


def organisation() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def _ok(data: Any, **extra: Any) -> Reply:
    return Reply(200, {"data": data, "took": 0.01, "requestId": "standin", **extra})


class Opsgenie:
    def __init__(self, org: dict[str, Any] | None = None) -> None:
        self.org = org or organisation()
        self.throttled = False
        self.routes: list[tuple[re.Pattern[str], Any]] = [
            (re.compile(r"^/v2/users$"), self.users),
            (re.compile(r"^/v2/users/([^/]+)/contacts$"), self.contacts),
            (re.compile(r"^/v2/users/([^/]+)/notification-rules$"), self.rule_list),
            (re.compile(r"^/v2/users/([^/]+)/notification-rules/([^/]+)$"), self.rule),
            (re.compile(r"^/v2/teams$"), self.teams),
            (re.compile(r"^/v2/teams/([^/]+)$"), self.team),
            (re.compile(r"^/v2/teams/([^/]+)/routing-rules$"), self.routing),
            (re.compile(r"^/v2/schedules$"), self.schedules),
            (re.compile(r"^/v2/schedules/([^/]+)/overrides$"), self.overrides),
            (re.compile(r"^/v2/schedules/([^/]+)/timeline$"), self.timeline),
            (re.compile(r"^/v2/escalations$"), self.escalations),
            (re.compile(r"^/v2/integrations$"), self.integrations),
            (re.compile(r"^/v2/integrations/([^/]+)$"), self.integration),
        ]

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"GenieKey {API_KEY}":
            return Reply(401, {"message": "Could not authenticate", "took": 0, "requestId": "x"})
        for pattern, answer in self.routes:
            match = pattern.match(request.path)
            if match:
                return answer(request, *match.groups())  # type: ignore[no-any-return]
        return Reply(404, {"message": f"no such endpoint {request.path}", "took": 0})

    def users(self, request: Request) -> Reply:
        offset = int(request.param("offset", "0"))
        limit = min(int(request.param("limit", "20")), PAGE)
        users = self.org["users"]
        paging = {"first": f"{request.base}/v2/users?limit={limit}&offset=0"}
        if offset + limit < len(users):
            paging["next"] = f"{request.base}/v2/users?limit={limit}&offset={offset + limit}"
        return _ok(users[offset : offset + limit], totalCount=len(users), paging=paging)

    def contacts(self, _request: Request, user: str) -> Reply:
        return _ok(self.org["contacts"][user])

    def rule_list(self, _request: Request, user: str) -> Reply:
        keys = ("id", "name", "actionType", "order", "enabled")
        return _ok([{k: r[k] for k in keys} for r in self.org["notification_rules"][user]])

    def rule(self, _request: Request, user: str, rule: str) -> Reply:
        found = [r for r in self.org["notification_rules"][user] if r["id"] == rule]
        return _ok(found[0]) if found else Reply(404, {"message": "Notification rule not found"})

    def teams(self, _request: Request) -> Reply:
        if not self.throttled:
            self.throttled = True
            return Reply(429, {"message": "Too many requests"}, {"Retry-After": "0"})
        return _ok([{k: t[k] for k in ("id", "name", "description")} for t in self.org["teams"]])

    def team(self, _request: Request, team: str) -> Reply:
        return _ok(next(t for t in self.org["teams"] if t["id"] == team))

    def routing(self, _request: Request, team: str) -> Reply:
        return _ok(self.org["routing_rules"].get(team, []))

    def schedules(self, request: Request) -> Reply:
        expanded = request.param("expand") == "rotation"
        rows = [
            s if expanded else {k: v for k, v in s.items() if k != "rotations"}
            for s in self.org["schedules"]
        ]
        return _ok(rows, expandable=["rotation"])

    def overrides(self, _request: Request, schedule: str) -> Reply:
        return _ok(self.org["overrides"].get(schedule, []))

    def timeline(self, _request: Request, schedule: str) -> Reply:
        return _ok(self.org["timelines"][schedule], expandable=["base", "forwarding", "override"])

    def escalations(self, _request: Request) -> Reply:
        return _ok(self.org["escalations"])

    def integrations(self, _request: Request) -> Reply:
        keys = ("id", "name", "enabled", "type")
        return _ok(
            [
                {**{k: i[k] for k in keys}, "teamId": i["ownerTeam"]["id"]}
                for i in self.org["integrations"]
            ]
        )

    def integration(self, _request: Request, integration: str) -> Reply:
        return _ok(next(i for i in self.org["integrations"] if i["id"] == integration))
