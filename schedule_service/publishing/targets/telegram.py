"""Telegram Bot API: ``sendMessage``, ``editMessageText``, ``deleteMessage`` at a configurable base URL.

A post with a picture is a ``sendPhoto`` with the text as its caption (at most
:data:`CAPTION_LIMIT` characters), corrected with ``editMessageCaption``. Which kind went out is
recorded on the attempt that sent it (its ``picture_url``), so a correction uses the right
method even after an unknown outcome a person marked published.

Sending has no idempotency key: a message whose answer was lost may be in the chat, so it
becomes ``unknown`` for a person to decide. Edits and deletes are safe to repeat.
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
#: Methods that send a new message: a repeat would show twice.
SENDING = ("sendMessage", "sendPhoto")


class Telegram:
    kind = "telegram"
    local = False
    #: The longest caption of a photo, in UTF-16 code units (the text limit is 4096).
    caption_limit = 1024

    def deduplicates(self, action: str) -> bool:
        return action != PUBLISH

    def publish(self, delivery: Delivery) -> Outcome:
        picture = delivery.picture
        if picture is None:
            answer = self._call(delivery, "sendMessage", {"text": delivery.rendered.text})
        else:
            photo = {"photo": (picture.filename, picture.data, picture.content_type)}
            answer = self._call(delivery, "sendPhoto", {"caption": delivery.rendered.text}, photo)
        return self._sent(delivery, answer)

    def _sent(self, delivery: Delivery, answer: dict | Outcome) -> Outcome:
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
        # The message keeps its photo: only its caption changes.
        photo = delivery.parent_has_picture
        field, method = ("caption", "editMessageCaption") if photo else ("text", "editMessageText")
        answer = self._call(delivery, method, {"message_id": int(message_id), field: delivery.rendered.text})
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

    def _call(self, delivery: Delivery, method: str, params: dict, files: dict | None = None) -> dict | Outcome:
        """One Bot API call (JSON, or multipart with ``files``); its decoded answer when ``ok``, else the Outcome."""
        target = delivery.target
        if not target.token:
            return Outcome.failed(f"target {target.name} has no bot token", retryable=False)
        if not target.chat_id:
            return Outcome.failed(f"target {target.name} has no chat_id", retryable=False)
        base = (target.url or DEFAULT_BASE_URL).rstrip("/")
        url = f"{base}/bot{target.token}/{method}"
        params = {"chat_id": target.chat_id, **params}
        body = {"data": params, "files": files} if files else {"json": params}
        answer = call("POST", url, delivery.timeout, allow_private=delivery.allow_private, **body)
        if isinstance(answer, Outcome):
            return without_secret(answer, target.token)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("ok") is True:
            return body
        description = str((body or {}).get("description", "")) if isinstance(body, dict) else ""
        if method not in SENDING and any(done in description for done in ALREADY_DONE):
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
