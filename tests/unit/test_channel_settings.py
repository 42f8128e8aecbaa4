"""Channel settings and payloads, without I/O: what each kind accepts, how it is shown, how a
webhook is signed and what a Teams card holds."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tocsin.errors import InvalidInput
from tocsin.notify.channels import Message, NamedSettings, mask_address
from tocsin.notify.channels.teams import card, envelope
from tocsin.notify.channels.webhook import encode, signature
from tocsin.notify.named_channels import masked, validate

MESSAGE = Message(
    idempotency_key="INC-2026-11-20-01/comms:P0:extended/ab12",
    purpose="notify",
    channel="teams",
    address="channel:war-room",
    subject="[P0] INC-2026-11-20-01: Checkout errors",
    body="Checkout is failing in the EU.\n\nConsole: http://tocsin.test/console/incidents/INC-2026-11-20-01",
    data={"incident_id": "INC-2026-11-20-01"},
)


def problems(kind: str, config: dict[str, object]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as refused:
        validate(kind, config)
    return dict(refused.value.problems)


def test_email_recipients_may_be_one_string_with_commas() -> None:
    settings = validate(
        "email",
        {"to": "a@example.com, b@example.org", "host": "smtp.example.com", "from": "t@x.io"},
    )
    assert settings.stored()["to"] == ["a@example.com", "b@example.org"]
    assert settings.stored()["security"] == "starttls"


def test_each_bad_email_setting_is_named() -> None:
    found = problems(
        "email",
        {"to": [], "host": "smtp example", "from": "Ops", "security": "ssl", "ca_cert": "x"},
    )
    assert set(found) == {
        "config.to",
        "config.host",
        "config.from",
        "config.security",
        "config.ca_cert",
    }
    assert "'plain', 'starttls' or 'tls'" in found["config.security"]
    assert found["config.ca_cert"].startswith("must be a PEM certificate")


def test_a_password_is_never_sent_in_the_clear() -> None:
    config = {"to": "a@x.io", "host": "h.x.io", "from": "t@x.io", "security": "plain"}
    found = problems("email", {**config, "username": "u", "password": "pw-123456"})
    assert found == {
        "config.security": "plain would send the password unencrypted; use starttls or tls"
    }
    assert problems("email", {**config, "security": "tls", "password": "pw"}) == {
        "config.username": "a password needs a username"
    }


def test_a_webhook_needs_a_long_secret_and_cannot_override_tocsins_headers() -> None:
    found = problems(
        "webhook",
        {"url": "https://x.io/h", "secret": "short", "headers": {"X-Tocsin-Signature": "x"}},
    )
    assert found["config.secret"].startswith("must be at least 16 characters")
    assert found["config.headers"].startswith("X-Tocsin-Signature is set by Tocsin")


def test_an_apprise_url_apprise_cannot_load_is_refused_without_showing_it() -> None:
    found = problems("apprise", {"url": "slackk://T000/B000/token-xyz"})
    assert "Apprise does not recognise this URL (scheme 'slackk')" in found["config.url"]
    assert "token-xyz" not in found["config.url"]


def test_secrets_and_tokens_in_urls_are_masked() -> None:
    hook = {"url": "https://h.example.com/a?token=t0k3n", "secret": "0123456789abcdef-x"}
    assert masked("webhook", {**hook, "headers": {"Authorization": "Bearer b34r3r"}}) == {
        "url": "https://h.example.com/********",
        "secret": "********",
        "headers": {"Authorization": "********"},
        "timeout_s": 10.0,
    }
    assert masked("apprise", {"url": "tgram://123456:bot-token/chat"}) == {
        "url": "tgram://********"
    }
    workflow = "https://prod-01.westus.logic.azure.com:443/workflows/abc/invoke?sig=s1gn4ture"
    assert masked("teams", {"url": workflow})["url"] == (
        "https://prod-01.westus.logic.azure.com/********"  # the default port, normalised away
    )


def test_settings_saved_under_an_older_shape_are_shown_as_masks_only() -> None:
    assert masked("teams", {"url": "https://x.io/?sig=s", "colour": "red"}) == {
        "url": "********",
        "colour": "********",
    }


def test_a_named_channel_address_is_a_name_not_a_secret() -> None:
    assert mask_address("channel:exec-sms") == "channel:exec-sms"


def test_named_settings_stay_out_of_reprs() -> None:
    named = NamedSettings("webhook", {"secret": "do-not-print-me-0001"})
    message = Message("k", "notify", "webhook", "channel:h", "s", "b", named=named)
    assert "do-not-print-me" not in repr(named) + repr(message)


def test_the_signature_is_hmac_sha256_over_the_timestamp_and_the_raw_body() -> None:
    body = encode(MESSAGE)
    expected = hmac.new(b"the-secret-0123456", b"1790000000." + body, hashlib.sha256)
    assert signature("the-secret-0123456", 1790000000, body) == f"sha256={expected.hexdigest()}"
    assert body.startswith(b'{"body":"Checkout is failing')  # compact JSON, keys sorted


def test_a_teams_card_has_the_subject_the_lines_and_a_button_to_the_incident() -> None:
    sent = envelope(MESSAGE)
    assert sent["type"] == "message"
    content = sent["attachments"][0]["content"]
    assert content == card(MESSAGE)
    texts = [block["text"] for block in content["body"]]
    assert texts == [
        MESSAGE.subject,
        "Checkout is failing in the EU.",
        "Console: http://tocsin.test/console/incidents/INC-2026-11-20-01",
        f"Tocsin message {MESSAGE.idempotency_key}",
    ]
    assert content["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open incident",
            "url": "http://tocsin.test/console/incidents/INC-2026-11-20-01",
        }
    ]


def test_a_long_message_is_cut_in_the_card_saying_so() -> None:
    long = Message("k", "notify", "teams", "https://x.io", "s", "\n".join(map(str, range(100))))
    texts = [block["text"] for block in card(long)["body"]]
    assert texts[-2] == "(40 more lines in Tocsin)" and "59" in texts
