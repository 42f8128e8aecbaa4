"""The FastAPI application: API routes, health, metrics and the web console."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from tocsin import __version__
from tocsin.incidents.api import router as incidents_router
from tocsin.policy.api import router as policy_router
from tocsin.web import errors
from tocsin.web.deps import Runtime
from tocsin.web.limits import BodySizeLimit, MiB


def body_limit_for(path: str) -> int:
    return MiB


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Tocsin",
        version=__version__,
        summary="Self-hosted incident response: your runbook, enforced.",
        docs_url="/docs",
    )
    app.state.runtime = runtime
    errors.install(app)
    app.include_router(incidents_router)
    app.include_router(policy_router)
    _add_health(app, runtime)
    app.add_middleware(BodySizeLimit, limit_for=body_limit_for)
    return app


def _add_health(app: FastAPI, runtime: Runtime) -> None:
    @app.get("/healthz", tags=["health"], summary="Liveness and database reachability")
    def healthz() -> JSONResponse:
        try:
            with runtime.database.read_session() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # any failure here means "not healthy", with the reason
            return JSONResponse(
                status_code=503, content={"status": "unavailable", "database": str(exc)[:200]}
            )
        return JSONResponse(
            content={
                "status": "ok",
                "version": __version__,
                "database": runtime.database.dialect,
                "policy": {"name": runtime.policy.policy.name, "hash": runtime.policy.hash},
            }
        )
