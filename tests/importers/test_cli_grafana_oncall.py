"""`tocsin import grafana-oncall` and `tocsin import verify grafana-oncall` as a user runs them
(both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from typer.testing import CliRunner

from tests.importers.grafana_oncall_standin import TOKEN, GrafanaOnCall
from tests.importers.standin import StandIn, serving
from tocsin.cli import app
from tocsin.db import Database

NOW = datetime(2026, 10, 22, tzinfo=UTC)
OLD = "https://oncall-prod-us-central-0.grafana.net/oncall/integrations/v1"


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with serving(GrafanaOnCall()) as running:
        yield running


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", database.url)
    monkeypatch.setenv("TOCSIN_PUBLIC_URL", "https://tocsin.northwind.example")
    return CliRunner()


def invoke(cli: CliRunner, *args: str) -> tuple[int, str]:
    with time_machine.travel(NOW, tick=False):
        result = cli.invoke(app, list(args))
    return result.exit_code, result.output


def grafana(cli: CliRunner, standin: StandIn, *args: str) -> tuple[int, str]:
    base = ("import", "grafana-oncall", "--token", TOKEN, "--base-url", standin.url)
    return invoke(cli, *base, *args)


def test_plan_names_each_senders_new_url(cli: CliRunner, standin: StandIn) -> None:
    code, planned = grafana(cli, standin, "--plan")
    assert code == 0, planned
    assert "would create person alice" in planned
    assert "would create integration Payments Grafana Alerting (grafana, the token of" in planned
    assert "the token is part of each Grafana OnCall URL" in planned
    assert (
        f"Payments Grafana Alerting (grafana): {OLD}/grafana_alerting/n7Qx2LkP9vRt4WmZ8bYc3HdFs/"
        " -> https://tocsin.northwind.example/api/v1/integrations/n7Qx2LkP9vRt4WmZ8bYc3HdFs/grafana"
    ) in planned
    assert (
        f"Platform Alertmanager (alertmanager): {OLD}/alertmanager/Jf4Tq8Rm2Xw6Pz9Lb3Nk7Vh5C/ -> "
        "https://tocsin.northwind.example/api/v1/integrations/Jf4Tq8Rm2Xw6Pz9Lb3Nk7Vh5C/"
        "alertmanager"
    ) in planned
    assert "left out (" in planned and "instead:" in planned


def test_apply_rerun_and_verify(cli: CliRunner, standin: StandIn) -> None:
    code, applied = grafana(cli, standin, "--apply")
    assert code == 0 and "created integration Mobile Grafana Alerting" in applied, applied
    code, again = grafana(cli, standin, "--apply")
    assert code == 0 and "no changes: Tocsin already matches the source" in again
    code, checked = invoke(
        cli,
        "import",
        "verify",
        "grafana-oncall",
        "--token",
        TOKEN,
        "--base-url",
        standin.url,
        "--from",
        "2026-10-22T00:00:00Z",
    )
    assert code == 0, checked
    assert "4 schedules, 336 hours each: 0 differ" in checked


def test_out_writes_the_file_and_still_names_the_senders(
    cli: CliRunner, standin: StandIn, tmp_path: Path
) -> None:
    target = tmp_path / "oncall.yaml"
    code, output = grafana(cli, standin, "--out", str(target))
    assert code == 0, output
    assert "source: grafana-oncall:schedule:SPLTFRM3J7W9D" in target.read_text()
    assert "Payments Grafana Alerting" in output  # the integrations still to create
    assert "/api/v1/integrations/n7Qx2LkP9vRt4WmZ8bYc3HdFs/grafana" in output


def test_a_wrong_token_names_the_request(cli: CliRunner, standin: StandIn) -> None:
    code, output = invoke(
        cli, "import", "grafana-oncall", "--token", "wrong", "--base-url", standin.url, "--plan"
    )
    assert code == 1 and "401" in output and "/api/v1/users/" in output


def test_verify_needs_the_api_url(cli: CliRunner) -> None:
    code, output = invoke(cli, "import", "verify", "grafana-oncall", "--token", TOKEN)
    assert code == 1 and "--base-url is required" in output
