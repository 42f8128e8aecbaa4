"""`tocsin import opsgenie` and `tocsin import verify` as a user runs them (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from tests.importers.opsgenie_standin import API_KEY, Opsgenie
from tests.importers.standin import StandIn, serving
from tocsin.cli import app
from tocsin.db import Database

NOW = datetime(2026, 10, 22, tzinfo=UTC)


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with serving(Opsgenie()) as running:
        yield running


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", database.url)
    return CliRunner()


def invoke(cli: CliRunner, *args: str) -> tuple[int, str]:
    with time_machine.travel(NOW, tick=False):
        result = cli.invoke(app, list(args))
    return result.exit_code, result.output


def opsgenie(cli: CliRunner, standin: StandIn, *args: str) -> tuple[int, str]:
    return invoke(cli, "import", "opsgenie", "--api-key", API_KEY, "--base-url", standin.url, *args)


def test_plan_apply_rerun_and_verify(cli: CliRunner, standin: StandIn) -> None:
    code, planned = opsgenie(cli, standin, "--plan")
    assert code == 0, planned
    assert "would create person alice" in planned
    assert "would create integration Payments API" in planned
    assert "left out (" in planned and "instead:" in planned
    code, applied = opsgenie(cli, standin, "--apply")
    assert code == 0 and "created integration Payments API" in applied
    code, again = opsgenie(cli, standin, "--apply")
    assert code == 0 and "no changes: Tocsin already matches the source" in again
    code, checked = invoke(
        cli,
        "import",
        "verify",
        "opsgenie",
        "--api-key",
        API_KEY,
        "--base-url",
        standin.url,
        "--from",
        "2026-10-22T00:00:00Z",
    )
    assert code == 0, checked
    assert "4 schedules, 336 hours each: 0 differ" in checked


def test_out_writes_the_on_call_file(cli: CliRunner, standin: StandIn, tmp_path: Path) -> None:
    target = tmp_path / "oncall.yaml"
    code, output = opsgenie(cli, standin, "--out", str(target))
    assert code == 0, output
    assert f"tocsin oncall apply {target}" in output
    assert "source: opsgenie:user:" in target.read_text()
    assert "Payments API" in output  # the integrations still to create


def test_one_mode_at_a_time(cli: CliRunner, standin: StandIn) -> None:
    code, output = opsgenie(cli, standin, "--plan", "--apply")
    assert code == 1 and "choose one of --plan, --apply or --out FILE" in output


def test_a_wrong_key_names_the_request(cli: CliRunner, standin: StandIn) -> None:
    code, output = invoke(
        cli, "import", "opsgenie", "--api-key", "wrong", "--base-url", standin.url, "--plan"
    )
    assert code == 1 and "401" in output and "/v2/users" in output
