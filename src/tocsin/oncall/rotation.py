"""Schedule maths: who is on call at an instant, and the shifts over a window.

Pure logic: no database, no I/O, no "now". Instants going in must be timezone-aware; instants
coming out are UTC. Every shift and window is half-open, [start, end).

Handoffs follow the schedule zone's wall clock
----------------------------------------------
A daily rotation with a 09:00 handoff hands off at 09:00 local time every day, so the shift
that spans a DST change lasts 23 or 25 real hours (a weekly one, 167 or 169). The kinds:

- `daily`, `weekly`, `biweekly`: one, seven or fourteen days per shift; `length` must be 1
  (use `days` for any other number of days).
- `days`: `length` days per shift, handing off at `handoff`.
- `hours`: `length` hours per shift. When `length` divides 24 (1, 2, 3, 4, 6, 8, 12, 24) the
  handoffs are wall-clock times anchored at `handoff`: every 12 hours from 09:00 means 09:00
  and 21:00 local every day, so the night shift over a DST change lasts 11 or 13 real hours.
  Any other length (5, 10, 36, 48, ...) cannot repeat on the same wall-clock times every day,
  so it counts elapsed time: every `length` real hours from the first handoff, drifting an
  hour against the wall clock at each DST change. For whole days, use `days`.

Weekly and biweekly rotations hand off on `handoff_weekday` (0 = Monday; default: the weekday
of `start`). When `start` falls on another weekday, the rotation is counted from the handoff
weekday before `start` and the first participant's shift is shortened to begin at `start`: a
weekly rotation handing off on Mondays that starts on a Wednesday gives the first participant
Wednesday to Monday. A layer has nobody on call before `start` at `handoff`.

Wall-clock times that do not exist or happen twice
--------------------------------------------------
- A time skipped when the clocks go forward (02:30 on 2026-03-08 in New York) means the first
  valid instant after it: the moment the clocks jump (03:00 EDT).
- A time that happens twice when the clocks go back (01:30 on 2026-11-01 in New York) means
  its first occurrence (01:30 EDT).

The same rule applies to the edges of restriction windows. If two handoffs of an hourly
rotation land in the same skipped hour, the shift between them is empty and that person's turn
is skipped rather than made to overlap the next one.

Layers, restrictions and overrides
----------------------------------
`ScheduleSpec.layers` is ordered lowest priority first, as PagerDuty draws them bottom up: a
later layer wins wherever it has someone on call. Where it has nobody (outside its restriction
windows, or before its rotation starts) the layers below show through. Overrides beat every
layer and apply even where no layer has anyone on call; where overrides overlap, the later one
in the list wins.

Restriction windows are wall-clock times on the listed weekdays. A window whose end is at or
before its start runs past midnight into the next day, so `end` 00:00 (or "24:00") means
midnight at the end of the day, and `start == end` is a whole day.

Shifts returned by `layer_shifts` and `final_shifts` are sorted, never overlap and are clipped
to the window. Adjacent shifts of the same person are merged into one, which keeps the layer
of its earliest piece.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from tocsin.errors import InvalidInput

__all__ = [
    "OVERRIDE_LAYER",
    "Layer",
    "Override",
    "Restriction",
    "Rotation",
    "RotationKind",
    "ScheduleSpec",
    "Shift",
    "final_shifts",
    "layer_shifts",
    "on_call_at",
]

RotationKind = Literal["daily", "weekly", "biweekly", "hours", "days"]
OVERRIDE_LAYER = "override"

_NATURAL_DAYS: dict[str, int] = {"daily": 1, "weekly": 7, "biweekly": 14}
_MAX_LENGTH = {"hours": 24 * 366, "days": 366}
_TICK = timedelta(microseconds=1)
_DAY = timedelta(days=1)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _wall_clock(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a wall-clock time in the schedule's zone has no zone of its own")
    return value


Handle = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Weekday = Annotated[int, Field(ge=0, le=6)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
WallTime = Annotated[time, AfterValidator(_wall_clock)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rotation(_Model):
    """Who takes turns, how long each turn lasts, and when the first turn starts."""

    kind: RotationKind
    length: int = Field(default=1, ge=1)
    handoff: WallTime = time(9, 0)
    handoff_weekday: Weekday | None = None
    start: date
    participants: list[Handle] = Field(min_length=1)

    @model_validator(mode="after")
    def _fits_kind(self) -> Self:
        if self.kind in _NATURAL_DAYS and self.length != 1:
            raise ValueError(f"a {self.kind} rotation has length 1; use kind 'days' for more")
        if self.kind in _MAX_LENGTH and self.length > _MAX_LENGTH[self.kind]:
            raise ValueError(f"length is at most {_MAX_LENGTH[self.kind]} {self.kind}")
        if self.handoff_weekday is not None and self.kind not in ("weekly", "biweekly"):
            raise ValueError("handoff_weekday applies only to weekly and biweekly rotations")
        return self


class Restriction(_Model):
    """A wall-clock window, on the listed weekdays, inside which a layer is on call."""

    days: list[Weekday] = Field(min_length=1)
    start: WallTime
    end: WallTime

    @field_validator("end", mode="before")
    @classmethod
    def _midnight(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() in ("24:00", "24:00:00"):
            return time(0, 0)
        return value


class Layer(_Model):
    name: Handle
    rotation: Rotation
    restrictions: list[Restriction] = []

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == OVERRIDE_LAYER:
            raise ValueError(f"{OVERRIDE_LAYER!r} is reserved for overrides; choose another name")
        return value


class Override(_Model):
    """`person` holds the schedule from `start` to `end`, whoever the layers say."""

    person: Handle
    start: UtcDatetime
    end: UtcDatetime

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.end <= self.start:
            raise ValueError("an override's end must be after its start")
        return self


class ScheduleSpec(_Model):
    """Layers, lowest priority first, and overrides on top of them, in an IANA time zone."""

    name: Handle
    timezone: str
    layers: list[Layer]
    overrides: list[Override] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from error
        return value

    @field_validator("layers")
    @classmethod
    def _unique_names(cls, layers: list[Layer]) -> list[Layer]:
        names = [layer.name for layer in layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        return layers

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # zoneinfo caches instances by key


class Shift(_Model):
    """One person on call over [start, end), from `layer` or "override"."""

    person: str
    start: UtcDatetime
    end: UtcDatetime
    layer: str

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.end <= self.start:
            raise ValueError("a shift's end must be after its start")
        return self


# -- public functions -------------------------------------------------------------------------


def on_call_at(spec: ScheduleSpec, at: datetime) -> str | None:
    """Who holds the schedule at `at`, after layers and overrides; None if nobody does."""
    at = _aware_utc(at, "at")
    for override in reversed(spec.overrides):
        if override.start <= at < override.end:
            return override.person
    for layer in reversed(spec.layers):
        person = _layer_person_at(spec.zone, layer, at)
        if person is not None:
            return person
    return None


def layer_shifts(spec: ScheduleSpec, layer: Layer, start: datetime, end: datetime) -> list[Shift]:
    """One layer's shifts over [start, end), restrictions applied, without overrides."""
    start, end = _window(start, end)
    return [_shift(piece) for piece in _merged(_layer_pieces(spec.zone, layer, start, end))]


def final_shifts(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Shift]:
    """The schedule as it will page over [start, end): the top of the stack at every instant.

    1. Take each layer's shifts over the window, ranked by position (later ranks higher).
    2. Rank overrides above every layer, later overrides above earlier ones.
    3. Keep the highest-ranked piece at every instant, then merge same-person neighbours.
    """
    start, end = _window(start, end)
    ranked: list[tuple[int, _Piece]] = []
    for rank, layer in enumerate(spec.layers):
        ranked += [(rank, piece) for piece in _layer_pieces(spec.zone, layer, start, end)]
    for rank, override in enumerate(spec.overrides, start=len(spec.layers)):
        piece = _Piece(override.start, override.end, override.person, OVERRIDE_LAYER)
        ranked += [(rank, clipped) for clipped in _clipped(piece, start, end)]
    return [_shift(piece) for piece in _merged(_top_of_stack(ranked))]


# -- wall clock -------------------------------------------------------------------------------


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """`instant` as a naive wall-clock time in `zone`."""
    return instant.astimezone(zone).replace(tzinfo=None)


def _resolve(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant (UTC) a wall-clock time in `zone` names: the first showing it or later.

    So a repeated time names its first occurrence (fold=0), and a skipped time names the
    moment the clocks jump past it.
    """
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(instant, zone) == wall:
        return instant
    return _end_of_gap(wall, zone)


def _end_of_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    # Reading the skipped time with the offsets before and after the jump brackets the jump;
    # bisection finds it to the microsecond without needing the zone's transition table.
    lo, hi = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    while hi - lo > _TICK:
        middle = lo + (hi - lo) // 2
        if _wall(middle, zone) >= wall:
            hi = middle
        else:
            lo = middle
    return hi


# -- rotations --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    start: datetime
    end: datetime
    person: str
    layer: str


@dataclass(frozen=True, slots=True)
class _Handoffs:
    """The handoff instants of a rotation: `boundary(k)` starts shift k, k = 0 at the epoch.

    Wall-clock rotations step `epoch` (a naive local time) by `step` on the wall clock and then
    resolve each handoff; elapsed-time rotations step the first handoff instant in real time.
    """

    zone: ZoneInfo
    epoch: datetime
    first: datetime
    step: timedelta
    wall_clock: bool
    begins: datetime

    @classmethod
    def of(cls, rotation: Rotation, zone: ZoneInfo) -> _Handoffs:
        begins = _resolve(datetime.combine(rotation.start, rotation.handoff), zone)
        epoch = datetime.combine(_epoch_day(rotation), rotation.handoff)
        step, wall_clock = _step(rotation)
        return cls(zone, epoch, _resolve(epoch, zone), step, wall_clock, begins)

    def boundary(self, k: int) -> datetime:
        if self.wall_clock:
            return _resolve(self.epoch + k * self.step, self.zone)
        return self.first + k * self.step

    def index_at(self, at: datetime) -> int:
        """The k whose shift holds `at`, by arithmetic from the epoch rather than iteration."""
        if not self.wall_clock:
            return (at - self.first) // self.step
        k = (_wall(at, self.zone) - self.epoch) // self.step
        # boundary(k) <= at already: a handoff is the first instant showing its wall time or
        # later, and `at` shows a later one. But `at` may show an earlier wall time than the
        # next handoff yet come after it (the repeated hour), or several handoffs may share one
        # instant (a skipped hour): move on past those.
        while self.boundary(k + 1) <= at:
            k += 1
        return k


def _step(rotation: Rotation) -> tuple[timedelta, bool]:
    if rotation.kind in _NATURAL_DAYS:
        return timedelta(days=_NATURAL_DAYS[rotation.kind]), True
    if rotation.kind == "days":
        return timedelta(days=rotation.length), True
    return timedelta(hours=rotation.length), 24 % rotation.length == 0


def _epoch_day(rotation: Rotation) -> date:
    """The day shift 0 notionally starts: the handoff weekday on or before `start`."""
    if rotation.handoff_weekday is None:
        return rotation.start
    behind = (rotation.start.weekday() - rotation.handoff_weekday) % 7
    return rotation.start - timedelta(days=behind)


def _rotation_pieces(
    zone: ZoneInfo, rotation: Rotation, layer: str, start: datetime, end: datetime
) -> list[_Piece]:
    handoffs = _Handoffs.of(rotation, zone)
    start = max(start, handoffs.begins)
    if start >= end:
        return []
    k = handoffs.index_at(start)
    pieces: list[_Piece] = []
    shift_start = handoffs.boundary(k)
    while shift_start < end:
        shift_end = handoffs.boundary(k + 1)
        person = rotation.participants[k % len(rotation.participants)]
        pieces += _clipped(_Piece(shift_start, shift_end, person, layer), start, end)
        k, shift_start = k + 1, shift_end
    return pieces


def _layer_person_at(zone: ZoneInfo, layer: Layer, at: datetime) -> str | None:
    if layer.restrictions and not _inside_restrictions(zone, layer.restrictions, at):
        return None
    handoffs = _Handoffs.of(layer.rotation, zone)
    if at < handoffs.begins:
        return None
    participants = layer.rotation.participants
    return participants[handoffs.index_at(at) % len(participants)]


def _layer_pieces(zone: ZoneInfo, layer: Layer, start: datetime, end: datetime) -> list[_Piece]:
    pieces = _rotation_pieces(zone, layer.rotation, layer.name, start, end)
    if not layer.restrictions:
        return pieces
    return _intersected(pieces, _restriction_windows(zone, layer.restrictions, start, end))


# -- restrictions -----------------------------------------------------------------------------


def _restriction_window(
    restriction: Restriction, day: date, zone: ZoneInfo
) -> tuple[datetime, datetime] | None:
    if day.weekday() not in restriction.days:
        return None
    end_day = day if restriction.end > restriction.start else day + _DAY
    opens = _resolve(datetime.combine(day, restriction.start), zone)
    closes = _resolve(datetime.combine(end_day, restriction.end), zone)
    return (opens, closes) if opens < closes else None


def _days_around(zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[date]:
    # A window opens on one local day and closes within the next, so begin a day early.
    day, last = _wall(start, zone).date() - _DAY, _wall(end, zone).date()
    while day <= last:
        yield day
        day += _DAY


def _inside_restrictions(zone: ZoneInfo, restrictions: Sequence[Restriction], at: datetime) -> bool:
    for day in _days_around(zone, at, at):
        for restriction in restrictions:
            window = _restriction_window(restriction, day, zone)
            if window is not None and window[0] <= at < window[1]:
                return True
    return False


def _restriction_windows(
    zone: ZoneInfo, restrictions: Sequence[Restriction], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The union of every restriction window meeting [start, end), sorted and disjoint."""
    windows = sorted(
        window
        for day in _days_around(zone, start, end)
        for restriction in restrictions
        if (window := _restriction_window(restriction, day, zone)) is not None
    )
    union: list[tuple[datetime, datetime]] = []
    for opens, closes in windows:
        if union and opens <= union[-1][1]:
            union[-1] = (union[-1][0], max(union[-1][1], closes))
        else:
            union.append((opens, closes))
    return union


def _intersected(
    pieces: Sequence[_Piece], windows: Sequence[tuple[datetime, datetime]]
) -> list[_Piece]:
    """Both inputs sorted and disjoint: walk them together."""
    out: list[_Piece] = []
    i = j = 0
    while i < len(pieces) and j < len(windows):
        piece, (opens, closes) = pieces[i], windows[j]
        start, end = max(piece.start, opens), min(piece.end, closes)
        if start < end:
            out.append(replace(piece, start=start, end=end))
        if piece.end <= closes:
            i += 1
        else:
            j += 1
    return out


# -- stacking and merging ---------------------------------------------------------------------


def _top_of_stack(ranked: Sequence[tuple[int, _Piece]]) -> list[_Piece]:
    """Between consecutive edges of any piece, the highest-ranked piece covering that span."""
    ordered = sorted(ranked, key=lambda item: item[1].start)
    edges = sorted({edge for _, piece in ordered for edge in (piece.start, piece.end)})
    covering: list[tuple[int, int]] = []  # (-rank, position in ordered): a max-heap on rank
    top: list[_Piece] = []
    position = 0
    for start, end in pairwise(edges):
        while position < len(ordered) and ordered[position][1].start <= start:
            heapq.heappush(covering, (-ordered[position][0], position))
            position += 1
        while covering and ordered[covering[0][1]][1].end <= start:
            heapq.heappop(covering)  # ended pieces leave lazily, once they reach the top
        if covering:
            top.append(replace(ordered[covering[0][1]][1], start=start, end=end))
    return top


def _merged(pieces: Sequence[_Piece]) -> list[_Piece]:
    out: list[_Piece] = []
    for piece in pieces:
        if out and out[-1].end == piece.start and out[-1].person == piece.person:
            out[-1] = replace(out[-1], end=piece.end)
        else:
            out.append(piece)
    return out


def _clipped(piece: _Piece, start: datetime, end: datetime) -> list[_Piece]:
    clipped = replace(piece, start=max(piece.start, start), end=min(piece.end, end))
    return [clipped] if clipped.start < clipped.end else []


def _shift(piece: _Piece) -> Shift:
    return Shift(person=piece.person, start=piece.start, end=piece.end, layer=piece.layer)


# -- input checks -----------------------------------------------------------------------------


def _aware_utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} must be timezone-aware", field=field)
    return value.astimezone(UTC)


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _aware_utc(start, "start"), _aware_utc(end, "end")
    if end < start:
        raise InvalidInput("end must not be before start", field="end")
    return start, end
