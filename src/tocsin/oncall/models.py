"""People, how to reach them, teams, schedules, escalation policies and services."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, UTCDateTime

CONTACT_KINDS = ("email", "webhook", "apprise")

# Where an imported record came from ("opsgenie:user:<id>"), so a second import updates it in
# place rather than adding a twin; None for records written by hand.
SOURCE_LENGTH = 300


def _source() -> Mapped[str | None]:
    return mapped_column(String(SOURCE_LENGTH), nullable=True)


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(300), nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # The calendar feed URL carries a secret token; only its digest is stored.
    calendar_token_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str | None] = _source()


class ContactMethod(Base):
    __tablename__ = "contact_methods"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # email | webhook | apprise | slack
    address: Mapped[str] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (UniqueConstraint("person_id", "name", name="uq_contact_methods_person_name"),)


class NotificationRule(Base):
    """Reach `person` through `contact_method` this long after a page starts."""

    __tablename__ = "notification_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    contact_method_id: Mapped[int] = mapped_column(
        ForeignKey("contact_methods.id", ondelete="CASCADE")
    )
    delay_s: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    members: Mapped[list[str]] = mapped_column(JSON, default=list)  # person handles
    source: Mapped[str | None] = _source()


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    layers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    calendar_token_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str | None] = _source()


class ScheduleOverride(Base):
    __tablename__ = "schedule_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"))
    person: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    # Set on overrides the on-call file lists (apply keeps those in step with the file); None
    # on overrides made through the API or CLI, which apply leaves alone.
    source: Mapped[str | None] = _source()


class EscalationPolicy(Base):
    """Ordered steps (after, targets), repeated; plus who answers for the runbook's targets."""

    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    repeat: Mapped[int] = mapped_column(Integer, default=0)
    repeat_after_s: Mapped[int] = mapped_column(Integer, default=900)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    targets: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    is_default: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str | None] = _source()


class Service(Base):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    escalation_policy: Mapped[str | None] = mapped_column(String(100), nullable=True)
    source: Mapped[str | None] = _source()
