"""Mastodon: ``POST /api/v1/statuses`` with ``Idempotency-Key``, ``PUT`` to correct, ``DELETE`` to withdraw.

Mastodon keeps an Idempotency-Key for an hour: a post whose answer was lost is sent again
with the same key within that hour, and left ``unknown`` after it.
"""

from urllib.parse import quote

from schedule_service.publishing.targets.base import Delivery, Outcome, call, describe, outcome_of_status, register


class Mastodon:
    kind = "mastodon"
    local = False
    #: Seconds for which the server remembers an Idempotency-Key (Mastodon keeps it an hour).
    dedup_window = 3600.0

    def deduplicates(self, action: str) -> bool:
        # A post carries its Idempotency-Key; an edit to the same text and a delete are idempotent.
        return True

    def publish(self, delivery: Delivery) -> Outcome:
        body = {"status": delivery.rendered.text, "visibility": "public", "language": delivery.post.lang}
        answer = self._call(delivery, "POST", "/api/v1/statuses", body, {"Idempotency-Key": delivery.key})
        if isinstance(answer, Outcome):
            return answer
        status = _json(answer)
        if not status.get("id"):
            return Outcome.unknown("Mastodon answered 2xx without a status id", describe(answer))
        return Outcome.published(status["id"], status.get("url") or status.get("uri"), describe(answer))

    def correct(self, delivery: Delivery) -> Outcome:
        status_id = delivery.parent.external_id
        if not status_id:
            return Outcome.failed("the status to correct has no Mastodon id", retryable=False)
        body = {"status": delivery.rendered.text, "language": delivery.post.lang}
        answer = self._call(delivery, "PUT", f"/api/v1/statuses/{quote(status_id, safe='')}", body)
        if isinstance(answer, Outcome):
            return answer
        status = _json(answer)
        return Outcome.published(status.get("id") or status_id, status.get("url"), describe(answer))

    def withdraw(self, delivery: Delivery) -> Outcome:
        status_id = delivery.parent.external_id
        if not status_id:
            return Outcome.failed("the status to withdraw has no Mastodon id", retryable=False)
        answer = self._call(delivery, "DELETE", f"/api/v1/statuses/{quote(status_id, safe='')}", None, ok=(404,))
        if isinstance(answer, Outcome):
            return answer
        return Outcome.published(status_id, None, describe(answer))

    def _call(self, delivery: Delivery, method: str, path: str, body, headers=None, ok=()):
        """One API call; an answer that is not 2xx (nor in ``ok``) becomes its Outcome."""
        target = delivery.target
        if not target.url:
            return Outcome.failed(f"target {target.name} has no url (the Mastodon server)", retryable=False)
        if not target.token:
            return Outcome.failed(f"target {target.name} has no access token", retryable=False)
        headers = {"Authorization": f"Bearer {target.token}", **(headers or {})}
        answer = call(
            method,
            target.url.rstrip("/") + path,
            delivery.timeout,
            json=body,
            headers=headers,
            allow_private=delivery.allow_private,
        )
        if isinstance(answer, Outcome) or answer.status_code in ok:
            return answer
        return outcome_of_status(answer, f"Mastodon {method} {path}") or answer


def _json(response) -> dict:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


register(Mastodon())
