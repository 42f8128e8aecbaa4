"""`tocsin oncall ...`: people, schedules and escalation from one YAML file (via the API)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tocsin.cli.client import ApiClient, fail
from tocsin.cli.output import command_group, emit_json, short_time, table

app = command_group(
    help="On-call: apply the on-call file, who is on call, shifts, overrides.", no_args_is_help=True
)
override_app = command_group(help="Cover someone's shift on a schedule.", no_args_is_help=True)
app.add_typer(override_app, name="override")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]


def _client() -> ApiClient:
    return ApiClient.from_environment()


_WOULD = {"created": "create", "updated": "update", "removed": "remove"}


def _would(change: str) -> str:
    """'created person ada' -> 'would create person ada' (a dry run changed nothing)."""
    verb, _, rest = change.partition(" ")
    return f"would {_WOULD.get(verb, verb)} {rest}".rstrip()


@app.command()
def apply(
    file: Annotated[Path, typer.Argument(help="The on-call YAML file.")],
    dry_run: Annotated[bool, typer.Option(help="Show what would change; change nothing.")] = False,
) -> None:
    """Make people, teams, schedules, escalation policies and services match FILE."""
    if not file.exists():
        fail(f"{file}: no such file")
    body = {"text": file.read_text(), "file": file.name, "dry_run": dry_run}
    result = _client().call("POST", "/api/v1/oncall/apply", json=body)
    changes = result["changes"]
    for change in changes:
        typer.echo(_would(change) if dry_run else change)
    if not changes:
        typer.echo("no changes: the file is already in force")


@app.command()
def now(
    schedule: Annotated[str | None, typer.Option(help="One schedule (default: all).")] = None,
    at: Annotated[str | None, typer.Option(help="A time (ISO 8601) instead of now.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Who holds each schedule now."""
    params = {k: v for k, v in {"schedule": schedule, "at": at}.items() if v}
    rows = _client().call("GET", "/api/v1/oncall", params=params)
    if as_json:
        emit_json(rows)
        return
    table(
        "On call",
        ["schedule", "on call", "at"],
        [(r["schedule"], r["on_call"] or "(nobody)", short_time(r["at"])) for r in rows],
    )


@app.command()
def shifts(
    schedule: Annotated[str, typer.Option(help="The schedule's handle.")],
    from_: Annotated[str, typer.Option("--from", help="Start (ISO 8601).")],
    to: Annotated[str, typer.Option(help="End (ISO 8601).")],
    as_json: JsonFlag = False,
) -> None:
    """A schedule's shifts between two times (after layers and overrides)."""
    params = {"schedule": schedule, "from": from_, "to": to}
    rows = _client().call("GET", "/api/v1/oncall/shifts", params=params)
    if as_json:
        emit_json(rows)
        return
    table(
        f"Shifts of {schedule}",
        ["person", "from", "to", "layer"],
        [(s["person"], short_time(s["start"]), short_time(s["end"]), s["layer"]) for s in rows],
    )


@app.command("calendar-url")
def calendar_url(
    schedule: Annotated[str | None, typer.Option(help="A schedule's feed.")] = None,
    person: Annotated[str | None, typer.Option(help="A person's feed.")] = None,
) -> None:
    """Issue a secret iCalendar URL for a schedule or a person (the previous one stops)."""
    if bool(schedule) == bool(person):
        fail("give exactly one of --schedule or --person")
    kind, handle = ("schedules", schedule) if schedule else ("people", person)
    # Plain echo: rich would fold a long URL at the terminal's width and cut it in two.
    typer.echo(_client().call("POST", f"/api/v1/{kind}/{handle}/calendar-token")["url"])


@override_app.command("add")
def override_add(
    schedule: Annotated[str, typer.Option()],
    person: Annotated[str, typer.Option(help="Who covers.")],
    from_: Annotated[str, typer.Option("--from", help="Start (ISO 8601).")],
    to: Annotated[str, typer.Option(help="End (ISO 8601).")],
    reason: Annotated[str, typer.Option()] = "",
) -> None:
    """PERSON holds SCHEDULE from --from to --to, whoever the rotation says."""
    body = {"person": person, "start": from_, "end": to, "reason": reason}
    created = _client().call("POST", f"/api/v1/schedules/{schedule}/overrides", json=body)
    typer.echo(f"override {created['id']}: {person} covers {schedule} {from_} .. {to}")


@override_app.command("list")
def override_list(schedule: Annotated[str, typer.Option()], as_json: JsonFlag = False) -> None:
    """Overrides on a schedule."""
    rows = _client().call("GET", f"/api/v1/schedules/{schedule}/overrides")
    if as_json:
        emit_json(rows)
        return
    table(
        f"Overrides on {schedule}",
        ["id", "person", "from", "to", "reason"],
        [
            (o["id"], o["person"], short_time(o["start"]), short_time(o["end"]), o["reason"])
            for o in rows
        ],
    )


@override_app.command("remove")
def override_remove(schedule: Annotated[str, typer.Option()], override_id: int) -> None:
    """Remove an override."""
    _client().call("DELETE", f"/api/v1/schedules/{schedule}/overrides/{override_id}")
    typer.echo(f"override {override_id} removed")
