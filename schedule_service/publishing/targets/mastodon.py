"""Mastodon: ``POST /api/v1/statuses`` with ``Idempotency-Key``, ``PUT`` to correct, ``DELETE`` to withdraw.

Mastodon keeps an Idempotency-Key for an hour: a post whose answer was lost is sent again
with the same key within that hour, and left ``unknown`` after it.

A picture is uploaded first (``POST /api/v2/media`` with the alt text as its description,
waiting while Mastodon processes it), then the status names it in ``media_ids``. An edit keeps
it: Mastodon's edit replaces the media with what ``media_ids`` names, so the correction reads
the status's media and names them again.
"""

import time
from urllib.parse import quote

from schedule_service.publishing.targets.base import (
    Delivery,
    Outcome,
    call,
    describe,
    nothing_posted,
    outcome_of_status,
    register,
)

#: The longest media description Mastodon takes.
DESCRIPTION_LIMIT = 1500
#: Seconds between asking whether an uploaded picture is processed: the first wait, doubling to the last.
POLL_FIRST, POLL_MOST = 0.25, 2.0


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
        if delivery.picture is not None:
            media_id = self._upload(delivery)
            if isinstance(media_id, Outcome):
                return nothing_posted(media_id)
            body["media_ids"] = [media_id]
        answer = self._call(delivery, "POST", "/api/v1/statuses", body, {"Idempotency-Key": delivery.key})
        return self._posted(answer)

    def _posted(self, answer) -> Outcome:
        if isinstance(answer, Outcome):
            return answer
        status = _json(answer)
        if not status.get("id"):
            return Outcome.unknown("Mastodon answered 2xx without a status id", describe(answer))
        return Outcome.published(status["id"], status.get("url") or status.get("uri"), describe(answer))

    def _upload(self, delivery: Delivery) -> str | Outcome:
        """Upload the picture with its description; its media id once Mastodon has processed it."""
        picture = delivery.picture
        form = {"description": picture.alt[:DESCRIPTION_LIMIT]} if picture.alt else {}
        files = {"file": (picture.filename, picture.data, picture.content_type)}
        answer = self._call(delivery, "POST", "/api/v2/media", data=form, files=files)
        if isinstance(answer, Outcome):
            return answer
        media = _json(answer)
        if not media.get("id"):
            return Outcome.failed("Mastodon answered the upload without a media id", describe(answer))
        media_id = str(media["id"])
        # 202: processing; the status may name the media only once it is done (else 422).
        deadline, wait = time.monotonic() + delivery.timeout, POLL_FIRST
        while answer.status_code in (202, 206):  # 206: GET /api/v1/media/ID while it is still processing
            if time.monotonic() + wait > deadline:
                return Outcome.failed(f"Mastodon was still processing the picture after {delivery.timeout:g} s")
            time.sleep(wait)
            wait = min(wait * 2, POLL_MOST)
            answer = self._call(delivery, "GET", f"/api/v1/media/{quote(media_id, safe='')}")
            if isinstance(answer, Outcome):
                return answer
        return media_id

    def correct(self, delivery: Delivery) -> Outcome:
        status_id = delivery.parent.external_id
        if not status_id:
            return Outcome.failed("the status to correct has no Mastodon id", retryable=False)
        path = f"/api/v1/statuses/{quote(status_id, safe='')}"
        body = {"status": delivery.rendered.text, "language": delivery.post.lang}
        if delivery.parent_has_picture:
            shown = self._call(delivery, "GET", path)
            if isinstance(shown, Outcome):
                return nothing_posted(shown)
            media = _json(shown).get("media_attachments") or []
            body["media_ids"] = [str(m["id"]) for m in media if isinstance(m, dict) and m.get("id")]
        answer = self._call(delivery, "PUT", path, body)
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

    def _call(self, delivery: Delivery, method: str, path: str, body=None, headers=None, ok=(), **form):
        """One API call (JSON ``body``, or ``data`` and ``files``); a non-2xx answer not in ``ok`` is an Outcome."""
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
            headers=headers,
            allow_private=delivery.allow_private,
            **(form or {"json": body}),
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
