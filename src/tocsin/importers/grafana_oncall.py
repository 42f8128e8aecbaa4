"""Grafana OnCall (its public HTTP API, `Authorization: <token>`): users and their personal
notification rules, teams, schedules with their rotations (on-call shifts) and overrides,
escalation chains, integrations and their routes.

How Grafana OnCall maps onto Tocsin:
- a shift of type `rolling_users` (or `recurrent_event`) becomes a layer, lowest `level` first:
  its turns (daily, weekly every one or two weeks, hourly) are the rotation, its start the
  handoff, and a shift shorter than its turn, or one on chosen weekdays (`by_day`), becomes
  restriction windows. A shift's times are wall-clock times in its own time zone, else (in a
  `calendar` schedule) the schedule's, else UTC: that is where OnCall expands it, so it is the
  Tocsin schedule's zone too.
- shifts of type `override`, and one-off `single_event` shifts, become overrides.
- an escalation chain becomes a policy: each notify step lands at the sum of the `wait`s before
  it, to the second (4 minutes stays 4 minutes); `repeat_escalation` repeats the chain five
  times, as OnCall does.
- an integration whose senders post Grafana Alerting's or Alertmanager's webhook becomes a Tocsin
  integration of that kind with the same token. OnCall puts the token in the URL path, so the
  sender's URL changes (the token does not); its default route's chain becomes its service's
  policy.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from tocsin.importers import mapping
from tocsin.importers.handles import Handles, layer_name, slug
from tocsin.importers.http import SourceError, VendorApi
from tocsin.importers.model import Imported, IntegrationIn, LeftOut, Period, Progress, no_progress
from tocsin.importers.overlaps import overlapping_layers
from tocsin.importers.spans import delay_text, week_spans, zoned
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
from tocsin.oncall.rotation import (
    Layer,
    Restriction,
    Rotation,
    RotationKind,
    ScheduleSpec,
    layer_shifts,
)

VENDOR = "grafana-oncall"
DAY_S, WEEK_S = 86400, 7 * 86400
ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
REPEATS = 5  # OnCall's repeat_escalation runs the chain again at most five times
# Integration types whose senders post a payload a Tocsin kind reads, and that kind.
KINDS = {"grafana_alerting": "grafana", "alertmanager": "alertmanager"}
RULE_METHODS = {"notify_by_email": "email", "notify_by_slack": "slack"}
TOKEN = re.compile(r"/integrations/v1/[^/]+/([A-Za-z0-9_-]+)/?$")
Json = dict[str, Any]


def api(
    token: str,
    *,
    base_url: str | None,
    grafana_url: str | None = None,
    progress: Progress = no_progress,
) -> VendorApi:
    """`base_url` is the OnCall API URL (OnCall → Settings); with a service account token,
    `grafana_url` names the Grafana stack (sent as X-Grafana-URL)."""
    if not base_url:
        raise SourceError("--base-url is required: the OnCall API URL from OnCall → Settings")
    headers = {"Authorization": token} | ({"X-Grafana-URL": grafana_url} if grafana_url else {})
    return VendorApi(base_url, headers, progress=progress)


def source_id(kind: str, ident: str) -> str:
    return mapping.source_id(VENDOR, kind, ident)


# -- fetching ----------------------------------------------------------------------------------


@dataclass
class Source:
    """Everything read from Grafana OnCall, as its API answered."""

    users: list[Json] = field(default_factory=list)
    teams: list[Json] = field(default_factory=list)
    rules: list[Json] = field(default_factory=list)
    schedules: list[Json] = field(default_factory=list)
    shifts: dict[str, Json] = field(default_factory=dict)
    chains: list[Json] = field(default_factory=list)
    steps: list[Json] = field(default_factory=list)
    integrations: list[Json] = field(default_factory=list)
    routes: list[Json] = field(default_factory=list)
    rules_unread: str | None = None  # why the personal notification rules could not be read


def pages(client: VendorApi, path: str, params: dict[str, Any] | None = None) -> Iterator[Json]:
    """Every item of a list endpoint, following `next` until it is null."""
    answer = client.get(path, params)
    while True:
        yield from answer.get("results") or []
        following = answer.get("next")
        if not following or not answer.get("results"):
            return
        answer = client.get(following)


def fetch(client: VendorApi) -> Source:
    users, teams = list(pages(client, "/api/v1/users/")), list(pages(client, "/api/v1/teams/"))
    rules, unread = _rules(client)
    return Source(
        users=users,
        teams=teams,
        rules=rules,
        rules_unread=unread,
        schedules=list(pages(client, "/api/v1/schedules/")),
        shifts={shift["id"]: shift for shift in pages(client, "/api/v1/on_call_shifts/")},
        chains=list(pages(client, "/api/v1/escalation_chains/")),
        steps=list(pages(client, "/api/v1/escalation_policies/")),
        integrations=list(pages(client, "/api/v1/integrations/")),
        routes=list(pages(client, "/api/v1/routes/")),
    )


def _rules(client: VendorApi) -> tuple[list[Json], str | None]:
    """OnCall answers personal notification rules to user tokens only (403 otherwise)."""
    try:
        return list(pages(client, "/api/v1/personal_notification_rules/")), None
    except SourceError as error:
        if ": 403 " not in str(error):
            raise
        return [], str(error)


def on_call(client: VendorApi, schedule_id: str, start: datetime, end: datetime) -> list[Period]:
    """Who OnCall has on call over [start, end): its final shifts (levels and overrides)."""
    window = {"start_date": _minute(start), "end_date": _minute(end)}
    rows = pages(client, f"/api/v1/schedules/{schedule_id}/final_shifts", window)
    return [
        Period(
            zoned(row["shift_start"], "UTC"),
            zoned(row["shift_end"], "UTC"),
            frozenset([source_id("user", row["user_pk"])]),
        )
        for row in rows
    ]


def _minute(at: datetime) -> str:
    return at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M")


# -- the shape of a shift ----------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A rotation's turns as Tocsin counts them, and when in a turn it is on call."""

    kind: RotationKind
    length: int
    start: datetime  # naive, wall clock: the first turn's start
    handoff_weekday: int | None = None
    restrictions: tuple[Restriction, ...] = ()


def shape(shift: Json, groups: int) -> Shape | str:
    """How a repeating shift's turns map onto a Tocsin rotation, or why they do not."""
    if shift.get("by_month") or shift.get("by_monthday"):
        return "it repeats in chosen months or on days of the month; Tocsin rotations do not"
    start, duration = _first_start(shift), int(shift["duration"])
    every, days = int(shift.get("interval") or 1), _weekdays(shift.get("by_day"))
    frequency = shift.get("frequency")
    if frequency == "daily":
        return _daily(start, duration, every, days, groups)
    if frequency == "weekly":
        return _weekly(start, duration, every, days, _week_start(shift))
    if frequency == "hourly" and not days and duration == every * 3600:
        return Shape("hours", every, start)
    return f"it repeats {frequency or 'never'} with these turns, which Tocsin rotations do not"


def _first_start(shift: Json) -> datetime:
    """The first turn's start: OnCall moves it to the first chosen weekday from week start."""
    start = datetime.fromisoformat(shift["start"]).replace(tzinfo=None)
    days = _weekdays(shift.get("by_day"))
    if shift.get("frequency") and days and start.weekday() not in days:
        week_start = _week_start(shift)
        first = next(d % 7 for d in range(week_start, week_start + 7) if d % 7 in days)
        start += timedelta(days=(first - start.weekday()) % 7)
    return start


def _weekdays(by_day: list[str] | None) -> list[int]:
    return sorted({ICAL_DAYS.index(day) for day in by_day or [] if day in ICAL_DAYS})


def _week_start(shift: Json) -> int:
    return ICAL_DAYS.index(shift.get("week_start") or "SU")


def _daily(start: datetime, duration: int, every: int, days: list[int], groups: int) -> Shape | str:
    kind: RotationKind = "daily" if every == 1 else "days"
    if days and len(days) < 7:
        if groups > 1 or every > 1:
            return (
                "it hands over day by day on the chosen weekdays only; a Tocsin rotation "
                "counts every day"
            )
        return Shape(kind, every, start, restrictions=_windows(start, duration, days))
    if duration == every * DAY_S:
        return Shape(kind, every, start)
    if duration < DAY_S:
        if every > 1:
            return "it is on call on one day of every turn only"
        return Shape(kind, every, start, restrictions=_windows(start, duration, list(range(7))))
    return "its turns are longer or shorter than its repeat, in a way Tocsin cannot restrict"


def _weekly(
    start: datetime, duration: int, every: int, days: list[int], week_start: int
) -> Shape | str:
    if every > 2:
        return f"it hands over every {every} weeks; Tocsin's weekly rotations do every 1 or 2"
    kind: RotationKind = "weekly" if every == 1 else "biweekly"
    if duration == every * WEEK_S and not days:
        return Shape(kind, 1, start, start.weekday())
    if every == 2:
        # Each group's event repeats every 2 x groups weeks: on call in a turn's first week only.
        return "it is on call in the first week of each two-week turn only; Tocsin cannot restrict"
    if days:
        # Turns change at the start of the week; each chosen day is on call for `duration`.
        windows = () if duration >= DAY_S and len(days) == 7 else _windows(start, duration, days)
        return Shape(kind, 1, start, week_start, windows)
    if duration < WEEK_S:
        return Shape(kind, 1, start, start.weekday(), _windows(start, duration, [start.weekday()]))
    return "its turns last longer than a week, which Tocsin cannot restrict"


def _windows(start: datetime, duration: int, days: list[int]) -> tuple[Restriction, ...]:
    minute = start.hour * 60 + start.minute
    return tuple(week_spans([(day, minute, duration // 60) for day in days]))


def shift_zone(shift: Json, schedule: Json) -> str:
    """Where OnCall expands a shift: its own zone, a calendar schedule's, else UTC (the web
    schedules' rotations are kept in UTC and only shown in the schedule's zone)."""
    zone = shift.get("time_zone")
    if not zone and schedule.get("type") == "calendar":
        zone = schedule.get("time_zone")
    return _zone(zone)


def _zone(zone: str | None) -> str:
    return mapping.zone_or_utc(zone, utc_aliases=("etc/utc", "utc"))


def _ends(shift: Json, zone: str) -> datetime:
    """A one-off shift's end: OnCall adds its duration on the wall clock, then localizes it."""
    naive = datetime.fromisoformat(shift["start"]).replace(tzinfo=None)
    end = naive + timedelta(seconds=int(shift["duration"]))
    return end.replace(tzinfo=ZoneInfo(zone))


# -- mapping -----------------------------------------------------------------------------------


def mapped(source: Source, current: OnCallConfig, now: datetime) -> Imported:
    return _Mapper(source, Handles(current), now).imported()


ROTATIONS = ("rolling_users", "recurrent_event")
ONE_OFF = ("override", "single_event")


@dataclass
class _Mapper:
    source: Source
    handles: Handles
    now: datetime
    left_out: list[LeftOut] = field(default_factory=list)

    def note(self, what: str, why: str, instead: str) -> None:
        self.left_out.append(LeftOut(what, why, instead))

    def imported(self) -> Imported:
        if self.source.rules_unread:
            self.note(
                "personal notification rules",
                f"this token may not read them ({self.source.rules_unread})",
                "run the import with an OnCall API token (OnCall → Settings), or set each "
                "person's rules by hand; until then Tocsin uses every contact method at once",
            )
        people = [self.person(u) for u in self.source.users]
        teams = [t for t in (self.team(t) for t in self.source.teams) if t]
        schedules = [s for s in (self.schedule(s) for s in self.source.schedules) if s]
        policies = [self.policy(c) for c in self.source.chains]
        services, integrations = self.integrations()
        config = OnCallConfig(
            people=people,
            teams=teams,
            schedules=schedules,
            escalation_policies=policies,
            services=services,
        )
        return Imported(VENDOR, config, integrations, self.left_out)

    def user_handle(self, user_id: str | None) -> str | None:
        return self.handles.of(source_id("user", user_id)) if user_id else None

    # people ----------------------------------------------------------------------------------

    def person(self, user: Json) -> PersonIn:
        source = source_id("user", user["id"])
        email = user["email"]
        name = user.get("username") or email.split("@")[0]
        handle = self.handles.claim("person", source, name, email=email)
        methods = [ContactMethodIn(name="email", kind="email", address=email)]
        slack = [s["user_id"] for s in user.get("slack") or [] if s.get("user_id")]
        methods += [ContactMethodIn(name="slack", kind="slack", address=slack[0])] if slack else []
        return PersonIn(
            handle=handle,
            source=source,
            name=name,
            email=email,
            timezone=_zone(user.get("timezone")),
            contact_methods=methods,
            notification_rules=self.rules(handle, user["id"], {m.name for m in methods}),
        )

    def rules(self, handle: str, user_id: str, methods: set[str]) -> list[RuleIn]:
        """The default (not "important") rules in order, each at the sum of the waits before."""
        mine = sorted(
            (r for r in self.source.rules if r.get("user_id") == user_id),
            key=lambda r: r.get("position", 0),
        )
        rules, after = [], 0
        for rule in (r for r in mine if not r.get("important")):
            method = RULE_METHODS.get(rule["type"])
            if rule["type"] == "wait":
                after += int(rule.get("duration") or 0)
            elif method in methods:
                rules.append(RuleIn(method=method, after=delay_text(after)))
            else:
                self.rule_note(handle, rule["type"])
        if any(r.get("important") for r in mine):
            self.note(
                f"person {handle}: important notification rules",
                "Tocsin has one list of notification rules per person, used for every page",
                "fold what differs into the person's rules by hand",
            )
        return rules

    def rule_note(self, handle: str, kind: str) -> None:
        self.note(
            f"person {handle}: notification rule {kind}",
            "Tocsin sends no SMS, phone calls or OnCall app pushes itself (and Slack only to "
            "people with a linked Slack user)",
            "add a contact method of kind apprise with an Apprise URL for it, and a rule",
        )

    # teams -----------------------------------------------------------------------------------

    def team(self, team: Json) -> TeamIn | None:
        source = source_id("team", team["id"])
        handle = self.handles.claim("team", source, team["name"])
        members = [
            self.user_handle(user["id"])
            for user in self.source.users
            if team["id"] in (user.get("teams") or [])
        ]
        known = [m for m in dict.fromkeys(members) if m]
        if not known:
            self.note(f"team {team['name']}", "it has no members", "add members in Grafana")
            self.handles.forget(source)
            return None
        return TeamIn(handle=handle, source=source, name=team["name"], members=known)

    # schedules -------------------------------------------------------------------------------

    def schedule(self, schedule: Json) -> ScheduleIn | None:
        if schedule.get("type") == "ical":
            self.note(
                f"schedule {schedule['name']}",
                "its shifts come from an external iCal calendar (ical_url_primary), which "
                "Tocsin does not read",
                "recreate its rotations in the on-call file",
            )
            return None
        source = source_id("schedule", schedule["id"])
        handle = self.handles.claim("schedule", source, schedule["name"])
        shifts = self.shifts_of(schedule)
        rotations = sorted(
            (s for s in shifts if s["type"] in ROTATIONS), key=lambda s: s.get("level") or 0
        )
        zone = self.schedule_zone(handle, schedule, rotations)
        layers, levels = self.layers(handle, rotations, zone)
        if not layers:
            self.note(
                f"schedule {schedule['name']}",
                "none of its rotations could be imported",
                "recreate it in the on-call file",
            )
            self.handles.forget(source)
            return None
        self.overrides_calendar(handle, schedule)
        mapped_schedule = ScheduleIn(
            handle=handle,
            source=source,
            name=schedule["name"],
            timezone=zone,
            layers=layers,
            overrides=self.overrides(handle, schedule, shifts, max(levels.values())),
        )
        self.report_overlaps(mapped_schedule, levels)
        return mapped_schedule

    def shifts_of(self, schedule: Json) -> list[Json]:
        listed = [i for i in schedule.get("shifts") or [] if i in self.source.shifts]
        own = [i for i, s in self.source.shifts.items() if s.get("schedule") == schedule["id"]]
        return [self.source.shifts[i] for i in dict.fromkeys(listed + own)]

    def schedule_zone(self, handle: str, schedule: Json, rotations: list[Json]) -> str:
        zones = Counter(shift_zone(s, schedule) for s in rotations)
        if not zones:
            return _zone(schedule.get("time_zone"))
        zone = zones.most_common(1)[0][0]
        for shift in rotations:
            if shift_zone(shift, schedule) != zone:
                self.note(
                    f"schedule {handle}: rotation {shift.get('name') or shift['id']!r}",
                    f"its times are in {shift_zone(shift, schedule)}, the others' in {zone}; a "
                    f"Tocsin schedule has one time zone, so it is read in {zone}",
                    "give it a schedule of its own",
                )
        shown = _zone(schedule.get("time_zone"))
        if schedule.get("type") == "web" and zone != shown:
            self.note(
                f"schedule {handle}: time zone {shown}",
                f"its rotations hand over at fixed {zone} times, as OnCall keeps web rotations; "
                f"in {shown} the handoffs move an hour at each DST change",
                f"nothing to do: Tocsin keeps them in {zone} too (to hand over at one local "
                f"time all year, set the schedule's timezone to {shown} and the handoffs)",
            )
        return zone

    def layers(
        self, handle: str, rotations: list[Json], zone: str
    ) -> tuple[list[Layer], dict[str, int]]:
        """Lowest level first; every layer is read in the schedule's zone (schedule_zone)."""
        layers: list[Layer] = []
        levels: dict[str, int] = {}
        for shift in rotations:
            layer = self.layer(handle, shift, {layer.name for layer in layers})
            if layer:
                layers.append(layer)
                levels[layer.name] = int(shift.get("level") or 0)
                self.dst_notes(handle, shift, layer, zone)
        return layers, levels

    def dst_notes(self, handle: str, shift: Json, layer: Layer, zone: str) -> None:
        """Where OnCall's turns of exactly `duration` seconds end off the wall clock: the turn
        that spans a DST change leaves a gap (clocks back) or meets the next (clocks forward)."""
        spec = ScheduleSpec(name=handle, timezone=zone, layers=[layer])
        exact = timedelta(seconds=int(shift["duration"]))
        for change in dst_changes(zone, self.now, days=14):
            for turn in layer_shifts(spec, layer, change - 2 * WEEK, change + 2 * WEEK):
                if turn.start < change < turn.end and turn.start + exact != turn.end:
                    self.dst_note(handle, shift, zone, turn.start + exact, turn.end)

    def dst_note(self, handle: str, shift: Json, zone: str, ends: datetime, wall: datetime) -> None:
        local = ZoneInfo(zone)
        gap = ends < wall
        self.note(
            f"schedule {handle}: rotation {shift.get('name') or shift['id']!r} at the DST "
            f"change of {wall.astimezone(local):%Y-%m-%d}",
            f"OnCall makes every turn exactly {int(shift['duration']) // 3600} hours long, so "
            f"the turn that spans the change ends at {ends.astimezone(local):%H:%M}, not at "
            f"{wall.astimezone(local):%H:%M} ({zone}): "
            + ("nobody is on call in it" if gap else "it overlaps the next turn")
            + f" from {min(ends, wall):%Y-%m-%d %H:%MZ} to {max(ends, wall):%H:%MZ} in OnCall; "
            "Tocsin hands over on the wall clock",
            "nothing to do; `tocsin import verify` lists those hours as differences",
        )

    def layer(self, handle: str, shift: Json, taken: set[str]) -> Layer | None:
        what = f"schedule {handle}: rotation {shift.get('name') or shift['id']!r}"
        if shift.get("until") and datetime.fromisoformat(shift["until"]) <= self._naive_now():
            self.note(what, "it ended before the import", "nothing to do")
            return None
        participants = self.participants(what, shift)
        found = shape(shift, len(participants)) if participants else None
        if isinstance(found, str):
            self.note(what, found, "recreate the rotation in the on-call file")
        if not isinstance(found, Shape):
            return None
        self.layer_notes(what, shift)
        return Layer(
            name=layer_name(slug(shift.get("name") or "rotation", "rotation"), taken),
            rotation=Rotation(
                kind=found.kind,
                length=found.length,
                handoff=found.start.time(),
                handoff_weekday=found.handoff_weekday if found.kind != "hours" else None,
                start=found.start.date(),
                participants=participants,
            ),
            restrictions=list(found.restrictions),
        )

    def _naive_now(self) -> datetime:
        return self.now.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)

    def participants(self, what: str, shift: Json) -> list[str]:
        """One person a turn, in turn order (from `start_rotation_from_user_index`)."""
        groups: list[list[str]] = (
            [shift.get("users") or []]
            if shift["type"] == "recurrent_event"
            else list(shift.get("rolling_users") or [])
        )
        first = int(shift.get("start_rotation_from_user_index") or 0) % max(len(groups), 1)
        groups = groups[first:] + groups[:first]
        if not groups or any(len(group) != 1 for group in groups):
            self.note(
                what,
                "some turns have several people (or nobody) on call at once; a Tocsin schedule "
                "has one person at a time",
                "make a schedule for each of them and target them all from the escalation policy",
            )
            return []
        handles = [self.user_handle(group[0]) for group in groups]
        if not all(handles):
            self.note(what, "a participant is not an imported user", "add them by hand")
            return []
        return [h for h in handles if h]

    def layer_notes(self, what: str, shift: Json) -> None:
        if shift.get("until"):
            self.note(
                what,
                f"it ends at {shift['until']} in OnCall; Tocsin rotations do not end",
                "remove the layer from the on-call file then",
            )
        rotation_start = shift.get("rotation_start")
        if rotation_start and datetime.fromisoformat(rotation_start) > self._naive_now():
            self.note(
                what,
                f"its rotation starts at {rotation_start}; Tocsin runs it from its first turn",
                "add the layer on the day it starts",
            )

    def overrides_calendar(self, handle: str, schedule: Json) -> None:
        if schedule.get("ical_url_overrides"):
            self.note(
                f"schedule {handle}: overrides calendar",
                "its overrides come from an external iCal calendar, which Tocsin does not read",
                "add them with `tocsin oncall override add`",
            )

    def overrides(
        self, handle: str, schedule: Json, shifts: list[Json], top: int
    ) -> list[OverrideIn]:
        found = []
        for shift in (s for s in shifts if s["type"] in ONE_OFF):
            override = self.override(handle, schedule, shift, top)
            found += [override] if override else []
        return found

    def override(self, handle: str, schedule: Json, shift: Json, top: int) -> OverrideIn | None:
        what = f"schedule {handle}: {shift['type']} {shift.get('name') or shift['id']!r}"
        zone = shift_zone(shift, schedule)
        end = _ends(shift, zone)
        groups = shift.get("rolling_users") or []
        users = shift.get("users") or [user for group in groups for user in group]
        person = self.user_handle(users[0]) if len(users) == 1 else None
        if end <= self.now:
            self.note(what, "it ended before the import", "nothing to do")
        elif person is None:
            self.note(what, "it is not one imported person", "add it by hand")
        else:
            if shift["type"] == "single_event" and int(shift.get("level") or 0) < top:
                self.note(
                    what,
                    f"it is a one-off shift at level {shift.get('level') or 0}; as a Tocsin "
                    "override it is above every layer",
                    "shorten it by hand where a higher level should win",
                )
            return OverrideIn(
                person=person,
                start=zoned(shift["start"], zone),
                end=end,
                reason=f"Grafana OnCall {shift['type']} {shift['id']}",
                source=source_id("override", shift["id"]),
            )
        return None

    def report_overlaps(self, schedule: ScheduleIn, levels: dict[str, int]) -> None:
        for lower, higher in overlapping_layers(schedule, self.now, timedelta(days=14)):
            if levels[lower] == levels[higher]:
                self.note(
                    f"schedule {schedule.handle}: rotations {lower!r} and {higher!r} overlap",
                    f"both are at level {levels[lower]}, where OnCall pages everyone on call; "
                    f"a Tocsin schedule has one person at a time, so {higher!r} wins",
                    "give them different levels, or split them into two schedules",
                )

    # escalation chains -----------------------------------------------------------------------

    def policy(self, chain: Json) -> EscalationPolicyIn:
        source = source_id("escalation-chain", chain["id"])
        handle = self.handles.claim("escalation policy", source, chain["name"])
        steps = sorted(
            (s for s in self.source.steps if s.get("escalation_chain_id") == chain["id"]),
            key=lambda s: s.get("position", 0),
        )
        at: dict[int, list[str]] = {}
        after, repeat_at = 0, None
        for step in steps:
            if repeat_at is not None:
                self.after_repeat_note(handle, step)
            elif step["type"] == "wait":
                after += int(step.get("duration") or 0)
            elif step["type"] == "repeat_escalation":
                repeat_at = after
            else:
                at.setdefault(after, []).extend(self.targets(handle, step, after))
        return self.chain_policy(chain, handle, source, at, repeat_at)

    def chain_policy(
        self,
        chain: Json,
        handle: str,
        source: str,
        at: dict[int, list[str]],
        repeat_at: int | None,
    ) -> EscalationPolicyIn:
        steps = [
            StepIn(after=delay_text(after), targets=list(dict.fromkeys(targets)))
            for after, targets in sorted(at.items())
            if targets
        ]
        last = max((after for after, targets in at.items() if targets), default=0)
        repeats: dict[str, Any] = (
            {"repeat": REPEATS, "repeat_after": delay_text(repeat_at - last)}
            if repeat_at is not None and steps
            else {}
        )
        return EscalationPolicyIn(
            handle=handle, source=source, name=chain["name"], steps=steps, **repeats
        )

    def after_repeat_note(self, handle: str, step: Json) -> None:
        self.note(
            f"escalation policy {handle}: step {step['type']} after repeat_escalation",
            f"OnCall runs it only once the chain has repeated {REPEATS} times",
            "add it to the policy by hand if it matters",
        )

    def targets(self, handle: str, step: Json, after: int) -> list[str]:
        what = f"escalation policy {handle}: {step['type']} at {delay_text(after)}"
        if step.get("important"):
            self.note(
                what,
                "it notifies by people's important rules; Tocsin has one list of rules a person",
                "nothing to do, or adjust those people's rules",
            )
        kind = step["type"]
        found: list[str | None]
        if kind == "notify_persons":
            found = [self.person_target(u) for u in step.get("persons_to_notify") or []]
        elif kind == "notify_on_call_from_schedule":
            found = [self.schedule_target(step.get("notify_on_call_from_schedule"))]
        elif kind == "notify_team_members":
            found = [self.team_target(step.get("team_to_notify"))]
        else:
            self.step_note(what, kind)
            return []
        if None in found:
            self.note(what, "it names someone or something not imported", "target it by hand")
        return [f for f in found if f]

    def person_target(self, user_id: str) -> str | None:
        handle = self.user_handle(user_id)
        return f"person:{handle}" if handle else None

    def schedule_target(self, schedule_id: str | None) -> str | None:
        handle = self.handles.of(source_id("schedule", schedule_id)) if schedule_id else None
        return f"schedule:{handle}" if handle else None

    def team_target(self, team_id: str | None) -> str | None:
        handle = self.handles.of(source_id("team", team_id)) if team_id else None
        return f"team:{handle}" if handle else None

    def step_note(self, what: str, kind: str) -> None:
        why, instead = STEP_NOTES.get(kind, STEP_NOTES["other"])
        self.note(what, why, instead)

    # integrations and routes -----------------------------------------------------------------

    def integrations(self) -> tuple[list[ServiceIn], list[IntegrationIn]]:
        services, created = [], []
        for integration in self.source.integrations:
            found = self.integration(integration)
            if found:
                services.append(found[0])
                created.append(found[1])
        return services, created

    def integration(self, integration: Json) -> tuple[ServiceIn, IntegrationIn] | None:
        what = f"integration {integration['name']} ({integration['type']})"
        self.heartbeat_note(what, integration)
        kind = KINDS.get(integration["type"])
        match = TOKEN.search(integration.get("link") or "")
        if kind is None or match is None:
            why, instead = INTEGRATION_NOTES.get(integration["type"], INTEGRATION_NOTES["other"])
            self.note(what, why, instead)
            return None
        service = self.service(integration)
        self.route_notes(integration, service.handle)
        return service, IntegrationIn(
            name=integration["name"],
            kind=kind,
            key=match.group(1),
            service=service.handle,
            source=source_id("integration", integration["id"]),
            was=integration["link"],
        )

    def service(self, integration: Json) -> ServiceIn:
        source = source_id("integration-route", integration["id"])
        handle = self.handles.claim("service", source, integration["name"])
        chain = (integration.get("default_route") or {}).get("escalation_chain_id")
        if not chain:
            self.note(
                f"integration {integration['name']}: default route",
                "it has no escalation chain, so OnCall pages nobody",
                f"set an escalation policy on service {handle} (else the default policy pages)",
            )
        policy = self.handles.of(source_id("escalation-chain", chain)) if chain else None
        return ServiceIn(
            handle=handle, source=source, name=integration["name"], escalation_policy=policy
        )

    def route_notes(self, integration: Json, service: str) -> None:
        default = (integration.get("default_route") or {}).get("id")
        for route in self.source.routes:
            if route.get("integration_id") != integration["id"] or route["id"] == default:
                continue
            if route.get("is_the_last_route"):
                continue
            chain = self.handles.of(source_id("escalation-chain", route["escalation_chain_id"]))
            self.note(
                f"integration {integration['name']}: route {route.get('routing_regex')!r} "
                f"(to escalation policy {chain})",
                "OnCall routes by a regex or template over the alert's payload; Tocsin routes by "
                "the policy's routing rules (labels)",
                f"add a service with escalation_policy {chain} and a rule in your policy's "
                f"routing.rules sending those alerts to it (others go to {service})",
            )

    def heartbeat_note(self, what: str, integration: Json) -> None:
        if (integration.get("heartbeat") or {}).get("link"):
            self.note(
                f"{what}: heartbeat",
                "Tocsin heartbeats are integrations of their own",
                "tocsin integration create --kind heartbeat, and point the job's ping at it",
            )


STEP_NOTES: dict[str, tuple[str, str]] = {
    "notify_person_next_each_time": (
        "it pages one of its people in turn, alert by alert; Tocsin has no round-robin step",
        "make a schedule that rotates through them and target it",
    ),
    "notify_user_group": (
        "it pages a Slack user group, which Tocsin does not read",
        "target the group's people or their team",
    ),
    "notify_whole_channel": (
        "it notifies a whole Slack channel",
        "add a slack channel to the policy's communication tree",
    ),
    "trigger_webhook": (
        "it calls an outgoing webhook, which Tocsin does not import",
        "give a person or audience a webhook contact method",
    ),
    "resolve": ("Tocsin never resolves an incident by itself", "resolve it by hand"),
    "notify_if_time_from_to": (
        "the steps after it run only inside a time of day in OnCall; Tocsin runs them always",
        "use business time in the runbook's escalation steps, or remove them",
    ),
    "notify_if_num_alerts_in_window": (
        "the steps after it run only after a number of alerts in OnCall; Tocsin runs them always",
        "group alerts with the policy's grouping rules",
    ),
    "declare_incident": (
        "Tocsin opens incidents from alerts already",
        "set the severity through the policy's routing rules",
    ),
    "other": ("Tocsin has no step like it", "add a step by hand"),
}

INTEGRATION_NOTES: dict[str, tuple[str, str]] = {
    "grafana": (
        "Grafana's legacy alerting sends a payload of its own (and is gone since Grafana 11)",
        "use Grafana Alerting with a webhook contact point at a Tocsin grafana integration",
    ),
    "webhook": (
        "its senders post any JSON, read through OnCall templates that Tocsin does not run",
        "send Tocsin's generic JSON or Alertmanager's webhook to a generic integration",
    ),
    "formatted_webhook": (
        "its senders post OnCall's formatted webhook, which Tocsin does not read",
        "send Tocsin's generic JSON or Alertmanager's webhook to a generic integration",
    ),
    "inbound_email": (
        "Tocsin takes no alerts by email",
        "send them through Alertmanager or a generic integration",
    ),
    "direct_paging": (
        "OnCall's direct paging is Tocsin's declared incidents",
        "declare with `tocsin incident create` or POST /api/v1/incidents",
    ),
    "manual": (
        "OnCall's manual alerts are Tocsin's declared incidents",
        "declare with `tocsin incident create` or POST /api/v1/incidents",
    ),
    "other": (
        "its sender has no Tocsin integration kind, or OnCall gave it no URL",
        "send those alerts through Alertmanager or a generic integration",
    ),
}


WEEK = timedelta(days=7)


def dst_changes(zone: str, start: datetime, *, days: int) -> list[datetime]:
    """The hours (UTC, on the hour) at which `zone`'s offset has changed, within `days`."""
    local = ZoneInfo(zone)
    first = start.astimezone(ZoneInfo("UTC")).replace(minute=0, second=0, microsecond=0)
    hours = [first + timedelta(hours=h) for h in range(days * 24 + 1)]
    return [
        b
        for a, b in pairwise(hours)
        if a.astimezone(local).utcoffset() != b.astimezone(local).utcoffset()
    ]
