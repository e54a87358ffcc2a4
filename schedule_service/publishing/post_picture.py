"""The picture a post carries to the networks: :func:`picture_for` is the one way the publisher gets it.

The programme's uploaded picture comes first (read from the service's own folder, see
:mod:`schedule_service.media`); else its ``image_url``, fetched when the post is sent (SPEC §11).
The provider is replaceable (:data:`provider`).
A picture that cannot be had never fails a post: the post goes without one, and the log says why.
"""

import logging
import time
from collections.abc import Callable
from urllib.parse import urljoin

from flask import has_app_context
from sqlalchemy.orm import Session

from schedule_service import media
from schedule_service.models import Post, Target
from schedule_service.publishing.targets.base import Outcome, PostPicture, adapter_for, call

log = logging.getLogger(__name__)

#: The largest picture fetched, in bytes (the networks' own limit: Telegram's photos, SPEC §11's uploads).
MAX_BYTES = 10 * 1024 * 1024
#: Redirects followed, each to an address checked like the first.
MAX_REDIRECTS = 3
#: What a picture's first bytes are, by type: only what every network takes.
SIGNATURES = {"image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",)}


class NoPicture(Exception):
    """The picture could not be had; the message says why."""


#: ``(session, post, lang, timeout, allow_private) -> PostPicture | None``: where pictures come from.
Provider = Callable[[Session, Post, str, float, bool], PostPicture | None]


def caption_limit(target: Target) -> int | None:
    """How long a post's text may be on ``target`` beside a picture (Telegram's captions); None: as without."""
    limit = getattr(adapter_for(target.kind), "caption_limit", None)
    if limit is not None and target.limit is not None:
        limit = min(limit, target.limit)
    return limit


def expected_limit(target: Target, programme) -> int | None:
    """The limit a post about ``programme`` will be rendered to on ``target`` (previews, a post's own template).

    The caption limit when the programme has a picture to carry, else None (the target's own).
    """
    if not (programme.image_hash or programme.image_url):
        return None
    return caption_limit(target)


def picture_for(
    session: Session, post: Post, lang: str, *, timeout: float = 10.0, allow_private: bool = False
) -> PostPicture | None:
    """The picture to send with ``post`` in ``lang``, or None (none set, or it could not be had: logged).

    :param timeout: seconds for each network call of a fetch, and for the whole fetch.
    :param allow_private: TARGETS_ALLOW_PRIVATE: pictures may come from inside the network (test setups).
    """
    try:
        return provider(session, post, lang, timeout, allow_private)
    except NoPicture as e:
        log.warning("post %s goes without its picture: %s", post.id, e)
    except Exception:
        log.exception("post %s goes without its picture: finding it broke", post.id)
    return None


def from_image_url(session: Session, post: Post, lang: str, timeout: float, allow_private: bool) -> PostPicture | None:
    """The programme's ``image_url``, fetched now, with its alt text in ``lang`` and its credit."""
    programme = post.slot.programme
    if not programme.image_url:
        return None
    data, content_type = fetch(programme.image_url, timeout, allow_private)
    return PostPicture(
        url=programme.image_url,
        alt=programme.text("image_alt", lang),
        credit=programme.image_credit,
        content_type=content_type,
        data=data,
    )


def stored_then_image_url(
    session: Session, post: Post, lang: str, timeout: float, allow_private: bool
) -> PostPicture | None:
    """The programme's uploaded picture when it has one, else its ``image_url`` fetched now."""
    stored = media.post_picture(session, post.slot.programme, lang) if has_app_context() else None
    if stored is not None:
        return stored
    return from_image_url(session, post, lang, timeout, allow_private)


#: Where :func:`picture_for` gets pictures; replace it to read them elsewhere first.
provider: Provider = stored_then_image_url


def fetch(url: str, timeout: float, allow_private: bool = False) -> tuple[bytes, str]:
    """GET a picture: at most :data:`MAX_BYTES`, within ``timeout``, never from inside the network.

    :raises NoPicture: when it cannot be had, with the reason.
    """
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        answer = call("GET", url, timeout, allow_private, stream=True, headers={"Accept": "image/*"})
        if isinstance(answer, Outcome):
            raise NoPicture(f"{url}: {answer.error}")
        with answer:
            if answer.is_redirect and answer.headers.get("Location"):
                url = urljoin(url, answer.headers["Location"])
                continue
            if answer.status_code != 200:
                raise NoPicture(f"{url} answered {answer.status_code} {answer.reason}")
            data = _body(answer, url, deadline)
        return data, _content_type(data, url)
    raise NoPicture(f"{url}: more than {MAX_REDIRECTS} redirects")


def _body(answer, url: str, deadline: float) -> bytes:
    declared = answer.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise NoPicture(f"{url} is {int(declared)} bytes; pictures are at most {MAX_BYTES} bytes")
    chunks, size = [], 0
    try:
        for chunk in answer.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_BYTES:
                raise NoPicture(f"{url} is larger than {MAX_BYTES} bytes")
            if time.monotonic() > deadline:
                raise NoPicture(f"{url} did not arrive in time")
            chunks.append(chunk)
    except OSError as e:  # requests' own errors derive from it: a connection that broke mid-body
        raise NoPicture(f"{url} broke off: {e}") from e
    return b"".join(chunks)


def _content_type(data: bytes, url: str) -> str:
    """The picture's type from its first bytes (a server's Content-Type may say anything)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for content_type, signatures in SIGNATURES.items():
        if data.startswith(signatures):
            return content_type
    raise NoPicture(f"{url} is not a JPEG, PNG or WebP picture")
