"""Planning and applying an import: merge it into what Tocsin has, then apply the result.

An import never removes what it did not bring: the on-call file is read back from the
database, the source's records replace the ones they were imported as (or, for people, the
one with the same email), records an earlier import of this source brought that the source
no longer has are removed, and everything else stays. The result goes through
`oncall.service.apply`, the on-call file's single writer, in one transaction with the
integrations; a plan is the same transaction rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml
from sqlalchemy.orm import Session

from tocsin.alerts import integrations
from tocsin.db import Database
from tocsin.importers.model import Imported, IntegrationIn, LeftOut
from tocsin.oncall import service as oncall
from tocsin.oncall.config import OnCallConfig
from tocsin.oncall.export import current_config

SECTIONS = ("people", "teams", "schedules", "escalation_policies", "services")
ACTOR = "tocsin import"
Item = TypeVar("Item")


@dataclass
class Outcome:
    """What an import changed (or would change), and what it left out."""

    changes: list[str]
    left_out: list[LeftOut]
    config: OnCallConfig
    integrations: list[IntegrationIn] = field(default_factory=list)


def from_vendor(source: str | None, vendor: str) -> bool:
    return bool(source and source.startswith(f"{vendor}:"))


def merged(current: OnCallConfig, imported: OnCallConfig, vendor: str) -> OnCallConfig:
    """`current` with the import's records in place of the ones they replace."""
    sections = {name: _merged_section(current, imported, name, vendor) for name in SECTIONS}
    return OnCallConfig.model_validate(sections)


def _merged_section(
    current: OnCallConfig, imported: OnCallConfig, name: str, vendor: str
) -> list[dict[str, Any]]:
    incoming = {item.handle: item for item in getattr(imported, name)}
    out = []
    for item in getattr(current, name):
        if item.handle in incoming:
            out.append(incoming.pop(item.handle))
        elif not from_vendor(item.source, vendor):
            out.append(item)
    return [item.model_dump() for item in [*out, *incoming.values()]]


def run(database: Database, imported: Imported, *, apply: bool) -> Outcome:
    """Plan (apply=False: nothing is kept) or apply an import in one transaction."""
    with database.write_session() as session:
        outcome = _run(session, imported)
        if not apply:
            session.rollback()
    return outcome


def _run(session: Session, imported: Imported) -> Outcome:
    config = merged(current_config(session), imported.config, imported.vendor)
    changes = oncall.apply(session, config)
    left_out = list(imported.left_out)
    for wanted in imported.integrations:
        change, note = _integration(session, wanted)
        changes += [change] if change else []
        left_out += [note] if note else []
    return Outcome(changes, left_out, config, list(imported.integrations))


def _integration(session: Session, wanted: IntegrationIn) -> tuple[str | None, LeftOut | None]:
    existing = integrations.by_key(session, wanted.key)
    if existing is None:
        integrations.create(
            session,
            name=wanted.name,
            kind=wanted.kind,
            actor=ACTOR,
            service=wanted.service,
            key=wanted.key,
        )
        kept = "the token of its old URL" if wanted.was else "the sender's own key"
        return f"created integration {wanted.name} ({wanted.kind}, {kept})", None
    found = (existing.name, existing.kind, existing.service)
    if found == (wanted.name, wanted.kind, wanted.service):
        return None, None
    return None, LeftOut(
        f"integration {wanted.name}",
        f"Tocsin already has an integration with its key ({found[0]}, {found[1]}, service "
        f"{found[2]}), and import does not change integrations",
        "delete it and re-run the import, or leave it as it is",
    )


def as_yaml(config: OnCallConfig) -> str:
    """The on-call file, as `tocsin oncall apply` reads it."""
    document = config.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def unique(items: Sequence[Item]) -> list[Item]:
    return list(dict.fromkeys(items))
