"""Opsgenie (REST API v2, `Authorization: GenieKey KEY`): users, contacts, notification rules,
teams and their routing, schedules with rotations and overrides, escalations, integrations.

How Opsgenie maps onto Tocsin:
- a user is a person (handle from the username's local part), with their email contacts;
  the steps of their first create-alert notification rule that applies to every alert
  become the person's notification rules. SMS, voice and app contacts have no Tocsin channel.
- a schedule's rotations become its layers, in order, each with its time restrictions (both
  kinds: time of day, and weekday and time of day). Opsgenie pages everyone on call in every
  rotation at once; a Tocsin schedule has one person at a time, so rotations that overlap are
  reported.
- an escalation's rules become steps at their exact delays (from the alert's creation, as in
  Opsgenie); rules with the same delay become one step. Its repeat becomes the policy's.
- a team's default routing rule becomes a service of that team (alerts from the team's
  integrations go to it) with the escalation it notifies; other routing rules are reported.
- an integration with an API key becomes an `opsgenie` integration with that key, so a sender
  of the Alert API changes only its host.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.importers import mapping
from tocsin.importers.handles import Handles, layer_name, slug
from tocsin.importers.http import VendorApi
from tocsin.importers.model import Imported, IntegrationIn, LeftOut, Period, Progress, no_progress
from tocsin.importers.overlaps import overlapping_layers
from tocsin.importers.spans import WEEKDAYS, daily_window, delay_text, week_spans, zoned
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

VENDOR = "opsgenie"
REGIONS = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
PAGE = 100
UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
# Integration types whose senders post to the Alert API (/v2/alerts), which Tocsin answers.
ALERT_API_TYPES = {"API", "Prometheus"}
Json = dict[str, Any]


def api(
    key: str, *, region: str = "us", base_url: str | None = None, progress: Progress = no_progress
) -> VendorApi:
    return VendorApi(
        base_url or REGIONS[region], {"Authorization": f"GenieKey {key}"}, progress=progress
    )


def source_id(kind: str, ident: str) -> str:
    return mapping.source_id(VENDOR, kind, ident)


# -- fetching ----------------------------------------------------------------------------------


@dataclass
class Source:
    """Everything read from Opsgenie, as its API answered."""

    users: list[Json] = field(default_factory=list)
    contacts: dict[str, list[Json]] = field(default_factory=dict)
    rules: dict[str, list[Json]] = field(default_factory=dict)
    teams: list[Json] = field(default_factory=list)
    routing: dict[str, list[Json]] = field(default_factory=dict)
    schedules: list[Json] = field(default_factory=list)
    overrides: dict[str, list[Json]] = field(default_factory=dict)
    escalations: list[Json] = field(default_factory=list)
    integrations: list[Json] = field(default_factory=list)


def pages(client: VendorApi, path: str, params: dict[str, Any] | None = None) -> Iterator[Json]:
    """Every item of a list endpoint, following `paging.next` (offset and limit)."""
    answer = client.get(path, {"limit": PAGE, "offset": 0, **(params or {})})
    while True:
        yield from answer.get("data", [])
        following = (answer.get("paging") or {}).get("next")
        if not following or not answer.get("data"):
            return
        answer = client.get(following)


def fetch(client: VendorApi) -> Source:
    source = Source(users=list(pages(client, "/v2/users")))
    for user in source.users:
        source.contacts[user["id"]] = client.get(f"/v2/users/{user['id']}/contacts")["data"]
        source.rules[user["id"]] = _rules(client, user["id"])
    for team in client.get("/v2/teams")["data"]:
        source.teams.append(client.get(f"/v2/teams/{team['id']}")["data"])
        source.routing[team["id"]] = client.get(f"/v2/teams/{team['id']}/routing-rules")["data"]
    source.schedules = client.get("/v2/schedules", {"expand": "rotation"})["data"]
    for schedule in source.schedules:
        path = f"/v2/schedules/{schedule['id']}/overrides"
        source.overrides[schedule["id"]] = client.get(path)["data"]
    source.escalations = client.get("/v2/escalations")["data"]
    for meta in client.get("/v2/integrations")["data"]:
        source.integrations.append(client.get(f"/v2/integrations/{meta['id']}")["data"])
    return source


def _rules(client: VendorApi, user_id: str) -> list[Json]:
    metas = client.get(f"/v2/users/{user_id}/notification-rules")["data"]
    path = f"/v2/users/{user_id}/notification-rules"
    return [client.get(f"{path}/{meta['id']}")["data"] for meta in metas]


def on_call(client: VendorApi, schedule_id: str, start: datetime, end: datetime) -> list[Period]:
    """Who Opsgenie has on call over [start, end): its final timeline (overrides applied)."""
    periods: list[Period] = []
    cursor = start
    while cursor < end:
        params = {"intervalUnit": "days", "interval": 15, "date": cursor.isoformat()}
        data = client.get(f"/v2/schedules/{schedule_id}/timeline", params)["data"]
        periods += list(_periods(data))
        reached = zoned(data["endDate"], "UTC")
        if reached <= cursor:
            break
        cursor = reached
    return periods


def _periods(timeline: Json) -> Iterator[Period]:
    for rotation in (timeline.get("finalTimeline") or {}).get("rotations", []):
        for period in rotation.get("periods", []):
            recipient = period.get("recipient") or {}
            if recipient.get("type") == "user":
                yield Period(
                    zoned(period["startDate"], "UTC"),
                    zoned(period["endDate"], "UTC"),
                    frozenset([source_id("user", recipient["id"])]),
                )


# -- mapping -----------------------------------------------------------------------------------


def mapped(source: Source, current: OnCallConfig, now: datetime) -> Imported:
    mapper = _Mapper(source, Handles(current), now)
    return mapper.imported()


@dataclass
class _Mapper:
    source: Source
    handles: Handles
    now: datetime
    left_out: list[LeftOut] = field(default_factory=list)

    def note(self, what: str, why: str, instead: str) -> None:
        self.left_out.append(LeftOut(what, why, instead))

    def imported(self) -> Imported:
        people = [self.person(u) for u in self.source.users]
        teams = [t for t in (self.team(t) for t in self.source.teams) if t]
        schedules = [s for s in (self.schedule(s) for s in self.source.schedules) if s]
        policies = [self.policy(e) for e in self.source.escalations]
        services, routed = self.services()
        config = OnCallConfig(
            people=people,
            teams=teams,
            schedules=schedules,
            escalation_policies=policies + routed,
            services=services,
        )
        integrations = [i for i in (self.integration(i) for i in self.source.integrations) if i]
        return Imported(VENDOR, config, integrations, self.left_out)

    # people ----------------------------------------------------------------------------------

    def user_handle(self, user_id: str) -> str | None:
        return self.handles.of(source_id("user", user_id))

    def user_by_name(self, username: str) -> str | None:
        for user in self.source.users:
            if user["username"].lower() == username.lower():
                return self.user_handle(user["id"])
        return None

    def person(self, user: Json) -> PersonIn:
        username = user["username"]
        handle = self.handles.claim(
            "person", source_id("user", user["id"]), username.split("@")[0], email=username
        )
        methods = self.contact_methods(handle, user)
        return PersonIn(
            handle=handle,
            source=source_id("user", user["id"]),
            name=user.get("fullName") or username,
            email=username,
            timezone=self.zone_of(handle, user.get("timeZone")),
            contact_methods=methods,
            notification_rules=self.rules(handle, user["id"], methods),
        )

    def zone_of(self, handle: str, zone: str | None) -> str:
        try:
            return str(ZoneInfo(zone)) if zone else "UTC"
        except (ValueError, KeyError):
            self.note(f"person {handle}: time zone {zone!r}", "not an IANA zone", "set it by hand")
            return "UTC"

    def contact_methods(self, handle: str, user: Json) -> list[ContactMethodIn]:
        methods: list[ContactMethodIn] = []
        for contact in self.source.contacts.get(user["id"], []):
            if contact["method"] != "email":
                self.note(
                    f"person {handle}: {contact['method']} contact {contact['to']}",
                    "Tocsin sends no SMS, voice calls or Opsgenie app pushes itself",
                    "add a contact method of kind apprise with an Apprise URL for it "
                    "(for example twilio://... for SMS, or ntfy for pushes)",
                )
            elif not (contact.get("status") or {}).get("enabled", True):
                self.note(f"person {handle}: email {contact['to']}", "disabled in Opsgenie", "-")
            else:
                name = "email" if not methods else f"email-{len(methods) + 1}"
                methods.append(ContactMethodIn(name=name, kind="email", address=contact["to"]))
        # Opsgenie always mails the username; keep a way to reach everyone.
        return methods or [ContactMethodIn(name="email", kind="email", address=user["username"])]

    def rules(self, handle: str, user_id: str, methods: list[ContactMethodIn]) -> list[RuleIn]:
        chosen: list[RuleIn] | None = None
        for rule in sorted(self.source.rules.get(user_id, []), key=lambda r: r.get("order", 0)):
            if chosen is None and self.applies_to_every_page(rule):
                chosen = self.rule_steps(handle, rule, methods)
            elif rule.get("enabled", True):
                self.note(
                    f"person {handle}: notification rule {rule['name']!r} ({rule['actionType']})",
                    "Tocsin has one set of notification rules per person, used for every page",
                    "nothing to do for acknowledge or close notices; fold special cases into "
                    "the person's rules by hand",
                )
        return chosen or []

    @staticmethod
    def applies_to_every_page(rule: Json) -> bool:
        criteria = (rule.get("criteria") or {}).get("type", "match-all")
        return (
            rule.get("actionType") == "create-alert"
            and rule.get("enabled", True)
            and criteria == "match-all"
            and not rule.get("timeRestriction")
        )

    def rule_steps(self, handle: str, rule: Json, methods: list[ContactMethodIn]) -> list[RuleIn]:
        by_address = {m.address.lower(): m.name for m in methods}
        steps = []
        for step in rule.get("steps", []):
            contact = step.get("contact") or {}
            name = by_address.get(str(contact.get("to", "")).lower())
            if step.get("enabled", True) and contact.get("method") == "email" and name:
                steps.append(RuleIn(method=name, after=delay_text(duration_s(step["sendAfter"]))))
        if (rule.get("repeat") or {}).get("enabled"):
            self.note(
                f"person {handle}: notification rule {rule['name']!r} repeats",
                "Tocsin's escalation policy repeats, not a person's rules",
                "set repeat on the escalation policy",
            )
        return steps

    # teams -----------------------------------------------------------------------------------

    def team(self, team: Json) -> TeamIn | None:
        handle = self.handles.claim("team", source_id("team", team["id"]), team["name"])
        members = [self.user_handle(m["user"]["id"]) for m in team.get("members") or []]
        known = [m for m in dict.fromkeys(members) if m]
        if not known:
            self.note(f"team {team['name']}", "it has no members", "add members in Opsgenie")
            return None
        return TeamIn(
            handle=handle, source=source_id("team", team["id"]), name=team["name"], members=known
        )

    def team_handle(self, team_id: str | None) -> str | None:
        return self.handles.of(source_id("team", team_id)) if team_id else None

    # schedules -------------------------------------------------------------------------------

    def schedule(self, schedule: Json) -> ScheduleIn | None:
        handle = self.handles.claim(
            "schedule", source_id("schedule", schedule["id"]), schedule["name"]
        )
        zone = schedule.get("timezone") or "UTC"
        layers = self.layers(handle, schedule, zone)
        if not layers:
            self.note(
                f"schedule {schedule['name']}",
                "none of its rotations could be imported",
                "recreate it in the on-call file",
            )
            self.handles.forget(source_id("schedule", schedule["id"]))
            return None
        mapped_schedule = ScheduleIn(
            handle=handle,
            source=source_id("schedule", schedule["id"]),
            name=schedule["name"],
            timezone=zone,
            layers=layers,
            overrides=self.overrides(handle, schedule),
        )
        self.report_overlaps(mapped_schedule)
        return mapped_schedule

    def layers(self, handle: str, schedule: Json, zone: str) -> list[Layer]:
        layers: list[Layer] = []
        for rotation in schedule.get("rotations") or []:
            layer = self.layer(handle, rotation, zone, {layer.name for layer in layers})
            layers += [layer] if layer else []
        return layers

    def layer(self, handle: str, rotation: Json, zone: str, taken: set[str]) -> Layer | None:
        what = f"schedule {handle}: rotation {rotation.get('name', rotation['id'])!r}"
        if rotation.get("endDate") and zoned(rotation["endDate"], zone) <= self.now:
            self.note(what, "it ended before the import", "nothing to do")
            return None
        participants = self.participants(what, rotation)
        if not participants:
            return None
        if rotation.get("endDate"):
            self.note(
                what,
                f"it ends at {rotation['endDate']} in Opsgenie; Tocsin rotations do not end",
                "remove the layer from the on-call file then",
            )
        name = layer_name(slug(rotation.get("name") or "rotation", "rotation"), taken)
        return Layer(
            name=name,
            rotation=_rotation(rotation, zone, participants),
            restrictions=self.restrictions(what, rotation.get("timeRestriction")),
        )

    def participants(self, what: str, rotation: Json) -> list[str]:
        handles = []
        for participant in rotation.get("participants") or []:
            handle = self.participant(participant)
            if handle is None:
                self.note(
                    what,
                    f"a participant of type {participant.get('type')!r} "
                    f"({participant.get('name') or participant.get('username') or '-'}) takes a "
                    "turn; Tocsin rotations take turns between people",
                    "list people only, or leave the rotation in the file for that turn",
                )
                return []
            handles.append(handle)
        return handles

    def participant(self, participant: Json) -> str | None:
        if participant.get("type") != "user":
            return None
        if participant.get("id"):
            return self.user_handle(participant["id"])
        return self.user_by_name(participant.get("username", ""))

    def restrictions(self, what: str, restriction: Json | None) -> list[Restriction]:
        if not restriction:
            return []
        if restriction["type"] == "time-of-day":
            window = restriction["restriction"]
            start = window["startHour"] * 60 + window["startMin"]
            end = window["endHour"] * 60 + window["endMin"]
            return daily_window(start, (end - start) % (24 * 60) or 24 * 60)
        return week_spans([_span(r) for r in restriction.get("restrictions", [])])

    def overrides(self, handle: str, schedule: Json) -> list[OverrideIn]:
        mapped_overrides = []
        for override in self.source.overrides.get(schedule["id"], []):
            mapped_override = self.override(handle, schedule, override)
            mapped_overrides += [mapped_override] if mapped_override else []
        return mapped_overrides

    def override(self, handle: str, schedule: Json, override: Json) -> OverrideIn | None:
        what = f"schedule {handle}: override {override['alias']}"
        end = zoned(override["endDate"], "UTC")
        user = override.get("user") or {}
        person = self.participant(user)
        rotations = schedule.get("rotations") or []
        if end <= self.now:
            self.note(what, "it ended before the import", "nothing to do")
        elif person is None:
            self.note(what, f"it hands the schedule to {user.get('type')!r}", "add it by hand")
        elif override.get("rotations") and len(rotations) > 1:
            self.note(
                what,
                "it covers some rotations only; Tocsin overrides cover the whole schedule",
                "add it by hand if covering the whole schedule is right",
            )
        else:
            return OverrideIn(
                person=person,
                start=zoned(override["startDate"], "UTC"),
                end=end,
                reason=f"Opsgenie override {override['alias']}",
                source=source_id("override", f"{schedule['id']}:{override['alias']}"),
            )
        return None

    def report_overlaps(self, schedule: ScheduleIn) -> None:
        for lower, higher in overlapping_layers(schedule, self.now, timedelta(days=14)):
            self.note(
                f"schedule {schedule.handle}: rotations {lower!r} and {higher!r} overlap",
                "Opsgenie pages everyone on call in every rotation; a Tocsin schedule has one "
                f"person at a time, so {higher!r} wins where both have someone",
                "split them into two schedules and target both from the escalation policy",
            )

    # escalations -----------------------------------------------------------------------------

    def policy(self, escalation: Json) -> EscalationPolicyIn:
        source = source_id("escalation", escalation["id"])
        handle = self.handles.claim("escalation policy", source, escalation["name"])
        steps: dict[int, list[str]] = {}
        for rule in escalation.get("rules") or []:
            target = self.rule_target(handle, rule)
            if target:
                steps.setdefault(duration_s(rule["delay"]), []).append(target)
        repeat = escalation.get("repeat") or {}
        return EscalationPolicyIn(
            handle=handle,
            source=source,
            name=escalation["name"],
            steps=[
                StepIn(after=delay_text(after), targets=list(dict.fromkeys(targets)))
                for after, targets in sorted(steps.items())
            ],
            repeat=self.repeats(handle, repeat),
            repeat_after=delay_text(60 * (repeat.get("waitInterval") or 0)),
        )

    def repeats(self, handle: str, repeat: Json) -> int:
        count = int(repeat.get("count") or 0)
        if count > 10:
            self.note(
                f"escalation policy {handle}: repeats {count} times",
                "Tocsin repeats a policy at most 10 times",
                "it repeats 10 times",
            )
        if repeat.get("closeAlertAfterAll") or repeat.get("resetRecipientStates"):
            self.note(
                f"escalation policy {handle}: close the alert or reset recipients after repeats",
                "Tocsin does neither",
                "close the incident by hand",
            )
        return min(count, 10)

    def rule_target(self, handle: str, rule: Json) -> str | None:
        what = f"escalation policy {handle}: rule at {delay_text(duration_s(rule['delay']))}"
        if rule.get("condition") == "if-not-closed":
            self.note(
                what,
                "it pages until the alert is closed; Tocsin's policy steps stop when someone "
                "acknowledges",
                "use the runbook's `unresolved` escalation steps for pages after an "
                "acknowledgement",
            )
        target = self.recipient(rule.get("recipient") or {}, rule.get("notifyType", "default"))
        if target is None:
            self.note(
                what,
                f"it notifies {rule.get('notifyType')} of a {rule.get('recipient', {}).get('type')}"
                " recipient, which Tocsin cannot target",
                "target a person, schedule or team by hand",
            )
        return target

    def recipient(self, recipient: Json, notify: str) -> str | None:
        kind = recipient.get("type")
        if kind == "user" and notify == "default":
            handle = self.participant(recipient)
            return f"person:{handle}" if handle else None
        if kind == "schedule" and notify == "default":
            handle = self.handles.of(source_id("schedule", recipient.get("id", "")))
            return f"schedule:{handle}" if handle else None
        if kind == "team" and notify in ("all", "users", "default"):
            handle = self.team_handle(recipient.get("id"))
            return f"team:{handle}" if handle else None
        return None

    # routing ---------------------------------------------------------------------------------

    def services(self) -> tuple[list[ServiceIn], list[EscalationPolicyIn]]:
        services, routed = [], []
        for team in self.source.teams:
            service, policy = self.team_service(team)
            services.append(service)
            routed += [policy] if policy else []
        return services, routed

    def team_service(self, team: Json) -> tuple[ServiceIn, EscalationPolicyIn | None]:
        source = source_id("team-routing", team["id"])
        handle = self.handles.claim("service", source, team["name"])
        policy: EscalationPolicyIn | None = None
        escalation: str | None = None
        for rule in sorted(self.source.routing.get(team["id"], []), key=lambda r: r["order"]):
            if rule.get("isDefault"):
                escalation, policy = self.default_route(team, rule)
            else:
                self.note(
                    f"team {team['name']}: routing rule {rule['name']!r}",
                    "Opsgenie routes by the alert's fields; Tocsin routes by the policy's "
                    "routing rules",
                    f"add a rule to your policy's routing.rules with service: {handle}",
                )
        service = ServiceIn(
            handle=handle, source=source, name=team["name"], escalation_policy=escalation
        )
        return service, policy

    def default_route(self, team: Json, rule: Json) -> tuple[str | None, EscalationPolicyIn | None]:
        notify = rule.get("notify") or {}
        if notify.get("type") == "escalation":
            return self.handles.of(source_id("escalation", notify.get("id", ""))), None
        target = self.recipient(notify, "default")
        if target is None:
            return None, None
        source = source_id("routing-rule", rule["id"])
        handle = self.handles.claim("escalation policy", source, f"{team['name']} routing")
        policy = EscalationPolicyIn(
            handle=handle,
            source=source,
            name=f"{team['name']}: {rule['name']}",
            steps=[StepIn(after="0m", targets=[target])],
        )
        return handle, policy

    # integrations ----------------------------------------------------------------------------

    def integration(self, integration: Json) -> IntegrationIn | None:
        what = f"integration {integration['name']} ({integration['type']})"
        if not integration.get("apiKey"):
            self.note(
                what,
                "it has no API key (an email or outgoing integration)",
                "send those alerts through the Alert API, a webhook, or Alertmanager",
            )
            return None
        if not integration.get("enabled", True):
            self.note(what, "it is disabled in Opsgenie", "create it when it is needed")
            return None
        if integration["type"] not in ALERT_API_TYPES:
            self.note(
                what,
                "its sender may post to Opsgenie's endpoint for that tool, not the Alert API",
                "point the sender at Tocsin's Alert API (/v2/alerts) with the same key",
            )
        team = (integration.get("ownerTeam") or {}).get("id") or integration.get("teamId")
        return IntegrationIn(
            name=integration["name"],
            kind="opsgenie",
            key=integration["apiKey"],
            service=self.handles.of(source_id("team-routing", team)) if team else None,
            source=source_id("integration", integration["id"]),
        )


def duration_s(duration: Json) -> int:
    return int(duration.get("timeAmount", 0)) * UNIT_SECONDS[duration.get("timeUnit", "minutes")]


def _span(restriction: Json) -> tuple[int, int, int]:
    start_day = WEEKDAYS.index(restriction["startDay"])
    start = start_day * 1440 + restriction["startHour"] * 60 + restriction["startMin"]
    end_day = WEEKDAYS.index(restriction["endDay"])
    end = end_day * 1440 + restriction["endHour"] * 60 + restriction["endMin"]
    return start_day, start % 1440, (end - start) % (7 * 1440) or 7 * 1440


_KINDS: dict[tuple[str, int], tuple[RotationKind, int]] = {
    ("daily", 1): ("daily", 1),
    ("weekly", 1): ("weekly", 1),
    ("weekly", 2): ("biweekly", 1),
}


def _rotation(rotation: Json, zone: str, participants: list[str]) -> Rotation:
    start = zoned(rotation["startDate"], zone).astimezone(ZoneInfo(zone))
    kind, length = _rotation_kind(rotation["type"], int(rotation.get("length") or 1))
    return Rotation(
        kind=kind,
        length=length,
        handoff=start.time().replace(tzinfo=None),
        start=start.date(),
        participants=participants,
    )


def _rotation_kind(kind: str, length: int) -> tuple[RotationKind, int]:
    if (kind, length) in _KINDS:
        return _KINDS[(kind, length)]
    if kind == "hourly":
        return "hours", length
    return "days", length * (7 if kind == "weekly" else 1)
