"""`tocsin verify`, `tocsin checkpoint ...` and `tocsin evidence ...`: proving the record.

These work on the database directly (admin work), except `tocsin evidence verify`, which
needs only a bundle and the public key: an auditor runs it on their own machine.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tocsin.db import Database
    from tocsin.evidence.verify import Report

# Heavy imports (SQLAlchemy, alembic, argon2, the engine) happen inside the commands that
# need them, so `tocsin --help` and the commands that only talk HTTP start quickly.

from tocsin.cli.client import fail
from tocsin.cli.output import command_group, emit_json, table
from tocsin.errors import TocsinError

TOUCHES = "Works on the database directly (TOCSIN_DATABASE_URL): run it where the server runs."
checkpoint_app = command_group(
    help=f"Signing keys and signed checkpoints over every timeline. {TOUCHES}", no_args_is_help=True
)
evidence_app = command_group(
    help="The auditor's bundle: export one, verify one.", no_args_is_help=True
)

PublicKey = Annotated[
    Path | None,
    typer.Option(help="The checkpoint public key (PEM); default: TOCSIN_CHECKPOINT_KEY's."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _database() -> Database:
    from tocsin.cli.database import existing_database

    return existing_database()


def verify(
    public_key: PublicKey = None,
    witness_file: Annotated[
        list[Path],
        typer.Option(
            "--witness",
            help="A witness file to compare (default: TOCSIN_WITNESS's files and buckets).",
        ),
    ] = [],  # noqa: B006
    as_json: JsonFlag = False,
) -> None:
    """Check every timeline, every incident row, the signed checkpoints and the witnesses;
    exit 1 naming each divergence. Works on the database directly."""
    from tocsin.evidence import keys, witness
    from tocsin.evidence.verify import verify as verify_record

    try:
        key = keys.public_key(public_key)
        configured = witness.configured()
        files = witness_file or witness.files(configured)
        buckets = [] if witness_file else witness.buckets(configured)
    except TocsinError as exc:
        fail(exc.message, code=2)
    with _database().read_session() as session:
        report = verify_record(
            session, public_key=key, witness_files=files, witness_buckets=buckets
        )
    _print_report(report, signed=key is not None, as_json=as_json)
    if not report.intact:
        raise typer.Exit(1)


def _print_report(report: Report, *, signed: bool, as_json: bool) -> None:
    findings = report.findings or []
    if as_json:
        emit_json(
            {
                "intact": report.intact,
                "incidents": report.incidents,
                "checkpoints": report.checkpoints,
                "witnessed": report.witnessed,
                "signatures_checked": signed,
                "findings": [f.as_json() for f in findings],
            }
        )
        return
    for finding in findings:
        typer.echo(f"BROKEN {finding}", err=True)
    if not signed and report.checkpoints:
        typer.echo("note: signatures not checked (give --public-key or TOCSIN_CHECKPOINT_KEY)")
    if findings:
        summary = f"{report.incidents} timelines and {report.checkpoints} checkpoints"
        typer.echo(f"{len(findings)} divergence(s) in {summary}", err=True)
        return
    typer.echo(
        f"OK: {report.incidents} timelines verified, every chain intact; "
        f"{report.checkpoints} checkpoints, {report.witnessed} witnessed"
    )


@checkpoint_app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option(help="Where to write the private key (never overwritten).")],
) -> None:
    """Make a checkpoint signing key: keep the private file outside the database and its
    backups; give the public key (printed, and written beside it as .pub) to your auditors."""
    from tocsin.evidence import signing

    try:
        key = signing.generate(out)
    except TocsinError as exc:
        fail(exc.message)
    pem = signing.public_pem(key.public_key())
    out.with_suffix(out.suffix + ".pub").write_bytes(pem)
    typer.echo(f"private key: {out} (set TOCSIN_CHECKPOINT_KEY={out})")
    typer.echo(pem.decode().rstrip())


@checkpoint_app.command("create")
def create(force: Annotated[bool, typer.Option(help="Even if nothing moved.")] = False) -> None:
    """Sign a checkpoint now (the engine makes one every TOCSIN_CHECKPOINT_INTERVAL)."""
    from tocsin.evidence import keys, preflight, sealing, witness

    try:
        key = keys.private_key()
        witnesses = witness.configured()
        preflight.check_witnesses()
    except TocsinError as exc:
        fail(exc.message, code=2)
    if key is None:
        fail(f"no signing key: set {keys.ENV} (make one with `tocsin checkpoint keygen`)", code=2)
    try:
        made = sealing.make(_database(), key, witnesses, force=force)
    except TocsinError as exc:  # the checkpoint committed; a witness could not be written
        fail(f"{exc.message} (the checkpoint is kept and witnessed on the next run)")
    if made is None:
        typer.echo("nothing moved since the latest checkpoint; none made (use --force)")
        return
    typer.echo(f"checkpoint #{made.number}: {made.count} timelines, root {made.root}")


@checkpoint_app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """The checkpoints, newest first."""
    from sqlalchemy import select

    from tocsin.evidence.models import Checkpoint

    with _database().read_session() as session:
        rows = list(session.scalars(select(Checkpoint).order_by(Checkpoint.number.desc())))
        found = [
            {
                "number": c.number,
                "created_at": c.created_at.isoformat(),
                "timelines": c.count,
                "moved": len(c.heads),
                "root": c.root,
                "key_id": c.key_id,
            }
            for c in rows
        ]
    if as_json:
        emit_json(found)
        return
    table(
        "Checkpoints",
        ["#", "when", "timelines", "moved", "root", "key"],
        [
            (c["number"], c["created_at"], c["timelines"], c["moved"], c["root"], c["key_id"])
            for c in found
        ],
    )


@evidence_app.command("export")
def export(
    incident_id: str,
    out: Annotated[Path, typer.Option(help="An empty directory to write the bundle into.")],
) -> None:
    """Write one incident's auditor bundle (timeline, row, signed checkpoint, the evidence
    files and a manifest). Each item's export is put on its chain of custody first. Works on
    the database directly."""
    from tocsin.evidence import bundle, keys

    database = _database()
    try:
        public = keys.public_key()
        with database.write_session() as session:
            exported = bundle.record_export(
                session, incident_id=incident_id, out=out, actor=f"{getpass.getuser()} (export)"
            )
        with database.read_session() as session:
            files = bundle.export(session, incident_id=incident_id, out=out, public_key=public)
    except TocsinError as exc:
        fail(exc.message)
    listed = [f for f in files if not f.startswith("evidence/")]
    typer.echo(f"bundle for {incident_id} in {out}: {', '.join(listed)}")
    typer.echo(f"{exported} evidence item(s) exported, each recorded on its chain of custody")
    typer.echo(f"verify it with: tocsin evidence verify {out} --public-key KEY.pem")


@evidence_app.command("verify")
def verify_bundle(
    directory: Path,
    public_key: Annotated[Path, typer.Option(help="The checkpoint public key (PEM).")],
    as_json: JsonFlag = False,
) -> None:
    """Check a bundle with nothing but itself and the public key (no database needed)."""
    from tocsin.evidence import bundle, signing

    try:
        report = bundle.verify_bundle(directory, signing.load_public(public_key))
    except TocsinError as exc:
        fail(exc.message, code=2)
    except (OSError, ValueError, KeyError) as exc:
        fail(f"{directory} is not a readable Tocsin bundle: {exc}")
    if as_json:
        emit_json({"intact": report.intact, "notes": report.notes, "problems": report.problems})
        if not report.intact:
            raise typer.Exit(1)
        return
    for note in report.notes:
        typer.echo(f"note: {note}")
    for problem in report.problems:
        typer.echo(f"BROKEN {problem}", err=True)
    if not report.intact:
        raise typer.Exit(1)
    typer.echo(f"OK: {directory} verifies against the public key")


def register(app: typer.Typer) -> None:
    app.command()(verify)
    app.add_typer(checkpoint_app, name="checkpoint")
    app.add_typer(evidence_app, name="evidence")
