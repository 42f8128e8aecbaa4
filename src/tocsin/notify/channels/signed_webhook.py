"""Signed webhook: POST the message's body, byte for byte, with its HMAC-SHA256 signature.

For receivers that act on what they are sent (a containment switch): the body is JSON that
the caller built and signed when it queued the message, and `X-Tocsin-Signature` carries
`sha256=<hex>` of HMAC(secret, body), so the receiver checks the bytes it got against the
secret it shares with Tocsin. The idempotency key is also the `Idempotency-Key` header.
Answers are read as the plain webhook reads them.
"""

from __future__ import annotations

from tocsin import http
from tocsin.notify.channels import DeliveryError, Message
from tocsin.notify.channels.webhook import WebhookConfig, is_permanent

SIGNATURE_HEADER = "X-Tocsin-Signature"


def send(message: Message) -> None:
    signature = message.data.get("signature")
    if not isinstance(signature, str) or not signature.startswith("sha256="):
        raise DeliveryError("the message carries no signature to send", permanent=True)
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": message.idempotency_key,
        SIGNATURE_HEADER: signature,
    }
    config = WebhookConfig.from_env()
    try:
        reply = http.request(
            "POST",
            message.address,
            content=message.body.encode(),
            headers=headers,
            timeout=config.timeout_s,
        )
    except http.OutboundError as exc:
        raise DeliveryError(exc.message, permanent=exc.permanent) from exc
    if not reply.ok:
        sentence = reply.sentence(http.host_of(message.address))
        raise DeliveryError(sentence, permanent=is_permanent(reply.status))
