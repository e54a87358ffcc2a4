"""VK API: ``wall.post`` to a community's wall, ``wall.edit`` to correct, ``wall.delete`` to withdraw.

VK has no idempotency key, so like Telegram a call whose answer was lost may have acted: it
becomes ``unknown`` for a person to decide, and no VK call is ever batched or repeated blindly.
VK answers HTTP 200 with ``{"error": {"error_code": …, "error_msg": …}}``; the codes map to
honest states (see :data:`RETRY_LATER`, :data:`REFUSED`, :data:`CAPTCHA`).

A picture goes up first (``photos.getWallUploadServer`` → the file to its ``upload_url`` →
``photos.saveWallPhoto``) and the wall post names it in ``attachments``. Nothing is on the wall
until ``wall.post``, so a failure on the way up is never ``unknown``. ``wall.edit`` replaces a
post's attachments with those it names, so a correction reads them (``wall.getById``) and names
them again.
"""

import os

from schedule_service.publishing.targets.base import (
    Delivery,
    Outcome,
    call,
    describe,
    json_excerpt,
    nothing_posted,
    outcome_of_status,
    register,
    without_secret,
)

DEFAULT_BASE_URL = "https://api.vk.com/method"
#: The API version every call names (VK changes answers between versions); VK_API_VERSION overrides it.
API_VERSION = os.environ.get("VK_API_VERSION") or "5.199"
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
        params = {"from_group": 1, "message": delivery.rendered.text}
        if delivery.picture is not None:
            photo = self._upload(delivery)
            if isinstance(photo, Outcome):
                return nothing_posted(photo)
            params["attachments"] = photo
        return self._posted(delivery, self._call(delivery, "wall.post", params))

    def _posted(self, delivery: Delivery, answer: dict | Outcome) -> Outcome:
        if isinstance(answer, Outcome):
            return answer
        post_id = (answer.get("response") or {}).get("post_id") if isinstance(answer.get("response"), dict) else None
        if post_id is None:
            return Outcome.unknown("VK answered wall.post without a post_id", json_excerpt(answer))
        return Outcome.published(post_id, _link(delivery, post_id), json_excerpt(answer))

    def _upload(self, delivery: Delivery) -> str | Outcome:
        """Put the picture on VK for the community's wall; its attachment (``photo{owner_id}_{id}``)."""
        target, picture = delivery.target, delivery.picture
        group = {"group_id": target.chat_id}
        server = self._call(delivery, "photos.getWallUploadServer", group, on_wall=False)
        if isinstance(server, Outcome):
            return server
        found = server.get("response")
        upload_url = found.get("upload_url") if isinstance(found, dict) else None
        if not upload_url:
            return Outcome.failed("VK answered photos.getWallUploadServer without an upload_url", json_excerpt(server))
        files = {"photo": (picture.filename, picture.data, picture.content_type)}
        sent = call("POST", upload_url, delivery.timeout, files=files, allow_private=delivery.allow_private)
        if isinstance(sent, Outcome):
            return without_secret(sent, target.token)
        uploaded = outcome_of_status(sent, "VK's photo upload")
        if uploaded is not None:
            return without_secret(uploaded, target.token)
        try:
            body = sent.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("photo") or body.get("photo") == "[]" or "error" in body:
            return without_secret(Outcome.failed("VK's photo upload took no picture", describe(sent)), target.token)
        saved = self._call(
            delivery,
            "photos.saveWallPhoto",
            {**group, "photo": body["photo"], "server": body.get("server"), "hash": body.get("hash")},
            on_wall=False,
        )
        if isinstance(saved, Outcome):
            return saved
        photos = saved.get("response")
        photo = photos[0] if isinstance(photos, list) and photos and isinstance(photos[0], dict) else {}
        if photo.get("id") is None or photo.get("owner_id") is None:
            return Outcome.failed("VK answered photos.saveWallPhoto without the photo", json_excerpt(saved))
        return f"photo{photo['owner_id']}_{photo['id']}"

    def correct(self, delivery: Delivery) -> Outcome:
        post_id = delivery.parent.external_id
        if not post_id:
            return Outcome.failed("the wall post to correct has no VK post_id", retryable=False)
        params = {"post_id": post_id, "message": delivery.rendered.text}
        if delivery.parent_has_picture:
            attachments = self._attachments(delivery, post_id)
            if isinstance(attachments, Outcome):
                return nothing_posted(attachments)
            params["attachments"] = attachments
        answer = self._call(delivery, "wall.edit", params)
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

    def _attachments(self, delivery: Delivery, post_id: str) -> str | Outcome:
        """The photos a wall post has now, as ``attachments`` names them (``wall.getById``)."""
        answer = self._call(delivery, "wall.getById", {"posts": f"-{delivery.target.chat_id}_{post_id}"}, on_wall=False)
        if isinstance(answer, Outcome):
            return answer
        found = answer.get("response")
        items = found.get("items") if isinstance(found, dict) else found  # 5.x answers a list or {"items"}
        items = items if isinstance(items, list) else []
        photos = [
            a["photo"]
            for item in items
            if isinstance(item, dict)
            for a in item.get("attachments") or []
            if isinstance(a, dict) and a.get("type") == "photo" and isinstance(a.get("photo"), dict)
        ]
        return ",".join(f"photo{p.get('owner_id')}_{p.get('id')}" for p in photos)

    def _call(self, delivery: Delivery, method: str, params: dict, on_wall: bool = True) -> dict | Outcome:
        """One VK API call (form-encoded POST, the token in the body); its answer, else the Outcome.

        :param on_wall: a ``wall.`` method, which names the community's wall as ``owner_id``.
        """
        target = delivery.target
        if not target.token:
            return Outcome.failed(f"target {target.name} has no community token", retryable=False)
        if not target.chat_id:
            return Outcome.failed(f"target {target.name} has no community id (chat_id)", retryable=False)
        base = (target.url or DEFAULT_BASE_URL).rstrip("/")
        owner = {"owner_id": f"-{target.chat_id}"} if on_wall else {}
        data = {**owner, **params, "access_token": target.token, "v": API_VERSION}
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
