"""`tocsin incident ...`: run incidents through the API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tocsin.cli.client import ApiClient, fail
from tocsin.cli.output import command_group, console, due_time, emit_json, short_time, table
from tocsin.incidents.wording import summarise

app = command_group(help="Declare and run incidents (talks to the API).", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]


def _client() -> ApiClient:
    return ApiClient.from_environment()


def _show(incident: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(incident)
        return
    console.print(
        f"[bold]{incident['id']}[/bold]  {incident['severity']}  {incident['status']}  "
        f"{incident['title']}"
    )
    facts = [
        "impact_started_at",
        "detected_at",
        "declared_at",
        "acknowledged_at",
        "mitigated_at",
        "resolved_at",
        "closed_at",
    ]
    rows = [(f.removesuffix("_at"), short_time(incident.get(f))) for f in facts]
    rows += [("type", incident.get("type") or "-"), ("services", ", ".join(incident["services"]))]
    rows += [("flags", json.dumps(incident["flags"])), ("policy", incident["policy"]["name"])]
    rows += [(f"role: {r}", who) for r, who in incident["roles"].items()]
    table(None, ["field", "value"], rows)
    if incident["clocks"]:
        clocks = [
            (c["kind"], c["label"], due_time(c["due_at"], c["state"]), c["state"])
            for c in incident["clocks"]
        ]
        table("Clocks", ["kind", "what", "due", "state"], clocks)
    failures = incident.get("page_failures") or []
    if failures:
        undelivered = [
            (str(f["person"] or "-"), str(f["channel"]), str(f["address"]), str(f["error"]))
            for f in failures
        ]
        table("Not delivered", ["for", "channel", "address", "why"], undelivered)
    unreached = incident.get("unreached") or []
    if unreached:
        nobody = [
            (short_time(u["at"]), str(u["what"]), "; ".join(u["problems"])) for u in unreached
        ]
        table("Reached nobody", ["when", "what", "why"], nobody)
    changes = incident.get("changes") or []
    if changes:
        recent = [
            (short_time(c["at"]), str(c["summary"]), str(c["source"] or "-"), c["integration"])
            for c in changes
        ]
        table("Recent changes", ["when", "what", "source", "from"], recent)


def _parse_flags(flags: list[str]) -> dict[str, Any]:
    """`drill` -> {"drill": true}; `region=eu` -> "eu"; `count=3` -> 3 (JSON when it parses)."""
    parsed: dict[str, Any] = {}
    for flag in flags:
        name, sep, value = flag.partition("=")
        parsed[name] = _flag_value(value) if sep else True
    return parsed


def _flag_value(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


@app.command()
def declare(
    title: Annotated[str, typer.Option(help="What is happening, in a line.")],
    severity: Annotated[str, typer.Option(help="A severity id from the policy, e.g. P1.")],
    type_: Annotated[str | None, typer.Option("--type", help="Incident type id.")] = None,
    summary: Annotated[str, typer.Option(help="Longer description.")] = "",
    service: Annotated[list[str], typer.Option(help="Affected service (repeatable).")] = [],  # noqa: B006
    flag: Annotated[list[str], typer.Option(help="Flag NAME or NAME=VALUE (repeatable).")] = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """Declare an incident. Its clocks start at once."""
    body = {
        "title": title,
        "severity": severity,
        "type": type_,
        "summary": summary,
        "services": service,
        "flags": _parse_flags(flag),
    }
    _show(_client().call("POST", "/api/v1/incidents", json=body), as_json)


@app.command("list")
def list_(
    status: Annotated[list[str], typer.Option(help="Only these statuses (repeatable).")] = [],  # noqa: B006
    severity: Annotated[list[str], typer.Option(help="Only these severities.")] = [],  # noqa: B006
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List incidents, newest first."""
    params: dict[str, Any] = {"status": status, "severity": severity, "limit": limit}
    page = _client().call("GET", "/api/v1/incidents", params=params)
    if as_json:
        emit_json(page)
        return
    rows = [
        (i["id"], i["severity"], i["status"], i["title"], short_time(i["declared_at"]))
        for i in page["items"]
    ]
    table("Incidents", ["id", "severity", "status", "title", "declared"], rows)


@app.command()
def show(incident_id: str, as_json: JsonFlag = False) -> None:
    """Show one incident with its facts, roles and clocks."""
    _show(_client().call("GET", f"/api/v1/incidents/{incident_id}"), as_json)


@app.command()
def timeline(incident_id: str, as_json: JsonFlag = False) -> None:
    """Show the incident's timeline (each event hash-chained to the one before)."""
    events = _client().call("GET", f"/api/v1/incidents/{incident_id}/timeline")
    if as_json:
        emit_json(events)
        return
    rows = [_timeline_row(e) for e in events]
    table(f"Timeline of {incident_id}", ["#", "at", "event", "by", "details", "hash"], rows)


def _timeline_row(event: dict[str, Any]) -> tuple[Any, ...]:
    """One event as a table row, its details worded as the web console's timeline words them."""
    from tocsin.incidents.schemas import EventOut  # loads SQLAlchemy: only when shown

    details = summarise(EventOut.model_validate(event))
    at, hash_ = short_time(event["at"]), event["hash"][:12]
    return (event["seq"], at, event["kind"], event["actor"], details, hash_)


@app.command()
def ack(incident_id: str, as_json: JsonFlag = False) -> None:
    """Acknowledge an incident: you have it."""
    _show(_client().call("POST", f"/api/v1/incidents/{incident_id}/acknowledge"), as_json)


@app.command()
def status(
    incident_id: str,
    new_status: Annotated[
        str,
        typer.Argument(
            metavar="STATUS", help="investigating, identified, monitoring, resolved or closed"
        ),
    ],
    message: Annotated[str, typer.Option("--message", "-m", help="What changed and why.")],
    as_json: JsonFlag = False,
) -> None:
    """Move an incident along its lifecycle, with a message."""
    body = {"status": new_status, "message": message}
    _show(_client().call("POST", f"/api/v1/incidents/{incident_id}/status", json=body), as_json)


@app.command()
def severity(
    incident_id: str,
    new_severity: Annotated[str, typer.Argument(metavar="SEVERITY")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why the severity changes.")],
    as_json: JsonFlag = False,
) -> None:
    """Change an incident's severity, with a reason."""
    body = {"severity": new_severity, "reason": reason}
    _show(_client().call("POST", f"/api/v1/incidents/{incident_id}/severity", json=body), as_json)


@app.command()
def role(
    incident_id: str,
    role_id: Annotated[
        str,
        typer.Argument(
            metavar="ROLE",
            help="A role id from the policy in force (`tocsin policy show` lists them; the "
            "default policy's are commander, on_call_engineer, sme, communications_lead).",
        ),
    ],
    assignee: Annotated[str | None, typer.Argument(help="Who; omit to clear the role.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Assign a role (commander, on_call_engineer, ...) or clear it."""
    body = {"role": role_id, "assignee": assignee}
    _show(_client().call("POST", f"/api/v1/incidents/{incident_id}/roles", json=body), as_json)


@app.command()
def note(incident_id: str, text: str, as_json: JsonFlag = False) -> None:
    """Add a note to the timeline."""
    body = {"text": text}
    _show(_client().call("POST", f"/api/v1/incidents/{incident_id}/notes", json=body), as_json)


@app.command()
def resolve(
    incident_id: str,
    message: Annotated[str, typer.Option("--message", "-m")] = "Resolved.",
    as_json: JsonFlag = False,
) -> None:
    """Resolve an incident (shortcut for `status ID resolved`)."""
    body = {"status": "resolved", "message": message}
    _show(_client().call("POST", f"/api/v1/incidents/{incident_id}/status", json=body), as_json)


@app.command()
def close(
    incident_id: str,
    message: Annotated[str, typer.Option("--message", "-m")] = "Closed.",
    as_json: JsonFlag = False,
) -> None:
    """Close an incident for good (shortcut for `status ID closed`)."""
    body = {"status": "closed", "message": message}
    _show(_client().call("POST", f"/api/v1/incidents/{incident_id}/status", json=body), as_json)


@app.command()
def update(
    incident_id: str,
    message: Annotated[str, typer.Option("--message", "-m", help="The update stakeholders read.")],
    audience: Annotated[
        list[str],
        typer.Option(
            help="Role, audience or channel id to send to (repeatable); default: the "
            "severity's update audience."
        ),
    ] = [],  # noqa: B006
    template: Annotated[
        str | None, typer.Option(help="A template of the policy; default: its update template.")
    ] = None,
    field: Annotated[
        list[str], typer.Option(help="A template value NAME=TEXT, e.g. eta='30 minutes'.")
    ] = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """Publish a stakeholder update to its audience; the update clocks it answers start again."""
    body: dict[str, Any] = {"message": message, "audience": audience, "template": template}
    body["fields"] = parse_fields(field)
    _show(_client().call("POST", f"/api/v1/incidents/{incident_id}/updates", json=body), as_json)


def parse_fields(fields: list[str]) -> dict[str, str]:
    """`eta=30 minutes` -> {"eta": "30 minutes"}; a value without `=` is refused."""
    parsed = {}
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(f"--field {item!r}: write NAME=TEXT, e.g. --field eta='30 minutes'", code=2)
        parsed[name.strip()] = value
    return parsed


@app.command()
def flag(
    incident_id: str,
    flags: Annotated[
        list[str],
        typer.Argument(metavar="FLAG...", help="NAME to set, NAME=VALUE, or NAME=null to clear."),
    ],
    aware_at: Annotated[
        str | None,
        typer.Option(help="When you became aware (ISO 8601); regulatory clocks count from here."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Set or clear flags; flags such as personal_data_breach start regulatory clocks."""
    body = {"flags": _parse_flags(flags), "aware_at": aware_at}
    _show(_client().call("POST", f"/api/v1/incidents/{incident_id}/flags", json=body), as_json)


@app.command()
def complete(
    incident_id: str,
    key: Annotated[str, typer.Argument(help="The clock key, e.g. regulatory:gdpr or review.")],
    note: Annotated[str, typer.Option("--note", "-n", help="What was done, for the record.")],
    as_json: JsonFlag = False,
) -> None:
    """Mark a clock's duty as done (regulator notified, review held, stage notified)."""
    path = f"/api/v1/incidents/{incident_id}/clocks/{key}/complete"
    _show(_client().call("POST", path, json={"note": note}), as_json)


@app.command()
def escalate(incident_id: str, as_json: JsonFlag = False) -> None:
    """Page the next escalation step now instead of waiting."""
    _show(_client().call("POST", f"/api/v1/incidents/{incident_id}/escalate"), as_json)


@app.command()
def clocks(incident_id: str, as_json: JsonFlag = False) -> None:
    """Show every clock on an incident: what is due when, and what was met or breached."""
    rows = _client().call("GET", f"/api/v1/incidents/{incident_id}/clocks")
    if as_json:
        emit_json(rows)
        return
    table(
        f"Clocks of {incident_id}",
        ["key", "what", "due", "state"],
        [(c["key"], c["label"], due_time(c["due_at"], c["state"]), c["state"]) for c in rows],
    )


__all__ = ["app", "fail"]
