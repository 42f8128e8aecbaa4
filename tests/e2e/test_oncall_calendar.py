"""A schedule's iCalendar feed, fetched from a real server at its secret URL, says exactly what
`tocsin oncall shifts` says, across the spring DST changes of New York and Berlin.

The feed holds every shift that meets the week before today and the 90 days after it, whole
(the first and last are not cut at those edges), so a window around March 2027 is only in it
when the server believes it is early March 2027. The server runs the
unchanged code with its process clock moved there (time-machine, started from a
`sitecustomize` on PYTHONPATH), as the unit tests move time in-process: Tocsin reads the time
only through `tocsin.timesource.now()`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar

from tests.e2e.conftest import BIN, Server, start_server, stop_server
from tocsin.db import Database

pytestmark = pytest.mark.e2e

SERVER_NOW = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)
# The feed's window: whole UTC days, from a week before "today" to 90 days after it.
FEED_FROM = datetime(2027, 3, 3, tzinfo=UTC)
FEED_TO = datetime(2027, 6, 8, tzinfo=UTC)
# Far enough either side of the window to see its edge shifts whole, in these schedules.
BEYOND = timedelta(weeks=2)

TRAVEL_HOOK = '''\
"""Run this interpreter as if it were TOCSIN_TEST_NOW (the clock keeps ticking from there)."""
import os

import time_machine

time_machine.travel(os.environ["TOCSIN_TEST_NOW"], tick=True).start()
'''

ONCALL_FILE = """\
people:
  - handle: alice
    name: Alice
    contact_methods: [{name: mail, kind: email, address: a@example.com}]
  - handle: bob
    name: Bob
    contact_methods: [{name: mail, kind: email, address: b@example.com}]
  - handle: carol
    name: Carol
    contact_methods: [{name: mail, kind: email, address: c@example.com}]
schedules:
  - handle: berlin
    name: Berlin primary
    timezone: Europe/Berlin
    layers:
      - name: weekly
        rotation: {kind: weekly, handoff: "09:00", handoff_weekday: 0, start: 2027-01-04,
                   participants: [bob, alice]}
      - name: weekend-nights                 # 02:30 does not exist on 2027-03-28 in Berlin
        rotation: {kind: daily, handoff: "02:30", start: 2027-03-01, participants: [carol, bob]}
        restrictions: [{days: [5, 6], start: "01:00", end: "04:00"}]
  - handle: newyork
    name: New York halves
    timezone: America/New_York
    layers:
      - name: halves                         # 02:30 does not exist on 2027-03-14 in New York
        rotation: {kind: hours, length: 12, handoff: "02:30", start: 2027-02-01,
                   participants: [alice, bob, carol]}
"""

Row = tuple[str, datetime, datetime, str]  # person, start, end, layer


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Calendars:
    server: Server
    api: httpx.Client

    def feed_url(self, kind: str, handle: str) -> str:
        """A new secret URL, as `tocsin oncall calendar-url` asks for it."""
        response = self.api.post(f"/api/v1/{kind}/{handle}/calendar-token")
        assert response.status_code == 200, response.text
        url: str = response.json()["url"]
        return url

    def shifts(self, schedule: str, start: datetime, end: datetime) -> list[Row]:
        """What `tocsin oncall shifts --json` prints for the window."""
        result = self.server.cli(
            "oncall",
            "shifts",
            "--schedule",
            schedule,
            "--from",
            start.isoformat(),
            "--to",
            end.isoformat(),
            "--json",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return [(s["person"], at(s["start"]), at(s["end"]), s["layer"]) for s in rows]

    def whole_shifts(self, schedule: str) -> list[Row]:
        """Every shift that meets the feed's window, whole: `tocsin oncall shifts` over a wider
        window, less the shifts that lie outside the feed's."""
        wider = self.shifts(schedule, FEED_FROM - BEYOND, FEED_TO + BEYOND)
        return [row for row in wider if row[2] > FEED_FROM and row[1] < FEED_TO]


@pytest.fixture
def calendars(database: Database, tmp_path: Path) -> Iterator[Calendars]:
    hook = tmp_path / "travel"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(TRAVEL_HOOK)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    server = start_server(
        database.url,
        tmp_path,
        extra_env={"PYTHONPATH": path, "TOCSIN_TEST_NOW": SERVER_NOW.isoformat()},
    )
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as api:
            oncall = tmp_path / "oncall.yaml"
            oncall.write_text(ONCALL_FILE)
            applied = server.cli("oncall", "apply", str(oncall))
            assert applied.returncode == 0, applied.stdout + applied.stderr
            # The hook took: the server's "now" is March 2027.
            who = api.get("/api/v1/oncall", params={"schedule": "berlin"}).json()
            assert abs(at(who[0]["at"]) - SERVER_NOW) < timedelta(minutes=5), who
            override = server.cli(
                "oncall",
                "override",
                "add",
                "--schedule",
                "berlin",
                "--person",
                "carol",
                "--from",
                "2027-04-07T10:00:00Z",
                "--to",
                "2027-04-07T14:00:00Z",
                "--reason",
                "dentist",
            )
            assert override.returncode == 0, override.stdout + override.stderr
            yield Calendars(server, api)
    finally:
        stop_server(server)


SUMMARY = re.compile(r"^On call: (\S+) \((.+)\)$")


def feed_rows(response: httpx.Response) -> tuple[Calendar, list[Row]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    rows = []
    for event in calendar.walk("VEVENT"):
        found = SUMMARY.match(str(event["SUMMARY"]))
        assert found, event["SUMMARY"]
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert start.utcoffset() == timedelta(0) and end.utcoffset() == timedelta(0)
        rows.append((found.group(1), start, end, found.group(2)))
    uids = [str(e["UID"]) for e in calendar.walk("VEVENT")]
    assert len(set(uids)) == len(uids), "every event has its own UID"
    return calendar, rows


def boundaries(rows: list[Row]) -> set[datetime]:
    return {edge for _, start, end, _ in rows for edge in (start, end)}


def assert_tiles(rows: list[Row], start: datetime, end: datetime) -> None:
    """Someone is on call at every instant of the window, and never two people at once."""
    assert rows[0][1] <= start and rows[-1][2] >= end
    for before, after in pairwise(rows):
        assert before[2] == after[1], f"gap or overlap between {before} and {after}"


def test_a_schedule_feed_matches_its_shifts_across_berlins_dst_change(
    calendars: Calendars,
) -> None:
    url = calendars.feed_url("schedules", "berlin")
    calendar, feed = feed_rows(httpx.get(url, timeout=10))

    assert str(calendar["X-WR-CALNAME"]) == "Tocsin on-call: berlin"
    assert feed == calendars.whole_shifts("berlin")
    assert_tiles(feed, FEED_FROM, FEED_TO)
    # The window opens on a Wednesday; bob's week began at Monday's 09:00 CET handoff, and the
    # last shift runs on past the window's end to the weekend-nights layer.
    assert feed[0] == ("bob", at("2027-03-01T08:00Z"), at("2027-03-06T00:00Z"), "weekly")
    assert feed[-1] == ("bob", at("2027-06-07T07:00Z"), at("2027-06-11T23:00Z"), "weekly")
    edges = boundaries(feed)
    # Weekly handoffs stay at 09:00 Berlin time: 08:00 UTC before the change, 07:00 after,
    # so the week that spans it lasts 167 hours.
    assert {at("2027-03-22T08:00Z"), at("2027-03-29T07:00Z")} <= edges
    assert at("2027-03-29T08:00Z") not in edges
    # On the night the clocks go forward, the weekend-nights window (01:00-04:00 local) is
    # two real hours, and its 02:30 handoff, which never happens, is at 03:00 CEST.
    around = [row for row in feed if at("2027-03-27T03:00Z") <= row[1] <= at("2027-03-29T07:00Z")]
    assert around == [
        ("alice", at("2027-03-27T03:00Z"), at("2027-03-28T00:00Z"), "weekly"),
        ("carol", at("2027-03-28T00:00Z"), at("2027-03-28T01:00Z"), "weekend-nights"),
        ("bob", at("2027-03-28T01:00Z"), at("2027-03-28T02:00Z"), "weekend-nights"),
        ("alice", at("2027-03-28T02:00Z"), at("2027-03-29T07:00Z"), "weekly"),
        ("bob", at("2027-03-29T07:00Z"), at("2027-04-02T23:00Z"), "weekly"),
    ]
    # A night before the change: the same window is three hours.
    assert ("carol", at("2027-03-27T01:30Z"), at("2027-03-27T03:00Z"), "weekend-nights") in feed
    # The override, on top of every layer.
    assert ("carol", at("2027-04-07T10:00Z"), at("2027-04-07T14:00Z"), "override") in feed


def test_a_schedule_feed_matches_its_shifts_across_new_yorks_dst_change(
    calendars: Calendars,
) -> None:
    url = calendars.feed_url("schedules", "newyork")
    _calendar, feed = feed_rows(httpx.get(url, timeout=10))

    assert feed == calendars.whole_shifts("newyork")
    assert_tiles(feed, FEED_FROM, FEED_TO)
    assert (feed[0][1], feed[-1][2]) == (at("2027-03-02T19:30Z"), at("2027-06-08T06:30Z"))
    # 12-hour halves at 02:30 and 14:30 New York time. 02:30 on 2027-03-14 never happens, so
    # that handoff is at 03:00 EDT (07:00 UTC): the halves either side last 11.5 hours.
    by_start = {start: (person, end) for person, start, end, _ in feed}
    assert by_start[at("2027-03-13T19:30Z")][1] == at("2027-03-14T07:00Z")
    assert by_start[at("2027-03-14T07:00Z")][1] == at("2027-03-14T18:30Z")
    assert by_start[at("2027-03-14T18:30Z")][1] == at("2027-03-15T06:30Z")


def test_a_personal_feed_is_that_persons_shifts_in_every_schedule(calendars: Calendars) -> None:
    url = calendars.feed_url("people", "carol")
    _calendar, feed = feed_rows(httpx.get(url, timeout=10))

    expected = [
        row
        for schedule in ("berlin", "newyork")
        for row in calendars.whole_shifts(schedule)
        if row[0] == "carol"
    ]
    assert sorted(feed) == sorted(expected)
    assert {layer for *_, layer in feed} == {"weekend-nights", "override", "halves"}


def test_the_feed_url_is_secret_and_a_new_one_retires_the_old(calendars: Calendars) -> None:
    first = calendars.feed_url("schedules", "berlin")
    assert httpx.get(first, timeout=10).status_code == 200
    wrong = re.sub(r"token=.*$", "token=not-the-token", first)
    assert httpx.get(wrong, timeout=10).status_code == 404
    second = calendars.feed_url("schedules", "berlin")
    assert second != first
    assert httpx.get(first, timeout=10).status_code == 404
    assert httpx.get(second, timeout=10).status_code == 200


def test_calendar_url_prints_a_url_that_works(calendars: Calendars) -> None:
    result = subprocess.run(
        [str(BIN / "tocsin"), "oncall", "calendar-url", "--schedule", "newyork"],
        env={**calendars.server.env, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [url] = result.stdout.splitlines()
    assert httpx.get(url, timeout=10).status_code == 200


def events(response: httpx.Response) -> dict[tuple[str, datetime], Any]:
    """A feed's events by person and start, as a calendar app files them (by UID)."""
    calendar, _rows = feed_rows(response)
    return {(str(e["SUMMARY"]), e.decoded("DTSTART")): e for e in calendar.walk("VEVENT")}


def test_the_feed_is_stamped_when_made_and_unchanged_feeds_answer_304(
    calendars: Calendars,
) -> None:
    url = calendars.feed_url("schedules", "berlin")
    first = httpx.get(url, timeout=10)
    stamps = {e.decoded("DTSTAMP") for e in events(first).values()}

    [stamp] = stamps  # one generation time, the server's "now" (not each shift's start)
    assert abs(stamp - SERVER_NOW) < timedelta(minutes=5)
    etag = first.headers["etag"]
    unchanged = httpx.get(url, headers={"If-None-Match": etag}, timeout=10)
    assert unchanged.status_code == 304
    assert unchanged.content == b"" and unchanged.headers["etag"] == etag
    assert httpx.get(url, headers={"If-None-Match": '"other"'}, timeout=10).status_code == 200


def test_an_override_moves_a_shift_in_place_with_a_higher_sequence(calendars: Calendars) -> None:
    url = calendars.feed_url("schedules", "berlin")
    bobs_week = ("On call: bob (weekly)", at("2027-03-29T07:00Z"))
    before = httpx.get(url, timeout=10)
    # Alice takes the end of bob's week, from Thursday noon until the weekend nights begin.
    cover = {"person": "alice", "start": "2027-04-01T12:00:00Z", "end": "2027-04-02T23:00:00Z"}
    added = calendars.api.post("/api/v1/schedules/berlin/overrides", json=cover)
    assert added.status_code == 201, added.text

    moved = poll_until_newer(url, before)

    assert moved.headers["etag"] != before.headers["etag"]
    old, new = events(before)[bobs_week], events(moved)[bobs_week]
    assert new["UID"] == old["UID"]
    assert (old.decoded("DTEND"), new.decoded("DTEND")) == (
        at("2027-04-02T23:00Z"),
        at("2027-04-01T12:00Z"),
    )
    # Undone: bob's week is whole again, and a calendar app must see that as news too.
    removed = calendars.api.delete(f"/api/v1/schedules/berlin/overrides/{added.json()['id']}")
    assert removed.status_code == 204
    undone = events(poll_until_newer(url, moved))[bobs_week]
    assert undone["UID"] == old["UID"] and undone.decoded("DTEND") == old.decoded("DTEND")


def sequence(response: httpx.Response) -> int:
    """The feed's SEQUENCE: one number, that of the feed's generation, on every event."""
    [number] = {int(event["SEQUENCE"]) for event in events(response).values()}
    return number


def poll_until_newer(url: str, seen: httpx.Response) -> httpx.Response:
    """Fetch the feed, as a calendar app polls it, until its SEQUENCE is above `seen`'s.

    SEQUENCE counts seconds, so a poll within the same second as the last sees no increase.
    """
    old = sequence(seen)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = httpx.get(url, headers={"If-None-Match": seen.headers["etag"]}, timeout=10)
        if response.status_code == 200 and sequence(response) > old:
            return response
        time.sleep(0.1)
    raise AssertionError(f"the feed at {url} never showed a higher SEQUENCE than {old}")
