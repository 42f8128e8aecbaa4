"""Admin commands that work on the database directly: serve, db, token, verify, login."""

from __future__ import annotations

import logging
import ssl
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import IntegrityError

from tocsin import migrate, vault
from tocsin.auth import service as auth_service
from tocsin.cli.client import fail, save_login
from tocsin.cli.output import emit_json, table
from tocsin.config import Settings, load_settings
from tocsin.db import Database
from tocsin.engine.loop import Engine
from tocsin.engine.steps import default_steps
from tocsin.errors import TocsinError
from tocsin.evidence import preflight
from tocsin.flows import drills as drill_flows
from tocsin.notify import acklinks, named_channels
from tocsin.policy.loader import LoadedPolicy, PolicyError, load_policy

db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (admin, responder, viewer).", no_args_is_help=True)

BOOTSTRAP_TOKEN_NAME = "local-admin"


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(token_app, name="token")
    app.command()(serve)
    app.command("engine")(run_engine)
    app.command()(login)


def _database(settings: Settings, *, long_running: bool = False) -> Database:
    """Long-running commands (serve, engine) checkpoint SQLite's log in the background
    rather than in whichever request commits when it fills."""
    return Database(settings.database_url, background_checkpoints=long_running)


def _policy(settings: Settings) -> LoadedPolicy:
    try:
        return load_policy(settings.policy)
    except PolicyError as exc:
        fail(f"policy {settings.policy!r} is not valid:\n{exc}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest."""
    settings = load_settings()
    migrate.upgrade(settings.database_url)
    typer.echo(f"database at {migrate.head_revision(settings.database_url)}")


def ensure_schema(url: str) -> None:
    """Upgrade an empty database; refuse to run on one that needs a migration."""
    current = migrate.current_revision(url)
    if current is None:
        migrate.upgrade(url)
    elif current != migrate.head_revision(url):
        fail(f"the database is at revision {current}; run `tocsin db upgrade` first")


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin, responder or viewer")],
    name: Annotated[str, typer.Option(help="Who the token is for (shown as the actor).")],
) -> None:
    """Create an API token. It is printed once, alone on the last line."""
    settings = load_settings()
    ensure_schema(settings.database_url)
    database = _database(settings)
    with database.write_session() as session:
        token = auth_service.create_token(session, name=name, role=role)
    typer.echo(token)


@token_app.command("list")
def token_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List tokens (never the secrets)."""
    database = _database(load_settings())
    with database.read_session() as session:
        rows = [
            {
                "id": t.id,
                "name": t.name,
                "role": t.role,
                "prefix": t.prefix,
                "created_at": t.created_at.isoformat(),
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            }
            for t in auth_service.list_tokens(session)
        ]
    if as_json:
        emit_json(rows)
        return
    table(
        "Tokens",
        ["id", "name", "role", "prefix", "created", "revoked"],
        [tuple(r.values()) for r in rows],
    )


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Option(help="Revoke every token with this name.")],
) -> None:
    """Revoke tokens by name."""
    database = _database(load_settings())
    with database.write_session() as session:
        count = auth_service.revoke_named(session, name=name)
    typer.echo(f"revoked {count} token(s) named {name}")


def login(
    url: Annotated[str, typer.Option(help="The Tocsin server, e.g. http://127.0.0.1:8080")],
    token: Annotated[str, typer.Option(help="An API token from `tocsin token create`.")],
) -> None:
    """Save the server URL and token for the CLI."""
    path = save_login(url, token)
    typer.echo(f"saved to {path}")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    engine: Annotated[
        bool, typer.Option(help="Run the clock/notification engine in-process.")
    ] = True,
    bootstrap_admin: Annotated[
        bool,
        typer.Option(
            help=f"Create a fresh admin token named {BOOTSTRAP_TOKEN_NAME!r}, print it and save it "
            "for the CLI (previous one revoked)."
        ),
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Serve HTTPS with this PEM certificate (and its chain); needs --tls-key.",
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="The certificate's PEM private key, unencrypted; needs --tls-cert.",
        ),
    ] = None,
) -> None:
    """Serve the API, web console and status page (and run the engine unless --no-engine)."""
    import uvicorn

    from tocsin.web.app import create_app
    from tocsin.web.deps import Runtime

    https = _check_tls(tls_cert, tls_key)
    url = f"{'https' if https else 'http'}://{host}:{port}"
    settings = load_settings(default_public_url=url)
    loaded = _policy(settings)
    ensure_schema(settings.database_url)
    database = _database(settings, long_running=True)
    _seal_secrets(database)
    _preflight(engine=engine)
    if bootstrap_admin:
        _bootstrap(database, url)
    runtime = Runtime(settings=settings, database=database, policy=loaded)
    worker = _engine(database, settings, loaded) if engine else None
    if worker is not None:
        worker.start_in_thread()
    mode = "with engine" if worker else "without engine (run `tocsin engine` elsewhere)"
    typer.echo(
        f"Tocsin serving on {url}  (policy {loaded.policy.name}, {database.dialect}, {mode})"
    )
    sys.stdout.flush()
    try:
        uvicorn.run(
            create_app(runtime),
            host=host,
            port=port,
            log_level="info",
            ssl_certfile=tls_cert,
            ssl_keyfile=tls_key,
        )
    finally:
        if worker is not None:
            worker.stop()


def _check_tls(cert: Path | None, key: Path | None) -> bool:
    """Whether to serve HTTPS. The files are checked before anything starts: uvicorn would
    report a bad one only in a traceback from deep inside its startup."""
    if cert is None and key is None:
        return False
    if cert is None or key is None:
        given, missing = ("--tls-cert", "--tls-key") if key is None else ("--tls-key", "--tls-cert")
        fail(f"{given} needs {missing} as well: give both to serve HTTPS, or neither")
    _readable("--tls-cert", cert)
    _readable("--tls-key", key)
    _check_pair(cert, key)
    return True


def _readable(option: str, path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        fail(f"{option} {path}: {exc.strerror or exc}")


def _check_pair(cert: Path, key: Path) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_verify_locations(cafile=cert)
    except ssl.SSLError as exc:
        fail(f"--tls-cert {cert} holds no PEM certificate ({exc.reason or exc})")
    try:
        # An empty passphrase: an encrypted key fails here rather than prompting on the
        # terminal of a server that may have none.
        context.load_cert_chain(cert, key, password="")
    except ssl.SSLError as exc:
        fail(
            f"--tls-key {key} is not the unencrypted PEM private key of the certificate in "
            f"--tls-cert {cert} ({exc.reason or exc})"
        )


def _engine(database: Database, settings: Settings, loaded: LoadedPolicy) -> Engine:
    _sync_drills(database, loaded)
    steps = default_steps(loaded, settings.public_url, settings.admin_emails)
    return Engine(database, steps, max_sleep=settings.engine_interval_seconds)


def _sync_drills(database: Database, loaded: LoadedPolicy) -> None:
    """The drill programme and the runbook's review as clocks (idempotent). Two engines
    starting at once may race: the loser finds the winner's clocks and carries on."""
    try:
        with database.write_session() as session:
            drill_flows.sync(session, loaded)
    except IntegrityError:
        logging.getLogger("tocsin.engine").info("drill clocks armed by another engine")


def run_engine() -> None:
    """Run only the engine (clocks, escalations); scale out beside `serve --no-engine`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = load_settings()
    ensure_schema(settings.database_url)
    database = _database(settings, long_running=True)
    _seal_secrets(database)
    _preflight(engine=True)
    worker = _engine(database, settings, _policy(settings))
    typer.echo(f"Tocsin engine running on {worker.database.dialect}; Ctrl-C stops it")
    sys.stdout.flush()
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        worker.stop()


def _preflight(*, engine: bool) -> None:
    """Refuse to start with an evidence store or (for the engine) an S3 witness that cannot
    be used: the message names the setting and the bucket."""
    try:
        preflight.check_store()
        if engine:
            preflight.check_witnesses()
    except TocsinError as exc:
        fail(exc.message)


def _seal_secrets(database: Database) -> None:
    """Refuse to start without the key that seals stored secrets (a page at 3 a.m. would
    otherwise be the first to find out), and seal any stored before sealing existed."""
    try:
        with database.write_session() as session:
            acklinks.reseal_secrets(session)
            named_channels.reseal(session)
            acklinks.signing_key(session)
    except vault.SealingError as exc:
        fail(exc.message)


def _bootstrap(database: Database, url: str) -> None:
    with database.write_session() as session:
        auth_service.revoke_named(session, name=BOOTSTRAP_TOKEN_NAME)
        token = auth_service.create_token(session, name=BOOTSTRAP_TOKEN_NAME, role="admin")
    path = save_login(url, token)
    typer.echo(f"\n  Tocsin URL:   {url}\n  API docs:     {url}/docs")
    typer.echo(f"  Admin token:  {token}\n  (saved for the tocsin CLI in {path})\n")
