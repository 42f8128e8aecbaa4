"""The policy's evidence and containment sections, and the content-addressed store (pure I/O
on a temporary directory, no database)."""

from __future__ import annotations

import hashlib
from io import BytesIO
from pathlib import Path

import pytest

from tocsin.errors import InvalidInput, TooLarge
from tocsin.evidence.storage import LocalStore
from tocsin.policy.loader import PolicyError, load_policy, load_policy_text

BASE = """\
name: acme
title: Acme runbook
severities:
  - {id: P0, name: Critical}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy_text(BASE + text, source="acme.yaml")
    return [f"{i.field}: {i.message}" for i in caught.value.issues]


def test_proofkit_keeps_application_logs_90_days_and_security_logs_a_year() -> None:
    evidence = load_policy("proofkit").policy.evidence
    kept = {c.id: c.keep.amount.days for c in evidence.retention}
    assert kept == {"application_logs": 90, "security_logs": 365}
    assert evidence.default_class == "security_logs"


def test_an_unknown_default_class_is_named_with_the_classes() -> None:
    (problem,) = problems(
        "evidence:\n  retention: [{id: logs, name: Logs, keep: 30d}]\n  default_class: log\n"
    )
    assert problem == "evidence.default_class: unknown retention class 'log'; allowed: logs"


def test_retention_is_calendar_time() -> None:
    (problem,) = problems("evidence:\n  retention: [{id: logs, name: Logs, keep: 5bd}]\n")
    assert "evidence.retention[0].keep" in problem and "calendar" in problem


def test_a_switch_webhook_must_be_http() -> None:
    (problem,) = problems(
        "containment_flags:\n  - {id: ro, when: x, webhook: {url: 'ftp://x'}, watch: 30m}\n"
    )
    assert problem.startswith("containment_flags[0].webhook.url")


def test_rastup_declares_global_readonly_with_its_watch_and_a_limit() -> None:
    switch = load_policy("rastup").policy.switch("global-readonly")
    assert switch is not None and switch.webhook is None
    assert (str(switch.watch), str(switch.limit)) == ("30m", "4h")


def test_the_store_names_bytes_by_their_hash_and_keeps_them_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    first = store.put(BytesIO(b"evidence"))
    again = store.put(BytesIO(b"evidence"))
    assert first == again and first.sha256 == hashlib.sha256(b"evidence").hexdigest()
    assert store.path_for(first.sha256).read_bytes() == b"evidence"
    assert list((tmp_path / "incoming").iterdir()) == []
    assert store.digest_of(first.sha256) == first.sha256
    store.delete(first.sha256)
    assert store.digest_of(first.sha256) is None


def test_too_much_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(TooLarge):
        store.put(BytesIO(b"x" * 11), limit=10)
    assert list((tmp_path / "incoming").iterdir()) == []
    assert not (tmp_path / "sha256").exists()


def test_a_name_that_is_not_a_digest_never_reaches_the_filesystem(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        LocalStore(tmp_path).path_for("../../etc/passwd")
