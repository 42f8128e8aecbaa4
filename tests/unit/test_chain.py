"""The hash chain, without a database."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.incidents.chain import GENESIS_HASH, canonical_event, find_break, link_hash


@dataclass(frozen=True)
class Event:
    incident_id: str
    seq: int
    kind: str
    at: datetime
    actor: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


def build_chain(length: int) -> list[Event]:
    events, prev = [], GENESIS_HASH
    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    for seq in range(1, length + 1):
        fields = dict(
            incident_id="INC-1",
            seq=seq,
            kind="note",
            at=start + timedelta(minutes=seq),
            actor="alice",
            data={"text": f"note {seq}"},
        )
        digest = link_hash(prev, canonical_event(**fields))  # type: ignore[arg-type]
        events.append(Event(**fields, prev_hash=prev, hash=digest))  # type: ignore[arg-type]
        prev = digest
    return events


def check(events: list[Event], head: Event) -> str | None:
    found = find_break("INC-1", events, head_seq=head.seq, head_hash=head.hash)
    return None if found is None else str(found)


def test_an_intact_chain_has_no_break() -> None:
    events = build_chain(5)
    assert check(events, events[-1]) is None


def test_it_names_the_altered_event() -> None:
    events = build_chain(5)
    events[2] = replace(events[2], data={"text": "rewritten history"})
    assert check(events, events[-1]) == "INC-1: event #3: content does not match its hash (altered)"


def test_it_names_the_gap_left_by_a_deleted_event() -> None:
    events = build_chain(5)
    head = events[-1]
    del events[1]
    assert check(events, head) == "INC-1: event #2: missing (found #3 next)"


def test_it_catches_a_deleted_tail_through_the_head() -> None:
    events = build_chain(5)
    assert check(events[:-1], events[-1]) == "INC-1: event #5: chain ends at #4 but the head is #5"


def test_it_catches_two_events_swapped() -> None:
    events = build_chain(5)
    a, b = events[1], events[2]
    events[1], events[2] = replace(b, seq=2), replace(a, seq=3)
    assert check(events, events[-1]) == "INC-1: event #2: prev_hash does not match the event before"


def test_the_canonical_form_ignores_key_order_and_timezone_of_the_input() -> None:
    at = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    one = canonical_event(incident_id="I", seq=1, kind="k", at=at, actor="a", data={"b": 1, "a": 2})
    other = canonical_event(
        incident_id="I", seq=1, kind="k", at=at.astimezone(), actor="a", data={"a": 2, "b": 1}
    )
    assert one == other
