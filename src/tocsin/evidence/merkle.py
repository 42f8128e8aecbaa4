"""A Merkle tree over chain heads (pure): one root commits to every incident's timeline as it
stood, so deleting a whole incident, or rewriting one and recomputing its chain, changes it.

Leaves are sorted by incident id. Leaf and inner hashes carry different prefixes (RFC 6962
style), so a leaf can never pass for an inner node. An odd node is carried up unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Head:
    incident_id: str
    seq: int
    hash: str


def leaf(head: Head) -> bytes:
    return hashlib.sha256(
        b"\x00" + f"{head.incident_id}\n{head.seq}\n{head.hash}".encode()
    ).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _level_up(level: list[bytes]) -> list[bytes]:
    paired = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    return paired + ([level[-1]] if len(level) % 2 else [])


def root(heads: Sequence[Head]) -> str:
    level = [leaf(h) for h in sorted(heads, key=lambda h: h.incident_id)]
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        level = _level_up(level)
    return level[0].hex()


def proof(heads: Sequence[Head], incident_id: str) -> list[tuple[str, str]]:
    """The sibling hashes from an incident's leaf up to the root: ("L" or "R", hex)."""
    ordered = sorted(heads, key=lambda h: h.incident_id)
    index = next(i for i, h in enumerate(ordered) if h.incident_id == incident_id)
    level = [leaf(h) for h in ordered]
    path: list[tuple[str, str]] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(("L" if sibling < index else "R", level[sibling].hex()))
        level, index = _level_up(level), index // 2
    return path


def root_from_proof(head: Head, path: Sequence[tuple[str, str]]) -> str:
    value = leaf(head)
    for side, sibling in path:
        other = bytes.fromhex(sibling)
        value = _node(other, value) if side == "L" else _node(value, other)
    return value.hex()
