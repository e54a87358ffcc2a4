"""Public reads: ETag and Cache-Control, 304 on If-None-Match, and rendered bodies cached per process.

A cached read costs at most one tiny query: the schedule's generation (models/generation.py), which
grows with every committed change viewers can see. Bodies are kept per process, keyed by the URL,
the viewer's language and zone, the generation and, for reads that depend on "now", the current
minute or second. The ETag is a hash of the body, so every worker and every process agrees on it
and it changes exactly when the bytes do.

The generation itself is kept for PUBLIC_GENERATION_TTL seconds (default 1), so a busy worker asks
the database about once a second rather than once a request. A write in this process is seen at
once (its commit drops the kept value); a write in another process within that second. Both are
far inside PUBLIC_MAX_AGE, the staleness every browser and proxy is allowed anyway.
"""

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps

from flask import Flask, Response, current_app, has_request_context, request
from sqlalchemy import bindparam, func, select
from werkzeug.datastructures import Headers
from werkzeug.http import parse_cookie, parse_etags, quote_etag

from schedule_service import clock
from schedule_service.db import UtcDateTime, db
from schedule_service.listings import KeptProgrammes
from schedule_service.models import Programme, generation
from schedule_service.models.generation import ScheduleGeneration

#: Headers a cached body keeps; the rest (cookies above all) belong to one response.
_KEPT = ("Content-Type", "Content-Disposition", "Content-Language", "Link")


@dataclass(frozen=True)
class Entry:
    """A rendered body and every header it goes out with, worked out once."""

    body: bytes
    etag: str
    #: The 200's headers, and the 304's (the validators and caching rules, no content headers);
    #: checked once here, copied for each response.
    headers: Headers
    not_modified: Headers


class BodyCache:
    """Rendered bodies of one generation, least recently used first out, bounded in entries and bytes."""

    def __init__(self, max_entries: int, max_bytes: int):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._generation: int | None = None
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, gen: int, key: Hashable) -> Entry | None:
        with self._lock:
            if gen != self._generation:
                return None
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, gen: int, key: Hashable, entry: Entry) -> None:
        size = len(entry.body)
        if size > self.max_bytes // 4:
            return  # one huge body would evict everything else
        with self._lock:
            if self._generation is None or gen > self._generation:
                self._clear(gen)
            elif gen < self._generation:
                return  # rendered from an older generation than the cache now holds
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[key] = entry
            self._bytes += size
            while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped.body)

    def _clear(self, gen: int) -> None:
        self._generation = gen
        self._entries.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


def body_cache(app: Flask | None = None) -> BodyCache:
    app = app or current_app
    cache = app.extensions.get("public_cache")
    if cache is None:
        cache = app.extensions["public_cache"] = BodyCache(
            app.config.get("PUBLIC_CACHE_ENTRIES", 512), app.config.get("PUBLIC_CACHE_BYTES", 64 * 2**20)
        )
    return cache


def kept_programmes(app: Flask | None = None) -> KeptProgrammes:
    """The programme rows now/next keeps in this worker between calls (see listings.KeptProgrammes)."""
    app = app or current_app
    kept = app.extensions.get("kept_programmes")
    if kept is None:
        kept = app.extensions["kept_programmes"] = KeptProgrammes(app.config.get("KEPT_PROGRAMMES", 20_000))
    return kept


_NOW = "schedule_service.public_now"
_GENERATION_AND_EMBARGO = select(
    ScheduleGeneration.value,
    select(func.min(Programme.embargo_until))
    .where(Programme.embargo_until > bindparam("at", type_=UtcDateTime()))
    .scalar_subquery(),
).where(ScheduleGeneration.id == generation.ROW)


@dataclass(frozen=True)
class _Kept:
    value: int
    at: float
    local_commits: int
    #: The soonest embargo to end (SPEC §8b): public reads change at that instant, whatever the generation.
    embargo_end: datetime | None = None


def schedule_generation(app: Flask | None = None) -> int:
    """The committed generation, asked of the database at most once per PUBLIC_GENERATION_TTL."""
    app = app or current_app
    value = _kept_generation(app)
    if value is not None:
        return value
    local = generation.local_commits()
    # A connection of its own, not the session: the cheapest round trip SQLAlchemy offers. One
    # statement answers both the generation and the soonest embargo to end.
    with db.engine.connect() as conn:
        row = conn.execute(_GENERATION_AND_EMBARGO, {"at": clock.now()}).first()
    value, embargo_end = (row[0] or 0, row[1]) if row is not None else (0, None)
    app.extensions["public_generation"] = _Kept(value, time.monotonic(), local, embargo_end)
    return value


def embargo_end(app: Flask | None = None) -> datetime | None:
    """The soonest instant an embargo ends, as kept with the generation (None: no embargo to come)."""
    app = app or current_app
    kept: _Kept | None = app.extensions.get("public_generation")
    if kept is None:
        schedule_generation(app)
        kept = app.extensions.get("public_generation")
    return kept.embargo_end if kept is not None else None


def _kept_generation(app: Flask) -> int | None:
    """The generation kept from the database less than PUBLIC_GENERATION_TTL ago, unless a local commit followed.

    Nor once an embargo it knew of has ended: the reads that hid the programme are stale at that instant.
    """
    kept: _Kept | None = app.extensions.get("public_generation")
    if kept is None or kept.local_commits != generation.local_commits():
        return None
    if kept.embargo_end is not None and kept.embargo_end <= clock.now():
        return None
    if time.monotonic() - kept.at >= app.config.get("PUBLIC_GENERATION_TTL", 1.0):
        return None
    return kept.value


def _floored(resolution: int) -> datetime:
    instant = clock.now()
    return datetime.fromtimestamp(instant.timestamp() // resolution * resolution, instant.tzinfo)


def request_now() -> datetime:
    """The instant this read is rendered for: "now", floored to the resolution its cache key uses."""
    # Kept on the request, not on g: an app context (and its g) may outlive one request.
    return (request.environ.get(_NOW) if has_request_context() else None) or clock.now()


def public(
    resolution: int | None = None,
    vary: tuple[str, ...] = (),
    key: Callable[[], Hashable] | None = None,
):
    """Serve a public GET from the body cache with ETag, Cache-Control and 304s.

    :param resolution: seconds; for reads that depend on "now", which is floored to it and
        made part of the key (60 for a page showing what is on, 1 for an API answer with ``at``).
    :param vary: request headers the body depends on, sent as ``Vary``.
    :param key: what else the body depends on (the viewer's language and zone), checked first so
        a bad choice fails before anything is cached.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            extra = key() if key is not None else None
            if _is_staff():
                # Staff see embargoed programmes: their answers are their own, never kept or shared.
                response = current_app.make_response(view(*args, **kwargs))
                response.headers["Cache-Control"] = "private, no-store"
                return response
            gen = schedule_generation()
            at = None
            if resolution:
                at = _floored(resolution)
                request.environ[_NOW] = at
            ends = embargo_end()
            cache_key = (request.path, tuple(sorted(request.args.items(multi=True))), extra, at, ends)
            cache = body_cache()
            entry = cache.get(gen, cache_key)
            if entry is None:
                response = current_app.make_response(view(*args, **kwargs))
                if response.status_code != 200 or response.is_streamed:
                    return response
                entry = _entry(response, vary)
                cache.put(gen, cache_key, entry)
            else:
                # Rendered before this request: HitLayer may answer the same request again by itself.
                request.environ[_SERVED] = (gen, resolution or None, at, entry.etag)
            return _respond(entry, ends)

        return wrapper

    return decorator


def _is_staff() -> bool:
    """Whether a staff session or token sent this read (looked up only when it sends one)."""
    if "Authorization" not in request.headers and not (request.cookies.keys() - _VIEWER_COOKIES):
        return False
    from schedule_service.auth import current_staff

    return current_staff() is not None


def _max_age(ends: datetime | None) -> int:
    """PUBLIC_MAX_AGE, cut short so no cache keeps a read past the instant an embargo ends."""
    max_age = current_app.config["PUBLIC_MAX_AGE"]
    if ends is not None:
        max_age = max(0, min(max_age, math.ceil((ends - clock.now()).total_seconds())))
    return max_age


def _entry(response: Response, vary: tuple[str, ...]) -> Entry:
    body = response.get_data()
    etag = hashlib.sha256(body).hexdigest()[:32]
    rules = [
        ("ETag", quote_etag(etag)),
        ("Cache-Control", f"public, max-age={current_app.config['PUBLIC_MAX_AGE']}"),
    ]
    if vary:
        rules.append(("Vary", ", ".join(vary)))
    content = [(k, v) for k, v in response.headers.items() if k in _KEPT]
    return Entry(body, etag, Headers(content + rules), Headers(rules))


def _respond(entry: Entry, ends: datetime | None = None) -> Response:
    # If-None-Match compares weakly (RFC 9110 13.1.2); "*" matches any current body.
    if request.if_none_match.contains_weak(entry.etag) or request.if_none_match.star_tag:
        response = Response(status=304, headers=entry.not_modified.copy())
    else:
        response = Response(entry.body, headers=entry.headers.copy())
    max_age = _max_age(ends)
    if max_age != current_app.config["PUBLIC_MAX_AGE"]:
        response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


#: Set on the WSGI environ by :func:`public` when it answered from an entry: (generation, instant).
_SERVED = "schedule_service.public_served"
#: Cookies a cached read may depend on (they are part of the key); any other cookie (a staff
#: session above all) sends the request through the whole app.
_VIEWER_COOKIES = frozenset(("lang", "tz"))


@dataclass(frozen=True)
class _Final:
    """A whole response as the app sent it for one request, every hook's header included."""

    generation: int
    resolution: int | None
    at: datetime | None
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    etag: str


class HitLayer:
    """Serve a repeated public GET from the response the whole app gave for it, hooks and all.

    The body cache spares the rendering, but each hit still paid for Flask's request context,
    the session, the rate limiter, the locale and the headers' after-request hooks, the same
    work every time for the same request. This layer, in front of the app, keeps the final
    status, headers and body of a 200 (and of a 304) that :func:`public` served from its cache,
    keyed by everything that answer can depend on (path, query, host, scheme, the ``lang`` and
    ``tz`` cookies, Accept-Language), and answers the same request again while the schedule's
    generation and the read's "now" are unchanged. A request with any other cookie or an
    Authorization header, a response setting a cookie, anything but GET: through the app.
    """

    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._ok: dict[Hashable, _Final] = {}
        self._not_modified: dict[Hashable, _Final] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop every kept answer: the next request of each goes through the app (benchmarks' cold reads)."""
        with self._lock:
            self._ok.clear()
            self._not_modified.clear()
            self._bytes = 0

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_AUTHORIZATION" in environ:
            return self.wsgi_app(environ, start_response)
        cookie = environ.get("HTTP_COOKIE")
        if cookie and not parse_cookie(cookie).keys() <= _VIEWER_COOKIES:
            return self.wsgi_app(environ, start_response)
        key = (
            environ.get("SCRIPT_NAME", ""),
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_HOST"),
            environ.get("wsgi.url_scheme"),
            cookie,
            environ.get("HTTP_ACCEPT_LANGUAGE"),
        )
        ok = self._ok.get(key)
        if ok is not None and self._current(ok):
            conditional = environ.get("HTTP_IF_NONE_MATCH")
            if not conditional:
                start_response(ok.status, list(ok.headers))
                return [ok.body]
            etags = parse_etags(conditional)
            if etags.contains_weak(ok.etag) or etags.star_tag:
                nm = self._not_modified.get(key)
                if nm is not None and nm.etag == ok.etag and self._current(nm):
                    start_response(nm.status, list(nm.headers))
                    return [b""]
        return self._through(key, environ, start_response)

    def _current(self, final: _Final) -> bool:
        """Whether an answer kept for this generation and instant is still the one the app would give."""
        # A kept generation too old to trust sends the request through the app, which asks the
        # database once and keeps the answer: a read still costs one tiny query at most.
        if final.generation != _kept_generation(self.app):
            return False
        kept: _Kept | None = self.app.extensions.get("public_generation")
        ends = kept.embargo_end if kept is not None else None
        if ends is not None and (ends - clock.now()).total_seconds() < self.app.config["PUBLIC_MAX_AGE"]:
            return False  # its max-age must shrink as the embargo's end comes: through the app
        return final.resolution is None or final.at == _floored(final.resolution)

    def _through(self, key, environ, start_response):
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, capture)
        served = environ.get(_SERVED)
        status = captured.get("status", "")
        if served is None or not status.startswith(("200", "304")):
            return result
        if any(name.lower() == "set-cookie" for name, _ in captured["headers"]):
            return result
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        gen, resolution, at, etag = served
        final = _Final(gen, resolution, at, status, list(captured["headers"]), body, etag)
        self._keep(self._ok if status.startswith("200") else self._not_modified, key, final)
        return [body]

    def _keep(self, store: dict, key: Hashable, final: _Final) -> None:
        # The same bounds as the body cache, in entries and bytes, for the two stores together.
        max_entries = self.app.config.get("PUBLIC_CACHE_ENTRIES", 512)
        max_bytes = self.app.config.get("PUBLIC_CACHE_BYTES", 64 * 2**20)
        if len(final.body) > max_bytes // 4:
            return
        with self._lock:
            if len(self._ok) + len(self._not_modified) >= max_entries or self._bytes + len(final.body) > max_bytes:
                # Whole generations go stale together: dropping everything is as good as an LRU here.
                self._ok.clear()
                self._not_modified.clear()
                self._bytes = 0
            old = store.get(key)
            self._bytes += len(final.body) - (len(old.body) if old is not None else 0)
            store[key] = final


def init_app(app: Flask) -> None:
    """Answer repeated public reads before Flask's per-request work (:class:`HitLayer`)."""
    app.wsgi_app = HitLayer(app, app.wsgi_app)
