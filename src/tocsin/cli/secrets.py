"""`tocsin secrets ...`: the key that seals stored secrets, and rotating it."""

from __future__ import annotations

from typing import Annotated

import typer

from tocsin import vault
from tocsin.cli.client import fail
from tocsin.config import load_settings
from tocsin.db import Database
from tocsin.notify import acklinks

app = typer.Typer(
    help="The key that seals secrets stored in the database (TOCSIN_SECRET_KEY).",
    no_args_is_help=True,
)


@app.command("new-key")
def new_key() -> None:
    """Print a new key for TOCSIN_SECRET_KEY (keep it in your secret manager, not the database)."""
    typer.echo(vault.new_key())


@app.command("reseal")
def reseal(
    rotate: Annotated[
        bool,
        typer.Option(help="Re-seal every secret under the first key, so older keys can go."),
    ] = False,
) -> None:
    """Seal secrets stored in the clear (serve and engine also do it at start); with --rotate,
    re-seal all of them under the first of TOCSIN_SECRET_KEY's keys. Works on the database
    directly."""
    database = Database(load_settings().database_url)
    try:
        with database.write_session() as session:
            changed = acklinks.reseal_secrets(session, rotate=rotate)
    except vault.SealingError as exc:
        fail(exc.message)
    typer.echo(f"{changed} secret(s) sealed; {vault.describe(database.url)}")
