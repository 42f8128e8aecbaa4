"""The `tocsin` command."""

from __future__ import annotations

import os
from typing import Any

import typer
from typer.core import TyperGroup, TyperOption

from tocsin.cli import (
    admin,
    alerts,
    comms,
    drills,
    evidence,
    importers,
    incident,
    locker,
    notify,
    oncall,
    policy,
    report,
    reviews,
    secrets,
    status,
)
from tocsin.cli.output import command_group
from tocsin.errors import TocsinError

_display_type = TyperOption.display_type_rich


def _flag_shows_no_type(self: TyperOption, ctx: Any) -> str | None:
    """Help lists a value's type (<int>, <list[str]>) but nothing for a flag: typer's own
    help writes <bool> beside every --json and --dry-run, which takes no value."""
    return None if self.is_flag else _display_type(self, ctx)


TyperOption.display_type_rich = _flag_shows_no_type  # type: ignore[method-assign]


class ClearErrors(TyperGroup):
    """Every command's failure as one line on stderr and exit status 1, never a traceback
    (TOCSIN_DEBUG=1 lets the traceback through, for a bug report)."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context is not public
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BrokenPipeError:  # `tocsin ... | head`: the reader has what it wanted
            raise typer.Exit(1) from None
        except TocsinError as exc:
            where = f"{exc.field}: " if exc.field and exc.field not in exc.message else ""
            typer.echo(f"error: {where}{exc.message}", err=True)
            raise typer.Exit(1) from None
        except Exception as exc:
            if os.environ.get("TOCSIN_DEBUG"):
                raise
            typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
            typer.echo("(set TOCSIN_DEBUG=1 to see where it happened)", err=True)
            raise typer.Exit(1) from None


app = command_group(
    cls=ClearErrors,
    name="tocsin",
    help="Tocsin: self-hosted incident response that runs your runbook.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
incident.app.command("comms")(comms.comms)
locker.register(incident.app)
app.add_typer(incident.app, name="incident")
app.add_typer(policy.app, name="policy")
app.add_typer(alerts.integration_app, name="integration")
app.add_typer(alerts.alerts_app, name="alerts")
app.add_typer(alerts.silence_app, name="silence")
app.add_typer(oncall.app, name="oncall")
app.add_typer(importers.app, name="import")
app.add_typer(secrets.app, name="secrets")
app.add_typer(status.app, name="status")
app.add_typer(notify.app, name="notify")
app.command("report")(report.report_command)
app.add_typer(reviews.review_app, name="review")
app.add_typer(reviews.actions_app, name="actions")
app.add_typer(drills.app, name="drill")
admin.register(app)
evidence.register(app)


def main() -> None:
    app()
