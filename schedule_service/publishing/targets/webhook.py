"""Webhooks signed by the Standard Webhooks scheme; ``webhook-id`` is the post's idempotency key.

Receivers deduplicate on ``webhook-id`` (the scheme asks them to), so a delivery whose answer
was lost is sent again rather than left unknown.
"""

import json
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from schedule_service.models.promo import CORRECT, WITHDRAW
from schedule_service.promos.render import as_aired
from schedule_service.publishing.targets.base import Delivery, Outcome, call, describe, outcome_of_status, register

EVENT_TYPES = {"publish": "promo.published", CORRECT: "promo.corrected", WITHDRAW: "promo.withdrawn"}


def event(delivery: Delivery) -> dict[str, Any]:
    """The JSON event of a delivery: ``{"type", "timestamp", "data"}``."""
    post, slot, rendered = delivery.post, delivery.post.slot, delivery.rendered
    aired = as_aired(slot, slot.channel, delivery.target)  # an edition's target: the edition's air time
    data: dict[str, Any] = {
        "post_id": post.id,
        "idempotency_key": post.idempotency_key,
        "slot_id": slot.id,
        "channel": aired.channel.slug,
        "programme_id": slot.programme_id,
        "start": aired.start_at.isoformat(),
        "end": aired.end_at.isoformat(),
        "target": delivery.target.name,
        "step": post.step,
        "lang": post.lang,
    }
    if rendered is not None:
        data.update(
            text=rendered.text, when=rendered.when, title=rendered.title, link=rendered.link, length=rendered.length
        )
        picture = delivery.picture
        data["image"] = None if picture is None else {"url": picture.url, "alt": picture.alt, "credit": picture.credit}
    if delivery.parent is not None:
        data["original_idempotency_key"] = delivery.parent.idempotency_key
        data["original_post_id"] = delivery.parent.id
    if post.action == WITHDRAW:
        data["reason"] = "cancelled" if slot.is_cancelled else "withdrawn"
    return {"type": EVENT_TYPES[post.action], "timestamp": datetime.now(UTC).isoformat(), "data": data}


def signed_request(secret: str, message_id: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one signed webhook."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    # The receiver checks the timestamp against its own clock to refuse replays, so it is the
    # real time of sending, never the service's (possibly frozen) clock.
    sent_at = datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, sent_at, body),
    }
    return body.encode(), headers


class StandardWebhook:
    kind = "webhook"
    local = False

    def deduplicates(self, action: str) -> bool:
        return True

    def publish(self, delivery: Delivery) -> Outcome:
        return self._send(delivery)

    def correct(self, delivery: Delivery) -> Outcome:
        return self._send(delivery)

    def withdraw(self, delivery: Delivery) -> Outcome:
        return self._send(delivery)

    def _send(self, delivery: Delivery) -> Outcome:
        target = delivery.target
        if not target.url:
            return Outcome.failed(f"target {target.name} has no url", retryable=False)
        if not target.secret:
            return Outcome.failed(f"target {target.name} has no signing secret", retryable=False)
        try:
            body, headers = signed_request(target.secret, delivery.key, event(delivery))
        except Exception as e:  # a secret that is not base64: a person must fix the target
            return Outcome.failed(f"target {target.name}'s secret cannot sign: {e}", retryable=False)
        answer = call(
            "POST", target.url, delivery.timeout, data=body, headers=headers, allow_private=delivery.allow_private
        )
        if isinstance(answer, Outcome):
            return answer
        return outcome_of_status(answer, "the webhook") or Outcome.published(None, None, describe(answer))


register(StandardWebhook())
