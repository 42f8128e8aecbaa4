"""`tocsin incident comms ID`: what an incident's communications said, to whom, and how it
went; `--send STAGE` sends a stage of the communication tree; `--preview TEMPLATE` renders a
template against the live incident."""

from __future__ import annotations

from typing import Annotated

import typer

from tocsin.cli.client import ApiClient
from tocsin.cli.incident import parse_fields
from tocsin.cli.output import console, emit_json, short_time, table


def comms(
    incident_id: str,
    send: Annotated[
        str | None, typer.Option(help="Send this stage of the communication tree now.")
    ] = None,
    preview: Annotated[
        str | None,
        typer.Option(help="Render this template of the policy against the incident, send nothing."),
    ] = None,
    field: Annotated[list[str], typer.Option(help="A template value NAME=TEXT (repeatable).")] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """Every message about the incident (stages, updates, reminders, notices, pages) with its
    recipient, channel and outcome; or send a stage, or preview a template."""
    client = ApiClient.from_environment()
    base = f"/api/v1/incidents/{incident_id}/communications"
    fields = parse_fields(field)
    if preview is not None:
        rendered = client.call(
            "POST", f"{base}/preview", json={"template": preview, "fields": fields}
        )
        _print_preview(rendered, as_json)
        return
    if send is not None:
        rows = client.call("POST", base, json={"stage": send, "fields": fields})
    else:
        rows = client.call("GET", base)
    _print_rows(incident_id, rows, as_json)


def _print_preview(rendered: dict[str, str], as_json: bool) -> None:
    if as_json:
        emit_json(rendered)
        return
    console.print(f"[bold]Subject:[/bold] {rendered['subject']}", soft_wrap=True)
    console.print(rendered["body"], soft_wrap=True, markup=False)


def _print_rows(incident_id: str, rows: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        emit_json(rows)
        return
    table(
        f"Communications of {incident_id}",
        ["queued", "kind", "what", "to", "channel", "status", "why"],
        [
            (
                short_time(str(r["queued_at"])),
                r["kind"],
                r["stage"] or r["key"],
                r["recipient"] or r["address"],
                r["channel"],
                r["status"],
                r["error"] or "",
            )
            for r in rows
        ],
    )
