"""The table of intake kinds: what it gives senders, and the docs that copy it by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tocsin.alerts.kinds import KINDS, Auth, Kind, heartbeat, in_words, opsgenie
from tocsin.alerts.normalized import AlertEvent
from tocsin.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://tocsin.example.com/"
KEY = "0123456789abcdef0123456789abcdef"


def test_the_create_response_points_each_sender_where_it_always_has() -> None:
    urls = {name: kind.urls_for(KEY, BASE) for name, kind in KINDS.items()}
    base = BASE.rstrip("/")
    assert urls == {
        "alertmanager": {"webhook": f"{base}/api/v1/integrations/{KEY}/alertmanager"},
        "pagerduty": {"events_v2": f"{base}/v2/enqueue", "routing_key": KEY},
        "grafana": {"webhook": f"{base}/api/v1/integrations/{KEY}/grafana"},
        "opsgenie": {
            "api_url": base,
            "alerts": f"{base}/v2/alerts",
            "authorization": f"GenieKey {KEY}",
        },
        "generic": {"webhook": f"{base}/api/v1/integrations/{KEY}/generic"},
        "heartbeat": {"ping": f"{base}/api/v1/heartbeats/{KEY}"},
    }


def test_the_kinds_are_listed_in_the_order_errors_have_always_named_them() -> None:
    assert in_words() == "alertmanager, pagerduty, grafana, opsgenie, generic or heartbeat"


def _docs_row(kind: Kind) -> str:
    urls = ", ".join(f"{name}: `<tocsin>{path}`" for name, path in kind.urls.items())
    return f"| `{kind.name}` | {kind.description} | {urls} | {kind.auth} |"


def test_the_table_in_docs_alerts_md_is_the_table_of_kinds() -> None:
    text = (ROOT / "docs" / "alerts.md").read_text()
    table = text[text.index("## Kinds") : text.index("## Senders")]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows == [_docs_row(kind) for kind in KINDS.values()]


def test_the_readme_offers_every_kind() -> None:
    text = (ROOT / "README.md").read_text()
    offered = re.search(r"integration create --kind ([a-z\\|]+) ", text)
    assert offered is not None
    assert offered.group(1).split("\\|") == list(KINDS)


def test_a_key_in_the_path_is_in_every_url_of_its_kind() -> None:
    for kind in KINDS.values():
        in_path = ["{key}" in path for path in kind.urls.values()]
        assert all(in_path) if kind.auth is Auth.PATH else not any(in_path)


def test_a_heartbeat_is_due_an_interval_and_its_grace_after_the_last_ping() -> None:
    pinged = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert heartbeat.next_due(pinged, 300, 60) == pinged + timedelta(seconds=360)
    assert heartbeat.next_due(pinged, 300, None) == pinged + timedelta(seconds=300)


def test_a_heartbeat_without_an_interval_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        heartbeat.require_interval(None)
    assert refused.value.field == "heartbeat_interval_s"


def test_a_ping_resolves_the_missed_ping_alert() -> None:
    since = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    missed = heartbeat.missed("backup", since=since, service="db", interval_s=60, grace_s=0)
    resolve = heartbeat.ping()
    assert (missed.event, resolve.event) == (AlertEvent.TRIGGER, AlertEvent.RESOLVE)
    assert missed.dedup_key == resolve.dedup_key == heartbeat.MISSED


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("GenieKey abc", "abc"),
        ("geniekey  abc ", "abc"),
        ("Bearer abc", None),
        ("GenieKey ", None),
        ("", None),
    ],
)
def test_the_genie_key_is_read_from_the_authorization_header(header: str, key: str | None) -> None:
    assert opsgenie.genie_key(header) == key


def test_an_opsgenie_body_is_refused_naming_fields_as_opsgenie_does() -> None:
    body = {"message": "disk full", "priority": "P9", "tags": ["ok", "x" * 51]}
    with pytest.raises(opsgenie.Unprocessable) as refused:
        opsgenie.validate(opsgenie.CreateAlert, body)
    assert set(refused.value.errors) == {"priority", "tags[1]"}
    assert refused.value.errors["priority"] == opsgenie.PRIORITY_ERROR
