"""The `tocsin` command."""

from __future__ import annotations

import typer

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

app = typer.Typer(
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
