"""What every publishing target is: a small Protocol, the outcome of one call, and the registry.

An adapter gets one :class:`Delivery` (publish, correct or withdraw one post) and answers an
:class:`Outcome`. It never raises for the target's own failures: each failure is an outcome,
so one target failing never stops the others.
"""

import dataclasses
import json
import os
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import requests
from sqlalchemy.orm import Session

from schedule_service.media import PostPicture
from schedule_service.models import Post, Target
from schedule_service.publishing.addresses import GuardedAdapter, InsideNetwork, refusal

if TYPE_CHECKING:
    from schedule_service.promos.render import Rendered

# What an outcome says about the post.
PUBLISHED = "published"
#: The request did not go out, or the target refused it: nothing was published.
FAILED = "failed"
#: The request may have gone out (timeout after sending, a broken answer): nobody knows.
UNKNOWN = "unknown"

#: How much of a response's body is kept on the attempt row, which every editor can read: enough
#: to see what the target said, not a page of whatever answered.
RESPONSE_CHARS = 200
#: Markup, and anything that looks like a credential, left out of that excerpt.
_TAGS = re.compile(r"<[^>]*>?")
_SECRETS = re.compile(
    r"((?:access_?token|token|secret|password|api_?key|authorization|bearer)[\"']?\s*[:=]?\s*[\"']?)[^\s\"',&}]+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Outcome:
    """The result of one call to a target."""

    kind: str
    #: The target's id of what it published (status id, message id, feed item id).
    external_id: str | None = None
    external_url: str | None = None
    #: What the target answered (status line and body, shortened), for the attempt log.
    response: str | None = None
    #: Why it failed or is unknown, in words.
    error: str | None = None
    #: For a failure: whether trying again later may help (a 5xx, a refused connection).
    retryable: bool = True
    #: For a failure: the target asked us to wait this many seconds (429 Retry-After).
    retry_after: float | None = None

    @classmethod
    def published(cls, external_id: Any = None, url: str | None = None, response: str | None = None) -> "Outcome":
        return cls(PUBLISHED, None if external_id is None else str(external_id), url, response)

    @classmethod
    def failed(
        cls, error: str, response: str | None = None, retryable: bool = True, retry_after: float | None = None
    ) -> "Outcome":
        return cls(FAILED, response=response, error=error, retryable=retryable, retry_after=retry_after)

    @classmethod
    def unknown(cls, error: str, response: str | None = None) -> "Outcome":
        return cls(UNKNOWN, response=response, error=error)


def nothing_posted(outcome: "Outcome") -> "Outcome":
    """A step before the post itself (an upload, a read) went wrong: whatever it was, nothing was posted.

    An unknown outcome there (a lost answer, a captcha) is a failure worth trying again.
    """
    if outcome.kind != UNKNOWN:
        return outcome
    return Outcome.failed(f"{outcome.error} (before the post itself: nothing was posted)", outcome.response)


@dataclass
class Delivery:
    """One call to make: the outbox row, its target, and what to say."""

    post: Post
    target: Target
    #: The text rendered now; None for a withdrawal, which says nothing new.
    rendered: "Rendered | None"
    #: For a correction or withdrawal: the published post it acts on.
    parent: Post | None
    #: Seconds for each network call.
    timeout: float
    #: The database session, for the web target, whose "network" is the feed table.
    session: Session
    #: Whether it may call addresses inside the network (TARGETS_ALLOW_PRIVATE: test setups).
    allow_private: bool = False
    #: The picture to send with the text (publish, correct); None for none, or a withdrawal.
    picture: PostPicture | None = None
    #: For a correction: the post it corrects went out with a picture (its attempt says so), so
    #: the edit keeps that picture and, on Telegram, changes a caption rather than a text.
    parent_has_picture: bool = False

    @property
    def action(self) -> str:
        return self.post.action

    @property
    def key(self) -> str:
        """The idempotency key the target deduplicates on."""
        return self.post.idempotency_key


class Adapter(Protocol):
    """A kind of target: publishes, corrects and withdraws posts."""

    kind: str
    #: Its calls are database writes (the web feed), made in the transaction that records them.
    local: bool

    def deduplicates(self, action: str) -> bool:
        """Whether sending ``action`` twice has the effect of sending it once."""
        ...

    def publish(self, delivery: Delivery) -> Outcome: ...

    def correct(self, delivery: Delivery) -> Outcome: ...

    def withdraw(self, delivery: Delivery) -> Outcome: ...


#: kind → adapter; each kind's module adds itself.
REGISTRY: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    REGISTRY[adapter.kind] = adapter
    return adapter


def adapter_for(kind: str) -> Adapter:
    from schedule_service.publishing import targets  # noqa: F401  (fills the registry)

    return REGISTRY[kind]


# HTTP, shared by the networked targets

_local = threading.local()


def http(guarded: bool = True) -> requests.Session:
    """This thread's HTTP session, so calls to one host reuse their connection.

    A guarded session connects only to addresses outside the network, checked after DNS
    resolution (see :mod:`schedule_service.publishing.addresses`).
    """
    sessions = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    session = sessions.get(guarded)
    if session is None:
        session = sessions[guarded] = requests.Session()
        session.headers["User-Agent"] = "schedule-service/1 (promo publisher)"
        if guarded:
            for scheme in ("http://", "https://"):
                session.mount(scheme, GuardedAdapter())
        if not _proxied():
            # No proxy to honour: skip requests' reading of the environment (and of ~/.netrc,
            # whose credentials must never reach a target) on every call; keep a CA bundle.
            session.trust_env = False
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return session


def _proxied() -> bool:
    return any(name.lower().endswith("_proxy") for name in os.environ)


def call(method: str, url: str, timeout: float, allow_private: bool = False, **kwargs) -> requests.Response | Outcome:
    """Make one HTTP request; a transport failure comes back as the honest :class:`Outcome`.

    Failing to connect means nothing went out (failed, retryable); a timeout or broken
    connection after the request was sent means it may have arrived (unknown). An address
    inside the network is refused without a call (failed for good: a person fixes the target).
    Redirects are never followed: a target answers where it was asked.
    """
    if not allow_private and _proxied():
        # Through a proxy the proxy resolves the name: check it here (the best we can do).
        why = refusal(url)
        if why:
            return Outcome.failed(f"not called: {why}", retryable=False)
    try:
        return http(not allow_private).request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except (requests.ConnectTimeout, requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as e:
        return Outcome.failed(f"could not connect: {_reason(e)}", retryable=not isinstance(e, ValueError))
    except requests.ConnectionError as e:
        if (inside := _inside(e)) is not None:
            return Outcome.failed(f"not called: {inside}", retryable=False)
        if _never_connected(e):
            return Outcome.failed(f"could not connect: {_reason(e)}")
        return Outcome.unknown(f"the connection broke after the request was sent: {_reason(e)}")
    except requests.Timeout:
        return Outcome.unknown(f"no answer within {timeout:g} s after the request was sent")
    except requests.RequestException as e:
        return Outcome.failed(f"the request could not be made: {_reason(e)}", retryable=False)


def _inside(error: requests.ConnectionError) -> str | None:
    """The guard's refusal, if that is why the connection was not made."""
    from urllib3.exceptions import MaxRetryError

    reason = error.args[0] if error.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return reason.why if isinstance(reason, InsideNetwork) else None


def _never_connected(error: requests.ConnectionError) -> bool:
    from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

    reason = error.args[0] if error.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | NameResolutionError)


def _reason(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 300 else text[:300] + "…"


def describe(response: requests.Response) -> str:
    """The status line and a short, sanitised excerpt of the body, for the attempt log."""
    return f"{response.status_code} {excerpt(response.reason or '', 60)}\n{excerpt(response.text)}".strip()


def excerpt(text: str, limit: int = RESPONSE_CHARS) -> str:
    """``text`` as one plain line of at most ``limit`` characters: no markup, control characters or credentials."""
    text = _TAGS.sub(" ", text[: limit * 20])  # markup is not what a person needs, and may be hostile
    text = _SECRETS.sub(r"\1(hidden)", text)
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_excerpt(body: Any) -> str:
    """A network's JSON answer, shortened for the attempt log."""
    text = json.dumps(body, ensure_ascii=False)
    return text if len(text) <= RESPONSE_CHARS else text[:RESPONSE_CHARS] + "…"


def without_secret(outcome: Outcome, secret: str | None) -> Outcome:
    """``outcome`` with ``secret`` (a token in a URL or echoed back) kept out of what staff can read."""

    def clean(text: str | None) -> str | None:
        return text.replace(secret, "<token>") if text and secret else text

    return dataclasses.replace(outcome, error=clean(outcome.error), response=clean(outcome.response))


def outcome_of_status(response: requests.Response, what: str) -> Outcome | None:
    """The outcome of a non-2xx answer; None for a 2xx, which the adapter reads itself.

    429 and 503 mean "not now": nothing happened, try later. Other 4xx are refusals that a
    retry will not change (a person fixes the token or the text, then retries). Other 5xx
    mean the target got the request and broke somewhere: it may or may not have acted.
    """
    status = response.status_code
    if 200 <= status < 300:
        return None
    text = describe(response)
    if status in (408, 429, 503):
        return Outcome.failed(f"{what}: {status}, try later", text, retry_after=_retry_after(response))
    if 300 <= status < 500:
        return Outcome.failed(f"{what}: refused with {status} {response.reason}", text, retryable=False)
    return Outcome.unknown(f"{what}: the target broke with {status} {response.reason}", text)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
