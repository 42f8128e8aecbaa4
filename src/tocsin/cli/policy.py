"""`tocsin policy ...`: check, render and explain runbook policies (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from tocsin.cli.client import fail
from tocsin.cli.output import command_group, emit_json, table
from tocsin.policy.loader import LoadedPolicy, PolicyError, bundled_policy_names, load_policy
from tocsin.policy.render import explain_rows, render_markdown
from tocsin.policy.schema import UnknownSeverity
from tocsin.timesource import now

app = command_group(help="Check, render and explain runbook policies.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
PolicyRef = Annotated[
    str, typer.Argument(metavar="NAME|FILE", help="A bundled policy name or a YAML file path.")
]


def _load(ref: str) -> LoadedPolicy:
    try:
        return load_policy(ref)
    except PolicyError as exc:
        fail(f"{exc}")


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """List the bundled policies."""
    rows = []
    for name in bundled_policy_names():
        loaded = load_policy(name)
        rows.append((name, loaded.policy.title or "", ", ".join(loaded.policy.severity_ids())))
    if as_json:
        emit_json(
            [
                {"name": name, "title": title, "severities": severities.split(", ")}
                for name, title, severities in rows
            ]
        )
        return
    table("Bundled policies", ["name", "title", "severities (most severe first)"], rows)


@app.command()
def check(ref: PolicyRef, as_json: JsonFlag = False) -> None:
    """Validate a policy; every problem is printed with its file, line and field."""
    loaded = _load(ref)
    if as_json:
        emit_json(
            {
                "valid": True,
                "source": str(loaded.source),
                "name": loaded.policy.name,
                "sha256": loaded.hash,
                "severities": loaded.policy.severity_ids(),
            }
        )
        return
    typer.echo(
        f"OK: {loaded.source} ({loaded.policy.name}) is valid; sha256 {loaded.hash}; "
        f"severities {', '.join(loaded.policy.severity_ids())}"
    )


@app.command()
def render(ref: PolicyRef) -> None:
    """Render a policy as the readable Markdown runbook a team publishes."""
    typer.echo(render_markdown(_load(ref)))


def _parse_at(at: str | None) -> datetime:
    if at is None:
        return now()
    try:
        parsed = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--at {at!r} is not an ISO 8601 time such as 2026-11-20T16:00:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def explain(
    ref: PolicyRef,
    severity: Annotated[str, typer.Option(help="Severity id, e.g. P1.")],
    at: Annotated[
        str | None, typer.Option(help="Declaration time (ISO 8601); default now.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show every deadline an incident of this severity would get."""
    loaded = _load(ref)
    start = _parse_at(at)
    try:
        rows = explain_rows(loaded.policy, severity, start)
    except UnknownSeverity as exc:
        fail(str(exc))
    if as_json:
        emit_json(
            [
                {
                    "kind": r.kind,
                    "key": r.key,
                    "due_at": r.due_at.isoformat(),
                    "action": r.action,
                    "label": r.label,
                    "targets": list(r.targets),
                }
                for r in rows
            ]
        )
        return
    table(
        f"{loaded.policy.name} {severity} declared {start.isoformat()}",
        ["clock", "due (UTC)", "after", "action", "what"],
        [
            (
                r.key,
                r.due_at.strftime("%a %Y-%m-%d %H:%M"),
                _span(r.due_at - start),
                r.action,
                r.label,
            )
            for r in rows
        ],
    )


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m"
