"""Webhook: POST the message as JSON to the contact method's URL through tocsin.http.

The body is `{idempotency_key, purpose, subject, body, data}` and the key is also sent as the
`Idempotency-Key` header, so a receiver can drop the copy a retry after a crash may bring.
2xx is delivered; 408, 425, 429 and 5xx are worth retrying; any other answer is final.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict

from tocsin import http
from tocsin.notify.channels import DeliveryError, Message

RETRYABLE_4XX = frozenset({408, 425, 429})


class WebhookConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    timeout_s: float = http.DEFAULT_TIMEOUT_S

    @classmethod
    def from_env(cls) -> WebhookConfig:
        return cls(timeout_s=float(os.environ.get("TOCSIN_WEBHOOK_TIMEOUT", cls().timeout_s)))


def payload(message: Message) -> dict[str, Any]:
    return {
        "idempotency_key": message.idempotency_key,
        "purpose": message.purpose,
        "subject": message.subject,
        "body": message.body,
        "data": message.data,
    }


def is_permanent(status: int) -> bool:
    return status < 500 and status not in RETRYABLE_4XX


def send(message: Message) -> None:
    config = WebhookConfig.from_env()
    headers = {"Idempotency-Key": message.idempotency_key}
    try:
        reply = http.post_json(
            message.address, payload(message), headers=headers, timeout=config.timeout_s
        )
    except http.OutboundError as exc:
        raise DeliveryError(exc.message, permanent=exc.permanent) from exc
    if not reply.ok:
        sentence = reply.sentence(http.host_of(message.address))
        raise DeliveryError(sentence, permanent=is_permanent(reply.status))
