"""`tocsin incident evidence ...` and `tocsin incident switch ...`: the evidence locker and
containment switches, through the API."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path
from typing import Annotated, Any

import typer

from tocsin.cli.client import ApiClient, fail
from tocsin.cli.output import command_group, emit_json, short_time, table

evidence_app = command_group(
    help="Attach evidence to an incident, list it, fetch it, hand it over, hold it.",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]
KINDS = "file, log_export or snapshot"


def _client() -> ApiClient:
    return ApiClient.from_environment()


def _base(incident_id: str) -> str:
    return f"/api/v1/incidents/{incident_id}/evidence"


def _show_item(item: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(item)
        return
    typer.echo(
        f"evidence #{item['id']} on {item['incident_id']}: {item['kind']} {item['title']!r}, "
        f"sha256 {item['sha256']}, {item['size']} bytes, kept until "
        f"{short_time(item['retain_until']) if item['retain_until'] else 'deleted by hand'}"
    )


@evidence_app.command("add")
def add(
    incident_id: str,
    path: Annotated[Path | None, typer.Argument(help="The file to attach.")] = None,
    link: Annotated[str | None, typer.Option(help="Attach a URL instead of a file.")] = None,
    title: Annotated[str | None, typer.Option(help="What it is (default: the file name).")] = None,
    kind: Annotated[str, typer.Option(help=f"For a file: {KINDS}.")] = "file",
    retention_class: Annotated[
        str | None, typer.Option("--class", help="A retention class of the policy.")
    ] = None,
    note: Annotated[str, typer.Option(help="Where it came from, how it was taken.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Attach a file (log export, snapshot) or a link; stored with its SHA-256 on the chain."""
    if (path is None) == (link is None):
        fail("give a FILE or --link URL (one of them)")
    fields: dict[str, Any] = {"note": note}
    if retention_class:
        fields["retention_class"] = retention_class
    if link is not None:
        body = {"kind": "link", "url": link, "title": title or link, **fields}
        _show_item(_client().call("POST", _base(incident_id), json=body), as_json)
        return
    assert path is not None
    if not path.is_file():
        fail(f"{path} is not a readable file")
    media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    form = {"kind": kind, "title": title or path.name, **fields}
    with path.open("rb") as handle:
        files = {"file": (path.name, handle, media)}
        added = _client().call("POST", _base(incident_id), data=form, files=files)
    local = hashlib.sha256(path.read_bytes()).hexdigest()
    if added["sha256"] != local:
        fail(f"Tocsin stored {added['sha256']}, but {path} hashes to {local}")
    _show_item(added, as_json)


@evidence_app.command("list")
def list_(incident_id: str, as_json: JsonFlag = False) -> None:
    """The incident's evidence, and its legal hold if one is in place."""
    found = _client().call("GET", _base(incident_id))
    if as_json:
        emit_json(found)
        return
    rows = [
        (
            i["id"],
            i["kind"],
            i["title"],
            i["sha256"][:16],
            i["size"],
            i["added_by"],
            short_time(i["added_at"]),
            "purged" if i["purged_at"] else (i["retention_class"] or "-"),
        )
        for i in found["items"]
    ]
    table("Evidence", ["#", "kind", "title", "sha256", "bytes", "by", "added", "retention"], rows)
    hold = found["legal_hold"]
    if hold:
        typer.echo(f"LEGAL HOLD since {short_time(hold['placed_at'])}: {hold['reason']}")


@evidence_app.command("get")
def get(
    incident_id: str,
    evidence_id: int,
    out: Annotated[
        Path | None, typer.Option(help="Write the content here (recorded as viewed).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show one item and its chain of custody; with --out, download it and check its hash."""
    client = _client()
    if out is not None:
        response = client.raw("GET", f"{_base(incident_id)}/{evidence_id}/content")
        out.write_bytes(response.content)
        digest = hashlib.sha256(response.content).hexdigest()
        if digest != response.headers.get("x-content-sha256"):
            fail(f"{out} hashes to {digest}, not to what Tocsin holds")
    detail = client.call("GET", f"{_base(incident_id)}/{evidence_id}")
    if as_json:
        emit_json(detail)
        return
    _show_item(detail, False)
    if out is not None:
        typer.echo(f"written to {out}; its SHA-256 matches")
    rows = [
        (
            short_time(e["at"]),
            e["kind"].removeprefix("evidence_"),
            e["actor"],
            e["data"].get("to") or e["data"].get("reason") or "",
        )
        for e in detail["custody"]
    ]
    table("Custody", ["when", "step", "who", "to / why"], rows)


@evidence_app.command("handover")
def handover(
    incident_id: str,
    evidence_id: int,
    to: Annotated[str, typer.Option(help="Who received it (name, organisation).")],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Record that the evidence was handed over, to whom, on the chain of custody."""
    body = {"action": "handed_over", "to": to, "reason": reason}
    found = _client().call("POST", f"{_base(incident_id)}/{evidence_id}/custody", json=body)
    _show_item(found, as_json)


@evidence_app.command("hold")
def hold(
    incident_id: str,
    reason: Annotated[str, typer.Option(help="The matter, and who asked for the hold.")],
) -> None:
    """Place a legal hold: none of the incident's evidence is deleted until it is released."""
    found = _client().call(
        "POST", f"/api/v1/incidents/{incident_id}/legal-hold", json={"reason": reason}
    )
    typer.echo(f"legal hold on {incident_id} since {short_time(found['placed_at'])}")


@evidence_app.command("release")
def release(
    incident_id: str, reason: Annotated[str, typer.Option(help="Why it is released.")]
) -> None:
    """Release the legal hold; retention applies again."""
    _client().call(
        "POST", f"/api/v1/incidents/{incident_id}/legal-hold/release", json={"reason": reason}
    )
    typer.echo(f"legal hold on {incident_id} released")


def switch(
    incident_id: str,
    name: Annotated[str, typer.Argument(help="A containment switch of the policy.")],
    state: Annotated[str, typer.Argument(help="on or off")],
    reason: Annotated[str, typer.Option(help="Why (recorded on the chain).")],
    as_json: JsonFlag = False,
) -> None:
    """Flip a containment switch on or off. Releasing it starts the policy's watch."""
    found = _client().call(
        "POST",
        f"/api/v1/incidents/{incident_id}/switches/{name}",
        json={"state": state, "reason": reason},
    )
    if as_json:
        emit_json(found)
        return
    for item in found:
        since = f" since {short_time(item['on_since'])}" if item["on_since"] else ""
        typer.echo(f"{item['name']}: {item['state'].upper()}{since} ({item['reason'] or '-'})")


def register(app: typer.Typer) -> None:
    app.add_typer(evidence_app, name="evidence")
    app.command("switch")(switch)
