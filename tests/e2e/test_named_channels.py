"""Named channels, end to end: saved with the real CLI in a real `tocsin serve`, tested with
`tocsin notify test`, delivered over real sockets to an HTTP receiver (signed webhooks, Apprise
`json://`, Teams cards) and to aiosmtpd (plain, STARTTLS with a test-made CA and a login, TLS
from the first byte). Signatures are checked here, by the test's own HMAC, as a receiver
would; secrets are looked for in everything the CLI printed and the server logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import httpx
import pytest

from tests.certificates import Certificate, self_signed
from tests.e2e.conftest import BIN, Server, start_server, stop_server
from tests.e2e.receivers import HttpReceiver, Received, SmtpCatcher
from tests.e2e.slack import TOKEN, SlackStandIn
from tocsin.db import Database

pytestmark = pytest.mark.e2e

SECRET = "whsec-7c1f0a9e42d84b0b9d1e"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with HttpReceiver() as running:
        yield running


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return self_signed(tmp_path)


class Cli:
    """The CLI against the server, keeping every line it printed to look for secrets in."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.printed: list[str] = []

    def __call__(self, *args: str) -> CompletedProcess[str]:
        result = self.server.cli(*args)
        self.printed += [result.stdout, result.stderr]
        return result

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
        return result.stdout

    def leaked(self, *secrets: str) -> list[str]:
        seen = "\n".join(self.printed + self.server.log)
        return [secret for secret in secrets if secret in seen]


@pytest.fixture
def cli(server: Server) -> Cli:
    return Cli(server)


def secret_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text + "\n")
    return f"@{path}"


def signed_by(request: Received, secret: str) -> bool:
    """What a receiver checks: HMAC-SHA256 over "<timestamp>.<raw body>", and a fresh stamp."""
    timestamp = request.headers["x-tocsin-timestamp"]
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
    given = request.headers["x-tocsin-signature"]
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(given, f"sha256={mac.hexdigest()}")


def test_a_webhook_channel_signs_what_it_sends(
    cli: Cli, receiver: HttpReceiver, tmp_path: Path
) -> None:
    added = cli.ok(
        *("notify", "channel", "add", "hooks", "webhook"),
        *("--set", f"url={receiver.url}/tocsin?token=hook-token-41"),
        *("--set", f"secret={secret_file(tmp_path, 'secret', SECRET)}"),
        *("--set", 'headers={"Authorization": "Bearer receiver-token-93"}'),
    )
    assert f"added channel hooks (webhook): {receiver.url}/********" in added

    tested = cli("notify", "test", "hooks")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.startswith("delivered: the test message to hooks was accepted")
    (request,) = receiver.requests
    assert request.path == "/tocsin?token=hook-token-41"
    assert signed_by(request, SECRET)
    assert not signed_by(request, SECRET + "x")
    assert request.headers["authorization"] == "Bearer receiver-token-93"
    body = request.json()
    assert body["subject"] == "Tocsin test message to channel hooks"
    assert body["idempotency_key"] == request.idempotency_key
    shown = cli.ok("notify", "channel", "show", "hooks", "--json")
    assert json.loads(shown)["config"]["secret"] == "********"
    cli.ok("notify", "channel", "list")
    assert not cli.leaked(SECRET, "hook-token-41", "receiver-token-93")


def test_an_apprise_json_channel_reaches_its_receiver(cli: Cli, receiver: HttpReceiver) -> None:
    url = receiver.url.replace("http://", "json://") + "/apprise"
    cli.ok("notify", "channel", "add", "ops-json", "apprise", "--set", f"url={url}")
    cli.ok("notify", "test", "ops-json")
    (request,) = receiver.requests
    assert request.path == "/apprise"
    sent = request.json()
    assert sent["title"] == "Tocsin test message to channel ops-json"
    assert "If you can read it, messages to the channel ops-json (apprise)" in sent["message"]
    listing = json.loads(cli.ok("notify", "channel", "list", "--json"))
    (channel,) = listing["items"]
    assert channel["config"] == {"url": "json://********"} and channel["last_status"] == "sent"


def test_a_teams_channel_posts_an_adaptive_card_to_its_workflow(
    cli: Cli, receiver: HttpReceiver
) -> None:
    receiver.answer(202)  # what a Workflows trigger answers
    workflow = f"{receiver.url}/workflows/5e1f/triggers/manual/paths/invoke?sig=wf-signature-77"
    cli.ok("notify", "channel", "add", "war-room", "teams", "--set", f"url={workflow}")
    cli.ok("notify", "test", "war-room")
    (request,) = receiver.requests
    sent = request.json()
    assert sent["type"] == "message"
    (attachment,) = sent["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    texts = [block["text"] for block in card["body"]]
    assert texts[0] == "Tocsin test message to channel war-room"
    assert any("messages to the channel war-room (teams) arrive here" in t for t in texts)
    assert texts[-1] == f"Tocsin message {request.idempotency_key}"
    assert not cli.leaked("wf-signature-77")


def test_a_slack_channel_posts_with_its_own_bot_token(cli: Cli) -> None:
    with SlackStandIn() as slack:
        added = cli.ok(
            *("notify", "channel", "add", "ops-slack", "slack"),
            *("--set", f"token={TOKEN}", "--set", "channel=#ops", "--set", f"api_url={slack.url}"),
        )
        assert "added channel ops-slack (slack)" in added
        cli.ok("notify", "test", "ops-slack")
        (post,) = slack.posts("#ops")
        assert post["text"].startswith("*Tocsin test message to channel ops-slack*")
        shown = json.loads(cli.ok("notify", "channel", "show", "ops-slack", "--json"))
        assert shown["config"]["token"] == "********" and shown["config"]["channel"] == "#ops"

        cli.ok("notify", "channel", "set", "ops-slack", "--set", "token=xoxb-revoked-token")
        refused = cli("notify", "test", "ops-slack")
        assert refused.returncode == 1 and "invalid_auth" in refused.stdout + refused.stderr
    bad = cli("notify", "channel", "add", "x", "slack", "--set", "token=t", "--set", "channel=ops")
    assert "config.token" in bad.stderr and "config.channel" in bad.stderr
    assert not cli.leaked(TOKEN, "xoxb-revoked-token")


def test_an_email_channel_sends_from_its_sender_with_its_reply_to(cli: Cli) -> None:
    with SmtpCatcher() as smtp:
        cli.ok(
            *("notify", "channel", "add", "legal", "email"),
            *("--set", "to=legal@example.com, counsel@example.org"),
            *("--set", "host=127.0.0.1", "--set", f"port={smtp.port}", "--set", "security=plain"),
            *("--set", "from=Tocsin <tocsin@example.com>"),
            *("--set", "reply_to=incident-desk@example.com"),
        )
        cli.ok("notify", "test", "legal")
        (mail,) = smtp.mails
    assert mail.rcpt_tos == ["legal@example.com", "counsel@example.org"]
    assert mail["From"] == "Tocsin <tocsin@example.com>"
    assert mail["Reply-To"] == "incident-desk@example.com"
    assert mail["To"] == "legal@example.com, counsel@example.org"
    assert mail["Subject"] == "Tocsin test message to channel legal"
    assert not mail.tls


def test_starttls_trusts_the_channels_own_ca_and_logs_in(
    cli: Cli, certificate: Certificate, tmp_path: Path
) -> None:
    with SmtpCatcher(tls=certificate, login=("tocsin", PASSWORD)) as smtp:
        cli.ok(
            *("notify", "channel", "add", "security", "email"),
            *("--set", "to=security@example.com", "--set", "from=tocsin@example.com"),
            *("--set", "host=127.0.0.1", "--set", f"port={smtp.port}"),
            *("--set", "username=tocsin"),
            *("--set", f"password={secret_file(tmp_path, 'password', PASSWORD)}"),
        )
        # The test CA is nobody's but the test's: until the channel trusts it, nothing goes.
        untrusted = cli("notify", "test", "security")
        assert untrusted.returncode == 1
        assert "has a certificate Tocsin does not trust" in untrusted.stdout
        assert not smtp.mails and not smtp.logins

        cli.ok("notify", "channel", "set", "security", "--set", f"ca_cert=@{certificate.cert}")
        cli.ok("notify", "test", "security")
        # The first test message is retried with the fixed settings, and arrives too.
        deadline = time.monotonic() + 20
        while len(smtp.mails) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        mails = list(smtp.mails)
    assert len(mails) == 2
    assert all(mail.tls and mail.login == "tocsin" for mail in mails)
    assert smtp.logins == [("tocsin", True), ("tocsin", True)]
    shown = json.loads(cli.ok("notify", "channel", "show", "security", "--json"))
    assert shown["config"]["password"] == "********"
    assert shown["config"]["ca_cert"].startswith("-----BEGIN CERTIFICATE-----")
    assert not cli.leaked(PASSWORD)


def test_tls_from_the_first_byte(cli: Cli, certificate: Certificate) -> None:
    with SmtpCatcher(tls=certificate, implicit=True) as smtp:
        cli.ok(
            *("notify", "channel", "add", "ops-mail", "email"),
            *("--set", "to=ops@example.com", "--set", "from=tocsin@example.com"),
            *("--set", "host=127.0.0.1", "--set", f"port={smtp.port}", "--set", "security=tls"),
            *("--set", f"ca_cert=@{certificate.cert}"),
        )
        cli.ok("notify", "test", "ops-mail")
        (mail,) = smtp.mails
    assert mail.tls and mail.rcpt_tos == ["ops@example.com"]


def test_bad_settings_are_refused_naming_each_field_without_echoing_secrets(cli: Cli) -> None:
    missing = cli("notify", "channel", "add", "legal", "email", "--set", "host=smtp example")
    assert missing.returncode == 1
    for problem in ("config.to: required", "config.from: required", "config.host: must be"):
        assert problem in missing.stderr, missing.stderr
    plain = cli(
        *("notify", "channel", "add", "legal", "email", "--set", "to=l@example.com"),
        *("--set", "from=t@example.com", "--set", "host=smtp.example.com"),
        *("--set", "security=plain", "--set", "username=u", "--set", "password=hunter2-xyz"),
    )
    assert "config.security: plain would send the password unencrypted" in plain.stderr
    webhook = cli("notify", "channel", "add", "h", "webhook", "--set", "url=ftp://x")
    assert "config.url: URL scheme should be 'http' or 'https'" in webhook.stderr
    assert "config.secret: required" in webhook.stderr
    unknown = cli("notify", "channel", "add", "h", "pager", "--set", "url=x")
    allowed = "kind: Input should be 'email', 'webhook', 'apprise', 'teams' or 'slack'"
    assert unknown.returncode == 1 and allowed in unknown.stderr
    nothing = cli("notify", "test", "nowhere")
    assert nothing.returncode == 1 and "no notification channel named 'nowhere'" in nothing.stderr
    assert not cli.leaked("hunter2-xyz")


@pytest.fixture
def rastup(database: Database, tmp_path: Path) -> Iterator[Server]:
    running = start_server(database.url, tmp_path, policy="rastup")
    yield running
    stop_server(running)


def test_rastups_exec_sms_list_reaches_its_named_channel(
    rastup: Server, receiver: HttpReceiver
) -> None:
    cli = Cli(rastup)
    url = receiver.url.replace("http://", "json://") + "/sms"
    cli.ok("notify", "channel", "add", "exec-sms", "apprise", "--set", f"url={url}")
    headers = {"Authorization": f"Bearer {rastup.token}"}
    declared = httpx.post(
        f"{rastup.url}/api/v1/incidents",
        json={"title": "Checkout errors", "severity": "SEV3"},
        headers=headers,
    )
    assert declared.status_code == 201, declared.text
    incident = declared.json()
    (sms,) = receiver.wait_for(1)
    assert sms.path == "/sms"
    assert sms.json()["title"] == f"[SEV3] {incident['id']}: Checkout errors"
    comms = json.loads(cli.ok("incident", "comms", incident["id"], "--json"))
    (to_channel,) = [c for c in comms if c["address"] == "channel:exec-sms"]
    assert to_channel["channel"] == "apprise" and to_channel["recipient"] == "exec-sms"
    deadline = time.monotonic() + 10
    while to_channel["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)
        comms = json.loads(cli.ok("incident", "comms", incident["id"], "--json"))
        (to_channel,) = [c for c in comms if c["address"] == "channel:exec-sms"]
    assert to_channel["status"] == "sent"
    shown = json.loads(cli.ok("incident", "show", incident["id"], "--json"))
    assert not any("exec-sms" in p for u in shown["unreached"] for p in u["problems"])


@pytest.fixture
def web_only(database: Database, tmp_path: Path) -> Iterator[Server]:
    running = start_server(database.url, tmp_path, engine=False)
    yield running
    stop_server(running)


def test_a_separate_engine_logs_no_url_a_secret_rides_in(
    web_only: Server, receiver: HttpReceiver, tmp_path: Path
) -> None:
    """`tocsin engine` logs at INFO; the HTTP client's own request lines would name the URL."""
    cli = Cli(web_only)
    hook = f"{receiver.url}/hook?token=engine-hook-token-5"
    cli.ok(
        "notify",
        "channel",
        "add",
        "hooks",
        "webhook",
        "--set",
        f"url={hook}",
        "--set",
        f"secret={SECRET}",
    )
    workflow = f"{receiver.url}/workflows/1/invoke?sig=engine-wf-signature-6"
    cli.ok("notify", "channel", "add", "room", "teams", "--set", f"url={workflow}")
    engine = subprocess.Popen(
        [str(BIN / "tocsin"), "engine"],
        env=web_only.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        cli.ok("notify", "test", "hooks")
        cli.ok("notify", "test", "room")
    finally:
        engine.terminate()
        output, _ = engine.communicate(timeout=30)
    assert len(receiver.delivered) == 2
    assert "Tocsin engine running" in output
    for secret in ("engine-hook-token-5", "engine-wf-signature-6", SECRET):
        assert secret not in output
