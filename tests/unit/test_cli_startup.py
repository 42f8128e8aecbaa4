"""The CLI's help and its HTTP-only commands must not pay for the database or the engine."""

from __future__ import annotations

import subprocess
import sys

# Loaded only by the commands that work on the database or run the engine.
HEAVY = ("sqlalchemy", "alembic", "argon2", "tocsin.engine")

PROBE = """
import sys
import tocsin.cli
try:
    tocsin.cli.app(["incident", "--help"], prog_name="tocsin")
except SystemExit:
    pass
heavy = [name for name in sys.argv[1:] if name in sys.modules]
print("loaded:", ",".join(heavy))
"""


def test_incident_help_does_not_import_the_database_or_engine() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *HEAVY],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "Usage" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "loaded:"
