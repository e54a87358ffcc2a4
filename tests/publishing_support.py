"""What the publishing tests share: targets that speak each network's contract, post factories.

The fake targets are real HTTP servers on loopback (pytest-httpserver) that check what a real
one would check (Standard Webhooks signatures, bearer tokens, Bot API paths) and record what
arrived, so a test asserts what the audience of each network would see.
"""

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from pytest_httpserver import URIPattern
from standardwebhooks import Webhook, WebhookVerificationError
from werkzeug import Request, Response

from schedule_service.models import Post, Target
from schedule_service.models.promo import PLANNED, PUBLISH

SECRET = "whsec_" + base64.b64encode(b"publishing-tests-signing-key-32b").decode()
MASTODON_TOKEN = "mastodon-token-" + "x" * 20
BOT_TOKEN = "123456:bot-token-for-tests"
VK_TOKEN = "vk1.a.community-token-for-tests"
VK_COMMUNITY = "226123"


@dataclass
class Arrival:
    method: str
    path: str
    headers: dict[str, str]
    body: dict | None


@dataclass
class Sink:
    """What one fake target received; ``bad`` counts requests it refused as not genuine."""

    arrivals: list[Arrival] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Set when the server has finished with the last request it got (slow servers answer late).
    answered: threading.Event = field(default_factory=threading.Event)

    def add(self, arrival: Arrival) -> None:
        with self.lock:
            self.arrivals.append(arrival)

    def ids(self) -> list[str]:
        return [a.headers.get("webhook-id") for a in self.arrivals]

    def events(self, kind: str | None = None) -> list[dict]:
        return [a.body for a in self.arrivals if kind is None or (a.body or {}).get("type") == kind]


def webhook_sink(httpserver, secret: str = SECRET, status: int = 200, delay: float = 0.0, path: str = "/hook") -> Sink:
    """A Standard Webhooks consumer: verifies each signature, records the events."""
    sink = Sink()
    hook = Webhook(secret)

    def handle(request: Request) -> Response:
        body = request.get_data()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            event = hook.verify(body, headers)
        except WebhookVerificationError as e:
            sink.bad.append(str(e))
            return Response("bad signature", status=400)
        sink.add(Arrival(request.method, request.path, headers, event))
        if delay:
            time.sleep(delay)
        sink.answered.set()
        return Response("", status=status)

    httpserver.expect_request(path, method="POST").respond_with_handler(handle)
    return sink


def mastodon_server(httpserver, token: str = MASTODON_TOKEN, processing: int = 0) -> Sink:
    """A Mastodon server: statuses and media API with bearer auth; a repeated Idempotency-Key returns the same status.

    An uploaded picture is processed after ``processing`` looks at it (202, then 206 on
    ``GET /api/v1/media/ID``); a status may name only processed media. Like Mastodon, an edit
    leaves a status with exactly the media its ``media_ids`` names (none when it names none).
    """
    sink = Sink()
    statuses: dict[str, dict] = {}
    media: dict[str, dict] = {}
    by_key: dict[str, str] = {}

    def authorised(request: Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {token}"

    def refused() -> Response:
        return Response(json.dumps({"error": "The access token is invalid"}), 401)

    def attached(ids) -> list[dict] | None:
        if any(i not in media or media[i]["processing"] for i in ids or []):
            return None
        return [{k: v for k, v in media[i].items() if k not in ("data", "processing")} for i in ids or []]

    def unprocessable(why: str) -> Response:
        return Response(json.dumps({"error": why}), 422, content_type="application/json")

    def upload(request: Request) -> Response:
        if not authorised(request):
            return refused()
        file = request.files.get("file")
        form = {"description": request.form.get("description"), "file": file.read() if file else None}
        sink.add(Arrival("POST", request.path, dict(request.headers), form))
        if not form["file"]:
            return unprocessable("Validation failed: File can't be blank")
        media_id = str(500 + len(media) + 1)
        media[media_id] = {
            "id": media_id,
            "type": "image",
            "description": form["description"],
            "url": None if processing else f"http://social.test/media/{media_id}.jpg",
            "data": form["file"],
            "processing": processing,
        }
        shown = {k: v for k, v in media[media_id].items() if k not in ("data", "processing")}
        return Response(json.dumps(shown), 202 if processing else 200, content_type="application/json")

    def look(request: Request) -> Response:
        if not authorised(request):
            return refused()
        media_id = request.path.rsplit("/", 1)[-1]
        sink.add(Arrival("GET", request.path, dict(request.headers), None))
        if media_id not in media:
            return Response(json.dumps({"error": "Record not found"}), 404, content_type="application/json")
        item = media[media_id]
        if item["processing"]:
            item["processing"] -= 1
            if not item["processing"]:
                item["url"] = f"http://social.test/media/{media_id}.jpg"
        shown = {k: v for k, v in item.items() if k not in ("data", "processing")}
        return Response(json.dumps(shown), 206 if item["processing"] else 200, content_type="application/json")

    def create(request: Request) -> Response:
        if not authorised(request):
            return refused()
        body = request.get_json()
        sink.add(Arrival("POST", request.path, dict(request.headers), body))
        key = request.headers.get("Idempotency-Key")
        if key in by_key:
            status = statuses[by_key[key]]
        else:
            pictures = attached(body.get("media_ids"))
            if pictures is None:
                return unprocessable("Cannot attach files that have not finished processing. Try again in a moment!")
            status_id = str(100000 + len(statuses) + 1)
            status = {
                "id": status_id,
                "url": f"http://social.test/@tv/{status_id}",
                "content": body["status"],
                "media_attachments": pictures,
            }
            statuses[status_id] = status
            if key:
                by_key[key] = status_id
        return Response(json.dumps(status), 200, content_type="application/json")

    def one(request: Request) -> Response:
        if not authorised(request):
            return refused()
        status_id = request.path.rsplit("/", 1)[-1]
        body = request.get_json(silent=True)
        sink.add(Arrival(request.method, request.path, dict(request.headers), body))
        if status_id not in statuses:
            return Response(json.dumps({"error": "Record not found"}), 404, content_type="application/json")
        if request.method == "GET":
            return Response(json.dumps(statuses[status_id]), 200, content_type="application/json")
        if request.method == "DELETE":
            return Response(json.dumps(statuses.pop(status_id)), 200, content_type="application/json")
        pictures = attached(body.get("media_ids"))
        if pictures is None:
            return unprocessable("Cannot attach files that have not finished processing. Try again in a moment!")
        statuses[status_id]["content"] = body["status"]
        statuses[status_id]["media_attachments"] = pictures
        return Response(json.dumps(statuses[status_id]), 200, content_type="application/json")

    httpserver.expect_request("/api/v1/statuses", method="POST").respond_with_handler(create)
    httpserver.expect_request("/api/v2/media", method="POST").respond_with_handler(upload)
    httpserver.expect_request(_Prefix("/api/v1/media/"), method="GET").respond_with_handler(look)
    for method in ("GET", "PUT", "DELETE"):
        httpserver.expect_request(_Prefix("/api/v1/statuses/"), method=method).respond_with_handler(one)
    sink.statuses = statuses  # type: ignore[attr-defined]
    sink.media = media  # type: ignore[attr-defined]
    return sink


def telegram_server(httpserver, token: str = BOT_TOKEN, delay: float = 0.0) -> Sink:
    """A Bot API: /bot<token>/METHOD with JSON or multipart (sendPhoto); messages kept per chat.

    ``sink.messages`` holds each message's text or caption, ``sink.photos`` the photo bytes of
    those sent with one; like Telegram, a caption is at most 1024 characters, a photo's message
    has no text to edit and a text message no caption.
    """
    sink = Sink()
    messages: dict[int, str] = {}
    photos: dict[int, bytes] = {}

    def handle(request: Request) -> Response:
        method = request.path.rsplit("/", 1)[-1]
        body = request.get_json(silent=True)
        if body is None:  # multipart, as a file upload comes
            body = request.form.to_dict()
            if "message_id" in body:
                body["message_id"] = int(body["message_id"])
            body.update({name: file.read() for name, file in request.files.items()})
        sink.add(Arrival("POST", request.path, dict(request.headers), body))
        if delay:
            time.sleep(delay)
        sink.answered.set()
        if method == "sendMessage":
            message_id = len(messages) + 1
            messages[message_id] = body["text"]
            result = {"message_id": message_id, "chat": {"id": -1001, "username": "tv"}, "text": body["text"]}
            return _ok(result)
        if method == "sendPhoto":
            if not isinstance(body.get("photo"), bytes) or not body["photo"]:
                return _error(400, "Bad Request: there is no photo in the request")
            if _utf16_length(body.get("caption", "")) > 1024:
                return _error(400, "Bad Request: message caption is too long")
            message_id = len(messages) + 1
            messages[message_id], photos[message_id] = body.get("caption", ""), body["photo"]
            chat = {"id": -1001, "username": "tv"}
            result = {
                "message_id": message_id,
                "chat": chat,
                "photo": [{"file_id": "AgAD"}],
                "caption": body["caption"],
            }
            return _ok(result)
        message_id = body.get("message_id")
        if message_id not in messages:
            return _error(400, f"Bad Request: message to {'edit' if 'edit' in method else 'delete'} not found")
        if method in ("editMessageText", "editMessageCaption"):
            field = "text" if method == "editMessageText" else "caption"
            if (field == "text") == (message_id in photos):
                return _error(400, f"Bad Request: there is no {field} in the message to edit")
            if field == "caption" and _utf16_length(body.get("caption", "")) > 1024:
                return _error(400, "Bad Request: message caption is too long")
            if messages[message_id] == body[field]:
                return _error(400, "Bad Request: message is not modified")
            messages[message_id] = body[field]
            return _ok({"message_id": message_id, field: body[field]})
        del messages[message_id]
        photos.pop(message_id, None)
        return _ok(True)

    httpserver.expect_request(_Prefix(f"/bot{token}/"), method="POST").respond_with_handler(handle)
    sink.messages = messages  # type: ignore[attr-defined]
    sink.photos = photos  # type: ignore[attr-defined]
    return sink


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def vk_server(httpserver, token: str = VK_TOKEN, community: str = VK_COMMUNITY, delay: float = 0.0) -> Sink:
    """The VK API: form-encoded POSTs to /METHOD with access_token and v; wall posts kept by id.

    Pictures go as VK takes them: ``photos.getWallUploadServer`` gives an upload URL, the file is
    POSTed there, ``photos.saveWallPhoto`` makes it a photo that ``wall.post`` attaches. Like VK,
    ``wall.edit`` leaves a post with exactly the attachments it names. ``sink.errors`` is a list
    of VK error codes to answer the next method calls with, one each.
    """
    sink = Sink()
    posts: dict[int, str] = {}
    attachments: dict[int, str] = {}
    uploads: dict[str, bytes] = {}
    photos: dict[str, bytes] = {}
    errors: list[int] = []
    messages = {
        5: "User authorization failed: invalid access_token (4).",
        6: "Too many requests per second",
        9: "Flood control",
        14: "Captcha needed",
        15: "Access denied: no access to call this method",
        214: "Access to adding post denied: you can only add posts to the community wall",
    }
    next_id = [40]

    def error(code: int, form) -> Response:
        body = {
            "error_code": code,
            "error_msg": messages.get(code, "One of the parameters specified was missing"),
            "request_params": [{"key": k, "value": v} for k, v in form.items() if k != "access_token"],
        }
        if code == 14:
            body.update(captcha_sid="123", captcha_img="https://api.vk.com/captcha.php?sid=123")
        return Response(json.dumps({"error": body}), 200, content_type="application/json")

    def photo_method(method: str, form) -> Response:
        if form.get("group_id") != community:
            return error(100, form)
        if method == "photos.getWallUploadServer":
            return _vk({"upload_url": httpserver.url_for("/upload/wall") + "?act=do_add", "album_id": -14})
        if form.get("photo") not in uploads or form.get("hash") != "h" + form.get("photo", "")[:4]:
            return error(100, form)
        photo_id = str(457239000 + len(photos) + 1)
        photos[photo_id] = uploads.pop(form["photo"])
        return _vk([{"id": int(photo_id), "owner_id": -int(community), "album_id": -14}])

    def by_id(form) -> Response:
        found = []
        for name in (form.get("posts") or "").split(","):
            owner, _, post_id = name.partition("_")
            if owner == f"-{community}" and post_id.isdigit() and int(post_id) in posts:
                shown = [a.removeprefix("photo").split("_") for a in attachments.get(int(post_id), "").split(",") if a]
                photo = [{"type": "photo", "photo": {"owner_id": int(o), "id": int(i)}} for o, i in shown]
                found.append({"id": int(post_id), "text": posts[int(post_id)], "attachments": photo})
        return _vk({"items": found})

    def handle(request: Request) -> Response:
        method = request.path.rsplit("/", 1)[-1]
        form = request.form.to_dict()
        sink.add(Arrival("POST", request.path, dict(request.headers), form))
        if delay:
            time.sleep(delay)
        sink.answered.set()
        if errors:
            return error(errors.pop(0), form)
        if form.get("access_token") != token:
            return error(5, form)
        if not form.get("v"):
            return error(100, form)
        if method.startswith("photos."):
            return photo_method(method, form)
        if method == "wall.getById":
            return by_id(form)
        if form.get("owner_id") != f"-{community}":
            return error(100, form)
        named = form.get("attachments", "")
        if any(a.removeprefix(f"photo-{community}_") not in photos for a in named.split(",") if a):
            return error(100, form)
        if method == "wall.post":
            if form.get("from_group") != "1":
                return error(214, form)
            next_id[0] += 1
            posts[next_id[0]], attachments[next_id[0]] = form["message"], named
            return _vk({"post_id": next_id[0]})
        post_id = int(form.get("post_id") or 0)
        if post_id not in posts:
            return error(100, form)
        if method == "wall.edit":
            posts[post_id], attachments[post_id] = form["message"], named
            return _vk({"post_id": post_id})
        del posts[post_id]
        return _vk(1)

    def upload(request: Request) -> Response:
        file = request.files.get("photo")
        data = file.read() if file else b""
        sink.add(Arrival("POST", request.path, dict(request.headers), {"photo": data}))
        if not data:
            return Response(json.dumps({"server": 1, "photo": "[]", "hash": ""}), 200, content_type="application/json")
        key = json.dumps([{"photo": f"upload{len(uploads) + 1}", "sizes": []}])
        uploads[key] = data
        body = {"server": 1, "photo": key, "hash": "h" + key[:4]}
        return Response(json.dumps(body), 200, content_type="application/json")

    httpserver.expect_request(_Prefix("/method/"), method="POST").respond_with_handler(handle)
    httpserver.expect_request("/upload/wall", method="POST").respond_with_handler(upload)
    sink.posts = posts  # type: ignore[attr-defined]
    sink.attachments = attachments  # type: ignore[attr-defined]
    sink.photos = photos  # type: ignore[attr-defined]
    sink.errors = errors  # type: ignore[attr-defined]
    return sink


def _vk(response) -> Response:
    return Response(json.dumps({"response": response}), 200, content_type="application/json")


def _ok(result) -> Response:
    return Response(json.dumps({"ok": True, "result": result}), 200, content_type="application/json")


def _error(code: int, description: str) -> Response:
    body = {"ok": False, "error_code": code, "description": description}
    return Response(json.dumps(body), code, content_type="application/json")


class _Prefix(URIPattern):
    """A path matcher for pytest-httpserver: every path under a prefix."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def match(self, path: str) -> bool:
        return path.startswith(self.prefix)


def closed_port_url(path: str = "/hook") -> str:
    """A loopback URL on which nothing listens: connecting is refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


# Fixtures


@pytest.fixture
def quiet_channel(make_channel):
    """A channel with an empty promo plan: the test makes the posts it wants itself."""
    return make_channel("mir", timezone="Europe/Moscow", broadcast_day_start="05:00", promo_plan=[])


@pytest.fixture
def make_target(session):
    def make(name: str = "hook", kind: str = "webhook", **values) -> Target:
        if kind == "webhook":
            values.setdefault("secret", SECRET)
        target = Target(name=name, kind=kind, **values)
        session.add(target)
        session.commit()
        return target

    return make


@pytest.fixture
def make_post(session):
    def make(
        slot,
        target: Target,
        due_at: datetime,
        valid_until: datetime | None = None,
        step: str = "soon",
        status: str = PLANNED,
        lang: str = "en",
        **values,
    ) -> Post:
        post = Post(
            slot_id=slot.id,
            target_id=target.id,
            step=step,
            action=values.pop("action", PUBLISH),
            idempotency_key=values.pop(
                "idempotency_key", f"slot-{slot.id}-{step}-{target.name}-{secrets.token_hex(3)}"
            ),
            lang=lang,
            due_at=due_at,
            valid_until=valid_until or slot.start_at,
            status=status,
            **values,
        )
        session.add(post)
        session.commit()
        return post

    return make


@pytest.fixture
def publish(app, session):
    """Run one scheduler's publishing pass (its real thread pool); return how many posts it handled."""
    from schedule_service.publishing.outbox import Publisher

    publishers = []

    def run(worker: str = "test-worker") -> int:
        session.commit()  # let the publisher's threads write (SQLite has one writer)
        publisher = Publisher(app, worker)
        publishers.append(publisher)
        try:
            return publisher.run()
        finally:
            publisher.close()
            session.expire_all()

    yield run
    for publisher in publishers:
        publisher.close()


def later(at: datetime, **delta) -> datetime:
    return at + timedelta(**delta)


class CountingSink:
    """A threaded Standard Webhooks receiver on loopback that counts deliveries per webhook-id.

    For tests with several scheduler processes: many requests at once, each verified.
    """

    def __init__(self, secret: str = SECRET, delay: float = 0.0):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        hook = Webhook(secret)
        self.lock = threading.Lock()
        self.seen: dict[str, int] = {}
        self.first_at: dict[str, float] = {}
        self.bad = 0
        #: Requests cut off before their body ended (the sender was killed mid-request).
        self.incomplete = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    with sink.lock:
                        sink.incomplete += 1
                    return
                try:
                    hook.verify(body, {k.lower(): v for k, v in self.headers.items()})
                except WebhookVerificationError:
                    with sink.lock:
                        sink.bad += 1
                    self._answer(400)
                    return
                webhook_id = self.headers["webhook-id"]
                with sink.lock:
                    sink.seen[webhook_id] = sink.seen.get(webhook_id, 0) + 1
                    sink.first_at.setdefault(webhook_id, time.time())
                if delay:
                    time.sleep(delay)
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self) -> int:
        with self.lock:
            return len(self.seen)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
