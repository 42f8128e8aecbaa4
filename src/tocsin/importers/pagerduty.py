"""PagerDuty (REST API v2, `Authorization: Token token=TOKEN`): users with contact methods and
high-urgency notification rules, teams, schedules with layers and overrides, escalation
policies, services and their integrations.

How PagerDuty maps onto Tocsin:
- a schedule's layers become its layers, lowest priority first (the API lists them highest
  first), each with its turn length, virtual start and restrictions (daily and weekly).
- an escalation policy's rules become steps at the running total of the rules' delays
  (PagerDuty's delay is how long a rule waits before the next), exact to the minute;
  `num_loops` becomes the repeat, after the last rule's delay.
- a service keeps its escalation policy; an Events API v2 integration of the service becomes
  a `pagerduty` integration with the same integration key, so a sender changes only its host.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.importers import mapping
from tocsin.importers.handles import Handles, slug
from tocsin.importers.http import VendorApi
from tocsin.importers.model import Imported, IntegrationIn, LeftOut, Period, Progress, no_progress
from tocsin.importers.spans import daily_window, delay_text, week_spans, zoned
from tocsin.oncall.config import (
    ContactMethodIn,
    EscalationPolicyIn,
    OnCallConfig,
    OverrideIn,
    PersonIn,
    RuleIn,
    ScheduleIn,
    ServiceIn,
    StepIn,
    TeamIn,
)
from tocsin.oncall.rotation import Layer, Restriction, Rotation, RotationKind

VENDOR = "pagerduty"
BASE_URL = "https://api.pagerduty.com"
PAGE = 100
OVERRIDES_AHEAD = timedelta(days=90)
DAY_S, HOUR_S = 86400, 3600
EVENTS_V2 = "events_api_v2_inbound_integration"
Json = dict[str, Any]


def api(token: str, *, base_url: str | None = None, progress: Progress = no_progress) -> VendorApi:
    headers = {
        "Authorization": f"Token token={token}",
        "Accept": "application/vnd.pagerduty+json;version=2",
    }
    return VendorApi(base_url or BASE_URL, headers, progress=progress)


def source_id(kind: str, ident: str) -> str:
    return mapping.source_id(VENDOR, kind, ident)


# -- fetching ----------------------------------------------------------------------------------


@dataclass
class Source:
    users: list[Json] = field(default_factory=list)
    contact_methods: dict[str, list[Json]] = field(default_factory=dict)
    notification_rules: dict[str, list[Json]] = field(default_factory=dict)
    teams: list[Json] = field(default_factory=list)
    members: dict[str, list[Json]] = field(default_factory=dict)
    schedules: list[Json] = field(default_factory=list)
    overrides: dict[str, list[Json]] = field(default_factory=dict)
    escalation_policies: list[Json] = field(default_factory=list)
    services: list[Json] = field(default_factory=list)
    integrations: list[Json] = field(default_factory=list)


def pages(
    client: VendorApi, path: str, collection: str, params: dict[str, Any] | None = None
) -> Iterator[Json]:
    """Every item of a list endpoint, by PagerDuty's classic pagination (offset, limit, more)."""
    offset = 0
    while True:
        answer = client.get(path, {**(params or {}), "limit": PAGE, "offset": offset})
        items = answer.get(collection, [])
        yield from items
        if not answer.get("more") or not items:
            return
        offset += len(items)


def fetch(client: VendorApi, now: datetime) -> Source:
    source = Source(users=list(pages(client, "/users", "users")))
    for user in source.users:
        uid = user["id"]
        source.contact_methods[uid] = client.get(f"/users/{uid}/contact_methods")["contact_methods"]
        rules = client.get(f"/users/{uid}/notification_rules", {"urgency": "high"})
        source.notification_rules[uid] = rules["notification_rules"]
    source.teams = list(pages(client, "/teams", "teams"))
    for team in source.teams:
        source.members[team["id"]] = list(pages(client, f"/teams/{team['id']}/members", "members"))
    for listed in pages(client, "/schedules", "schedules"):
        source.schedules.append(_schedule(client, listed["id"]))
        source.overrides[listed["id"]] = _overrides(client, listed["id"], now)
    source.escalation_policies = list(pages(client, "/escalation_policies", "escalation_policies"))
    source.services = list(pages(client, "/services", "services"))
    source.integrations = [
        client.get(f"/services/{service['id']}/integrations/{ref['id']}")["integration"]
        for service in source.services
        for ref in service.get("integrations") or []
    ]
    return source


def _schedule(client: VendorApi, schedule_id: str) -> Json:
    schedule: Json = client.get(f"/schedules/{schedule_id}", {"time_zone": "UTC"})["schedule"]
    return schedule


def _overrides(client: VendorApi, schedule_id: str, now: datetime) -> list[Json]:
    window = {"since": now.isoformat(), "until": (now + OVERRIDES_AHEAD).isoformat()}
    overrides: list[Json] = client.get(f"/schedules/{schedule_id}/overrides", window)["overrides"]
    return overrides


def on_call(client: VendorApi, schedule_id: str, start: datetime, end: datetime) -> list[Period]:
    """PagerDuty's final schedule (layers and overrides) over [start, end)."""
    window = {"since": start.isoformat(), "until": end.isoformat(), "time_zone": "UTC"}
    schedule = client.get(f"/schedules/{schedule_id}", window)["schedule"]
    entries = (schedule.get("final_schedule") or {}).get("rendered_schedule_entries") or []
    return [
        Period(
            zoned(entry["start"], "UTC"),
            zoned(entry["end"], "UTC"),
            frozenset([source_id("user", entry["user"]["id"])]),
        )
        for entry in entries
        if entry.get("user")
    ]


# -- mapping -----------------------------------------------------------------------------------


def mapped(source: Source, current: OnCallConfig, now: datetime) -> Imported:
    return _Mapper(source, Handles(current), now).imported()


@dataclass
class _Mapper:
    source: Source
    handles: Handles
    now: datetime
    left_out: list[LeftOut] = field(default_factory=list)
    method_names: dict[str, str] = field(default_factory=dict)  # contact method id -> name

    def note(self, what: str, why: str, instead: str) -> None:
        self.left_out.append(LeftOut(what, why, instead))

    def imported(self) -> Imported:
        people = [self.person(u) for u in self.source.users]
        teams = [t for t in (self.team(t) for t in self.source.teams) if t]
        schedules = [s for s in (self.schedule(s) for s in self.source.schedules) if s]
        policies = [self.policy(p) for p in self.source.escalation_policies]
        services = [self.service(s) for s in self.source.services]
        config = OnCallConfig(
            people=people,
            teams=teams,
            schedules=schedules,
            escalation_policies=policies,
            services=services,
        )
        integrations = [i for i in (self.integration(i) for i in self.source.integrations) if i]
        return Imported(VENDOR, config, integrations, self.left_out)

    def user_handle(self, user_id: str) -> str | None:
        return self.handles.of(source_id("user", user_id))

    # people ----------------------------------------------------------------------------------

    def person(self, user: Json) -> PersonIn:
        source = source_id("user", user["id"])
        email = user["email"]
        handle = self.handles.claim("person", source, email.split("@")[0], email=email)
        methods = self.contact_methods(handle, user)
        return PersonIn(
            handle=handle,
            source=source,
            name=user.get("name") or email,
            email=email,
            timezone=_zone(user.get("time_zone")),
            contact_methods=methods,
            notification_rules=self.rules(user["id"]),
        )

    def contact_methods(self, handle: str, user: Json) -> list[ContactMethodIn]:
        methods: list[ContactMethodIn] = []
        for method in self.source.contact_methods.get(user["id"], []):
            if method["type"] != "email_contact_method":
                self.note(
                    f"person {handle}: {method['type']} {method.get('label') or ''} "
                    f"{method.get('address', '')}".rstrip(),
                    "Tocsin sends no SMS, phone calls or PagerDuty app pushes itself",
                    "add a contact method of kind apprise with an Apprise URL for it",
                )
                continue
            name = slug(method.get("label") or "email", "email")
            name = name if name not in {m.name for m in methods} else f"{name}-{len(methods) + 1}"
            methods.append(ContactMethodIn(name=name, kind="email", address=method["address"]))
            self.method_names[method["id"]] = name
        return methods or [ContactMethodIn(name="email", kind="email", address=user["email"])]

    def rules(self, user_id: str) -> list[RuleIn]:
        rules = []
        for rule in self.source.notification_rules.get(user_id, []):
            name = self.method_names.get((rule.get("contact_method") or {}).get("id", ""))
            if name is None:
                continue  # a rule for a contact method already listed as left out
            rules.append(RuleIn(method=name, after=delay_text(60 * rule["start_delay_in_minutes"])))
        return sorted(rules, key=lambda r: _seconds(r.after))

    # teams -----------------------------------------------------------------------------------

    def team(self, team: Json) -> TeamIn | None:
        source = source_id("team", team["id"])
        handle = self.handles.claim("team", source, team["name"])
        members = [self.user_handle(m["user"]["id"]) for m in self.source.members[team["id"]]]
        known = [m for m in dict.fromkeys(members) if m]
        if not known:
            self.note(f"team {team['name']}", "it has no members", "add members in PagerDuty")
            self.handles.forget(source)
            return None
        return TeamIn(handle=handle, source=source, name=team["name"], members=known)

    # schedules -------------------------------------------------------------------------------

    def schedule(self, schedule: Json) -> ScheduleIn | None:
        source = source_id("schedule", schedule["id"])
        handle = self.handles.claim("schedule", source, schedule["name"])
        zone = _zone(schedule.get("time_zone"))
        layers: list[Layer] = []
        # The API lists layers highest priority first; Tocsin lists them lowest first.
        for raw in reversed(schedule.get("schedule_layers") or []):
            layer = self.layer(handle, raw, zone, {layer.name for layer in layers})
            layers += [layer] if layer else []
        if not layers:
            self.note(
                f"schedule {schedule['name']}",
                "none of its layers could be imported",
                "recreate it in the on-call file",
            )
            self.handles.forget(source)
            return None
        return ScheduleIn(
            handle=handle,
            source=source,
            name=schedule["name"],
            timezone=zone,
            layers=layers,
            overrides=self.overrides(handle, schedule["id"]),
        )

    def layer(self, handle: str, layer: Json, zone: str, taken: set[str]) -> Layer | None:
        what = f"schedule {handle}: layer {layer.get('name', layer.get('id'))!r}"
        if layer.get("end") and zoned(layer["end"], zone) <= self.now:
            self.note(what, "it ended before the import", "nothing to do")
            return None
        turn = int(layer["rotation_turn_length_seconds"])
        found = [self.user_handle(u["user"]["id"]) for u in layer.get("users") or []]
        participants = [p for p in found if p]
        if turn % HOUR_S or not participants or len(participants) < len(found):
            self.note(
                what,
                "its turns are not whole hours, or a participant is not a user",
                "recreate the layer by hand",
            )
            return None
        self.layer_notes(what, layer, zone)
        name = slug(layer.get("name") or "layer", "layer")
        name = name if name not in taken and name != "override" else f"{name}-{len(taken) + 1}"
        return Layer(
            name=name,
            rotation=_rotation(layer["rotation_virtual_start"], zone, turn, participants),
            restrictions=_restrictions(layer.get("restrictions") or []),
        )

    def layer_notes(self, what: str, layer: Json, zone: str) -> None:
        if zoned(layer["start"], zone) > self.now:
            self.note(
                what,
                f"it starts at {layer['start']}; Tocsin runs it from its virtual start",
                "add the layer on the day it starts",
            )
        if layer.get("end"):
            self.note(
                what,
                f"it ends at {layer['end']}; Tocsin layers do not end",
                "remove the layer from the on-call file then",
            )

    def overrides(self, handle: str, schedule_id: str) -> list[OverrideIn]:
        found = []
        for override in self.source.overrides.get(schedule_id, []):
            person = self.user_handle((override.get("user") or {}).get("id", ""))
            if person is None:
                self.note(
                    f"schedule {handle}: override {override['id']}",
                    "it hands the schedule to someone not imported",
                    "add it by hand",
                )
                continue
            found.append(
                OverrideIn(
                    person=person,
                    start=zoned(override["start"], "UTC"),
                    end=zoned(override["end"], "UTC"),
                    reason=f"PagerDuty override {override['id']}",
                    source=source_id("override", override["id"]),
                )
            )
        return found

    # escalation policies and services --------------------------------------------------------

    def policy(self, policy: Json) -> EscalationPolicyIn:
        source = source_id("escalation-policy", policy["id"])
        handle = self.handles.claim("escalation policy", source, policy["name"])
        steps, after = [], 0
        rules = policy.get("escalation_rules") or []
        for rule in rules:
            targets = [t for t in (self.target(handle, t) for t in rule.get("targets") or []) if t]
            steps += [StepIn(after=delay_text(after), targets=targets)] if targets else []
            after += 60 * int(rule["escalation_delay_in_minutes"])
        last = 60 * int(rules[-1]["escalation_delay_in_minutes"]) if rules else 0
        loops = int(policy.get("num_loops") or 0)
        if loops > 10:
            self.note(
                f"escalation policy {handle}: {loops} loops",
                "Tocsin repeats a policy at most 10 times",
                "it repeats 10 times",
            )
        return EscalationPolicyIn(
            handle=handle,
            source=source,
            name=policy["name"],
            steps=steps,
            repeat=min(loops, 10),
            repeat_after=delay_text(last),
        )

    def target(self, handle: str, target: Json) -> str | None:
        kind = target.get("type", "")
        if kind.startswith("user"):
            person = self.user_handle(target["id"])
            return f"person:{person}" if person else None
        if kind.startswith("schedule"):
            schedule = self.handles.of(source_id("schedule", target["id"]))
            return f"schedule:{schedule}" if schedule else None
        self.note(
            f"escalation policy {handle}: target {kind} {target.get('id')}",
            "Tocsin targets people, schedules and teams",
            "target them by hand",
        )
        return None

    def service(self, service: Json) -> ServiceIn:
        source = source_id("service", service["id"])
        handle = self.handles.claim("service", source, service["name"])
        policy = (service.get("escalation_policy") or {}).get("id")
        if service.get("status") == "disabled":
            self.note(
                f"service {service['name']}",
                "it is disabled in PagerDuty",
                "remove it from the on-call file if it is not needed",
            )
        return ServiceIn(
            handle=handle,
            source=source,
            name=service["name"],
            escalation_policy=self.handles.of(source_id("escalation-policy", policy))
            if policy
            else None,
        )

    # integrations ----------------------------------------------------------------------------

    def integration(self, integration: Json) -> IntegrationIn | None:
        what = f"integration {integration.get('name') or integration['id']} ({integration['type']})"
        key = integration.get("integration_key")
        if not key:
            self.note(
                what,
                "it has no integration key (email or an app's own connection)",
                "send those alerts through the Events API v2 or Alertmanager",
            )
            return None
        if integration["type"] != EVENTS_V2:
            self.note(
                what,
                "its sender uses an Events API other than v2 (or a vendor's own endpoint)",
                "point the sender at Tocsin's Events API v2 (/v2/enqueue) with the same key",
            )
        service = (integration.get("service") or {}).get("id")
        return IntegrationIn(
            name=integration.get("name") or integration["id"],
            kind="pagerduty",
            key=key,
            service=self.handles.of(source_id("service", service)) if service else None,
            source=source_id("integration", integration["id"]),
        )


def _zone(zone: str | None) -> str:
    return mapping.zone_or_utc(zone)


def _seconds(text: str) -> int:
    return int(text[:-1]) * (60 if text.endswith("m") else 1)


def _rotation(virtual_start: str, zone: str, turn: int, participants: list[str]) -> Rotation:
    start = zoned(virtual_start, zone).astimezone(ZoneInfo(zone))
    kind, length = _kind(turn)
    return Rotation(
        kind=kind,
        length=length,
        handoff=start.time().replace(tzinfo=None),
        start=start.date(),
        participants=participants,
    )


def _kind(turn: int) -> tuple[RotationKind, int]:
    if turn % DAY_S:
        return "hours", turn // HOUR_S
    days = turn // DAY_S
    return _NATURAL.get(days, ("days", days))


_NATURAL: dict[int, tuple[RotationKind, int]] = {
    1: ("daily", 1),
    7: ("weekly", 1),
    14: ("biweekly", 1),
}


def _restrictions(restrictions: list[Json]) -> list[Restriction]:
    daily, weekly = [], []
    for restriction in restrictions:
        hour, minute = (int(part) for part in restriction["start_time_of_day"].split(":")[:2])
        length = int(restriction["duration_seconds"]) // 60
        if restriction["type"] == "daily_restriction":
            daily += daily_window(hour * 60 + minute, length)
        else:
            weekly.append((int(restriction["start_day_of_week"]) - 1, hour * 60 + minute, length))
    return daily + week_spans(weekly)
