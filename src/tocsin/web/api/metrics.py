"""`GET /api/v1/metrics`: MTTx, volume, clocks met and follow-through over a period; and
`GET /metrics`, the Prometheus exporter."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from tocsin import timesource
from tocsin.metrics import exporter, periods
from tocsin.metrics.schemas import Metrics
from tocsin.metrics.service import Filters, compute
from tocsin.web.deps import Reader, ReadSession, RuntimeDep

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])
prometheus = APIRouter(tags=["health"])

_WHEN = f"A date, datetime (UTC if no zone) or period: {periods.ACCEPTED}."


@router.get(
    "",
    summary="Figures over a period: MTTD, MTTA, MTTM, MTTR, volume, clocks met, follow-through",
    response_model=Metrics,
    response_model_by_alias=True,
)
def metrics(
    session: ReadSession,
    runtime: RuntimeDep,
    _principal: Reader,
    from_: Annotated[str | None, Query(alias="from", description=_WHEN)] = None,
    to: Annotated[str | None, Query(description=_WHEN + " A date or period means its end.")] = None,
    period: Annotated[
        str | None, Query(description="Instead of from/to: 2026-Q4, 2026-11, 2026-W47.")
    ] = None,
    service: Annotated[list[str], Query(description="Affecting any of these services.")] = [],  # noqa: B006
    severity: Annotated[list[str], Query(description="Any of these severities.")] = [],  # noqa: B006
    type: Annotated[list[str], Query(description="Any of these incident types.")] = [],  # noqa: B006
    team: Annotated[
        str | None, Query(description="Incidents on services whose escalation pages this team.")
    ] = None,
    include_drills: Annotated[bool, Query(description="Count drill incidents too.")] = False,
    top: Annotated[
        int, Query(ge=0, le=500, description="Also list this many incidents, most severe first.")
    ] = 0,
) -> Metrics:
    """Incidents declared in [from, to). A figure with no data is null, never 0. The
    `definitions` field says what each figure measures."""
    window = periods.window(start=from_, end=to, period=period, now=timesource.now())
    filters = Filters(
        services=service, severities=severity, types=type, team=team, include_drills=include_drills
    )
    order = runtime.policy.policy.severity_ids()
    return compute(session, period=window, filters=filters, severity_order=order, top=top)


@prometheus.get(
    "/metrics",
    summary="Prometheus text format: open incidents, breached clocks, notifications, alerts, "
    "engine lag (names prefixed tocsin_)",
    response_class=Response,
)
def scrape(request: Request) -> Response:
    """Every figure is read from the shared database, so any worker of `serve --workers N`
    gives the deployment's totals; `X-Tocsin-Pid` names the worker that answered."""
    body = exporter.exposition(request.app.state.prometheus)
    pid = {"X-Tocsin-Pid": str(os.getpid())}
    return Response(content=body, media_type=CONTENT_TYPE_LATEST, headers=pid)
