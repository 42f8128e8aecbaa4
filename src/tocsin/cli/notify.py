"""`tocsin notify ...`: named notification channels (the `channel:<name>` of policy
audiences) and test messages through them, via the API.

    tocsin notify channel add legal email --set to=legal@example.com --set host=smtp.example.com \\
        --set from='Tocsin <tocsin@example.com>' --set username=tocsin --set password=@pw.txt
    tocsin notify test legal
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from tocsin.cli.client import ApiClient, fail
from tocsin.cli.output import command_group, emit_json, short_time, table

app = command_group(
    help="Notification channels: save them by name, list them, send a test.",
    no_args_is_help=True,
)
channel_app = command_group(
    help="Named channels (email, webhook, apprise, teams, slack) that policy audiences reach as "
    "`channel:<name>`.",
    no_args_is_help=True,
)
app.add_typer(channel_app, name="channel")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
SetOption = Annotated[
    list[str],
    typer.Option(
        "--set",
        help="A setting KEY=VALUE (repeatable; a repeated KEY makes a list). VALUE @FILE reads "
        "a file, @- standard input; a VALUE starting with [ or { is JSON.",
    ),
]
POLL_S = 0.2


def _client() -> ApiClient:
    return ApiClient.from_environment()


@channel_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Its name, as `channel:<name>` in the policy.")],
    kind: Annotated[str, typer.Argument(help="email, webhook, apprise, teams or slack.")],
    settings: SetOption = [],  # noqa: B006
    config: Annotated[
        Path | None, typer.Option(help="A YAML or JSON file with the settings.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Save a channel under NAME; its settings are checked before anything is saved."""
    body = {"name": name, "kind": kind, "config": {**_file(config), **parse_settings(settings)}}
    _show(_client().call("POST", "/api/v1/channels", json=body), as_json, verb="added")


@channel_app.command("set")
def change(
    name: Annotated[str, typer.Argument(help="The channel's name.")],
    settings: SetOption = [],  # noqa: B006
    unset: Annotated[
        list[str], typer.Option(help="Remove a setting (back to its default; repeatable).")
    ] = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """Change some settings of NAME; the others (secrets included) keep their values."""
    changes: dict[str, Any] = {**parse_settings(settings), **dict.fromkeys(unset)}
    if not changes:
        fail("nothing to change: give --set KEY=VALUE or --unset KEY")
    reply = _client().call("PATCH", f"/api/v1/channels/{name}", json={"config": changes})
    _show(reply, as_json, verb="changed")


@channel_app.command("list")
def list_channels(as_json: JsonFlag = False) -> None:
    """The saved channels (secrets masked), and those the policy names but nobody saved."""
    listing = _client().call("GET", "/api/v1/channels")
    if as_json:
        emit_json(listing)
        return
    table(
        "Notification channels",
        ["name", "kind", "where", "audiences", "last message", "error"],
        [
            (
                c["name"],
                c["kind"],
                where(c),
                ", ".join(c["audiences"]) or "-",
                f"{c['last_status']} {short_time(c['last_at'])}" if c["last_status"] else "-",
                c["last_error"] or "",
            )
            for c in listing["items"]
        ],
    )
    for missing in listing["missing"]:
        typer.echo(
            f"missing: {missing['name']} (audiences {', '.join(missing['audiences'])}) reaches "
            f"nobody: add it with `tocsin notify channel add {missing['name']} KIND --set ...`"
        )


@channel_app.command("show")
def show(name: str, as_json: JsonFlag = False) -> None:
    """One channel, its settings masked."""
    _show(_client().call("GET", f"/api/v1/channels/{name}"), as_json, verb=None)


@channel_app.command("remove")
def remove(name: str) -> None:
    """Remove a channel; audiences that list it then reach nobody (and the fallback is told)."""
    _client().call("DELETE", f"/api/v1/channels/{name}")
    typer.echo(f"removed channel {name}")


@app.command("test")
def test(
    channel: Annotated[str, typer.Argument(help="The channel's name.")],
    wait: Annotated[float, typer.Option(help="Seconds to wait for the outcome.")] = 30.0,
    as_json: JsonFlag = False,
) -> None:
    """Send a test message to CHANNEL through the outbox and report what became of it.

    Exits 0 once the channel's server accepted it; 1 if it failed, or is still waiting."""
    client = _client()
    queued = client.call("POST", f"/api/v1/channels/{channel}/tests")
    outcome = _await(client, channel, int(queued["id"]), wait)
    if as_json:
        emit_json(outcome)
    else:
        typer.echo(_sentence(channel, outcome, wait))
    if outcome["status"] != "sent":
        raise typer.Exit(1)


def _await(client: ApiClient, channel: str, notification_id: int, wait: float) -> dict[str, Any]:
    """Poll until the message is out, failed for good, or its first attempt failed."""
    path = f"/api/v1/channels/{channel}/tests/{notification_id}"
    deadline = time.monotonic() + wait
    while True:
        outcome: dict[str, Any] = client.call("GET", path)
        settled = outcome["status"] != "pending" or outcome["error"]
        if settled or time.monotonic() >= deadline:
            return outcome
        time.sleep(POLL_S)


def _sentence(channel: str, outcome: dict[str, Any], wait: float) -> str:
    status, error = outcome["status"], outcome["error"]
    if status == "sent":
        at = short_time(outcome["sent_at"])
        return f"delivered: the test message to {channel} was accepted ({at})"
    if status == "failed":
        return f"failed: {error}"
    if error:
        return (
            f"not delivered: attempt {outcome['attempts']} failed: {error}; "
            "the outbox keeps retrying it with backoff"
        )
    return (
        f"not sent within {wait:g} s: is an engine running? (`tocsin serve` runs one, "
        "unless --no-engine; else `tocsin engine`)"
    )


def where(channel: dict[str, Any]) -> str:
    """Where a channel's messages go, in a few words (from the masked settings)."""
    config = channel["config"]
    if channel["kind"] == "email":
        port = f":{config['port']}" if config.get("port") else ""
        return f"{', '.join(config['to'])} via {config['host']}{port} ({config['security']})"
    return str(config.get("url") or config.get("channel") or "")


def parse_settings(items: list[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail(f"--set {item!r}: write KEY=VALUE")
        value = _value(key.strip(), raw)
        key = key.strip()
        if key in settings:
            earlier = settings[key]
            settings[key] = [*(earlier if isinstance(earlier, list) else [earlier]), value]
        else:
            settings[key] = value
    return settings


def _value(key: str, raw: str) -> Any:
    if raw == "@-":
        return sys.stdin.read().rstrip("\n")
    if raw.startswith("@"):
        path = Path(raw[1:])
        if not path.is_file():
            fail(f"--set {key}: {path}: no such file")
        return path.read_text().rstrip("\n")
    if raw.startswith(("[", "{")):
        try:
            return json.loads(raw)
        except ValueError as exc:
            fail(f"--set {key}: not valid JSON: {exc}")
    return raw


def _file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        fail(f"{path}: not valid YAML or JSON: {exc}")
    if not isinstance(data, dict):
        fail(f"{path}: must hold a mapping of settings")
    return data


def _show(channel: dict[str, Any], as_json: bool, *, verb: str | None) -> None:
    if as_json:
        emit_json(channel)
        return
    if verb:
        typer.echo(f"{verb} channel {channel['name']} ({channel['kind']}): {where(channel)}")
        return
    typer.echo(f"{channel['name']} ({channel['kind']})")
    for key, value in channel["config"].items():
        if value is not None:
            typer.echo(f"  {key}: {value if isinstance(value, str) else json.dumps(value)}")
    if channel["audiences"]:
        typer.echo(f"  reached by the audiences: {', '.join(channel['audiences'])}")
    if channel["last_status"]:
        last = f"{channel['last_status']} {short_time(channel['last_at'])}"
        typer.echo(f"  last message: {last} {channel['last_error'] or ''}".rstrip())
