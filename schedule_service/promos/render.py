"""Promo blurbs: a sandboxed Jinja2 template per language, fitted to each target's length limit.

This is the one rendering path: previews, the planning-time length check and the sender at the
moment of sending all call :func:`render_slot` (or :func:`render_post`).
"""

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound, meta
from jinja2.sandbox import SandboxedEnvironment

from schedule_service import listings
from schedule_service.models import Channel, Edition, Post, Slot, Target
from schedule_service.promos.when_phrase import PromoNotTrue, languages, when_phrase

__all__ = [
    "BadTemplate",
    "PromoNotTrue",
    "Rendered",
    "TooLong",
    "as_aired",
    "audience_zone",
    "post_lang",
    "render_post",
    "render_slot",
    "text_when_due",
    "template_names",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_TEMPLATE = "default"
TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ELLIPSIS = "…"


class TooLong(ValueError):
    """The blurb does not fit the target even without its quote and summary."""

    def __init__(self, message: str, length: int | None = None, limit: int | None = None):
        super().__init__(message)
        self.length, self.limit = length, limit


class BadTemplate(ValueError):
    """The template does not exist in the language, or fails to render."""


@dataclass(frozen=True)
class Rendered:
    """A blurb ready to send: its text, the when-phrase in it, its length against the target's limit."""

    text: str
    when: str
    length: int
    limit: int | None
    title: str
    link: str
    #: What was cut to fit the limit: "quote" (left out), "summary" (shortened or left out).
    shortened: tuple[str, ...] = ()


#: The variables a blurb template may use (the context :func:`render_slot` gives it).
PLACEHOLDERS = frozenset(
    {"title", "subtitle", "summary", "quote", "guest", "guest_role", "guests", "exclusive", "badge", "premiere"}
    | {"live", "channel", "when", "on_air", "start", "link", "lang"}
)


def render_post(post: Post, at: datetime, limit: int | None = None) -> Rendered:
    """Render ``post`` as it reads at ``at``: the sender calls this at the moment of sending.

    :param limit: a limit shorter than the target's for this post (a caption beside a picture).
    """
    return render_slot(post.slot, post.target, post.lang, at, post.template, limit, source=post.own_template)


def text_when_due(post: Post, at: datetime) -> tuple[str | None, str | None]:
    """The post's text as sent (or as stored when planned); else as it would read when due, or why none.

    ``at`` is now: a post already past due would read as of now. Imports plan posts without
    storing their text (it is made when sent), so readers of the plan get it from here.
    """
    # A post's own template is newer than the text its planning stored; unsent, it reads as rendered.
    if post.text is not None and not (post.own_template and post.status in ("planned", "held", "failed")):
        return post.text, None
    try:
        return render_post(post, max(post.due_at, at)).text, None
    except (PromoNotTrue, TooLong, BadTemplate) as e:
        return None, str(e)


def render_slot(
    slot: Slot,
    target: Target,
    lang: str,
    at: datetime,
    template: str | None = None,
    limit: int | None = None,
    source: str | None = None,
) -> Rendered:
    """Render the blurb for ``slot`` on ``target`` in ``lang`` as read at ``at``.

    :param template: a template name (see :func:`template_names`); the default one when None.
    :param limit: the length limit when not the target's own (a caption beside a picture).
    :param source: a template's own Jinja text (a post's own template); wins over ``template``.
    :raises PromoNotTrue: when nothing true can be said at ``at`` (the slot ended or was cancelled).
    :raises TooLong: when the title, when-phrase and link alone exceed the target's limit.
    :raises BadTemplate: when the template is missing in ``lang`` or fails.
    """
    if slot.is_cancelled:
        raise PromoNotTrue(f"slot {slot.id} is cancelled; no promo for it is true")
    slot = as_aired(slot, slot.channel, target)  # an edition's target speaks of the edition's air time
    channel, programme = slot.channel, slot.programme
    tz = audience_zone(target, channel)
    when = when_phrase(slot.start_at, slot.end_at, at, tz, channel.broadcast_day_start, lang)
    title = programme.text("title", lang)
    link = slot_link(slot)
    guests = programme.guests_in(lang)
    context: dict[str, Any] = {
        "title": title,
        "subtitle": _in_lang(programme, "subtitle", lang),
        "summary": _in_lang(programme, "summary", lang),
        "quote": _in_lang(programme, "quote", lang),
        "guest": guests[0].get("name") if guests else None,
        "guest_role": guests[0].get("role") if guests else None,
        "guests": guests,
        "exclusive": programme.is_exclusive,
        "badge": wants_badge(programme.is_exclusive, title),
        "premiere": slot.is_premiere,
        "live": slot.is_live,
        "channel": channel.name_in(lang),
        "when": when,
        "on_air": slot.start_at <= at,
        "start": slot.start_at.astimezone(tz).strftime("%H:%M"),
        "link": link,
        "lang": lang,
    }
    compiled = compile_source(source) if source is not None else _template(template or DEFAULT_TEMPLATE, lang)
    limit = target.limit if limit is None else limit
    text, shortened = _fit(compiled, context, limit, target)
    return Rendered(
        text=text, when=when, length=measure(text, target), limit=limit, title=title, link=link, shortened=shortened
    )


def compile_source(source: str):
    """Compile a template's own text in the sandbox; unknown placeholders and bad syntax are a BadTemplate."""
    env = _environment()
    try:
        unknown = meta.find_undeclared_variables(env.parse(source)) - PLACEHOLDERS
    except TemplateError as e:
        raise BadTemplate(f"the template is not valid: {e}") from e
    if unknown:
        raise BadTemplate(
            f"unknown placeholders: {', '.join(sorted(unknown))}; there are: {', '.join(sorted(PLACEHOLDERS))}"
        )
    return env.from_string(source)


#: A title that says "exclusive" itself, in any language the service writes.
_SAYS_EXCLUSIVE = re.compile(r"exclusive|эксклюзив", re.IGNORECASE)


def wants_badge(is_exclusive: bool, title: str | None) -> bool:
    """Whether "World exclusive" goes before the title: for an exclusive whose title does not say so already."""
    return bool(is_exclusive) and not _SAYS_EXCLUSIVE.search(title or "")


def post_lang(target: Target, channel: Channel) -> str:
    """The language of a post: the target's, else the channel's first, else English (if it has phrases)."""
    for lang in (target.lang, *(channel.languages or []), "en"):
        if lang and lang in languages() and lang in _template_langs():
            return lang
    return "en"


@cache
def _template_langs() -> frozenset[str]:
    """The languages the blurb templates come in (their folders, part of the package: read once)."""
    return frozenset(d.name for d in TEMPLATES.iterdir() if d.is_dir())


def audience_zone(target: Target, channel: Channel) -> ZoneInfo:
    """The zone the audience reads in: the target's, else its edition's, else the channel's."""
    if target.timezone:
        return ZoneInfo(target.timezone)
    edition = target_edition(target, channel)
    return ZoneInfo(edition.timezone) if edition is not None else channel.zone


def target_edition(target: Target, channel: Any) -> Edition | None:
    """The edition of ``channel`` that ``target`` is bound to; None when it speaks for the channel itself.

    A target bound to another channel's edition speaks of this channel's own air times.
    """
    if not target.edition:
        return None
    return next((e for e in getattr(channel, "editions", None) or () if e.slug == target.edition), None)


def as_aired(slot: Any, channel: Any, target: Target) -> Any:
    """``slot`` as ``target``'s audience sees it air: moved into the target's edition, if it has one."""
    edition = target_edition(target, channel)
    if edition is None:
        return slot
    return listings.edition_slot(slot, listings.EditionChannel.of(edition, channel))


def slot_link(slot: Slot) -> str:
    """The public page of the slot, which previews well when a network unfurls it."""
    if has_app_context():
        base = current_app.config["PUBLIC_URL"]
    else:
        from config.default import PUBLIC_URL as base
    return f"{base.rstrip('/')}/slots/{slot.id}"


def template_names(lang: str | None = None) -> set[str]:
    """The blurb templates there are, in ``lang`` or in any language."""
    dirs = [TEMPLATES / lang] if lang else [d for d in TEMPLATES.iterdir() if d.is_dir()]
    return {p.stem for d in dirs if d.is_dir() for p in d.glob("*.txt")}


def measure(text: str, target: Target) -> int:
    """The length as the target counts it: UTF-16 code units on Telegram, characters elsewhere."""
    if target.kind == "telegram":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


@cache
def _environment() -> SandboxedEnvironment:
    # Sandboxed because staff will edit templates; plain text, so no HTML escaping.
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )


def _template(name: str, lang: str):
    if not TEMPLATE_NAME.match(name or ""):
        raise BadTemplate(f"{name!r} is not a template name (lowercase letters, digits, - and _)")
    try:
        return _environment().get_template(f"{lang}/{name}.txt")
    except TemplateNotFound as e:
        raise BadTemplate(f"there is no blurb template {name!r} in {lang!r}") from e
    except TemplateError as e:
        raise BadTemplate(f"the blurb template {name!r} in {lang!r} is broken: {e}") from e


def _render(compiled, context: dict[str, Any]) -> str:
    try:
        text = compiled.render(context)
    except TemplateError as e:
        raise BadTemplate(f"the blurb template {compiled.name!r} failed: {e}") from e
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _fit(compiled, context: dict[str, Any], limit: int | None, target: Target) -> tuple[str, tuple[str, ...]]:
    """Render within ``limit``: drop the quote, then shorten the summary; never touch the rest.

    Returns the text and what was cut to fit.
    """
    text = _render(compiled, context)
    if limit is None or measure(text, target) <= limit:
        return text, ()
    cut = ("quote",) if context.get("quote") else ()
    context = {**context, "quote": None}
    text = _render(compiled, context)
    if measure(text, target) <= limit:
        return text, cut
    cut = (*cut, "summary") if context.get("summary") else cut
    summary = context.get("summary") or ""
    # The longest shortened summary that fits; text length grows with it, so bisect.
    best, low, high = None, 1, len(summary) - 1
    while low <= high:
        size = (low + high) // 2
        short = _shorten(summary, size)
        candidate = _render(compiled, {**context, "summary": short}) if short else None
        if candidate is not None and measure(candidate, target) <= limit:
            best, low = candidate, size + 1
        else:
            high = size - 1
    if best is not None:
        return best, cut
    text = _render(compiled, {**context, "summary": None})
    if measure(text, target) <= limit:
        return text, cut
    length = measure(text, target)
    raise TooLong(
        f"the blurb needs {length} characters for its title, when-phrase and link alone; "
        f"target {target.name!r} allows {limit}",
        length,
        limit,
    )


def _shorten(text: str, size: int) -> str | None:
    """Cut ``text`` to at most ``size`` characters at a word boundary, ending with an ellipsis."""
    if len(text) <= size:
        return text
    cut = text[: size - len(ELLIPSIS) + 1]
    space = cut.rfind(" ")
    # Prefer a whole word unless that would throw away most of what fits.
    cut = cut[:space] if space >= len(cut) // 2 else cut[: size - len(ELLIPSIS)]
    cut = cut.rstrip(" ,;:.-–—")
    return cut + ELLIPSIS if cut else None


def _in_lang(programme, field: str, lang: str) -> str | None:
    """A field in ``lang`` only: a Russian blurb leaves out an English-only quote rather than mix."""
    translation = programme.translations.get(lang)
    if translation is not None and getattr(translation, field):
        return getattr(translation, field)
    return getattr(programme, field) if programme.language == lang else None
