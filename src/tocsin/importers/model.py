"""What an import brings: on-call records, integrations to create, and what it left out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from tocsin.oncall.config import OnCallConfig

# Called once per request an import makes, with what it is fetching (for a progress bar).
Progress = Callable[[str], None]


def no_progress(_what: str) -> None:
    return None


@dataclass(frozen=True)
class LeftOut:
    """Something the source has that Tocsin does not take as it is, and what to do instead."""

    what: str
    why: str
    instead: str

    def __str__(self) -> str:
        return f"{self.what}: {self.why}. Instead: {self.instead}"


@dataclass(frozen=True)
class IntegrationIn:
    """An integration to create with the key its senders already use."""

    name: str
    kind: str
    key: str
    service: str | None
    source: str
    # Where its senders post now, when the key is part of that URL (Grafana OnCall's token):
    # the sender then changes its whole URL, keeping the key.
    was: str | None = None


@dataclass
class Imported:
    vendor: str
    config: OnCallConfig
    integrations: list[IntegrationIn] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)


@dataclass(frozen=True)
class Period:
    """Who the source says is on call over [start, end): source user ids."""

    start: datetime
    end: datetime
    people: frozenset[str]
