"""`tocsin incident timeline`: each event's details in words, the API's JSON with --json."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tocsin.cli import app, output
from tocsin.cli import incident as incident_cli

EVENTS: list[dict[str, Any]] = [
    {
        "seq": 1,
        "kind": "declared",
        "at": "2026-11-20T03:00:00.123456Z",
        "actor": "alice",
        "data": {
            "title": "Checkout errors after deploy 4411",
            "summary": "5xx on /pay since 02:58",
            "severity": "P1",
            "type": None,
            "services": ["checkout"],
        },
        "prev_hash": "0" * 64,
        "hash": "ab12" * 16,
    },
    {
        "seq": 2,
        "kind": "status_changed",
        "at": "2026-11-20T03:20:00Z",
        "actor": "alice",
        "data": {"from": "investigating", "to": "resolved", "message": "Rolled back deploy 4411"},
        "prev_hash": "ab12" * 16,
        "hash": "cd34" * 16,
    },
]


class FakeApi:
    def call(self, method: str, path: str, **_: Any) -> Any:
        assert (method, path) == ("GET", "/api/v1/incidents/INC-2026-11-20-01/timeline")
        return EVENTS


@pytest.fixture(autouse=True)
def fake_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incident_cli, "_client", FakeApi)
    # Wide enough for one line per event, so sentences are not folded (COLUMNS would only
    # count if set before tocsin.cli.output made its console).
    monkeypatch.setattr(output, "console", Console(soft_wrap=True, width=200, height=50))


def test_the_timeline_shows_each_event_in_the_consoles_words() -> None:
    result = CliRunner().invoke(app, ["incident", "timeline", "INC-2026-11-20-01"])
    assert result.exit_code == 0, result.output
    assert "P1 · Checkout errors after deploy 4411" in result.output
    assert "investigating → resolved: Rolled back deploy 4411" in result.output
    assert "2026-11-20 03:20:00Z" in result.output and "cd34cd34cd34" in result.output
    assert '"title"' not in result.output


def test_the_timeline_as_json_is_the_apis_answer() -> None:
    result = CliRunner().invoke(app, ["incident", "timeline", "INC-2026-11-20-01", "--json"])
    assert result.exit_code == 0, result.output
    assert result.output == json.dumps(EVENTS, indent=2, sort_keys=True, default=str) + "\n"
