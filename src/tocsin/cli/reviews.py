"""`tocsin review ...` and `tocsin actions ...`: post-incident reviews and their action items,
through the API (TOCSIN_URL, TOCSIN_TOKEN)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import click
import typer

from tocsin.cli.client import ApiClient, fail
from tocsin.cli.output import command_group, console, emit_json, short_time, table

review_app = command_group(
    help="Post-incident reviews: read, edit (Markdown), move along draft → in_review → "
    "reviewed → closed, and export as Markdown, HTML or PDF.",
    no_args_is_help=True,
)
actions_app = command_group(
    help="Action items from reviews. With no command: list them (`--overdue` for the late ones).",
    invoke_without_command=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON.")]
IncidentId = Annotated[str, typer.Argument(help="The incident's id, e.g. INC-2026-11-20-01.")]


def _review_path(incident_id: str) -> str:
    return f"/api/v1/incidents/{incident_id}/review"


@review_app.command("show")
def show(incident_id: IncidentId, as_json: JsonFlag = False) -> None:
    """The review: its status, owner, due date, body and action items."""
    review = ApiClient.from_environment().call("GET", _review_path(incident_id))
    if as_json:
        emit_json(review)
        return
    _print_review(review)


def _print_review(review: dict[str, Any]) -> None:
    due = short_time(review["due_at"]) if review["due_at"] else "no due date"
    late = " (OVERDUE)" if review["overdue"] else ""
    console.print(
        f"[bold]Review of {review['incident_id']}[/bold] · {review['status']} · "
        f"owner {review['owner'] or 'unassigned'} · due {due}{late} · "
        f"version {review['version']}",
        soft_wrap=True,
    )
    moves = ", ".join(review["allowed_moves"]) or "none (closed)"
    console.print(f"Next: {moves}\n", soft_wrap=True)
    console.print(review["body"], markup=False, soft_wrap=True)
    _print_items(review["action_items"], title="Action items")


@review_app.command("list")
def list_reviews(
    status: Annotated[
        str | None, typer.Option(help="Only this status: draft, in_review, reviewed, closed.")
    ] = None,
    overdue: Annotated[bool, typer.Option(help="Only reviews past due, not yet held.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Reviews, soonest due first."""
    params: dict[str, str] = {"overdue": str(overdue).lower()}
    if status:
        params["status"] = status
    found = ApiClient.from_environment().call("GET", "/api/v1/reviews", params=params)
    if as_json:
        emit_json(found)
        return
    table(
        "Reviews",
        ["incident", "kind", "status", "owner", "due", "overdue", "actions"],
        [
            (
                r["incident_id"],
                r["kind"],
                r["status"],
                r["owner"] or "",
                short_time(r["due_at"]) if r["due_at"] else "",
                "yes" if r["overdue"] else "",
                len(r["action_items"]),
            )
            for r in found["items"]
        ],
    )


@review_app.command("edit")
def edit(
    incident_id: IncidentId,
    file: Annotated[
        Path | None,
        typer.Option(help="Replace the body with this Markdown file ('-' reads stdin)."),
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Give the review to this person.")] = None,
) -> None:
    """Edit the review's Markdown: from --file, or in $EDITOR. Refused if someone else
    changed it since you opened it."""
    client = ApiClient.from_environment()
    review = client.call("GET", _review_path(incident_id))
    body: str | None
    if file is not None:
        body = typer.get_text_stream("stdin").read() if str(file) == "-" else file.read_text()
    elif owner is None:
        body = click.edit(review["body"], extension=".md")
        if body is None:
            fail("no change: the editor was closed without saving", code=0)
    else:
        body = None
    patch = {"body": body, "owner": owner, "version": review["version"]}
    saved = client.call("PATCH", _review_path(incident_id), json=patch)
    typer.echo(f"saved review of {incident_id} (version {saved['version']})")


@review_app.command("status")
def status(
    incident_id: IncidentId,
    to: Annotated[str, typer.Argument(help="draft, in_review, reviewed or closed.")],
) -> None:
    """Move the review: draft → in_review → reviewed → closed (reviewed meets its clock)."""
    saved = ApiClient.from_environment().call(
        "PATCH", _review_path(incident_id), json={"status": to}
    )
    typer.echo(f"review of {incident_id} is {saved['status']}")


@review_app.command("export")
def export(
    incident_id: IncidentId,
    format: Annotated[str, typer.Option("--format", "-f", help="md, html or pdf.")] = "md",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout for md).")
    ] = None,
) -> None:
    """The review as Markdown, HTML or PDF, with its action item list."""
    if format not in ("md", "html", "pdf"):
        fail(f"unknown format {format!r}; allowed: md, html, pdf", code=2)
    response = ApiClient.from_environment().raw(
        "GET", f"{_review_path(incident_id)}/export", params={"format": format}
    )
    if output is None and format == "pdf":
        output = Path(f"review-{incident_id}.pdf")
    if output is None:
        typer.echo(response.text, nl=False)
        return
    output.write_bytes(response.content)
    typer.echo(f"wrote {output}")


# -- action items -------------------------------------------------------------------------------


@actions_app.callback()
def actions(
    ctx: typer.Context,
    overdue: Annotated[bool, typer.Option(help="Only the late ones: past due, not done.")] = False,
    status: Annotated[
        str | None, typer.Option(help="Only this status: open, in_progress, done, wont_do.")
    ] = None,
    incident: Annotated[str | None, typer.Option(help="Only this incident's.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List action items, soonest due first."""
    if ctx.invoked_subcommand is not None:
        return
    params = {"overdue": str(overdue).lower()}
    params |= {k: v for k, v in (("status", status), ("incident_id", incident)) if v}
    found = ApiClient.from_environment().call("GET", "/api/v1/action-items", params=params)
    if as_json:
        emit_json(found)
        return
    _print_items(found["items"], title="Overdue action items" if overdue else "Action items")


def _print_items(items: list[dict[str, Any]], *, title: str) -> None:
    table(
        title,
        ["#", "incident", "action", "owner", "class", "due", "status", "tracker"],
        [
            (
                i["id"],
                i["incident_id"],
                i["title"],
                i["owner"] or "",
                i["class"] or "",
                short_time(i["due_at"]) + (" OVERDUE" if i["overdue"] else ""),
                i["status"],
                i["tracker_url"] or "",
            )
            for i in items
        ],
    )


Owner = Annotated[str | None, typer.Option(help="Who does it.")]
Due = Annotated[
    str | None, typer.Option(help="Due date (ISO 8601 with zone), instead of the class's.")
]
Tracker = Annotated[str | None, typer.Option(help="Its ticket in your tracker (http(s) URL).")]


@actions_app.command("add")
def add(
    incident_id: IncidentId,
    title: Annotated[str, typer.Option(help="What is to be done.")],
    item_class: Annotated[
        str | None,
        typer.Option("--class", help="The policy's class (immediate, short_term, long_term)."),
    ] = None,
    owner: Owner = None,
    due: Due = None,
    tracker: Tracker = None,
    as_json: JsonFlag = False,
) -> None:
    """Add an action item to the incident's review; its due date follows its class."""
    body = {
        "title": title,
        "class": item_class,
        "owner": owner,
        "due_at": due,
        "tracker_url": tracker,
    }
    item = ApiClient.from_environment().call(
        "POST", f"{_review_path(incident_id)}/action-items", json=body
    )
    if as_json:
        emit_json(item)
        return
    typer.echo(f"action item #{item['id']} due {short_time(item['due_at'])}")


@actions_app.command("update")
def update(
    item_id: Annotated[int, typer.Argument(help="The action item's number.")],
    status: Annotated[str | None, typer.Option(help="open, in_progress, done or wont_do.")] = None,
    title: Annotated[str | None, typer.Option(help="A new title.")] = None,
    owner: Owner = None,
    due: Due = None,
    tracker: Tracker = None,
    as_json: JsonFlag = False,
) -> None:
    """Change an action item. Done meets its clock; wont_do cancels it."""
    body = {"status": status, "title": title, "owner": owner, "due_at": due, "tracker_url": tracker}
    item = ApiClient.from_environment().call(
        "PATCH",
        f"/api/v1/action-items/{item_id}",
        json={k: v for k, v in body.items() if v is not None},
    )
    if as_json:
        emit_json(item)
        return
    typer.echo(f"action item #{item['id']} is {item['status']}, due {short_time(item['due_at'])}")


@actions_app.command("close")
def close(
    item_id: Annotated[int, typer.Argument(help="The action item's number.")],
    wont_do: Annotated[bool, typer.Option("--wont-do", help="Close it as won't do.")] = False,
) -> None:
    """Close an action item as done (or --wont-do)."""
    to = "wont_do" if wont_do else "done"
    item = ApiClient.from_environment().call(
        "PATCH", f"/api/v1/action-items/{item_id}", json={"status": to}
    )
    typer.echo(f"action item #{item['id']} is {item['status']}")
