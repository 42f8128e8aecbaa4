"""Admin commands that work on the database directly: serve, db, token, user, verify, login."""

from __future__ import annotations

import logging
import os
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tocsin.config import Settings
    from tocsin.db import Database
    from tocsin.engine.loop import Engine
    from tocsin.policy.loader import LoadedPolicy

# Heavy imports (SQLAlchemy, alembic, argon2, the engine) happen inside the commands that
# need them, so `tocsin --help` and the commands that only talk HTTP start quickly.

from tocsin.cli.client import fail, save_login, saved_token
from tocsin.cli.output import command_group, emit_json, table
from tocsin.errors import TocsinError

# Commands that open the database themselves (TOCSIN_DATABASE_URL) rather than the API.
ON_DATABASE = "Works on the database directly (TOCSIN_DATABASE_URL): run it where the server runs."
db_app = command_group(help=f"Database administration. {ON_DATABASE}", no_args_is_help=True)
token_app = command_group(
    help=f"API tokens for machines and the CLI (admin, responder, viewer). {ON_DATABASE}",
    no_args_is_help=True,
)
user_app = command_group(
    help=f"People who sign in to the console (admin, responder, viewer). {ON_DATABASE}",
    no_args_is_help=True,
)

BOOTSTRAP_TOKEN_NAME = "local-admin"
STOP_GRACE_S = 30.0  # for the engine's sends in flight at shutdown
BOOTSTRAP_USER = "admin"
ROLE_HELP = "admin, responder or viewer"


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(token_app, name="token")
    app.add_typer(user_app, name="user")
    app.command()(serve)
    app.command("engine")(run_engine)
    app.command()(login)


def _database(settings: Settings, *, long_running: bool = False) -> Database:
    """Long-running commands (serve, engine) checkpoint SQLite's log in the background
    rather than in whichever request commits when it fills."""
    from tocsin.db import Database

    return Database(settings.database_url, background_checkpoints=long_running)


def _policy(settings: Settings) -> LoadedPolicy:
    from tocsin.policy.loader import PolicyError, load_policy

    try:
        return load_policy(settings.policy)
    except PolicyError as exc:
        fail(f"policy {settings.policy!r} is not valid:\n{exc}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest."""
    from tocsin import migrate
    from tocsin.config import load_settings

    settings = load_settings()
    migrate.upgrade(settings.database_url)
    typer.echo(f"database at {migrate.head_revision(settings.database_url)}")


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help=ROLE_HELP)],
    name: Annotated[str, typer.Option(help="Who the token is for (shown as the actor).")],
) -> None:
    """Create an API token. It is printed once, alone on the last line."""
    from tocsin.auth import service as auth_service
    from tocsin.cli.database import existing_database

    database = existing_database()
    with database.write_session() as session:
        token = auth_service.create_token(session, name=name, role=role)
    typer.echo(token)


@token_app.command("list")
def token_list(as_json: JsonFlag = False) -> None:
    """List tokens (never the secrets)."""
    from tocsin.auth import service as auth_service
    from tocsin.cli.database import existing_database

    database = existing_database()
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
    from tocsin.auth import service as auth_service
    from tocsin.cli.database import existing_database

    database = existing_database()
    with database.write_session() as session:
        count = auth_service.revoke_named(session, name=name)
    typer.echo(f"revoked {count} token(s) named {name}")


def login(
    url: Annotated[str, typer.Option(help="The Tocsin server, e.g. http://127.0.0.1:8080")],
    token: Annotated[str, typer.Option(help="An API token from `tocsin token create`.")],
) -> None:
    """Save the token for the server at URL and make it the CLI's current server; logins
    saved for other servers stay (TOCSIN_URL picks one for a command)."""
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
            help=f"The first time: create the admin user {BOOTSTRAP_USER!r} and print their "
            "password once. Every time: print the CLI's admin token for this server, created "
            f"(named {BOOTSTRAP_TOKEN_NAME!r}) and saved only when none is saved; nothing "
            "existing is revoked."
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
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Serving processes (default: one per core). The engine runs once whatever "
            "the number: in this supervising process, while it holds the engine lease.",
        ),
    ] = os.cpu_count() or 1,
) -> None:
    """Serve the API (/api/v1, docs at /docs), the web console (/console) and the public
    status page (/status), and run the engine unless --no-engine."""
    from tocsin.cli.database import ensure_schema
    from tocsin.config import load_settings

    https = _check_tls(tls_cert, tls_key)
    url = f"{'https' if https else 'http'}://{host}:{port}"
    # The serving workers read their settings from the environment: the same public URL.
    os.environ.setdefault("TOCSIN_PUBLIC_URL", url)
    settings = load_settings(default_public_url=url)
    loaded = _policy(settings)
    ensure_schema(settings.database_url)
    database = _database(settings, long_running=True)
    _seal_secrets(database)
    _preflight(engine=engine)
    if bootstrap_admin:
        _bootstrap(database, url)
    worker = _engine(database, settings, loaded) if engine else None
    if worker is not None:
        worker.start_in_thread()
    mode = "with engine" if worker else "without engine (run `tocsin engine` elsewhere)"
    processes = f"{workers} workers" if workers > 1 else "1 process"
    typer.echo(
        f"Tocsin serving on {url}  (policy {loaded.policy.name}, {database.dialect}, {mode}, "
        f"{processes})"
    )
    sys.stdout.flush()
    tls = {"ssl_certfile": tls_cert, "ssl_keyfile": tls_key}
    try:
        if workers == 1:
            _serve_in_process(settings, database, loaded, host=host, port=port, **tls)
        else:
            _serve_workers(workers, host=host, port=port, **tls)
    finally:
        if worker is not None:
            # uvicorn has stopped every worker by now; let the engine record its sends in
            # flight and release the lease before the process exits.
            worker.stop(wait=STOP_GRACE_S)


def _serve_in_process(
    settings: Settings, database: Database, loaded: LoadedPolicy, **options: object
) -> None:
    """One process: the app and the engine share it (and wake-ups go through memory)."""
    import uvicorn

    from tocsin.web.app import create_app
    from tocsin.web.deps import Runtime

    runtime = Runtime(settings=settings, database=database, policy=loaded)
    uvicorn.run(create_app(runtime), log_level="info", **options)  # type: ignore[arg-type]


def _serve_workers(workers: int, **options: object) -> None:
    """uvicorn's own supervisor: it spawns the workers (each builds its app from the
    environment), restarts one that dies, and on SIGTERM or Ctrl-C stops them all gracefully
    (in-flight requests finish) before it returns here."""
    import uvicorn

    uvicorn.run(
        "tocsin.web.app:create_app_from_environment",
        factory=True,
        workers=workers,
        log_level="info",
        **options,  # type: ignore[arg-type]
    )


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
    from tocsin.engine.loop import Engine
    from tocsin.engine.steps import default_steps

    _sync_drills(database, loaded)
    steps = default_steps(loaded, settings.public_url, settings.admin_emails)
    return Engine(
        database,
        steps,
        max_sleep=settings.engine_interval_seconds,
        lease_seconds=settings.engine_lease_seconds,
    )


def _sync_drills(database: Database, loaded: LoadedPolicy) -> None:
    """The drill programme and the runbook's review as clocks (idempotent). Two engines
    starting at once may race: the loser finds the winner's clocks and carries on."""
    from sqlalchemy.exc import IntegrityError

    from tocsin.flows import drills as drill_flows

    try:
        with database.write_session() as session:
            drill_flows.sync(session, loaded)
    except IntegrityError:
        logging.getLogger("tocsin.engine").info("drill clocks armed by another engine")


def run_engine() -> None:
    """Run only the engine (clocks, escalations); scale out beside `serve --no-engine`."""
    from tocsin.cli.database import ensure_schema
    from tocsin.config import load_settings

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
    from tocsin.evidence import preflight

    try:
        preflight.check_store()
        if engine:
            preflight.check_witnesses()
    except TocsinError as exc:
        fail(exc.message)


def _seal_secrets(database: Database) -> None:
    """Refuse to start without the key that seals stored secrets (a page at 3 a.m. would
    otherwise be the first to find out), and seal any stored before sealing existed."""
    from tocsin import vault
    from tocsin.notify import acklinks, named_channels

    try:
        with database.write_session() as session:
            acklinks.reseal_secrets(session)
            named_channels.reseal(session)
            acklinks.signing_key(session)
    except vault.SealingError as exc:
        fail(exc.message)


def _bootstrap(database: Database, url: str) -> None:
    """The first admin, once; the CLI's token, kept. Nothing that exists is revoked, so a
    browser signed in before stays signed in."""
    from tocsin.auth import people
    from tocsin.auth import service as auth_service

    password = None
    with database.write_session() as session:
        if not people.list_users(session):
            password = people.generate_password()
            people.create_user(
                session,
                username=BOOTSTRAP_USER,
                role="admin",
                password=password,
                display_name="Admin",
            )
        token = saved_token(url)
        row = auth_service.find_live_token(session, token) if token else None
        if token is None or row is None or row.role != "admin" or row.user.disabled:
            token = auth_service.create_token(session, name=BOOTSTRAP_TOKEN_NAME, role="admin")
            path = save_login(url, token)
        else:
            path = save_login(url, token)  # this server becomes the CLI's current one
    typer.echo(f"\n  Tocsin URL:   {url}/console\n  API docs:     {url}/docs")
    if password is not None:
        typer.echo(f"  Admin user:   {BOOTSTRAP_USER}\n  Password:     {password}")
        typer.echo(
            f"  (shown this once; change it with `tocsin user set-password {BOOTSTRAP_USER}`)"
        )
    else:
        typer.echo("  Sign in:      as an existing user (`tocsin user list`)")
    typer.echo(f"  Admin token:  {token}\n  (saved for the tocsin CLI in {path})\n")


# -- people -------------------------------------------------------------------------------------


def _password(given: str | None, generate: bool) -> tuple[str, bool]:
    """The password given, a generated one (shown once), or one typed twice at the prompt."""
    from tocsin.auth import people

    if given is not None:
        return given, False
    if generate:
        return people.generate_password(), True
    typed: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return typed, False


PasswordOption = Annotated[
    str | None,
    typer.Option(
        help="The password (at least 10 characters). Without it (or --generate) you are "
        "asked for it, hidden. Prefer the prompt: an option may stay in shell history."
    ),
]
GenerateFlag = Annotated[
    bool, typer.Option("--generate", help="Make up a strong password and print it once.")
]


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="What they sign in with, e.g. ada.lovelace.")],
    role: Annotated[str, typer.Option(help=ROLE_HELP)] = "responder",
    display_name: Annotated[
        str | None, typer.Option(help="How the console shows them, e.g. 'Ada Lovelace'.")
    ] = None,
    password: PasswordOption = None,
    generate: GenerateFlag = False,
) -> None:
    """Create a person who signs in to the console with a password."""
    from tocsin.auth import people
    from tocsin.cli.database import existing_database

    database = existing_database()
    secret, made_up = _password(password, generate)
    with _clear_errors(), database.write_session() as session:
        user = people.create_user(
            session, username=username, role=role, password=secret, display_name=display_name
        )
        name, role = user.name, user.role
    typer.echo(f"created {role} {name}")
    if made_up:
        typer.echo(f"password: {secret}  (shown this once)")


@user_app.command("list")
def user_list(as_json: JsonFlag = False) -> None:
    """List the people who sign in (never their passwords)."""
    from tocsin.auth import people
    from tocsin.cli.database import existing_database

    database = existing_database()
    from tocsin.auth import sessions

    with database.read_session() as session:
        rows = [
            {
                "username": u.name,
                "display_name": u.display_name,
                "role": u.role,
                "disabled": u.disabled,
                "sessions": sessions.live_sessions(session, u),
                "created_at": u.created_at.isoformat(),
            }
            for u in people.list_users(session)
        ]
    if as_json:
        emit_json(rows)
        return
    table(
        "Users",
        ["username", "name", "role", "status", "sessions", "created"],
        [
            (
                r["username"],
                r["display_name"] or "",
                r["role"],
                "disabled" if r["disabled"] else "active",
                r["sessions"],
                str(r["created_at"])[:16].replace("T", " ") + "Z",
            )
            for r in rows
        ],
    )


def _set_disabled(username: str, disabled: bool) -> None:
    from tocsin.auth import people
    from tocsin.cli.database import existing_database

    database = existing_database()
    with _clear_errors(), database.write_session() as session:
        user = people.set_disabled(session, username=username, disabled=disabled)
        name = user.name
    typer.echo(
        f"disabled {name}: their sessions have ended and their tokens no longer work"
        if disabled
        else f"enabled {name}: they can sign in again"
    )


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="Who to disable.")]) -> None:
    """Disable a person: their console sessions end at once and their API tokens stop."""
    _set_disabled(username, True)


@user_app.command("enable")
def user_enable(username: Annotated[str, typer.Argument(help="Who to enable.")]) -> None:
    """Enable a disabled person again (they sign in afresh)."""
    _set_disabled(username, False)


@user_app.command("set-password")
def user_set_password(
    username: Annotated[str, typer.Argument(help="Whose password to set.")],
    password: PasswordOption = None,
    generate: GenerateFlag = False,
) -> None:
    """Set a new password; every console session the person had ends."""
    from tocsin.auth import people
    from tocsin.cli.database import existing_database

    database = existing_database()
    secret, made_up = _password(password, generate)
    with _clear_errors(), database.write_session() as session:
        ended = people.set_password(session, username=username, password=secret)
        name = ended.name
    typer.echo(f"password changed for {name}; their sessions have ended")
    if made_up:
        typer.echo(f"password: {secret}  (shown this once)")


@contextmanager
def _clear_errors() -> Iterator[None]:
    """A domain error (bad role, short password, unknown user) as one line, not a traceback."""
    try:
        yield
    except TocsinError as exc:
        fail(exc.message)
