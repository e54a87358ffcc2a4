"""Telegram Bot API: ``sendMessage``, ``editMessageText``, ``deleteMessage`` at a configurable base URL.

``sendMessage`` has no idempotency key: a message whose answer was lost may be in the chat,
so it becomes ``unknown`` for a person to decide. Edits and deletes are safe to repeat.
"""

from schedule_service.models.promo import PUBLISH
from schedule_service.publishing.targets.base import (
    Delivery,
    Outcome,
    call,
    describe,
    json_excerpt,
    outcome_of_status,
    register,
    without_secret,
)

DEFAULT_BASE_URL = "https://api.telegram.org"
#: Answers to a repeated edit or delete that mean it is already done.
ALREADY_DONE = ("message is not modified", "message to delete not found")


class Telegram:
    kind = "telegram"
    local = False

    def deduplicates(self, action: str) -> bool:
        return action != PUBLISH

    def publish(self, delivery: Delivery) -> Outcome:
        answer = self._call(delivery, "sendMessage", {"text": delivery.rendered.text})
        if isinstance(answer, Outcome):
            return answer
        message = answer.get("result") or {}
        if "message_id" not in message:
            return Outcome.unknown("Telegram answered ok without a message_id", json_excerpt(answer))
        return Outcome.published(message["message_id"], _link(delivery, message["message_id"]), json_excerpt(answer))

    def correct(self, delivery: Delivery) -> Outcome:
        message_id = delivery.parent.external_id
        if not message_id:
            return Outcome.failed("the message to correct has no Telegram message_id", retryable=False)
        answer = self._call(
            delivery, "editMessageText", {"message_id": int(message_id), "text": delivery.rendered.text}
        )
        if isinstance(answer, Outcome):
            return answer
        return Outcome.published(message_id, _link(delivery, message_id), json_excerpt(answer))

    def withdraw(self, delivery: Delivery) -> Outcome:
        message_id = delivery.parent.external_id
        if not message_id:
            return Outcome.failed("the message to withdraw has no Telegram message_id", retryable=False)
        answer = self._call(delivery, "deleteMessage", {"message_id": int(message_id)})
        if isinstance(answer, Outcome):
            return answer
        return Outcome.published(message_id, None, json_excerpt(answer))

    def _call(self, delivery: Delivery, method: str, params: dict) -> dict | Outcome:
        """One Bot API call; its decoded answer when ``ok``, else the Outcome."""
        target = delivery.target
        if not target.token:
            return Outcome.failed(f"target {target.name} has no bot token", retryable=False)
        if not target.chat_id:
            return Outcome.failed(f"target {target.name} has no chat_id", retryable=False)
        base = (target.url or DEFAULT_BASE_URL).rstrip("/")
        url = f"{base}/bot{target.token}/{method}"
        answer = call(
            "POST",
            url,
            delivery.timeout,
            json={"chat_id": target.chat_id, **params},
            allow_private=delivery.allow_private,
        )
        if isinstance(answer, Outcome):
            return without_secret(answer, target.token)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("ok") is True:
            return body
        description = str((body or {}).get("description", "")) if isinstance(body, dict) else ""
        if method != "sendMessage" and any(done in description for done in ALREADY_DONE):
            return {"ok": True, "result": {}, "description": description}
        retry_after = ((body or {}).get("parameters") or {}).get("retry_after") if isinstance(body, dict) else None
        outcome = outcome_of_status(answer, f"Telegram {method}")
        if outcome is None:  # 2xx without ok: a broken answer to a request that arrived
            outcome = Outcome.unknown(f"Telegram {method} answered without ok", describe(answer))
        if retry_after is not None and outcome.kind == "failed":
            outcome = Outcome.failed(outcome.error, outcome.response, True, float(retry_after))
        return without_secret(outcome, target.token)


def _link(delivery: Delivery, message_id) -> str | None:
    """A public channel's message link (t.me/NAME/ID); private chats have none."""
    chat = delivery.target.chat_id or ""
    return f"https://t.me/{chat[1:]}/{message_id}" if chat.startswith("@") else None


register(Telegram())
