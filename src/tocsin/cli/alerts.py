"""`tocsin integration|alerts|silence ...`: alert intake from the command line (via the API)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tocsin.alerts.kinds import KINDS, in_words
from tocsin.cli.client import ApiClient, fail
from tocsin.cli.output import command_group, console, emit_json, short_time, table
from tocsin.policy.durations import DurationKind, InvalidDuration, parse_duration
from tocsin.timesource import now

integration_app = command_group(
    help="Where alerts come from: keys and URLs for your monitoring.", no_args_is_help=True
)
alerts_app = command_group(help="Alerts received from integrations.", no_args_is_help=True)
silence_app = command_group(
    help="Silences and maintenance windows (alerts kept, no paging).", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]


def _client() -> ApiClient:
    return ApiClient.from_environment()


def _show_integration(body: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(body)
        return
    console.print(f"[bold]{body['name']}[/bold] ({body['kind']}), id {body['id']}")
    console.print(f"  key: [bold]{body['key']}[/bold]  (shown once; keep it secret)")
    for name, value in body["urls"].items():
        console.print(f"  {name}: {value}")
    if body.get("default_severity"):
        console.print(
            f"  default severity: {body['default_severity']} (for its alerts without a severity "
            "label; the policy's routing decides what that pages)"
        )


def _create_help() -> str:
    """The command's help, with a paragraph per kind (rich help keeps blank-line breaks)."""
    summary = "Create an integration and print its key and the URLs to paste into your monitoring."
    kinds = [f"{kind.name}: {kind.description}." for kind in KINDS.values()]
    return "\n\n".join([summary, *kinds])


def _known_kind(value: str) -> str:
    # Refused before any request is sent, naming the choices (the server would refuse it too).
    if value not in KINDS:
        raise typer.BadParameter(f"{value!r} is not a kind; choose {in_words()}")
    return value


@integration_app.command("create", help=_create_help())
def integration_create(
    kind: Annotated[
        str,
        typer.Option(
            metavar="KIND",
            callback=_known_kind,
            autocompletion=lambda: list(KINDS),
            help=f"{in_words()} (described above).",
        ),
    ],
    name: Annotated[str, typer.Option(help="A name people recognise, e.g. 'prometheus prod'.")],
    service: Annotated[str | None, typer.Option(help="Default service for its alerts.")] = None,
    interval: Annotated[int | None, typer.Option(help="Heartbeat: seconds between pings.")] = None,
    grace: Annotated[int | None, typer.Option(help="Heartbeat: extra seconds allowed.")] = None,
    default_severity: Annotated[
        str | None,
        typer.Option(
            help="critical, error, warning or info: the severity of its alerts that carry none "
            "(alertmanager, grafana, generic; grafana starts with warning)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an integration (its --help is _create_help's, with a line per kind)."""
    body = {
        "kind": kind,
        "name": name,
        "service": service,
        "heartbeat_interval_s": interval,
        "heartbeat_grace_s": grace,
        "default_severity": default_severity,
    }
    _show_integration(_client().call("POST", "/api/v1/integrations", json=body), as_json)


@integration_app.command("list")
def integration_list(as_json: JsonFlag = False) -> None:
    """List integrations (keys are never shown again; rotate to get a new one)."""
    rows = _client().call("GET", "/api/v1/integrations")
    if as_json:
        emit_json(rows)
        return
    table(
        "Integrations",
        ["id", "name", "kind", "service", "key starts", "last ping"],
        [
            (
                i["id"],
                i["name"],
                i["kind"],
                i["service"] or "-",
                i["key_prefix"],
                short_time(i["last_ping_at"]),
            )
            for i in rows
        ],
    )


@integration_app.command("rotate-key")
def integration_rotate(integration_id: int, as_json: JsonFlag = False) -> None:
    """Issue a new key; the old one stops working at once."""
    path = f"/api/v1/integrations/{integration_id}/rotate-key"
    _show_integration(_client().call("POST", path), as_json)


@integration_app.command("delete")
def integration_delete(integration_id: int) -> None:
    """Stop accepting alerts from an integration (its alerts stay on record)."""
    _client().call("DELETE", f"/api/v1/integrations/{integration_id}")
    typer.echo(f"integration {integration_id} deleted")


@alerts_app.command("list")
def alerts_list(
    status: Annotated[str | None, typer.Option(help="firing or resolved")] = None,
    integration: Annotated[int | None, typer.Option(help="Integration id.")] = None,
    service: Annotated[str | None, typer.Option()] = None,
    action: Annotated[str | None, typer.Option(help="page, notify, ticket or ignore")] = None,
    limit: Annotated[int, typer.Option()] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List alerts, newest first."""
    params = {
        k: v
        for k, v in {
            "status": status,
            "integration": integration,
            "service": service,
            "action": action,
            "limit": limit,
        }.items()
        if v is not None
    }
    page = _client().call("GET", "/api/v1/alerts", params=params)
    if as_json:
        emit_json(page)
        return
    table(
        "Alerts",
        ["id", "status", "action", "sev", "service", "summary", "count", "incident", "last seen"],
        [
            (
                a["id"],
                a["status"],
                a["action"],
                a["severity"],
                a["service"] or "-",
                a["summary"][:60],
                a["count"],
                a["incident_id"] or "-",
                short_time(a["last_seen_at"]),
            )
            for a in page["items"]
        ],
    )


def _ends_at(duration: str) -> str:
    try:
        parsed = parse_duration(duration)
    except InvalidDuration as exc:
        fail(f"--for: {exc}")
    if parsed is None or parsed.kind is not DurationKind.CALENDAR:
        fail("--for takes calendar time such as 30m, 2h or 1d")
    return (now() + parsed.amount).isoformat()


@silence_app.command("create")
def silence_create(
    reason: Annotated[str, typer.Option(help="Why, for whoever wonders later.")],
    for_: Annotated[str, typer.Option("--for", help="How long, e.g. 2h.")],
    service: Annotated[str | None, typer.Option(help="Silence this service.")] = None,
    match: Annotated[list[str], typer.Option(help="label=value (repeatable).")] = [],  # noqa: B006
    maintenance: Annotated[bool, typer.Option(help="Record it as a maintenance window.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Keep matching alerts but do not page for them, from now for --for."""
    matchers = dict(m.split("=", 1) for m in match if "=" in m)
    body = {
        "reason": reason,
        "ends_at": _ends_at(for_),
        "service": service,
        "matchers": matchers,
        "kind": "maintenance" if maintenance else "silence",
    }
    created = _client().call("POST", "/api/v1/silences", json=body)
    if as_json:
        emit_json(created)
        return
    typer.echo(f"silence {created['id']} until {created['ends_at']}")


@silence_app.command("list")
def silence_list(
    include_ended: Annotated[bool, typer.Option(help="Also ended and cancelled ones.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List active silences and maintenance windows."""
    rows = _client().call("GET", "/api/v1/silences", params={"include_ended": include_ended})
    if as_json:
        emit_json(rows)
        return
    table(
        "Silences",
        ["id", "kind", "service", "matchers", "until", "reason"],
        [
            (
                s["id"],
                s["kind"],
                s["service"] or "-",
                s["matchers"],
                short_time(s["ends_at"]),
                s["reason"],
            )
            for s in rows
        ],
    )


@silence_app.command("cancel")
def silence_cancel(silence_id: int) -> None:
    """End a silence now."""
    _client().call("DELETE", f"/api/v1/silences/{silence_id}")
    typer.echo(f"silence {silence_id} cancelled")
