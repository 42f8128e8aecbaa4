"""Who a message goes to: recipients (an outbox channel and address, with the person and
contact method they belong to, if any) and the problems met finding them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipient:
    """One address a message goes to. `name` is what a person calls it (alice, legal@...)."""

    name: str
    channel: str  # an outbox channel: email, webhook, apprise, slack, ...
    address: str
    person_id: int | None = None
    contact_method_id: int | None = None
    rule_position: int | None = None
    data: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.channel, self.address)


@dataclass
class Reach:
    recipients: list[Recipient] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, found: Iterable[Recipient]) -> None:
        seen = {r.key for r in self.recipients}
        for recipient in found:
            if recipient.key not in seen:
                self.recipients.append(recipient)
                seen.add(recipient.key)

    def merge(self, other: Reach) -> None:
        self.add(other.recipients)
        self.problems += [p for p in other.problems if p not in self.problems]
