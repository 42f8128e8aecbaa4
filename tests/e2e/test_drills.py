"""Drills over real sockets: `tocsin drill start` declares a drill incident whose pages reach
the on-call by real SMTP and webhook, marked DRILL; a drill with a drill audience reaches only
that audience; `tocsin drill end` and `tocsin drill list` show the outcome."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.receivers import HttpReceiver, SmtpCatcher
from tocsin.db import Database

pytestmark = pytest.mark.e2e
T = TypeVar("T")

DRILL_POLICY = """\
name: drilled
title: Drills for end-to-end tests
severities:
  - {id: P1, name: Critical, pages: true, respond_within: 1h, resolve_within: 4h}
  - {id: P2, name: High, respond_within: 1h}
roles:
  - {id: commander, name: Incident commander}
flags:
  - {id: drill, name: Drill}
audiences:
  - {id: drill_team, name: Drill team, email: drills@example.com}
drills:
  - {id: tabletop, kind: tabletop, severity: P1, cadence: quarterly, scope: P1 tabletop,
     owner: 'person:alice'}
  - {id: quiet-sim, kind: simulation, severity: P1, cadence: annually, audience: drill_team}
"""

ONCALL_FILE = """\
people:
  - handle: alice
    name: Alice Okafor
    contact_methods:
      - {{name: mail, kind: email, address: alice@example.com}}
      - {{name: pager, kind: webhook, address: "{hooks}/pager/alice"}}
    notification_rules:
      - {{method: mail, after: 0m}}
      - {{method: pager, after: 0m}}
schedules:
  - handle: primary
    name: Primary on-call
    timezone: UTC
    layers:
      - name: primary
        rotation: {{kind: daily, handoff: "00:00", start: 2026-01-01, participants: [alice]}}
escalation_policies:
  - handle: pager
    name: The primary
    steps:
      - {{after: 0m, targets: ["schedule:primary"]}}
services:
  - {{handle: checkout, name: Checkout, escalation_policy: pager}}
"""


@dataclass
class Stack:
    server: Server
    smtp: SmtpCatcher
    hooks: HttpReceiver

    def cli_json(self, *args: str) -> object:
        done = self.server.cli(*args, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)


def poll(what: str, probe: Callable[[], T | None], seconds: float = 20) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


@pytest.fixture
def stack(database: Database, tmp_path: Path) -> Iterator[Stack]:
    policy = tmp_path / "drilled.yaml"
    policy.write_text(DRILL_POLICY)
    with SmtpCatcher() as smtp, HttpReceiver() as hooks:
        server = start_server(
            database.url,
            tmp_path,
            policy=str(policy),
            extra_env={"TOCSIN_SMTP_URL": smtp.url, "TOCSIN_SMTP_FROM": "tocsin@example.org"},
        )
        try:
            oncall = tmp_path / "oncall.yaml"
            oncall.write_text(ONCALL_FILE.format(hooks=hooks.url))
            applied = server.cli("oncall", "apply", str(oncall))
            assert applied.returncode == 0, applied.stdout + applied.stderr
            yield Stack(server, smtp, hooks)
        finally:
            stop_server(server)


def test_a_drill_pages_the_on_call_marked_drill_and_ends_with_an_outcome(stack: Stack) -> None:
    listed = stack.cli_json("drill", "list")
    assert isinstance(listed, dict)
    programme = {d["id"]: d for d in listed["programme"]}
    assert programme["tabletop"]["state"] == "scheduled", "the engine armed the programme"
    assert (programme["tabletop"]["owner"], programme["quiet-sim"]["owner"]) == (
        "person:alice",
        None,
    )

    drill = stack.cli_json("drill", "start", "--scenario", "tabletop", "--service", "checkout")
    assert isinstance(drill, dict)
    incident_id = drill["incident_id"]
    [mail] = poll("Alice's page by email", lambda: stack.smtp.mails or None)
    assert mail.rcpt_tos == ["alice@example.com"]
    assert mail["Subject"] == f"[DRILL] [P1] {incident_id}: Drill: P1 tabletop"
    assert "DRILL - this is an exercise." in mail.text
    [hook] = poll("Alice's page by webhook", lambda: stack.hooks.requests or None)
    assert hook.json()["subject"].startswith("[DRILL] ")

    ended = stack.server.cli(
        "drill", "end", str(drill["id"]), "--outcome", "passed", "--lessons", "Paged in 2s"
    )
    assert ended.returncode == 0, ended.stdout + ended.stderr
    assert f"{incident_id} resolved" in ended.stdout
    after = stack.cli_json("drill", "list")
    assert isinstance(after, dict)
    [held] = after["held"]
    assert (held["outcome"], held["lessons"]) == ("passed", "Paged in 2s")
    table = stack.server.cli("drill", "list")
    assert "tabletop" in table.stdout and "passed" in table.stdout, table.stdout
    # the owner column (narrow terminals wrap it: "person:alic" / "e")
    assert "owner" in table.stdout and "person:alic" in table.stdout, table.stdout


def test_a_drill_with_a_drill_audience_reaches_only_that_audience(stack: Stack) -> None:
    drill = stack.cli_json("drill", "start", "--scenario", "quiet-sim", "--service", "checkout")
    assert isinstance(drill, dict) and drill["audience"] == "drill_team"
    [mail] = poll("the drill team's notice", lambda: stack.smtp.mails or None)
    assert mail.rcpt_tos == ["drills@example.com"]
    assert mail["Subject"].startswith(f"[DRILL] [P1] {drill['incident_id']}")
    headers = {"Authorization": f"Bearer {stack.server.token}"}
    incident = httpx.get(
        f"{stack.server.url}/api/v1/incidents/{drill['incident_id']}", headers=headers
    ).json()
    assert incident["flags"] == {"drill": True, "drill_audience": "drill_team"}
    assert [c for c in incident["clocks"] if c["kind"] == "escalation"] == [], "no page planned"
    assert [m.rcpt_tos for m in stack.smtp.mails] == [["drills@example.com"]]
    assert stack.hooks.requests == [], "nobody on call is paged"
