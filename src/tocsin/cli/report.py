"""`tocsin report`: the weekly, monthly or quarterly incident report, as Markdown with SVG
charts (via the API's `GET /api/v1/metrics`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tocsin.cli.client import ApiClient, fail
from tocsin.cli.output import console, emit_json
from tocsin.errors import InvalidInput
from tocsin.metrics import periods, report
from tocsin.metrics.schemas import Metrics

_WHEN = f"A date, datetime (UTC unless an offset) or period: {periods.ACCEPTED}."


def report_command(
    period: Annotated[
        str | None,
        typer.Option(
            help="The period: 2026-Q4 (quarterly analysis), 2026-11 (monthly trends), "
            "2026-W47 (weekly summary), 2026 (annual reliability report) or a day, 2026-11-22."
        ),
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Instead of --period. " + _WHEN)
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="With --from (default: now). " + _WHEN)
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Directory for report-PERIOD.md and charts/*.svg.")
    ] = Path("."),
    service: Annotated[
        list[str], typer.Option(help="Only incidents on this service (repeatable).")
    ] = [],  # noqa: B006
    severity: Annotated[list[str], typer.Option(help="Only this severity (repeatable).")] = [],  # noqa: B006
    incident_type: Annotated[
        list[str], typer.Option("--type", help="Only this incident type (repeatable).")
    ] = [],  # noqa: B006
    team: Annotated[
        str | None, typer.Option(help="Only services whose escalation pages this team.")
    ] = None,
    include_drills: Annotated[bool, typer.Option(help="Count drill incidents too.")] = False,
    top: Annotated[int, typer.Option(help="List this many incidents, most severe first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON instead.")] = False,
) -> None:
    """Write the incident report for a period: MTTD, MTTA, MTTM and MTTR (mean, median,
    p90), the severity distribution, every clock kind's met rate, review and action-item
    follow-through and the most severe incidents, with SVG charts. Drills are left out unless
    --include-drills."""
    name, kind, params = _window(period, from_, to)
    params.update(
        service=service,
        severity=severity,
        type=incident_type,
        team=team,
        include_drills=include_drills,
        top=top,
    )
    body = ApiClient.from_environment().call(
        "GET", "/api/v1/metrics", params={k: v for k, v in params.items() if v not in (None, [])}
    )
    if as_json:
        emit_json(body)
        return
    built = report.build(Metrics.model_validate(body), name=name, kind=kind)
    written = report.write(built, out)
    console.print(f"wrote {written[0]} and {len(written) - 1} chart(s) in {out / 'charts'}")


def _window(
    period: str | None, start: str | None, end: str | None
) -> tuple[str, str, dict[str, object]]:
    """The report's name, kind and the API's period parameters."""
    if period and (start or end):
        fail("give --period, or --from/--to, not both")
    try:
        if period:
            named = periods.parse(period, field="--period")
            return named.name, named.kind, {"period": named.name}
        if not start:
            fail("give --period (e.g. 2026-Q4, 2026-11, 2026-W47) or --from")
        periods.instant(start, field="--from")
        if end:
            periods.instant(end, end=True, field="--to")
    except InvalidInput as exc:
        fail(exc.message)
    name = f"{start}_{end or 'now'}".replace(":", "")
    return name, "span", {"from": start, "to": end}
