"""Live pages: server-sent events that tell an open page something it shows has changed.

- The database is the source, never this process's memory, so a change made through any
  `tocsin serve` behind a load balancer (or by the engine in another process) is seen.
- One `ChangeFeed` per process polls a cheap marker every half second: the newest timeline
  event, the newest alert and the number firing, the newest override and silence. Only when
  the marker moves does it read which incidents changed, then wakes each subscriber whose
  topic that touches. A hundred open pages cost one query per half second, not a hundred.
- The page re-fetches itself when told (console.js); without JavaScript a reload shows the
  same thing. The stream is signed in with the page's own console session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import astuple, dataclass, field
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse

from tocsin.alerts.models import Alert, Silence
from tocsin.db import Database
from tocsin.incidents.models import TimelineEvent
from tocsin.oncall.models import ScheduleOverride
from tocsin.web.console.pages import PAGE_HEADERS
from tocsin.web.console.session import SignedIn, signed_in
from tocsin.web.deps import RuntimeDep

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
PING_SECONDS = 15
# The session is checked again this often: a signed-out page is told so and stops receiving.
RECHECK_SECONDS = 30
# A stream ends after this long and the browser reconnects at once (with Last-Event-ID).
STREAM_SECONDS = 300
TOPICS = ("dashboard", "incident:<id>", "alerts", "oncall")

router = APIRouter()
SessionCheck = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Marker:
    """Where the database stands: it moves whenever anything a live page shows changes."""

    event: int = 0
    alert: int = 0
    firing: int = 0
    override: int = 0  # newest override's id
    overrides: int = 0  # how many (a removal moves this)
    silence: int = 0
    silences: int = 0  # how many not ended by hand

    def text(self) -> str:
        return ".".join(str(value) for value in astuple(self))


@dataclass(frozen=True)
class Change:
    """What moved between two markers."""

    marker: Marker
    incidents: frozenset[str] = frozenset()
    alerts: bool = False
    oncall: bool = False

    def touches(self, topic: str) -> bool:
        if topic == "dashboard":
            return True
        if topic == "alerts":
            return self.alerts
        if topic == "oncall":
            return self.oncall
        return topic.removeprefix("incident:") in self.incidents


def read_marker(session: Session) -> Marker:
    row = session.execute(
        select(
            select(func.max(TimelineEvent.id)).scalar_subquery(),
            select(func.max(Alert.id)).scalar_subquery(),
            select(func.count())
            .select_from(Alert)
            .where(Alert.status == "firing")
            .scalar_subquery(),
            select(func.max(ScheduleOverride.id)).scalar_subquery(),
            select(func.count()).select_from(ScheduleOverride).scalar_subquery(),
            select(func.max(Silence.id)).scalar_subquery(),
            select(func.count()).select_from(Silence).where(~Silence.cancelled).scalar_subquery(),
        )
    ).one()
    return Marker(*(value or 0 for value in row))


def changed_incidents(session: Session, after_event: int) -> frozenset[str]:
    query = select(TimelineEvent.incident_id).where(TimelineEvent.id > after_event).distinct()
    return frozenset(session.scalars(query))


def change_between(session: Session, old: Marker, new: Marker) -> Change:
    incidents = changed_incidents(session, old.event) if new.event != old.event else frozenset()
    alerts = (new.alert, new.firing, new.silence, new.silences) != (
        old.alert,
        old.firing,
        old.silence,
        old.silences,
    )
    oncall = (new.override, new.overrides) != (old.override, old.overrides)
    return Change(marker=new, incidents=incidents, alerts=alerts, oncall=oncall)


@dataclass(eq=False)
class Subscriber:
    topic: str
    queue: asyncio.Queue[Change] = field(default_factory=lambda: asyncio.Queue(maxsize=16))

    def offer(self, change: Change) -> None:
        if not change.touches(self.topic):
            return
        if self.queue.full():  # a page that has not read its last 16: one "changed" is enough
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(change)


class ChangeFeed:
    """One poller per process, fanning each change out to the pages that show it. It runs
    only while some page listens."""

    def __init__(self, database: Database, *, interval: float = POLL_SECONDS) -> None:
        self._database = database
        self._interval = interval
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self.marker = Marker()

    @property
    def listeners(self) -> int:
        return len(self._subscribers)

    def _read(self) -> Marker:
        with self._database.read_session() as session:
            return read_marker(session)

    def _diff(self, old: Marker, new: Marker) -> Change:
        with self._database.read_session() as session:
            return change_between(session, old, new)

    async def current(self) -> Marker:
        return await run_in_threadpool(self._read)

    async def subscribe(self, topic: str) -> Subscriber:
        subscriber = Subscriber(topic)
        loop = asyncio.get_running_loop()
        # One poller per event loop: a test client may serve each request on a new loop.
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self.marker = await self.current()
            self._task = loop.create_task(self._poll())
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    async def _poll(self) -> None:
        while self._subscribers:
            await asyncio.sleep(self._interval)
            try:
                await self.tick()
            except Exception:  # a database blip: log it, and the next tick tries again
                log.exception("live console feed could not read the database")
        if self._task is asyncio.current_task():
            self._task = None

    async def tick(self) -> None:
        """Read the marker once; if it moved, tell every page that shows what changed."""
        new = await self.current()
        if new == self.marker:
            return
        change = await run_in_threadpool(self._diff, self.marker, new)
        self.marker = new
        for subscriber in list(self._subscribers):
            subscriber.offer(change)


def feed_of(request: Request) -> ChangeFeed:
    feed: ChangeFeed = request.app.state.change_feed
    return feed


def _valid_topic(topic: str) -> bool:
    if topic in ("dashboard", "alerts", "oncall"):
        return True
    return topic.startswith("incident:") and 0 < len(topic.removeprefix("incident:")) <= 32


async def _events(
    feed: ChangeFeed, topic: str, last_seen: str | None, still_signed_in: SessionCheck
) -> AsyncIterator[ServerSentEvent]:
    subscriber = await feed.subscribe(topic)
    try:
        current = feed.marker
        # Back after a dropped connection, and something changed meanwhile: say so now.
        missed = last_seen is not None and last_seen != current.text()
        yield ServerSentEvent(
            event="changed" if missed else "ready", data=topic, id=current.text(), retry=1000
        )
        loop = asyncio.get_running_loop()
        ends, recheck = loop.time() + STREAM_SECONDS, loop.time() + RECHECK_SECONDS
        while (left := ends - loop.time()) > 0:
            if loop.time() >= recheck:
                if not await still_signed_in():
                    yield ServerSentEvent(event="signed-out", data=topic)
                    return
                recheck = loop.time() + RECHECK_SECONDS
            try:
                wait = min(left, max(recheck - loop.time(), 0.01))
                change = await asyncio.wait_for(subscriber.queue.get(), timeout=wait)
            except TimeoutError:
                continue
            yield ServerSentEvent(event="changed", data=topic, id=change.marker.text())
    finally:
        feed.unsubscribe(subscriber)


@router.get("/live")
async def live(
    request: Request,
    runtime: RuntimeDep,
    principal: SignedIn,
    topic: Annotated[str, Query(max_length=64)] = "dashboard",
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """The event stream of one live page. `topic` is `dashboard`, `alerts`, `oncall` or
    `incident:<id>`. Each `changed` event means: fetch the page again."""
    if principal is None:
        return Response("sign in to the console first", status_code=401, headers=PAGE_HEADERS)
    if not _valid_topic(topic):
        message = f"topic: unknown {topic[:64]!r}; allowed: {', '.join(TOPICS)}"
        return Response(message, status_code=422, headers=PAGE_HEADERS)

    async def still_signed_in() -> bool:
        return await run_in_threadpool(signed_in, request, runtime) is not None

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    events = _events(feed_of(request), topic, last_event_id, still_signed_in)
    return EventSourceResponse(events, ping=PING_SECONDS, headers=headers)
