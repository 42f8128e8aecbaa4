"""`tocsin status ...`: run the public status page from the command line (via the API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from tocsin.cli.client import ApiClient, fail
from tocsin.cli.output import command_group, console, emit_json, short_time, table

app = command_group(
    help="The public status page (/status): components, public incidents, maintenance, "
    "subscribers.",
    no_args_is_help=True,
)
component_app = command_group(
    help="Components customers see, made of services.", no_args_is_help=True
)
maintenance_app = command_group(help="Scheduled maintenance.", no_args_is_help=True)
app.add_typer(component_app, name="component")
app.add_typer(maintenance_app, name="maintenance")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
Components = Annotated[
    list[str],
    typer.Option(
        "--component",
        help="COMPONENT=STATUS (repeatable): operational, under_maintenance, "
        "degraded_performance, partial_outage, major_outage.",
    ),
]


def _client() -> ApiClient:
    return ApiClient.from_environment()


def _effect(pairs: list[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    bad = [p for p in pairs if "=" not in p]
    if bad:
        fail(f"--component takes COMPONENT=STATUS, e.g. checkout=partial_outage; got {bad[0]!r}")
    return dict(p.split("=", 1) for p in pairs)


def _instant(value: str, option: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option}: {value!r} is not a time; use YYYY-MM-DDTHH:MM (UTC unless an offset)")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


def _show_incident(body: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(body)
        return
    console.print(f"[bold]{body['name']}[/bold] ({body['kind']} {body['id']}): {body['status']}")
    console.print(f"  {body['url']}")
    if body.get("notified") is not None:
        console.print(f"  {body['notified']} subscriber message(s) queued")


# -- the page ---------------------------------------------------------------------------------


@app.command("show")
def show(as_json: JsonFlag = False) -> None:
    """Every component's status now, and the open incidents and maintenance."""
    client = _client()
    components = client.call("GET", "/api/v1/status/components")
    incidents = client.call("GET", "/api/v1/status/incidents", params={"open_only": True})
    if as_json:
        emit_json({"components": components, "incidents": incidents})
        return
    rows = [
        [c["slug"], c["name"], c["group"] or "", c["status"], "yes" if c["override"] else ""]
        for c in components
    ]
    table("Components", ["id", "name", "group", "status", "override"], rows)
    rows = [[i["id"], i["kind"], i["name"], i["status"], i["incident_id"] or ""] for i in incidents]
    table("Open", ["id", "kind", "title", "status", "internal incident"], rows)


@app.command("publish")
def publish(
    incident_id: Annotated[
        str, typer.Argument(help="The internal incident, e.g. INC-2026-11-20-01.")
    ],
    status: Annotated[str, typer.Option(help="investigating, identified, monitoring or resolved.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What customers read.")],
    title: Annotated[
        str | None, typer.Option(help="The public title (required the first time).")
    ] = None,
    component: Components = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """Publish an incident on the status page, or post its next public update.

    It meets the update clocks owed to the page's audience."""
    body = {"title": title, "status": status, "message": message, "components": _effect(component)}
    path = f"/api/v1/incidents/{incident_id}/status-page"
    _show_incident(_client().call("POST", path, json=body), as_json)


@app.command("update")
def update(
    public_id: Annotated[str, typer.Argument(help="The public incident or maintenance id.")],
    status: Annotated[str, typer.Option(help="The new status.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What customers read.")],
    component: Components = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """Post an update on a public incident or a maintenance."""
    body = {"status": status, "message": message, "components": _effect(component)}
    path = f"/api/v1/status/incidents/{public_id}/updates"
    _show_incident(_client().call("POST", path, json=body), as_json)


@app.command("open")
def open_incident(
    title: Annotated[str, typer.Option(help="The public title.")],
    status: Annotated[str, typer.Option(help="investigating, identified, monitoring or resolved.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What customers read.")],
    component: Components = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """Open a public incident that no internal incident stands behind."""
    body = {"title": title, "status": status, "message": message}
    body["components"] = _effect(component) or {}  # type: ignore[assignment]
    _show_incident(_client().call("POST", "/api/v1/status/incidents", json=body), as_json)


@app.command("incidents")
def incidents(
    open_only: Annotated[bool, typer.Option("--open", help="Only those not ended.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Public incidents and maintenance, newest first."""
    found = _client().call("GET", "/api/v1/status/incidents", params={"open_only": open_only})
    if as_json:
        emit_json(found)
        return
    rows = [
        [i["id"], i["kind"], i["name"], i["status"], short_time(i["created_at"])] for i in found
    ]
    table(None, ["id", "kind", "title", "status", "opened"], rows)


@app.command("override")
def override(
    slug: Annotated[str, typer.Argument(help="The component.")],
    status: Annotated[str | None, typer.Argument(help="The status to show.")] = None,
    note: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
    clear: Annotated[bool, typer.Option(help="Let incidents set the status again.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Set a component's status by hand (it outranks incidents until --clear)."""
    client, path = _client(), f"/api/v1/status/components/{slug}/override"
    if clear:
        found = client.call("DELETE", path)
    elif status is None:
        fail("give a STATUS, or --clear")
    else:
        found = client.call("PUT", path, json={"status": status, "note": note})
    if as_json:
        emit_json(found)
        return
    typer.echo(f"{found['slug']}: {found['status']}")


# -- components -------------------------------------------------------------------------------


@component_app.command("add")
def component_add(
    slug: Annotated[str, typer.Argument(help="Lowercase id, e.g. checkout.")],
    name: Annotated[str, typer.Option(help="What customers call it.")],
    service: Annotated[
        list[str], typer.Option(help="An on-call service it is made of (repeatable).")
    ] = [],  # noqa: B006
    group: Annotated[str | None, typer.Option(help="The group it is shown in.")] = None,
    description: Annotated[str, typer.Option(help="One line under its name.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Add a component; incidents on its services set its status.

    What a severity does to it is the policy's status_page.impact."""
    body = {
        "slug": slug,
        "name": name,
        "services": service,
        "group": group,
        "description": description,
    }
    found = _client().call("POST", "/api/v1/status/components", json=body)
    if as_json:
        emit_json(found)
        return
    typer.echo(f"{found['slug']}: {found['status']}")


@component_app.command("list")
def component_list(as_json: JsonFlag = False) -> None:
    """Components, their services and their status now."""
    found = _client().call("GET", "/api/v1/status/components")
    if as_json:
        emit_json(found)
        return
    rows = [
        [c["slug"], c["name"], c["group"] or "", ", ".join(c["services"]), c["status"]]
        for c in found
    ]
    table(None, ["id", "name", "group", "services", "status"], rows)


@component_app.command("remove")
def component_remove(slug: Annotated[str, typer.Argument(help="The component.")]) -> None:
    """Remove a component from the page."""
    _client().call("DELETE", f"/api/v1/status/components/{slug}")
    typer.echo(f"removed {slug}")


# -- maintenance ------------------------------------------------------------------------------


@maintenance_app.command("schedule")
def maintenance_schedule(
    title: Annotated[str, typer.Option(help="The public title.")],
    message: Annotated[str, typer.Option("--message", "-m", help="What customers read.")],
    start: Annotated[str, typer.Option(help="When it starts (ISO time, UTC by default).")],
    end: Annotated[str, typer.Option(help="When it is planned to end.")],
    component: Annotated[list[str], typer.Option(help="A component it affects (repeatable).")] = [],  # noqa: B006
    auto_complete: Annotated[
        bool, typer.Option(help="Complete it at --end (else a person completes it).")
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Schedule maintenance: announced now, in progress at --start.

    Its components show under maintenance, and their services' alerts do not page, until
    --end."""
    body = {
        "title": title,
        "message": message,
        "scheduled_for": _instant(start, "--start"),
        "scheduled_until": _instant(end, "--end"),
        "components": component,
        "auto_complete": auto_complete,
    }
    _show_incident(_client().call("POST", "/api/v1/status/maintenances", json=body), as_json)


# -- subscribers ------------------------------------------------------------------------------


@app.command("subscribers")
def subscribers(as_json: JsonFlag = False) -> None:
    """Subscribers, and the last error delivering to each."""
    found = _client().call("GET", "/api/v1/status/subscribers")
    if as_json:
        emit_json(found)
        return
    rows = [
        [
            s["id"],
            s["kind"],
            s["address"],
            ", ".join(s["components"]) or "all",
            "unsubscribed" if s["unsubscribed"] else ("yes" if s["confirmed"] else "waiting"),
            s["delivered"],
            s["last_error"] or "",
        ]
        for s in found
    ]
    table(None, ["id", "kind", "address", "components", "confirmed", "sent", "last error"], rows)


@app.command("subscribe")
def subscribe(
    address: Annotated[str, typer.Argument(help="A webhook URL, or an email address.")],
    component: Annotated[
        list[str], typer.Option(help="Only about this component (repeatable).")
    ] = [],  # noqa: B006
) -> None:
    """Add a subscriber (a webhook, or an email address, which must confirm first)."""
    kind = "webhook" if address.startswith(("http://", "https://")) else "email"
    body = {"kind": kind, "address": address, "components": component}
    found = _client().call("POST", "/api/v1/status/subscribers", json=body)
    state = "live" if found["confirmed"] else "sent a confirmation link"
    typer.echo(f"subscriber {found['id']} ({kind}): {state}")


@app.command("unsubscribe")
def unsubscribe(subscriber_id: Annotated[int, typer.Argument(help="The subscriber's id.")]) -> None:
    """Stop sending to a subscriber."""
    _client().call("DELETE", f"/api/v1/status/subscribers/{subscriber_id}")
    typer.echo(f"unsubscribed {subscriber_id}")


@app.command("failures")
def failures(as_json: JsonFlag = False) -> None:
    """Messages to subscribers that failed for good (after their retries)."""
    found = _client().call("GET", "/api/v1/status/deliveries/failed")
    if as_json:
        emit_json(found)
        return
    rows = [
        [d["id"], d["subscriber"], d["channel"], d["address"], d["attempts"], d["error"]]
        for d in found
    ]
    table(None, ["message", "subscriber", "channel", "address", "attempts", "error"], rows)
