"""`tocsin secrets ...`: the key that seals stored secrets, and rotating it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tocsin.cli.output import command_group

if TYPE_CHECKING:
    pass

# Heavy imports (SQLAlchemy, alembic, argon2, the engine) happen inside the commands that
# need them, so `tocsin --help` and the commands that only talk HTTP start quickly.
from tocsin.cli.client import fail
from tocsin.errors import TocsinError

app = command_group(
    help="The key that seals secrets stored in the database (TOCSIN_SECRET_KEY).",
    no_args_is_help=True,
)


@app.command("new-key")
def new_key() -> None:
    """Print a new key for TOCSIN_SECRET_KEY (keep it in your secret manager, not the database)."""
    from tocsin import vault

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
    from tocsin import vault
    from tocsin.cli.database import existing_database
    from tocsin.notify import acklinks, named_channels

    database = existing_database()
    try:
        with database.write_session() as session:
            changed = acklinks.reseal_secrets(session, rotate=rotate)
            changed += named_channels.reseal(session, rotate=rotate)
    except vault.SealingError as exc:
        fail(exc.message)
    typer.echo(f"{changed} secret(s) sealed; {vault.describe(database.url)}")


@app.command("switch")
def switch_secret(
    name: Annotated[str, typer.Argument(help="A containment switch of the policy in force.")],
    generate: Annotated[
        bool, typer.Option(help="Make a random secret and print it once, for the receiver.")
    ] = False,
) -> None:
    """Set the HMAC-SHA256 secret a switch's webhook is signed with, sealed in the database:
    read from standard input, or made with --generate. Works on the database directly."""
    from tocsin import vault
    from tocsin.config import load_settings
    from tocsin.db import Database
    from tocsin.evidence import switches
    from tocsin.policy.loader import load_policy

    settings = load_settings()
    policy = load_policy(settings.policy).policy
    if policy.switch(name) is None:
        fail(f"no containment switch {name!r}; this policy's: {', '.join(policy.switch_ids())}")
    value = None if generate else sys.stdin.readline().strip()
    database = Database(settings.database_url)
    try:
        with database.write_session() as session:
            secret = switches.set_secret(session, switch=name, value=value)
    except vault.SealingError as exc:
        fail(exc.message)
    except TocsinError as exc:
        fail(exc.message)
    if generate:
        typer.echo(secret)
    typer.echo(f"signing secret for {name} sealed in the database", err=True)
