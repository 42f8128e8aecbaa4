"""PagerDuty's REST API v2 as documented, answered from tests/fixtures/pagerduty.json.

Lists page five at a time (`offset`, `limit`, `more`), and the first request for the team
list is refused with 429 and `Retry-After: 0`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.importers.standin import Reply, Request

FIXTURE = Path(__file__).parent.parent / "fixtures" / "pagerduty.json"
TOKEN = "y_NbAkKc66ryYTWUXYEu"
PAGE = 5


class PagerDuty:
    def __init__(self) -> None:
        self.org: dict[str, Any] = json.loads(FIXTURE.read_text())
        self.throttled = False
        self.routes: list[tuple[re.Pattern[str], Any]] = [
            (re.compile(r"^/users$"), lambda r: self.listed(r, "users", self.org["users"])),
            (re.compile(r"^/users/([^/]+)/contact_methods$"), self.contact_methods),
            (re.compile(r"^/users/([^/]+)/notification_rules$"), self.notification_rules),
            (re.compile(r"^/teams$"), self.teams),
            (re.compile(r"^/teams/([^/]+)/members$"), self.members),
            (re.compile(r"^/schedules$"), self.schedules),
            (re.compile(r"^/schedules/([^/]+)$"), self.schedule),
            (re.compile(r"^/schedules/([^/]+)/overrides$"), self.overrides),
            (
                re.compile(r"^/escalation_policies$"),
                lambda r: self.listed(r, "escalation_policies", self.org["escalation_policies"]),
            ),
            (
                re.compile(r"^/services$"),
                lambda r: self.listed(r, "services", self.org["services"]),
            ),
            (re.compile(r"^/services/([^/]+)/integrations/([^/]+)$"), self.integration),
        ]

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Token token={TOKEN}":
            return Reply(401, {"error": {"message": "Unauthorized", "code": 2006}})
        for pattern, answer in self.routes:
            match = pattern.match(request.path)
            if match:
                return answer(request, *match.groups())  # type: ignore[no-any-return]
        return Reply(404, {"error": {"message": "Not Found", "code": 2100}})

    @staticmethod
    def listed(request: Request, collection: str, items: list[Any]) -> Reply:
        offset = int(request.param("offset", "0"))
        limit = min(int(request.param("limit", "25")), PAGE)
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        body = {collection: page, "limit": limit, "offset": offset, "more": more, "total": None}
        return Reply(200, body)

    def contact_methods(self, _r: Request, user: str) -> Reply:
        return Reply(200, {"contact_methods": self.org["contact_methods"][user]})

    def notification_rules(self, request: Request, user: str) -> Reply:
        urgency = request.param("urgency", "high")
        rules = [r for r in self.org["notification_rules"][user] if r["urgency"] == urgency]
        return Reply(200, {"notification_rules": rules})

    def teams(self, request: Request) -> Reply:
        if not self.throttled:
            self.throttled = True
            return Reply(429, {"error": {"message": "Rate Limit Exceeded"}}, {"Retry-After": "0"})
        return self.listed(request, "teams", self.org["teams"])

    def members(self, request: Request, team: str) -> Reply:
        return self.listed(request, "members", self.org["members"][team])

    def schedules(self, request: Request) -> Reply:
        rows = [
            {k: v for k, v in s.items() if k != "schedule_layers"} for s in self.org["schedules"]
        ]
        return self.listed(request, "schedules", rows)

    def schedule(self, request: Request, schedule: str) -> Reply:
        found = next(s for s in self.org["schedules"] if s["id"] == schedule)
        entries = self.org["final_schedules"][schedule] if request.param("since") else []
        final = {"name": "Final Schedule", "rendered_schedule_entries": entries}
        return Reply(200, {"schedule": {**found, "final_schedule": final}})

    def overrides(self, _r: Request, schedule: str) -> Reply:
        return Reply(200, {"overrides": self.org["overrides"][schedule]})

    def integration(self, _r: Request, _service: str, integration: str) -> Reply:
        return Reply(200, {"integration": self.org["integrations"][integration]})
