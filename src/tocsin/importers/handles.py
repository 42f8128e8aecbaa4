"""Handles for imported records: stable across re-runs, never taking a hand-made one's.

A record imported before keeps its handle (found by its source id), so renaming it at the
source changes its name, not every reference to it. A person with the same email as one
already in Tocsin becomes that person. Anything else gets a handle made from its name.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from tocsin.oncall.config import OnCallConfig

KINDS = ("person", "team", "schedule", "escalation policy", "service")
_NOT_HANDLE = re.compile(r"[^a-z0-9_.-]+")


def slug(text: str, fallback: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = _NOT_HANDLE.sub("-", ascii_text.lower()).strip("-._")
    return cleaned[:90] or fallback


def layer_name(name: str, taken: set[str]) -> str:
    """A layer's name, unique in its schedule and never the one overrides are shown under."""
    candidate, n = name if name != "override" else "override-rotation", 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


class Sourced(Protocol):
    @property
    def handle(self) -> str: ...
    @property
    def source(self) -> str | None: ...


class Handles:
    def __init__(self, current: OnCallConfig) -> None:
        self._claimed: dict[str, str] = {}
        self._by_source: dict[str, str] = {}
        self._taken: dict[str, set[str]] = defaultdict(set)
        self._by_email = {p.email.lower(): p.handle for p in current.people if p.email}
        for kind, items in zip(KINDS, _sections(current), strict=True):
            for item in items:
                self._taken[kind].add(item.handle)
                if item.source:
                    self._by_source[item.source] = item.handle

    def claim(self, kind: str, source: str, name: str, email: str | None = None) -> str:
        """The handle for the record `source`, named `name` at the source."""
        known = self._by_source.get(source) or (email and self._by_email.get(email.lower()))
        handle = known or self._free(kind, slug(name, kind.rsplit(maxsplit=1)[-1]))
        self._taken[kind].add(handle)
        self._claimed[source] = handle
        return handle

    def _free(self, kind: str, base: str) -> str:
        handle, n = base, 2
        while handle in self._taken[kind]:
            handle, n = f"{base}-{n}", n + 1
        return handle

    def forget(self, source: str) -> None:
        """`source` is not imported after all: nothing may refer to it."""
        self._claimed.pop(source, None)

    def of(self, source: str) -> str | None:
        """The handle given to `source` in this import, if any."""
        return self._claimed.get(source)


def _sections(config: OnCallConfig) -> tuple[Sequence[Sourced], ...]:
    return (
        config.people,
        config.teams,
        config.schedules,
        config.escalation_policies,
        config.services,
    )
