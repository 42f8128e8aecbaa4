"""On-call paging end to end: an alert over HTTP pages a person on a real mail server and a real
webhook, the person acknowledges from the link in the page, and escalation stops (or, when
nobody acknowledges, goes on to the next step on time).

Everything crosses a socket: the alert is posted to a running `tocsin serve`, whose own engine
pages through its own outbox to an aiosmtpd server and an HTTP receiver, and the acknowledge
link is opened and submitted as a browser would.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.conftest import Server, start_server
from tests.e2e.receivers import HttpReceiver, Mail, Received, SmtpCatcher
from tocsin.db import Database
from tocsin.notify.channels.email import message_id

pytestmark = pytest.mark.e2e

T = TypeVar("T")

# Step 2 of the escalation policy pages Bob this long after the incident is declared: long
# enough for Alice's page to arrive and be acknowledged first, short enough for a quick test.
STEP_2_AFTER_S = 8
ENGINE_INTERVAL_S = 0.2
# How late the engine may act on a due step: a few ticks, on a busy two-core machine.
ENGINE_SLACK_S = 3.0

FAST_POLICY = """\
name: fast-paging
title: Pages at once, for end-to-end tests
severities:
  - id: P1
    name: Critical
    pages: true
    respond_within: 1h
    resolve_within: 4h
  - id: P2
    name: High
    respond_within: 1h
roles:
  - {{id: commander, name: Incident commander}}
routing:
  joined_notice_after: {joined_after}s
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
  - handle: bob
    name: Bob Lindqvist
    contact_methods:
      - {{name: pager, kind: webhook, address: "{hooks}/pager/bob"}}
schedules:
  - handle: primary
    name: Primary on-call
    timezone: Europe/Berlin
    layers:
      - name: primary
        rotation: {{kind: daily, handoff: "00:00", start: 2026-01-01, participants: [alice]}}
escalation_policies:
  - handle: pager
    name: The primary, then Bob
    steps:
      - {{after: 0m, targets: ["schedule:primary"]}}
      - {{after: {step_2}s, targets: ["person:bob"]}}
services:
  - {{handle: checkout, name: Checkout, escalation_policy: pager}}
"""

ALERT_SUMMARY = "Checkout error rate above 5%"
# How long an acknowledged incident gathers the alerts that join it before its people are told.
JOINED_AFTER_S = 3


# -- the running stack -------------------------------------------------------------------------


@dataclass
class Stack:
    server: Server
    api: httpx.Client
    smtp: SmtpCatcher
    hooks: HttpReceiver
    alertmanager_url: str

    def get(self, path: str, **params: str | int) -> Any:
        response = self.api.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def incident(self, incident_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get(f"/api/v1/incidents/{incident_id}")
        return found

    def timeline(self, incident_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.get(f"/api/v1/incidents/{incident_id}/timeline")
        return events

    def hooks_for(self, person: str) -> list[Received]:
        return [r for r in self.hooks.requests if r.path == f"/pager/{person}"]

    def context(self) -> str:
        return (
            f"mails: {[m['Subject'] for m in self.smtp.mails]}\n"
            f"webhooks: {[(r.path, r.status) for r in self.hooks.requests]}\n"
            "--- tocsin log (last lines) ---\n" + "".join(self.server.log[-40:])
        )


def poll(what: str, probe: Callable[[], T | None], stack: Stack, seconds: float = 15) -> T:
    """Call `probe` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}\n{stack.context()}")


@pytest.fixture
def stack(database: Database, tmp_path: Path) -> Iterator[Stack]:
    policy = tmp_path / "fast-paging.yaml"
    policy.write_text(FAST_POLICY.format(joined_after=JOINED_AFTER_S))
    with SmtpCatcher() as smtp, HttpReceiver() as hooks:
        server = start_server(
            database.url,
            tmp_path,
            policy=str(policy),
            extra_env={
                "TOCSIN_SMTP_URL": smtp.url,
                "TOCSIN_SMTP_FROM": "tocsin@example.org",
                "TOCSIN_ENGINE_INTERVAL": str(ENGINE_INTERVAL_S),
            },
        )
        headers = {"Authorization": f"Bearer {server.token}"}
        try:
            with httpx.Client(base_url=server.url, headers=headers, timeout=10) as api:
                oncall = tmp_path / "oncall.yaml"
                oncall.write_text(ONCALL_FILE.format(hooks=hooks.url, step_2=STEP_2_AFTER_S))
                applied = server.cli("oncall", "apply", str(oncall))
                assert applied.returncode == 0, applied.stdout + applied.stderr
                assert "created person alice" in applied.stdout, applied.stdout
                assert "created escalation policy pager" in applied.stdout, applied.stdout
                created = api.post(
                    "/api/v1/integrations", json={"name": "prometheus", "kind": "alertmanager"}
                )
                assert created.status_code == 201, created.text
                url = created.json()["urls"]["webhook"]
                yield Stack(server, api, smtp, hooks, url)
        finally:
            server.process.terminate()
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()


def webhook_payload(name: str, summary: str, fingerprint: str) -> dict[str, Any]:
    """Alertmanager's webhook (payload version 4): one critical alert of the checkout group."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="CheckoutErrors"}',
        "status": "firing",
        "receiver": "tocsin",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": name, "severity": "critical", "service": "checkout"},
                "annotations": {"summary": summary},
                "startsAt": datetime.now(UTC).isoformat(),
                "fingerprint": fingerprint,
            }
        ],
    }


def fire_alert(stack: Stack) -> str:
    """One critical alert through Alertmanager's webhook; the incident's id."""
    payload = webhook_payload("CheckoutErrors", ALERT_SUMMARY, "c0ffee0001")
    response = httpx.post(stack.alertmanager_url, json=payload, timeout=10)
    assert response.status_code in (200, 202), response.text
    [alert] = stack.get("/api/v1/alerts")["items"]
    assert (alert["severity"], alert["action"]) == ("P1", "page"), alert
    incident_id = alert["incident_id"]
    assert isinstance(incident_id, str), alert
    # The alert's service label picks the service, and so the escalation policy that pages.
    assert stack.incident(incident_id)["services"] == ["checkout"]
    return incident_id


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def step_clock(stack: Stack, incident_id: str, key: str) -> dict[str, Any]:
    clocks: list[dict[str, Any]] = stack.incident(incident_id)["clocks"]
    [clock] = [c for c in clocks if c["key"] == key]
    return clock


ACK_LINK = re.compile(r"Acknowledge \(stops escalation\): (\S+)")


def alices_pages(stack: Stack, incident_id: str) -> tuple[Mail, Received, str]:
    """Wait for Alice's mail and webhook; check what they say; return them and the ack link."""

    def both() -> tuple[Mail, Received] | None:
        hooks = stack.hooks_for("alice")
        if stack.smtp.mails and hooks:
            return stack.smtp.mails[0], hooks[0]
        return None

    mail, hook = poll("Alice's page by email and by webhook", both, stack)
    incident = stack.incident(incident_id)
    subject = f"[P1] {incident_id}: {ALERT_SUMMARY}"

    # The mail, as the SMTP server received it.
    assert mail.rcpt_tos == ["alice@example.com"]
    assert mail["From"] == "tocsin@example.org"
    assert mail["Subject"] == subject
    mail_key = f"{incident_id}/page:1:1/alice/0"
    assert mail["X-Tocsin-Idempotency-Key"] == mail_key
    assert mail["Message-ID"] == message_id(mail_key)  # <key@tocsin>, ":" written as =3A
    text = mail.text
    assert incident_id in text and "[P1]" in text, text
    assert ALERT_SUMMARY in text and "critical" in text, text  # the alert, with its severity
    assert incident["summary"] and incident["summary"] in text, text
    found = ACK_LINK.search(text)
    assert found, text
    link = found.group(1)
    assert link.startswith(f"{stack.server.url}/ack/"), link

    # The webhook, as the HTTP receiver received it.
    hook_key = f"{incident_id}/page:1:1/alice/1"
    assert (hook.method, hook.idempotency_key) == ("POST", hook_key)
    body = hook.json()
    assert body["idempotency_key"] == hook_key
    assert (body["purpose"], body["subject"]) == ("page", subject)
    assert body["data"]["incident_id"] == incident_id
    assert body["data"]["severity"] == "P1"
    assert body["data"]["person"] == "alice"
    assert body["data"]["ack_url"] == link  # one link per person, in every message
    assert link in body["body"] and ALERT_SUMMARY in body["body"]
    return mail, hook, link


# -- the journeys ------------------------------------------------------------------------------


def test_alice_is_paged_acknowledges_from_the_link_and_bob_is_never_paged(stack: Stack) -> None:
    incident_id = fire_alert(stack)
    _mail, _hook, link = alices_pages(stack, incident_id)
    step_2 = step_clock(stack, incident_id, "page:1:2")
    assert step_2["state"] == "pending" and step_2["targets"] == ["person:bob"], step_2

    # Opening the link (as a browser, or a mail scanner, would) shows the incident and a
    # button; it does not acknowledge.
    with httpx.Client(timeout=10) as browser:
        shown = browser.get(link)
        assert shown.status_code == 200, shown.text
        assert "Acknowledge this incident?" in shown.text
        assert incident_id in shown.text and "Acknowledge as alice" in shown.text
        assert '<form method="post">' in shown.text
        assert stack.incident(incident_id)["acknowledged_at"] is None

        # Pressing the button submits the form: a POST to the same URL.
        pressed = browser.post(link, data={})
        assert pressed.status_code == 200, pressed.text
        assert f"{incident_id} is acknowledged by alice" in pressed.text

        incident = stack.incident(incident_id)
        assert incident["acknowledged_by"] == "alice"
        assert incident["page_failures"] == []  # every page got through
        acknowledged_at = parse_time(incident["acknowledged_at"])
        assert acknowledged_at < parse_time(step_2["due_at"]), (
            "the acknowledgement came after step 2 was due; this machine is too slow for the test"
        )
        assert step_clock(stack, incident_id, "page:1:2")["state"] == "cancelled"
        events = stack.timeline(incident_id)
        [acked] = [e for e in events if e["kind"] == "acknowledged"]
        assert acked["actor"] == "alice"
        [cancelled] = [e for e in events if e["kind"] == "clocks_cancelled"]
        assert "page:1:2" in cancelled["data"]["keys"]

        # Wait until well after step 2 would have fired: Bob is never paged.
        quiet_until = parse_time(step_2["due_at"]) + timedelta(seconds=ENGINE_SLACK_S)
        while datetime.now(UTC) < quiet_until:
            assert not stack.hooks_for("bob"), stack.context()
            time.sleep(0.1)
        assert not stack.hooks_for("bob"), stack.context()
        paged = [e["data"] for e in stack.timeline(incident_id) if e["kind"] == "paged"]
        assert [p["key"] for p in paged] == ["page:1:1"], paged
        assert [p["people"] for p in paged] == [["alice"]], paged
        assert len(stack.smtp.mails) == 1 and len(stack.hooks_for("alice")) == 1

        # The link works once: using it again is refused, in HTML and in JSON.
        again = browser.post(link, data={})
        assert again.status_code == 409, again.text
        assert "already used" in again.text
        as_json = browser.post(link, headers={"Accept": "application/json"})
        assert as_json.status_code == 409
        assert "already used" in as_json.json()["message"]
        reopened = browser.get(link)
        assert reopened.status_code == 200
        assert "Already acknowledged by alice" in reopened.text
        assert "<form" not in reopened.text

        # A forged link (the signature of another) is refused without acknowledging anything.
        signed, _, signature = link.rpartition(".")
        forged = f"{signed}.{'B' if signature.startswith('A') else 'A'}{signature[1:]}"
        refused = browser.post(forged, data={})
        assert refused.status_code == 404 and "no such acknowledge link" in refused.text

    verify = stack.server.cli("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_when_nobody_acknowledges_step_2_pages_bob_on_time(stack: Stack) -> None:
    incident_id = fire_alert(stack)
    _mail, _hook, alice_link = alices_pages(stack, incident_id)
    due_at = parse_time(step_clock(stack, incident_id, "page:1:2")["due_at"])
    declared_at = parse_time(stack.incident(incident_id)["declared_at"])
    assert due_at - declared_at == timedelta(seconds=STEP_2_AFTER_S)

    [bob] = poll(
        "Bob's page from step 2",
        lambda: stack.hooks_for("bob"),
        stack,
        seconds=STEP_2_AFTER_S + 15,
    )
    assert bob.idempotency_key == f"{incident_id}/page:1:2/bob/0"
    body = bob.json()
    assert (body["data"]["person"], body["data"]["step"]) == ("bob", "page:1:2")
    bob_link = body["data"]["ack_url"]
    assert bob_link != alice_link and bob_link in body["body"]

    # On time: fired at its due time (within a few engine ticks), not before.
    fired = [e for e in stack.timeline(incident_id) if e["kind"] == "paged"]
    assert [(e["data"]["key"], e["data"]["people"]) for e in fired] == [
        ("page:1:1", ["alice"]),
        ("page:1:2", ["bob"]),
    ]
    lateness = (parse_time(fired[1]["at"]) - due_at).total_seconds()
    assert 0 <= lateness < ENGINE_SLACK_S, f"step 2 paged {lateness:.2f}s after it was due"
    assert step_clock(stack, incident_id, "page:1:2")["state"] == "fired"
    assert len(stack.smtp.mails) == 1  # Alice was paged once, not again by step 2

    # Bob acknowledges from his own link; the answer is JSON when asked for.
    acked = httpx.post(bob_link, headers={"Accept": "application/json"}, timeout=10)
    assert acked.status_code == 200, acked.text
    assert acked.json() == {"status": "acknowledged", "incident_id": incident_id, "by": "bob"}
    assert stack.incident(incident_id)["acknowledged_by"] == "bob"
    # Alice's link is still unused, but the incident is acknowledged: nothing to do.
    late = httpx.post(alice_link, headers={"Accept": "application/json"}, timeout=10)
    assert late.status_code == 409 and "already acknowledged" in late.json()["message"]


# Alice reads her pager first now, and Carol, the commander, her mail (one a minute per
# mailbox: Alice's page already took hers).
JOINED_ONCALL = ONCALL_FILE.replace(
    """      - {{method: mail, after: 0m}}
      - {{method: pager, after: 0m}}""",
    """      - {{method: pager, after: 0m}}
      - {{method: mail, after: 0m}}""",
).replace(
    "schedules:",
    """  - handle: carol
    name: Carol Mendes
    contact_methods:
      - {{name: mail, kind: email, address: carol@example.com}}
schedules:""",
)


def test_alerts_joining_the_acknowledged_incident_tell_the_acknowledger_once(
    stack: Stack, tmp_path: Path
) -> None:
    """Alice acknowledges; three more alerts of the group arrive, one delivery each. Nobody is
    paged again, but Alice (on her pager) and Carol, the commander (by mail), each read once
    that three alerts joined. A critical alert from another integration opens an incident of
    its own and pages afresh."""
    incident_id = fire_alert(stack)
    _mail, _hook, link = alices_pages(stack, incident_id)
    acked = httpx.post(link, headers={"Accept": "application/json"}, timeout=10)
    assert acked.status_code == 200, acked.text
    oncall = tmp_path / "oncall-joined.yaml"
    oncall.write_text(JOINED_ONCALL.format(hooks=stack.hooks.url, step_2=STEP_2_AFTER_S))
    applied = stack.server.cli("oncall", "apply", str(oncall))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    role = stack.api.post(
        f"/api/v1/incidents/{incident_id}/roles", json={"role": "commander", "assignee": "carol"}
    )
    assert role.status_code == 200, role.text

    for n in (2, 3, 4):
        payload = webhook_payload("CheckoutErrors", f"Checkout node {n} failing", f"c0ffee000{n}")
        response = httpx.post(stack.alertmanager_url, json=payload, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["incidents"] == [incident_id]

    subject = f"3 new alerts joined {incident_id}: {ALERT_SUMMARY}"
    mail = poll(
        "Carol's mail saying alerts joined",
        lambda: [m for m in stack.smtp.mails if m["Subject"] == subject],
        stack,
        seconds=JOINED_AFTER_S + 15,
    )[0]
    assert mail.rcpt_tos == ["carol@example.com"]
    hook = poll(
        "Alice's pager saying alerts joined",
        lambda: [h for h in stack.hooks_for("alice") if h.json()["subject"] == subject],
        stack,
    )[0]
    for text in (mail.text, hook.json()["body"]):
        assert "after alice acknowledged it" in text, text
        for n in (2, 3, 4):
            assert f"Checkout node {n} failing" in text, text
        assert f"{stack.server.url}/console/incidents/{incident_id}" in text, text
    time.sleep(1)  # one burst, one message each
    assert [m["Subject"] for m in stack.smtp.mails].count(subject) == 1
    assert [h.json()["subject"] for h in stack.hooks_for("alice")].count(subject) == 1
    assert not stack.hooks_for("bob")
    queued = [e["data"] for e in stack.timeline(incident_id) if e["kind"] == "message_queued"]
    assert [(q["kind"], sorted(q["recipients"])) for q in queued] == [
        ("joined", ["alice", "carol"])
    ]

    other = stack.api.post(
        "/api/v1/integrations", json={"name": "scripts", "kind": "generic", "service": "checkout"}
    )
    assert other.status_code == 201, other.text
    sent = httpx.post(
        other.json()["urls"]["webhook"],
        json={"summary": "Payments down", "severity": "critical", "service": "checkout"},
        timeout=10,
    )
    assert sent.status_code == 200, sent.text
    [second] = sent.json()["incidents"]
    assert second != incident_id
    assert stack.incident(second)["acknowledged_at"] is None
    poll(
        "the new incident's page to Alice",
        lambda: [h for h in stack.hooks_for("alice") if second in h.json()["subject"]],
        stack,
    )
