"""The metrics page: the period's figures and charts (SVG drawn on the server), with filters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from tocsin.errors import InvalidInput
from tocsin.metrics import periods, report
from tocsin.metrics.service import Filters, compute
from tocsin.timesource import now
from tocsin.web.console.pages import _page
from tocsin.web.console.session import SignedIn, _to_login
from tocsin.web.deps import ReadSession, RuntimeDep

router = APIRouter()


@router.get("/metrics")
def metrics_page(
    request: Request,
    runtime: RuntimeDep,
    session: ReadSession,
    principal: SignedIn,
    period: str = "",
    from_: Annotated[str, Query(alias="from")] = "",
    to: str = "",
    severity: str = "",
    service: str = "",
    type: str = "",
    team: str = "",
    include_drills: bool = False,
) -> Response:
    if principal is None:
        return _to_login(request)
    chosen = {
        "period": period,
        "from": from_,
        "to": to,
        "severity": severity,
        "service": service,
        "type": type,
        "team": team,
        "include_drills": include_drills,
    }
    context: dict[str, Any] = {
        "chosen": chosen,
        "policy": runtime.policy.policy,
        "accepted": periods.ACCEPTED,
    }
    try:
        window = periods.window(
            start=from_ or None, end=to or None, period=period or None, now=now()
        )
    except InvalidInput as exc:
        return _page(
            request,
            "metrics.html",
            principal=principal,
            status=422,
            title="Metrics",
            error=exc.message,
            figures=None,
            window=None,
            **context,
        )
    filters = Filters(
        services=[service] if service else [],
        severities=[severity] if severity else [],
        types=[type] if type else [],
        team=team or None,
        include_drills=include_drills,
    )
    order = runtime.policy.policy.severity_ids()
    figures = compute(session, period=window, filters=filters, severity_order=order, top=20)
    charts = {
        name.rsplit("-", 1)[-1][:-4]: Markup(svg)
        for name, svg in report.charts_for(figures, "page").items()
    }
    return _page(
        request,
        "metrics.html",
        principal=principal,
        title=f"Metrics · {window.name}",
        error=None,
        figures=figures,
        window=window,
        charts=charts,
        duration=report.duration,
        percent=report.percent,
        **context,
    )
