"""The `tocsin` command."""

from __future__ import annotations

import typer

from tocsin.cli import admin, incident, policy

app = typer.Typer(
    name="tocsin",
    help="Tocsin: self-hosted incident response that runs your runbook.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(incident.app, name="incident")
app.add_typer(policy.app, name="policy")
admin.register(app)


def main() -> None:
    app()
