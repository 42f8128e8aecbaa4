"""The CLI as a responder reads it at 80 columns: ids whole, times absolute and relative,
no <bool> in help, --json on every read, "would create" on a dry run, and one clear line
instead of a traceback."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from rich.console import Console
from typer.testing import CliRunner

from tocsin.cli import app, output
from tocsin.cli import incident as incident_cli
from tocsin.cli import oncall as oncall_cli
from tocsin.errors import InvalidInput

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
LONG_TITLE = "Checkout errors after deploy 4411 on every region while payments retry storms"
INCIDENTS = {
    "items": [
        {
            "id": f"INC-2026-12-03-{n:02d}",
            "severity": "P1",
            "status": "investigating",
            "title": LONG_TITLE,
            "declared_at": "2026-12-03T08:57:00Z",
        }
        for n in (1, 12)
    ]
}
CLOCKS = [
    {
        "kind": "acknowledge",
        "key": "acknowledge",
        "label": "Acknowledge",
        "due_at": "2026-12-03T09:04:00Z",
        "state": "pending",
    },
    {
        "kind": "update",
        "key": "first_update",
        "label": "First update",
        "due_at": "2026-12-03T08:58:00Z",
        "state": "met",
    },
]


class FakeApi:
    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = answers

    def call(self, method: str, path: str, **_: Any) -> Any:
        return self.answers[(method, path)]


@pytest.fixture(autouse=True)
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "console", Console(soft_wrap=True, width=80, height=50))


def run(*args: str) -> Any:
    with time_machine.travel(NOW, tick=False):
        return CliRunner().invoke(app, list(args))


def test_at_80_columns_incident_list_never_cuts_an_id(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi({("GET", "/api/v1/incidents"): INCIDENTS})
    monkeypatch.setattr(incident_cli, "_client", lambda: api)
    result = run("incident", "list")
    assert result.exit_code == 0, result.output
    for incident in INCIDENTS["items"]:
        assert incident["id"] in result.output
    assert "…" not in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "ago)" in result.output, "declared times say how long ago"


def test_clocks_show_due_in_beside_the_absolute_time(monkeypatch: pytest.MonkeyPatch) -> None:
    api = FakeApi({("GET", "/api/v1/incidents/INC-2026-12-03-01/clocks"): CLOCKS})
    monkeypatch.setattr(incident_cli, "_client", lambda: api)
    result = run("incident", "clocks", "INC-2026-12-03-01")
    assert result.exit_code == 0, result.output
    text = re.sub(r"\s+", " ", result.output)
    assert "2026-12-03 09:04:00Z (due in 4 min)" in text
    assert "2026-12-03 08:58:00Z (2 min ago)" in text


def test_short_time_words_the_past_and_the_future() -> None:
    with time_machine.travel(NOW, tick=False):
        assert output.short_time("2026-12-03T08:57:00Z") == "2026-12-03 08:57:00Z (3 min ago)"
        assert output.short_time("2026-12-03T09:04:00Z") == "2026-12-03 09:04:00Z (in 4 min)"
        assert output.due_time("2026-12-03T08:50:00Z", "pending").endswith("(overdue by 10 min)")
        assert output.short_time(None) == "-"


@pytest.mark.parametrize(
    "command", [["incident", "list"], ["policy", "list"], ["token", "list"], ["verify"]]
)
def test_help_shows_no_bool_beside_flags(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--json" in result.output and "<bool>" not in result.output


def test_every_admin_command_on_the_database_says_so() -> None:
    for group in ("user", "token", "db"):
        result = CliRunner().invoke(app, [group, "--help"], terminal_width=200)
        words = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
        assert "Works on the database directly" in words, group


def test_policy_list_and_check_have_json() -> None:
    listed = CliRunner().invoke(app, ["policy", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    names = {p["name"]: p for p in json.loads(listed.output)}
    assert names["default"]["severities"][:2] == ["P0", "P1"]
    checked = CliRunner().invoke(app, ["policy", "check", "default", "--json"])
    assert json.loads(checked.output)["valid"] is True


def test_a_dry_run_says_would_create(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    changes = ["created person alice", "updated schedule primary (layers)", "removed team old"]
    api = FakeApi({("POST", "/api/v1/oncall/apply"): {"changes": changes}})
    monkeypatch.setattr(oncall_cli, "_client", lambda: api)
    file = tmp_path / "oncall.yaml"
    file.write_text("people: []\n")
    result = CliRunner().invoke(app, ["oncall", "apply", str(file), "--dry-run"])
    assert result.output.splitlines() == [
        "would create person alice",
        "would update schedule primary (layers)",
        "would remove team old",
    ]


def test_role_help_suggests_only_roles_the_default_policy_has() -> None:
    from tocsin.policy.loader import load_policy

    roles = {r.id for r in load_policy("default").policy.roles}
    text = CliRunner().invoke(app, ["incident", "role", "--help"], terminal_width=200).output
    suggested = set(re.findall(r"\b([a-z]+_[a-z_]+|commander)\b", text)) - {"incident_id"}
    assert suggested and suggested <= roles, suggested - roles


def test_serve_help_names_the_status_page_it_serves() -> None:
    text = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200).output
    assert "/status" in text and "/console" in text


def test_an_unexpected_error_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken() -> Any:
        raise InvalidInput("start: '3pm' is not a time", field="start")

    monkeypatch.setattr(incident_cli, "_client", broken)
    result = CliRunner().invoke(app, ["incident", "list"])
    assert result.exit_code == 1
    assert "error: start: '3pm' is not a time" in result.output
    assert "Traceback" not in result.output

    def crash() -> Any:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(incident_cli, "_client", crash)
    result = CliRunner().invoke(app, ["incident", "list"])
    assert result.exit_code == 1 and "error: RuntimeError: the disk is full" in result.output
