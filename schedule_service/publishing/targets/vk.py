"""VK API: ``wall.post`` to a community's wall, ``wall.edit`` to correct, ``wall.delete`` to withdraw.

VK has no idempotency key, so like Telegram a call whose answer was lost may have acted: it
becomes ``unknown`` for a person to decide, and no VK call is ever batched or repeated blindly.
VK answers HTTP 200 with ``{"error": {"error_code": …, "error_msg": …}}``; the codes map to
honest states (see :data:`RETRY_LATER`, :data:`REFUSED`, :data:`CAPTCHA`).
"""

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

DEFAULT_BASE_URL = "https://api.vk.com/method"
#: The API version every call names (VK changes answers between versions).
API_VERSION = "5.199"
#: The longest wall post VK takes, in characters.
MAX_LENGTH = 16384
#: Too many requests per second, flood control: nothing happened, try later with backoff.
RETRY_LATER = (6, 9)
#: Authorisation failed, access denied, adding a post denied: a person must fix the token or rights.
REFUSED = (5, 15, 214)
#: VK wants a captcha solved: it may be throttling a post that did or did not go out.
CAPTCHA = 14
#: Internal server error: VK got the request and broke; it may have acted.
BROKE = (1, 10)


class VK:
    kind = "vk"
    local = False

    def deduplicates(self, action: str) -> bool:
        # No idempotency key anywhere in the VK API: every call is bracketed by its own attempt.
        return False

    def publish(self, delivery: Delivery) -> Outcome:
        answer = self._call(delivery, "wall.post", {"from_group": 1, "message": delivery.rendered.text})
        if isinstance(answer, Outcome):
            return answer
        post_id = (answer.get("response") or {}).get("post_id") if isinstance(answer.get("response"), dict) else None
        if post_id is None:
            return Outcome.unknown("VK answered wall.post without a post_id", json_excerpt(answer))
        return Outcome.published(post_id, _link(delivery, post_id), json_excerpt(answer))

    def correct(self, delivery: Delivery) -> Outcome:
        post_id = delivery.parent.external_id
        if not post_id:
            return Outcome.failed("the wall post to correct has no VK post_id", retryable=False)
        answer = self._call(delivery, "wall.edit", {"post_id": post_id, "message": delivery.rendered.text})
        if isinstance(answer, Outcome):
            return answer
        return Outcome.published(post_id, _link(delivery, post_id), json_excerpt(answer))

    def withdraw(self, delivery: Delivery) -> Outcome:
        post_id = delivery.parent.external_id
        if not post_id:
            return Outcome.failed("the wall post to withdraw has no VK post_id", retryable=False)
        answer = self._call(delivery, "wall.delete", {"post_id": post_id})
        if isinstance(answer, Outcome):
            return answer
        return Outcome.published(post_id, None, json_excerpt(answer))

    def _call(self, delivery: Delivery, method: str, params: dict) -> dict | Outcome:
        """One VK API call (form-encoded POST, the token in the body); its answer, else the Outcome."""
        target = delivery.target
        if not target.token:
            return Outcome.failed(f"target {target.name} has no community token", retryable=False)
        if not target.chat_id:
            return Outcome.failed(f"target {target.name} has no community id (chat_id)", retryable=False)
        base = (target.url or DEFAULT_BASE_URL).rstrip("/")
        data = {"owner_id": f"-{target.chat_id}", **params, "access_token": target.token, "v": API_VERSION}
        answer = call("POST", f"{base}/{method}", delivery.timeout, data=data, allow_private=delivery.allow_private)
        if isinstance(answer, Outcome):
            return without_secret(answer, target.token)
        outcome = outcome_of_status(answer, f"VK {method}")
        if outcome is not None:
            return without_secret(outcome, target.token)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return without_secret(Outcome.unknown(f"VK {method} answered without JSON", describe(answer)), target.token)
        if "response" in body:
            return body
        return without_secret(_error_outcome(method, body, describe(answer)), target.token)


def _error_outcome(method: str, body: dict, response: str) -> Outcome:
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code, message = error.get("error_code"), str(error.get("error_msg") or "no message")
    said = f"VK {method}: error {code}: {message}"
    if code in RETRY_LATER:
        return Outcome.failed(f"{said} (too many calls; tried again later)", response)
    if code in REFUSED:
        return Outcome.failed(f"{said} (check the community token and its rights, then retry)", response, False)
    if code == CAPTCHA:
        return Outcome.unknown(f"{said} (VK asks for a captcha)", response)
    if code in BROKE:
        return Outcome.unknown(said, response)
    if not error:
        return Outcome.unknown(f"VK {method} answered neither response nor error", response)
    return Outcome.failed(said, response, retryable=False)


def _link(delivery: Delivery, post_id) -> str:
    return f"https://vk.com/wall-{delivery.target.chat_id}_{post_id}"


register(VK())
