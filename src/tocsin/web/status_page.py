"""The public status page: `/status`, Statuspage's `/api/v2/*.json`, `/history.rss` and
`/history.atom`, and the subscription pages. No sign-in, no JavaScript.

Every representation is rendered once per change of the page and kept in memory with its
ETag. A request reads no database while its copy is fresh: the copy is rechecked at most every
`TOCSIN_STATUS_RECHECK` seconds (default 2) with one cheap read (the page's version and the
newest timeline event, which together move whenever anything the page shows could have), and
rebuilt only if that moved, or after a minute (uptime counts time). A write in this process
invalidates its copy at once. If the database is down, the last copy is served.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from tocsin.errors import NotFound, TocsinError
from tocsin.flows import statuspage as status_flows
from tocsin.incidents.models import TimelineEvent
from tocsin.statuspage import board as boards
from tocsin.statuspage import feeds, shapes, subscribers
from tocsin.statuspage.models import PageState
from tocsin.statuspage.statuses import words
from tocsin.statuspage.views import Board
from tocsin.timesource import now
from tocsin.web.console.pages import TEMPLATES, FormDep
from tocsin.web.deps import Runtime

log = logging.getLogger("tocsin.web.status")
router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v2", tags=["status page (public, Statuspage v2)"])

MAX_AGE_S = 60.0
CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src https: http: data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
JSON_HEADERS = {"Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"}


# -- the cache --------------------------------------------------------------------------------


@dataclass
class Rendered:
    board: Board
    fingerprint: tuple[int, int, str]
    built: float
    bodies: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def body(self, name: str, make: Callable[[Board], bytes]) -> tuple[bytes, str]:
        found = self.bodies.get(name)
        if found is None:
            data = make(self.board)
            found = (data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"')
            self.bodies[name] = found
        return found


class StatusPageCache:
    def __init__(self, runtime: Runtime, recheck: float | None = None) -> None:
        self.runtime = runtime
        self.recheck = recheck if recheck is not None else _recheck_from_env()
        self._rendered: Rendered | None = None
        self._checked = -math.inf  # never checked
        self._lock = threading.Lock()

    def fresh(self) -> Rendered | None:
        """The copy, if it may be served without looking at the database."""
        rendered = self._rendered
        if rendered is None or time.monotonic() - self._checked >= self.recheck:
            return None
        return rendered

    def invalidate(self) -> None:
        """Recheck on the next request (a write here moved the version or the timeline, so the
        copy is rebuilt then; it is kept meanwhile, to serve if the database goes down).
        Not 0.0: time.monotonic() counts from boot, so on a machine up for less than `recheck`
        seconds a zero would still look fresh."""
        self._checked = -math.inf

    def refresh(self) -> Rendered:
        with self._lock:
            rendered = self.fresh()
            if rendered is not None:
                return rendered  # another request refreshed it meanwhile
            try:
                return self._refresh()
            except Exception:
                if self._rendered is None:
                    raise
                log.exception("status page: database unreachable; serving the last copy")
                self._checked = time.monotonic()
                return self._rendered

    def _refresh(self) -> Rendered:
        database, policy = self.runtime.database, self.runtime.policy.policy
        with database.read_session() as session:
            mark = _fingerprint(session, policy.status_page.timezone or policy.timezone)
            old = self._rendered
            young = old is not None and time.monotonic() - old.built < MAX_AGE_S
            if old is not None and old.fingerprint == mark and young:
                self._checked = time.monotonic()
                return old
            board = boards.build(
                session, policy=policy, at=now(), base_url=self.runtime.settings.public_url
            )
        self._rendered = Rendered(board, mark, time.monotonic())
        self._checked = time.monotonic()
        return self._rendered


def _recheck_from_env() -> float:
    return float(os.environ.get("TOCSIN_STATUS_RECHECK", "2"))


def _fingerprint(session: Any, zone: str) -> tuple[int, int, str]:
    version = session.scalar(select(PageState.version).where(PageState.id == 1)) or 0
    newest = session.scalar(select(func.max(TimelineEvent.id))) or 0
    return int(version), int(newest), now().astimezone(ZoneInfo(zone)).date().isoformat()


def cache_of(request: Request) -> StatusPageCache:
    cache: StatusPageCache = request.app.state.status_cache
    return cache


async def current(request: Request) -> Rendered:
    """The page as it is now: the cached copy if fresh, else rechecked (in a worker thread)."""
    cache = cache_of(request)
    rendered = cache.fresh()
    if rendered is None:
        refreshed: Rendered = await run_in_threadpool(cache.refresh)
        return refreshed
    return rendered


async def _serve(
    request: Request, name: str, make: Callable[[Board], bytes], media_type: str
) -> Response:
    rendered = await current(request)
    match = request.headers.get("if-none-match", "")
    status, headers, body = answer(rendered, name, make, media_type, match)
    if status == 304:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def answer(
    rendered: Rendered,
    name: str,
    make: Callable[[Board], bytes],
    media_type: str,
    if_none_match: str,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) for one representation: 304 when the client has it."""
    body, etag = rendered.body(name, make)
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        **(PAGE_HEADERS if media_type.startswith("text/html") else JSON_HEADERS),
    }
    if etag in if_none_match:
        return 304, headers, b""
    return 200, headers, body


# -- HTML -------------------------------------------------------------------------------------


def _when(board: Board) -> Callable[[datetime | None], str]:
    zone = ZoneInfo(board.page.time_zone)

    def when(at: datetime | None) -> str:
        if at is None:
            return ""
        local = at.astimezone(zone)
        return local.strftime("%b %-d, %Y %H:%M ") + (local.tzname() or board.page.time_zone)

    return when


def _html(template: str, board: Board, **context: Any) -> bytes:
    page = TEMPLATES.get_template(template).render(
        board=board, when=_when(board), words=words, **context
    )
    return page.encode()


def _page(board: Board) -> bytes:
    return _html("status/page.html", board, title="Current status")


HTML = "text/html; charset=utf-8"


@router.get("/status")
async def status_page(request: Request) -> Response:
    return await _serve(request, "html", _page, HTML)


@router.get("/status/incidents/{code}")
async def incident_page(code: str, request: Request) -> Response:
    rendered = await current(request)
    item = next((i for i in rendered.board.history if i.code == code), None)
    if item is None:
        return _message(rendered.board, 404, "Not found", "There is no such incident.")

    def page(board: Board) -> bytes:
        return _html("status/incident.html", board, title=item.name, item=item)

    return await _serve(request, f"incident:{code}", page, "text/html; charset=utf-8")


# -- feeds and JSON ---------------------------------------------------------------------------


@router.get("/history.rss")
async def history_rss(request: Request) -> Response:
    return await _serve(request, "rss", feeds.rss, "application/rss+xml; charset=utf-8")


@router.get("/history.atom")
async def history_atom(request: Request) -> Response:
    return await _serve(request, "atom", feeds.atom, "application/atom+xml; charset=utf-8")


def _json(shape: Callable[[Board], Any]) -> Callable[[Board], bytes]:
    def make(board: Board) -> bytes:
        # The same JSON value, with <, > and & as \u escapes: a reader that pastes a title
        # into HTML unescaped still cannot be made to run a script.
        raw = orjson.dumps(shape(board))
        return raw.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")

    return make


PUBLIC_JSON: dict[str, Callable[[Board], Any]] = {
    "summary.json": shapes.summary,
    "status.json": lambda b: {"page": shapes.page(b), "status": shapes.status(b)},
    "components.json": lambda b: {"page": shapes.page(b), "components": shapes.components(b)},
    "incidents.json": lambda b: {"page": shapes.page(b), "incidents": shapes.incidents(b)},
    "incidents/unresolved.json": lambda b: {
        "page": shapes.page(b),
        "incidents": shapes.incidents(b, unresolved=True),
    },
    "scheduled-maintenances.json": lambda b: {
        "page": shapes.page(b),
        "scheduled_maintenances": shapes.maintenances(b),
    },
    "scheduled-maintenances/upcoming.json": lambda b: {
        "page": shapes.page(b),
        "scheduled_maintenances": shapes.maintenances(b, "upcoming"),
    },
    "scheduled-maintenances/active.json": lambda b: {
        "page": shapes.page(b),
        "scheduled_maintenances": shapes.maintenances(b, "active"),
    },
}


def _json_route(path: str, shape: Callable[[Board], Any]) -> None:
    make = _json(shape)

    async def endpoint(request: Request) -> Response:
        return await _serve(request, path, make, "application/json")

    api.add_api_route(
        f"/{path}", endpoint, methods=["GET"], summary=f"Statuspage v2 {path} (public)"
    )


for _path, _shape in PUBLIC_JSON.items():
    _json_route(_path, _shape)


# Paths served straight from a fresh copy, before routing and the other middleware (see
# StatusFastPath): name, how to make the body, its media type.
FAST: dict[str, tuple[str, Callable[[Board], bytes], str]] = {
    "/status": ("html", _page, HTML),
    "/history.rss": ("rss", feeds.rss, "application/rss+xml; charset=utf-8"),
    "/history.atom": ("atom", feeds.atom, "application/atom+xml; charset=utf-8"),
    **{
        f"/api/v2/{path}": (path, _json(shape), "application/json")
        for path, shape in PUBLIC_JSON.items()
    },
}


class StatusFastPath:
    """ASGI middleware: a GET for the page or its JSON, while this process's copy is fresh,
    is answered from memory at once; everything else (and a stale copy) goes on to the app.
    The answer is the same as the routes give, headers included."""

    def __init__(self, app: Any, cache: StatusPageCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        fast = FAST.get(scope.get("path", "")) if scope["type"] == "http" else None
        rendered = self.cache.fresh() if fast and scope["method"] in ("GET", "HEAD") else None
        if fast is not None and rendered is None and scope["method"] == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, _headers_only(send))
            return
        if fast is None or rendered is None:
            await self.app(scope, receive, send)
            return
        name, make, media_type = fast
        match = b""
        for key, value in scope["headers"]:
            if key == b"if-none-match":
                match = value
        status, headers, body = answer(rendered, name, make, media_type, match.decode("latin-1"))
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if status == 200:
            raw += [(b"content-type", media_type.encode()), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send(
            {"type": "http.response.body", "body": body if scope["method"] == "GET" else b""}
        )


def _headers_only(send: Any) -> Any:
    """HEAD, as uptime monitors send it: the GET's status and headers, without its body."""

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return sending


# -- subscriptions ----------------------------------------------------------------------------


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _links(runtime: Runtime) -> subscribers.Links:
    return status_flows.links(runtime.settings.public_url, runtime.policy.policy)


def _message(board: Board, status: int, heading: str, text: str, **extra: Any) -> HTMLResponse:
    body = _html("status/message.html", board, title=heading, heading=heading, text=text, **extra)
    return HTMLResponse(
        body, status_code=status, headers={**PAGE_HEADERS, "Cache-Control": "no-store"}
    )


async def _board(request: Request) -> Board:
    return (await current(request)).board


@router.post("/status/subscribe")
async def subscribe(request: Request, form: FormDep) -> Response:
    runtime, board = _runtime(request), await _board(request)
    chosen = form.fields.get("components", [])
    try:
        await run_in_threadpool(_subscribe, runtime, form.get("email"), chosen)
    except TocsinError as exc:
        return _message(board, 422, "Not subscribed", exc.message)
    return _message(
        board,
        202,
        "Check your inbox",
        "We sent a link to confirm the subscription. Nothing is sent until you follow it.",
    )


def _subscribe(runtime: Runtime, email: str, chosen: list[str]) -> None:
    with runtime.database.write_session() as session:
        subscribers.subscribe(
            session, kind="email", address=email, components=chosen, links=_links(runtime)
        )


@router.get("/status/subscriptions/{token}/{action}")
async def subscription_page(token: str, action: str, request: Request) -> Response:
    board = await _board(request)
    if action not in ("confirm", "unsubscribe"):
        return _message(board, 404, "Not found", "There is no such page.")
    runtime = _runtime(request)
    try:
        await run_in_threadpool(_check_token, runtime, token)
    except NotFound as exc:
        return _message(board, 404, "Link not valid", exc.message)
    heading = "Confirm your subscription" if action == "confirm" else "Unsubscribe"
    return _message(board, 200, heading, "", form_action=action, token=token)


def _check_token(runtime: Runtime, token: str) -> None:
    with runtime.database.read_session() as session:
        subscribers.by_token(session, token)


@router.post("/status/subscriptions/{token}/{action}")
async def subscription_action(token: str, action: str, request: Request) -> Response:
    """Confirm, or unsubscribe (also RFC 8058's one-click POST from a mail client)."""
    board = await _board(request)
    runtime = _runtime(request)
    if action not in ("confirm", "unsubscribe"):
        return _message(board, 404, "Not found", "There is no such page.")
    try:
        await run_in_threadpool(_act, runtime, token, action)
    except NotFound as exc:
        return _message(board, 404, "Link not valid", exc.message)
    if action == "confirm":
        return _message(board, 200, "Subscribed", "You will hear about incidents and maintenance.")
    return _message(board, 200, "Unsubscribed", "You will not hear from this page again.")


def _act(runtime: Runtime, token: str, action: str) -> None:
    with runtime.database.write_session() as session:
        if action == "confirm":
            subscribers.confirm(session, token=token)
        else:
            subscribers.unsubscribe(session, token=token)
