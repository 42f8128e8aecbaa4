"""`tocsin import ...`: bring people, schedules, escalations and integrations over from
Opsgenie, PagerDuty or Grafana OnCall, and check that Tocsin pages whom the source would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn

if TYPE_CHECKING:
    from tocsin.db import Database
    from tocsin.importers import plan, verify
    from tocsin.importers.http import VendorApi
    from tocsin.importers.model import Imported
    from tocsin.importers.vendors import Connection, Vendor

# Heavy imports (SQLAlchemy, alembic, argon2, the engine) happen inside the commands that
# need them, so `tocsin --help` and the commands that only talk HTTP start quickly.
from tocsin.cli.client import fail
from tocsin.cli.output import command_group, emit_json

DIRECT = (
    "Works on the database directly (TOCSIN_DATABASE_URL), as `tocsin token` does: run it "
    "where the database is; no server needs to be running."
)
app = command_group(
    help="Import on-call from Opsgenie, PagerDuty or Grafana OnCall: --plan, --apply or "
    f"--out FILE, then `tocsin import verify`. {DIRECT}",
    no_args_is_help=True,
)
stderr = Console(stderr=True)

BaseUrl = Annotated[
    str | None, typer.Option(help="Another API host (a proxy, a test stand-in, a region).")
]
PlanFlag = Annotated[bool, typer.Option("--plan", help="Show what would change; change nothing.")]
ApplyFlag = Annotated[bool, typer.Option("--apply", help="Make the changes.")]
GrafanaUrl = Annotated[
    str | None,
    typer.Option(help="Grafana OnCall: your Grafana stack's URL, for a service account token."),
]
OutFile = Annotated[
    Path | None,
    typer.Option("--out", help="Write the on-call file (with what is there now) instead."),
]


def _database() -> Database:
    from tocsin.cli.database import ensure_schema
    from tocsin.config import load_settings
    from tocsin.db import Database

    settings = load_settings()
    ensure_schema(settings.database_url)
    return Database(settings.database_url)


@contextmanager
def _progress(title: str) -> Iterator[Progress]:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} requests"),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        yield bar


@contextmanager
def _connected(vendor: Vendor, connection: Connection) -> Iterator[VendorApi]:
    from tocsin.importers.http import SourceError

    with _progress(vendor.title) as bar:
        task: TaskID = bar.add_task(f"Reading {vendor.title}", total=None)

        def step(what: str) -> None:
            bar.update(task, advance=1, description=f"{vendor.title}: {what}")

        try:
            client = vendor.connect(connection, step)
        except SourceError as error:
            fail(f"{vendor.title}: {error}")
        try:
            yield client
        except SourceError as error:
            fail(f"{vendor.title}: {error}")
        finally:
            client.close()


def _load(vendor: Vendor, connection: Connection, database: Database) -> Imported:
    from tocsin.oncall.export import current_config
    from tocsin.timesource import now

    with database.read_session() as session:
        current = current_config(session)
    with _connected(vendor, connection) as client:
        return vendor.load(client, current, now())


def _mode(plan_only: bool, apply: bool, out: Path | None) -> str:
    chosen = [name for name, on in (("plan", plan_only), ("apply", apply), ("out", out)) if on]
    if len(chosen) != 1:
        fail("choose one of --plan, --apply or --out FILE")
    return chosen[0]


def _import(
    name: str, connection: Connection, plan_only: bool, apply: bool, out: Path | None
) -> None:
    from tocsin.importers import plan
    from tocsin.importers.vendors import VENDORS

    mode = _mode(plan_only, apply, out)
    database = _database()
    imported = _load(VENDORS[name], connection, database)
    outcome = plan.run(database, imported, apply=mode == "apply")
    if out is not None:
        out.write_text(plan.as_yaml(outcome.config))
        typer.echo(f"wrote {out}: apply it with `tocsin oncall apply {out}`")
        _integrations_note(outcome)
    else:
        _changes(outcome.changes, would=mode == "plan")
    _senders(outcome)
    _left_out(outcome)


PRESENT = {"created": "create", "updated": "update", "removed": "remove"}


def _would(change: str) -> str:
    verb, _, rest = change.partition(" ")
    return f"would {PRESENT.get(verb, verb)} {rest}"


def _changes(changes: list[str], *, would: bool) -> None:
    for change in changes:
        typer.echo(_would(change) if would else change)
    if not changes:
        typer.echo("no changes: Tocsin already matches the source")


def _integrations_note(outcome: plan.Outcome) -> None:
    created = [c for c in outcome.changes if c.startswith("created integration")]
    if created:
        typer.echo(
            "integrations are not part of the on-call file; after applying it, run this "
            "import with --apply to create them:"
        )
        for change in created:
            typer.echo("  " + change.removeprefix("created "))


def _senders(outcome: plan.Outcome) -> None:
    """Where each sender whose key is in its URL must post from now on (same key)."""
    from tocsin.alerts.kinds import KINDS
    from tocsin.config import load_settings

    moving = [i for i in outcome.integrations if i.was]
    if not moving:
        return
    base = load_settings().public_url
    typer.echo(
        "senders: the token is part of each Grafana OnCall URL, so every sender changes its "
        f"whole URL (the token stays the same; Tocsin's address is TOCSIN_PUBLIC_URL, {base}):"
    )
    for integration in moving:
        url = next(iter(KINDS[integration.kind].urls_for(integration.key, base).values()))
        typer.echo(f"  {integration.name} ({integration.kind}): {integration.was} -> {url}")


def _left_out(outcome: plan.Outcome) -> None:
    if not outcome.left_out:
        typer.echo("left out: nothing")
        return
    typer.echo(f"left out ({len(outcome.left_out)}):")
    for item in outcome.left_out:
        typer.echo(f"  - {item.what}\n      why: {item.why}\n      instead: {item.instead}")


@app.command("opsgenie")
def opsgenie(
    api_key: Annotated[
        str, typer.Option(envvar="OPSGENIE_API_KEY", help="An API key with read access.")
    ],
    region: Annotated[str, typer.Option(help="us or eu.")] = "us",
    base_url: BaseUrl = None,
    plan_only: PlanFlag = False,
    apply: ApplyFlag = False,
    out: OutFile = None,
) -> None:
    """Import from Opsgenie (REST API v2). Integrations keep their API keys."""
    from tocsin.importers.vendors import Connection

    if region not in ("us", "eu"):
        fail("--region is us or eu")
    _import("opsgenie", Connection(api_key, region, base_url), plan_only, apply, out)


@app.command("pagerduty")
def pagerduty(
    token: Annotated[
        str, typer.Option(envvar="PAGERDUTY_TOKEN", help="A REST API v2 token (read-only).")
    ],
    base_url: BaseUrl = None,
    plan_only: PlanFlag = False,
    apply: ApplyFlag = False,
    out: OutFile = None,
) -> None:
    """Import from PagerDuty (REST API v2). Events API v2 integrations keep their keys."""
    from tocsin.importers.vendors import Connection

    _import("pagerduty", Connection(token, None, base_url), plan_only, apply, out)


@app.command("grafana-oncall")
def grafana_oncall(
    token: Annotated[
        str,
        typer.Option(
            envvar="GRAFANA_ONCALL_TOKEN",
            help="An OnCall API token (OnCall → Settings), or a service account token with "
            "--grafana-url.",
        ),
    ],
    base_url: Annotated[
        str,
        typer.Option(
            help="The OnCall API URL from OnCall → Settings "
            "(e.g. https://oncall-prod-us-central-0.grafana.net/oncall)."
        ),
    ],
    grafana_url: GrafanaUrl = None,
    plan_only: PlanFlag = False,
    apply: ApplyFlag = False,
    out: OutFile = None,
) -> None:
    """Import from Grafana OnCall (its public API). Grafana Alerting and Alertmanager
    integrations keep their tokens; their senders' URLs change."""
    from tocsin.importers.vendors import Connection

    _import("grafana-oncall", Connection(token, None, base_url, grafana_url), plan_only, apply, out)


@app.command("verify")
def verify_command(
    source: Annotated[str, typer.Argument(help="opsgenie, pagerduty or grafana-oncall.")],
    credential: Annotated[
        str,
        typer.Option(
            "--api-key",
            "--token",
            envvar="TOCSIN_IMPORT_CREDENTIAL",
            help="The source's API key or token.",
        ),
    ],
    region: Annotated[str | None, typer.Option(help="Opsgenie: us or eu.")] = None,
    base_url: BaseUrl = None,
    grafana_url: GrafanaUrl = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start (ISO 8601; default: now).")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=60)] = 14,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Compare who is on call at each hour of the next DAYS days, by SOURCE and by Tocsin;
    list every hour that differs (exit 1 if any does)."""
    from tocsin.importers import verify
    from tocsin.importers.vendors import VENDORS, Connection
    from tocsin.timesource import now

    vendor = VENDORS.get(source) or fail(f"unknown source {source!r}: {', '.join(VENDORS)}")
    start = _instant(from_) if from_ else now()
    connection = Connection(credential, region, base_url, grafana_url)
    with _connected(vendor, connection) as client, _database().read_session() as session:
        parity = verify.compare(
            session,
            vendor.name,
            lambda ident, a, b: vendor.on_call(client, ident, a, b),
            start,
            days,
        )
    _report(parity, as_json=as_json)


def _instant(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--from {text!r} is not a time: give ISO 8601, e.g. 2026-11-22T09:12:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _report(parity: verify.Parity, *, as_json: bool = False) -> None:
    if as_json:
        emit_json(
            {
                "schedules": parity.schedules,
                "hours": parity.hours,
                "differences": [str(d) for d in parity.differences],
                "matches": bool(parity.schedules) and not parity.differences,
            }
        )
        if not parity.schedules or parity.differences:
            raise typer.Exit(1)
        return
    for difference in parity.differences:
        typer.echo(str(difference))
    typer.echo(
        f"{len(parity.schedules)} schedules, {parity.hours} hours each: "
        f"{len(parity.differences)} differ"
    )
    if not parity.schedules:
        fail("no imported schedules to compare: run the import first")
    if parity.differences:
        raise typer.Exit(1)
