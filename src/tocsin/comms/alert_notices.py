"""Telling audiences about alerts that open no incident, or about alerts as well as paging.

A routing rule's `notify` names audiences (seed 004: "High alerts → Slack channel + Email",
"Medium alerts → Slack channel", "Low alerts → Ticket system"). Each new alert the rule
matches is queued to them in the intake's own transaction, so the notice leaves only if the
alert is stored, and once per alert and address however often the sender retries. What
reaches nobody (an audience with no address yet) goes to the admins, and is logged: it is
never dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256

from sqlalchemy.orm import Session

from tocsin.comms import audiences
from tocsin.comms.messages import Sending
from tocsin.comms.recipients import Recipient
from tocsin.notify import outbox
from tocsin.policy.schema import Policy

log = logging.getLogger("tocsin.comms")

_VERB = {"ticket": "Ticket", "notify": "Alert", "page": "Paging alert"}


@dataclass(frozen=True)
class AlertNotice:
    """What the notice says about one new alert."""

    alert_id: int
    summary: str
    dedup_key: str
    integration: str
    action: str  # page, notify or ticket
    severity: str
    service: str | None
    rule: str
    audience: Sequence[str]


def tell(
    session: Session,
    *,
    policy: Policy,
    notices: Sequence[AlertNotice],
    sending: Sending,
    at: datetime,
) -> int:
    """Queue each notice to its rule's audiences; returns how many messages were queued."""
    queued = 0
    for notice in notices:
        reach = audiences.resolve_standing(
            session, policy=policy, audience_ids=notice.audience, directory=sending.directory, at=at
        )
        subject, body = _wording(notice, sending.base_url)
        for recipient in reach.recipients:
            queued += int(_enqueue(session, notice, recipient, subject, body))
        if reach.problems:
            queued += _unreached(session, notice, reach.problems, subject, sending)
    return queued


def _wording(notice: AlertNotice, base_url: str) -> tuple[str, str]:
    verb = _VERB.get(notice.action, "Alert")
    subject = f"[{verb} {notice.severity}] {notice.summary or notice.dedup_key}"[:300]
    lines = [
        notice.summary or notice.dedup_key,
        "",
        f"Service: {notice.service or 'unknown'}",
        f"From: {notice.integration} (dedup key {notice.dedup_key})",
        f"Routed by: {notice.rule} ({notice.action})",
        f"Alerts: {base_url.rstrip('/')}/console/alerts",
    ]
    return subject, "\n".join(lines)


def _key(what: str, notice: AlertNotice, recipient: Recipient) -> str:
    """Once per alert and address; the address hashed, as it may be a secret webhook URL."""
    digest = sha256(f"{recipient.channel}|{recipient.address}".encode()).hexdigest()[:16]
    return f"{what}/{notice.alert_id}/{digest}"


def _enqueue(
    session: Session,
    notice: AlertNotice,
    recipient: Recipient,
    subject: str,
    body: str,
    *,
    what: str = "alert",
) -> bool:
    return outbox.enqueue(
        session,
        idempotency_key=_key(what, notice, recipient),
        purpose="notify",
        channel=recipient.channel,
        address=recipient.address,
        subject=subject,
        body=body,
        data={**recipient.data, "alert_id": notice.alert_id, "recipient": recipient.name},
        person_id=recipient.person_id,
        contact_method_id=recipient.contact_method_id,
        rule_position=recipient.rule_position,
    )


def _unreached(
    session: Session,
    notice: AlertNotice,
    problems: list[str],
    subject: str,
    sending: Sending,
) -> int:
    """Tell the admins (TOCSIN_ADMIN_EMAIL) what the alert's notice could not reach."""
    log.error("alert %s reached nobody in part: %s", notice.alert_id, "; ".join(problems))
    body = "\n".join(
        [f"Tocsin could not tell everyone about an alert: {subject}", ""]
        + [f"- {problem}" for problem in problems]
        + ["", "Give the audience an address in the policy, or add the named channel."]
    )
    queued = 0
    for admin in sending.admin_emails:
        recipient = Recipient(admin, "email", admin)
        queued += int(
            _enqueue(
                session,
                notice,
                recipient,
                f"Reached nobody: {subject}"[:300],
                body,
                what="alert-unreached",
            )
        )
    return queued
