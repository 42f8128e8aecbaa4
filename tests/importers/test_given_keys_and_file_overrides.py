"""The two small changes imports rely on: integrations with a given key, and overrides owned
by the on-call file (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tocsin.alerts import integrations
from tocsin.db import Database
from tocsin.errors import Conflict, InvalidInput
from tocsin.oncall import service
from tocsin.oncall.config import OnCallConfig
from tocsin.oncall.export import current_config
from tocsin.policy.loader import load_yaml_model

FIXTURE = Path(__file__).parent.parent / "fixtures" / "oncall.yaml"
OVERRIDES = """
    overrides:
      - {person: carol, start: "2026-11-23T09:00:00Z", end: "2026-11-23T12:00:00Z"}
"""


def test_a_given_key_is_kept_checked_and_unique(database: Database) -> None:
    key = "2f0b9a3e-6d1c-4e8a-9b7f-3c5d8e1a2b4c"
    with database.write_session() as session:
        integrations.create(session, name="api", kind="opsgenie", actor="t", key=key)
        assert integrations.by_key(session, key) is not None
        with pytest.raises(Conflict):
            integrations.create(session, name="again", kind="opsgenie", actor="t", key=key)
        with pytest.raises(InvalidInput):
            integrations.create(session, name="short", kind="opsgenie", actor="t", key="abc")


def _apply(database: Database, text: str) -> list[str]:
    config = load_yaml_model(text, file="oncall.yaml", model=OnCallConfig)
    with database.write_session() as session:
        return service.apply(session, config)


def test_the_files_overrides_are_kept_in_step_and_others_left_alone(database: Database) -> None:
    with_override = FIXTURE.read_text().replace(
        "          participants: [alice, bob]\n",
        "          participants: [alice, bob]\n" + OVERRIDES,
    )
    _apply(database, with_override)
    with database.write_session() as session:
        service.add_override(
            session,
            handle="primary",
            person="bob",
            start=datetime(2026, 12, 1, tzinfo=UTC),
            end=datetime(2026, 12, 2, tzinfo=UTC),
            actor="ic",
        )
    assert _apply(database, with_override) == []
    with database.read_session() as session:
        exported = current_config(session).schedules[0].overrides
    assert [(o.person, o.source) for o in exported] == [("carol", None)]
    removed = _apply(database, FIXTURE.read_text())
    assert removed == ["removed override of primary (carol, 2026-11-23 09:00:00+00:00)"]
    with database.read_session() as session:
        at = datetime(2026, 12, 1, 12, tzinfo=UTC)
        assert service.who_is_on_call(session, "primary", at) == "bob"
