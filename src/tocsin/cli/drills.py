"""`tocsin drill ...`: the drill programme from the command line (via the API)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tocsin.cli.client import ApiClient
from tocsin.cli.output import command_group, console, emit_json, short_time, table

app = command_group(
    help="Drills from the policy's drill programme: what is due and overdue, holding one "
    "(a real incident flagged drill, its pages and messages marked DRILL) and ending it with "
    "an outcome and lessons; and the runbook's own review.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
STATES = {
    "scheduled": "scheduled",
    "due_soon": "[yellow]due soon[/yellow]",
    "overdue": "[red]overdue[/red]",
    "unscheduled": "no clock",
}


def _client() -> ApiClient:
    return ApiClient.from_environment()


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """Each drill of the programme (and the runbook's review): when it is due, whether it is
    overdue, and the last one held with its outcome; then the drills held, newest first."""
    body = _client().call("GET", "/api/v1/drills")
    if as_json:
        emit_json(body)
        return
    table(
        "Drill programme",
        ["drill", "what", "owner", "due", "state", "last held"],
        [
            [
                d["id"],
                _what(d),
                d.get("owner") or "",
                short_time(d["due_at"]),
                STATES.get(d["state"], d["state"])
                + (f" (drill {d['running']} running)" if d["running"] else ""),
                _last_held(d),
            ]
            for d in body["programme"]
        ],
    )
    if body["held"]:
        table(
            "Drills held",
            ["id", "drill", "incident", "severity", "started", "ended", "outcome", "lessons"],
            [_held_row(d) for d in body["held"]],
        )


def _what(d: dict[str, Any]) -> str:
    """'tabletop, quarterly, P1': the kind of exercise, how often, at which severity."""
    parts = [d["kind"].replace("_", " "), d["cadence"] or "", d["severity"] or ""]
    return ", ".join(p for p in parts if p)


def _last_held(d: dict[str, Any]) -> str:
    if not d["last_held_at"]:
        return "never"
    outcome = f": {d['last_outcome']}" if d["last_outcome"] else ""
    return short_time(d["last_held_at"]) + outcome


def _held_row(d: dict[str, Any]) -> list[Any]:
    lessons = d["lessons"] or ""
    return [
        d["id"],
        d["programme_id"],
        d["incident_id"],
        d["severity"],
        short_time(d["started_at"]),
        short_time(d["ended_at"]),
        d["outcome"] or "in progress",
        lessons if len(lessons) <= 60 else lessons[:57] + "...",
    ]


@app.command("start")
def start(
    scenario: Annotated[
        str,
        typer.Option(
            help="What is rehearsed: an id of the policy's drill programme (p0-tabletop), or "
            "a scenario of your own (credential-leak)."
        ),
    ],
    drill: Annotated[
        str | None,
        typer.Option(
            help="The programme entry it counts for (default: the scenario's own, else the "
            "entry due first)."
        ),
    ] = None,
    title: Annotated[
        str | None, typer.Option(help="What is rehearsed (default: the drill's scope).")
    ] = None,
    severity: Annotated[
        str | None, typer.Option(help="Override the drill's severity (default: the programme's).")
    ] = None,
    service: Annotated[
        list[str],
        typer.Option(
            "--service",
            help="A service the drill is about (repeatable): its on-call "
            "is paged, marked DRILL, unless the policy names a drill audience.",
        ),
    ] = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """Declare a drill incident: it runs the real policy (clocks, stages, escalation), with
    every page and message marked DRILL, or sent only to the policy's drill audience. It is
    never published to the status page."""
    body = _client().call(
        "POST",
        "/api/v1/drills",
        json={
            "scenario": scenario,
            "drill": drill,
            "title": title,
            "severity": severity,
            "services": service,
        },
    )
    if as_json:
        emit_json(body)
        return
    console.print(
        f"drill {body['id']} started: incident {body['incident_id']} ({body['severity']}), "
        + (f"told only to {body['audience']}" if body["audience"] else "marked DRILL")
    )
    console.print(f"end it with `tocsin drill end {body['id']} --outcome passed --lessons ...`")


@app.command("end")
def end(
    drill_id: Annotated[int, typer.Argument(help="The drill's id (from `tocsin drill list`).")],
    outcome: Annotated[str, typer.Option(help="passed, partial or failed.")],
    lessons: Annotated[str, typer.Option(help="What the drill taught (kept on the record).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """End a drill with its outcome and lessons: recorded on the drill and its incident's
    timeline, the drill incident is resolved, and the next drill of its kind falls due one
    cadence from now."""
    body = _client().call(
        "POST", f"/api/v1/drills/{drill_id}/end", json={"outcome": outcome, "lessons": lessons}
    )
    if as_json:
        emit_json(body)
        return
    console.print(f"drill {body['id']} ended: {body['outcome']}; {body['incident_id']} resolved")


@app.command("runbook-reviewed")
def runbook_reviewed(
    note: Annotated[str, typer.Option(help="What was reviewed or changed.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Record that the runbook (the policy's document) was reviewed: its review clock is met
    and the next review falls due on the runbook's review schedule."""
    body = _client().call("POST", "/api/v1/drills/runbook-review", json={"note": note})
    if as_json:
        emit_json(body)
        return
    if body is None:
        console.print("runbook review recorded; the runbook sets no review schedule")
    else:
        console.print(f"runbook review recorded; next due {short_time(body['due_at'])}")
