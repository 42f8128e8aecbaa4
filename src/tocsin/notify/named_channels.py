"""Named channels: a kind's settings saved under a name, which the policy's audiences reach as
`channel:<name>` (ProofKit's `customers`, Rastup's `exec-sms`).

Settings are validated when saved, each error naming its field (`config.port`) and never
echoing what was given (it may be a password). They are shown masked everywhere
(ChannelConfig.shown); only the sending channel reads them whole, when the outbox claims a
message (tocsin.notify.outbox.claims). At rest they are one sealed value (tocsin.notify.sealed).
Changing a channel merges: a secret left out, or
given back as its mask, keeps its saved value, so a masked listing can be edited and saved.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.notify import channels, sealed
from tocsin.notify.channels import NAMED, NAMED_PREFIX
from tocsin.notify.channels.settings import MASK, ChannelConfig
from tocsin.notify.models import NamedChannel, Notification
from tocsin.notify.outbox.queue import enqueue
from tocsin.timesource import now

log = logging.getLogger("tocsin.notify")

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
TEST_KEY = "channel-test"


@dataclass(frozen=True)
class Shown:
    """A channel as anyone may see it: its settings masked, and its last message."""

    name: str
    kind: str
    config: dict[str, Any]
    updated_at: datetime
    updated_by: str
    last_status: str | None
    last_at: datetime | None
    last_error: str | None


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            f"channel name {name!r} must be 1 to 64 lowercase letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (as `channel:<name>` in the policy)",
            field="name",
        )
    return name


def validate(kind: str, config: dict[str, Any]) -> ChannelConfig:
    """The kind's settings model, or InvalidInput naming every field at fault."""
    if kind not in NAMED:
        raise InvalidInput(f"unknown channel kind {kind!r}", field="kind", allowed=NAMED)
    model = channels.config_model(kind)
    try:
        return model.model_validate(config)  # type: ignore[return-value]
    except ValidationError as exc:
        raise _invalid(kind, model, exc) from None


def add(
    session: Session, *, name: str, kind: str, config: dict[str, Any], actor: str
) -> NamedChannel:
    check_name(name)
    if find(session, name) is not None:
        raise Conflict(
            f"a channel named {name!r} exists: change it with `tocsin notify channel set`",
            field="name",
        )
    settings = validate(kind, config)
    at = now()
    row = NamedChannel(
        name=name,
        kind=kind,
        config=sealed.seal_config(session, settings.stored()),
        created_at=at,
        updated_at=at,
        updated_by=actor,
    )
    session.add(row)
    session.flush()
    log.info("notification channel %s (%s) added by %s", name, kind, actor)
    return row


def change(session: Session, *, name: str, config: dict[str, Any], actor: str) -> NamedChannel:
    """Merge `config` into the saved settings (None removes a setting) and validate the whole."""
    row = get(session, name)
    merged = _merged(sealed.open_config(session, row.config), config)
    row.config = sealed.seal_config(session, validate(row.kind, merged).stored())
    row.updated_at = now()
    row.updated_by = actor
    session.flush()
    log.info("notification channel %s (%s) changed by %s", name, row.kind, actor)
    return row


def reseal(session: Session, *, rotate: bool = False) -> int:
    """Seal settings stored in the clear and, with `rotate`, re-seal all under the first key."""
    changed = 0
    for row in all_channels(session):
        if rotate or not sealed.is_sealed(row.config):
            row.config = sealed.seal_config(session, sealed.open_config(session, row.config))
            changed += 1
    return changed


def remove(session: Session, *, name: str, actor: str) -> None:
    session.delete(get(session, name))
    session.flush()
    log.info("notification channel %s removed by %s", name, actor)


def find(session: Session, name: str) -> NamedChannel | None:
    return session.scalar(select(NamedChannel).where(NamedChannel.name == name))


def get(session: Session, name: str) -> NamedChannel:
    row = find(session, name)
    if row is None:
        names = names_of(session)
        hint = f"channels: {', '.join(names)}" if names else "no channel is saved yet"
        raise NotFound(f"no notification channel named {name!r} ({hint})", field="name")
    return row


def names_of(session: Session) -> list[str]:
    return list(session.scalars(select(NamedChannel.name).order_by(NamedChannel.name)))


def all_channels(session: Session) -> list[NamedChannel]:
    return list(session.scalars(select(NamedChannel).order_by(NamedChannel.name)))


def shown(session: Session, row: NamedChannel) -> Shown:
    last = _last_message(session, row.name)
    return Shown(
        name=row.name,
        kind=row.kind,
        config=masked(row.kind, sealed.open_config(session, row.config)),
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        last_status=last.status if last else None,
        last_at=(last.sent_at or last.created_at) if last else None,
        last_error=last.last_error if last else None,
    )


def masked(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    try:
        return validate(kind, config).shown()
    except InvalidInput:  # saved under an older model: show nothing rather than a secret
        return {key: MASK for key in config}


def queue_test(session: Session, *, name: str, actor: str) -> Notification:
    """Queue a test message to the channel through the outbox; the engine sends it."""
    row = get(session, name)
    key = f"{TEST_KEY}/{name}/{uuid.uuid4().hex}"
    at = now()
    enqueue(
        session,
        idempotency_key=key,
        purpose="notify",
        channel=row.kind,
        address=f"{NAMED_PREFIX}{name}",
        subject=f"Tocsin test message to channel {name}",
        body=(
            f"This is a test from Tocsin, sent by {actor} at {at:%Y-%m-%d %H:%M} UTC.\n"
            f"If you can read it, messages to the channel {name} ({row.kind}) arrive here: "
            f"policy audiences that list channel:{name} reach this place."
        ),
        data={"test": True, "channel": name},
    )
    found = session.scalar(select(Notification).where(Notification.idempotency_key == key))
    assert found is not None
    return found


def test_message(session: Session, *, name: str, notification_id: int) -> Notification:
    found = session.get(Notification, notification_id)
    if found is None or found.address != f"{NAMED_PREFIX}{name}" or not found.data.get("test"):
        raise NotFound(
            f"no test message {notification_id} to channel {name!r}", field="notification_id"
        )
    return found


def _last_message(session: Session, name: str) -> Notification | None:
    return session.scalar(
        select(Notification)
        .where(Notification.address == f"{NAMED_PREFIX}{name}")
        .order_by(Notification.id.desc())
        .limit(1)
    )


def _merged(saved: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    merged = dict(saved)
    for key, value in given.items():
        if value is None:
            merged.pop(key, None)
        elif value == MASK:
            continue  # a masked secret given back: keep the saved one
        elif isinstance(value, dict) and isinstance(saved.get(key), dict):
            old = saved[key]
            merged[key] = {k: old.get(k, v) if v == MASK else v for k, v in value.items()}
        else:
            merged[key] = value
    return merged


def _invalid(kind: str, model: type[Any], exc: ValidationError) -> InvalidInput:
    """One sentence per error, each naming `config.<field>`; never the value given."""
    problems = [_problem(model, dict(error)) for error in exc.errors()]
    first = problems[0][0]
    message = f"the {kind} channel's settings are not valid: " + "; ".join(
        f"{where}: {what}" for where, what in problems
    )
    return InvalidInput(message, field=first, problems=problems)


def _problem(model: type[Any], error: dict[str, Any]) -> tuple[str, str]:
    where = ".".join(["config", *(str(part) for part in error.get("loc", ()))])
    kind = error.get("type")
    if kind == "missing":
        return where, "required"
    if kind == "extra_forbidden":
        allowed = ", ".join(sorted(info.alias or n for n, info in model.model_fields.items()))
        return where, f"not a setting of this kind; allowed: {allowed}"
    text = str(error.get("msg", "not valid")).removeprefix("Value error, ")
    field, colon, rest = text.partition(": ")
    if where == "config" and colon and field in model.model_fields:
        return f"config.{field}", rest  # a rule across fields, told as the field it blames
    return where, text
