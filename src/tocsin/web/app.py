"""The FastAPI application: API routes, health, metrics and the web console."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from tocsin import __version__
from tocsin.alerts import ratelimit
from tocsin.alerts.writer import IntakeWriter
from tocsin.config import load_settings
from tocsin.db import Database
from tocsin.engine import lease, status
from tocsin.evidence import storage
from tocsin.flows import intake as intake_flow
from tocsin.metrics import exporter
from tocsin.policy.loader import load_policy
from tocsin.web import errors
from tocsin.web.api.ack import router as ack_router
from tocsin.web.api.alerts import INGEST_LIMIT, changes_router, intake
from tocsin.web.api.alerts import router as alerts_router
from tocsin.web.api.channels import router as channels_router
from tocsin.web.api.communications import router as communications_router
from tocsin.web.api.drills import router as drills_router
from tocsin.web.api.evidence import router as evidence_router
from tocsin.web.api.evidence import switch_router
from tocsin.web.api.incidents import router as incidents_router
from tocsin.web.api.integrations import router as integrations_router
from tocsin.web.api.metrics import prometheus
from tocsin.web.api.metrics import router as metrics_router
from tocsin.web.api.oncall import feeds as calendar_feeds
from tocsin.web.api.oncall import router as oncall_router
from tocsin.web.api.opsgenie import router as opsgenie_router
from tocsin.web.api.policy import router as policy_router
from tocsin.web.api.reviews import items_router as action_items_router
from tocsin.web.api.reviews import reviews_router
from tocsin.web.api.reviews import router as review_router
from tocsin.web.api.silences import router as silences_router
from tocsin.web.api.statuspage import publishing as status_publishing
from tocsin.web.api.statuspage import router as status_router
from tocsin.web.console import router as console_router
from tocsin.web.console.live import ChangeFeed
from tocsin.web.deps import Runtime
from tocsin.web.guards import BodyGuard, ServerErrors
from tocsin.web.headers import SecurityHeaders, redact_access_log
from tocsin.web.limits import BodySizeLimit, MiB
from tocsin.web.status_page import StatusFastPath, StatusPageCache
from tocsin.web.status_page import api as status_json
from tocsin.web.status_page import router as status_page

STATIC_DIR = Path(__file__).parent / "static"
_EVIDENCE_UPLOAD = re.compile(r"^/(api/v1|console)/incidents/[^/]+/evidence$")
INGEST_PREFIXES = ("/v2/", "/api/v1/heartbeats/")
ENGINE_SEEN_WITHIN = timedelta(minutes=5)


def body_limit_for(path: str) -> int:
    """Alert intake takes at most 512 KB a request; an evidence upload TOCSIN_EVIDENCE_MAX_BYTES
    (100 MiB by default) and its form fields; everything else 1 MiB."""
    if _EVIDENCE_UPLOAD.match(path):
        return storage.max_bytes() + MiB
    is_intake = path.startswith(INGEST_PREFIXES) or (
        path.startswith("/api/v1/integrations/") and path.count("/") >= 5
    )
    return INGEST_LIMIT if is_intake else MiB


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        lifespan=_lifespan,
        title="Tocsin",
        version=__version__,
        summary="Self-hosted incident response: your runbook, enforced.",
        docs_url="/docs",
    )
    app.state.runtime = runtime
    errors.install(app)
    # Intake first: routes are tried in order, and in a storm nearly every request is intake.
    app.include_router(intake)
    # Then the public status page, which takes the storm's readers.
    app.include_router(status_page)
    app.include_router(status_json)
    app.state.status_cache = cache = StatusPageCache(runtime)
    app.state.change_feed = ChangeFeed(runtime.database)  # the console's live pages
    app.include_router(incidents_router)
    app.include_router(communications_router)
    app.include_router(evidence_router)
    app.include_router(review_router)
    app.include_router(reviews_router)
    app.include_router(action_items_router)
    app.include_router(drills_router)
    app.include_router(switch_router)
    app.include_router(channels_router)
    app.include_router(policy_router)
    app.include_router(integrations_router)
    app.include_router(alerts_router)
    app.include_router(changes_router)
    app.include_router(silences_router)
    app.include_router(status_router)
    app.include_router(status_publishing)
    app.include_router(oncall_router)
    app.include_router(calendar_feeds)
    app.include_router(ack_router)
    app.include_router(opsgenie_router)
    app.include_router(metrics_router)
    app.include_router(prometheus)
    app.state.prometheus = exporter.registry_for(runtime.database)
    app.include_router(console_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_api_route("/", _home, include_in_schema=False)
    app.state.intake_writer = IntakeWriter(
        runtime.database, runtime.policy, ratelimit.from_environment(), store=intake_flow.deliver
    )
    _add_health(app, runtime)
    # Outermost last: sizes are checked first, then the body's text, then any error is caught.
    app.add_middleware(ServerErrors)
    app.add_middleware(BodyGuard)
    app.add_middleware(BodySizeLimit, limit_for=body_limit_for)
    # The status page's readers, from memory while nothing has changed.
    app.add_middleware(StatusFastPath, cache=cache)
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, a 413 and a 500 too
    return app


def create_app_from_environment() -> FastAPI:
    """The app of one serving worker of `tocsin serve --workers N` (uvicorn starts each worker
    in a fresh process and calls this there). Settings come from the environment the parent
    prepared; the parent has already migrated the schema, sealed secrets and checked the
    policy, so a worker only opens the database and loads the policy."""
    settings = load_settings()
    database = Database(settings.database_url, background_checkpoints=True)
    return create_app(
        Runtime(settings=settings, database=database, policy=load_policy(settings.policy))
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    redact_access_log()  # uvicorn has set up its loggers by now
    yield
    # uvicorn has answered or cut off every request by now; store what is still queued.
    app.state.intake_writer.stop()


def _home() -> RedirectResponse:
    """The console (which sends a visitor who is not signed in to its login page)."""
    return RedirectResponse("/console", status_code=303)


def _add_health(app: FastAPI, runtime: Runtime) -> None:
    @app.get("/healthz", tags=["health"], summary="Liveness and database reachability")
    def healthz() -> JSONResponse:
        try:
            with runtime.database.read_session() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # any failure here means "not healthy", with the reason
            return JSONResponse(
                status_code=503,
                content={"status": "unavailable", "database": str(exc)[:200]},
                headers=_answered_by(),
            )
        return JSONResponse(
            content={
                "status": "ok",
                "version": __version__,
                "pid": os.getpid(),  # which serving process answered (--workers N)
                "database": runtime.database.dialect,
                "policy": {"name": runtime.policy.policy.name, "hash": runtime.policy.hash},
                "engines": _engines(runtime),
                "engine_lease": _lease_holder(runtime),
            },
            headers=_answered_by(),
        )


def _answered_by() -> dict[str, str]:
    """Which serving process answered, as uvicorn or gunicorn operators look for it."""
    return {"X-Tocsin-Pid": str(os.getpid())}


def _engines(runtime: Runtime) -> list[dict[str, object]]:
    """The engines that finished a pass lately, wherever they run (`tocsin engine` elsewhere
    included): an empty list means nothing is keeping the clocks."""
    return [
        {
            "host": engine.host,
            "pid": engine.pid,
            "version": engine.version,
            "passes": engine.passes,
            "last_pass_at": engine.last_pass_at.isoformat(),
            "paused": engine.paused,
        }
        for engine in status.seen(runtime.database, within=ENGINE_SEEN_WITHIN)
    ]


def _lease_holder(runtime: Runtime) -> dict[str, object] | None:
    """The engine that runs the clocks and the outbox now; None: nobody holds the lease;
    `problem` when the schema is not this code's (no engine can hold the lease then)."""
    try:
        holder = lease.current_holder(runtime.database)
    except lease.SchemaMismatch as mismatch:
        return {"problem": str(mismatch)}
    if holder is None:
        return None
    return {
        "host": holder.host,
        "pid": holder.pid,
        "since": holder.acquired_at.isoformat(),
        "expires_at": holder.expires_at.isoformat(),
    }
