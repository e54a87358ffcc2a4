"""Pictures on the web: the kept files and their derived sizes, and generated share cards.

``/pictures/{hash}/{size}.{jpg,webp}`` never changes (its name holds the content's hash), so it is
sent as immutable for a year; nginx serves the same files straight from ``PICTURES_DIR``.
``/slots/{id}/card.png`` and ``/programmes/{id}/card.png`` draw a card for what has no picture of
its own, in ``?lang=`` and ``?tz=`` (the URL says everything the card depends on), through the
public cache like any other public read.
"""

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time
from flask import Blueprint, Response, abort, current_app, request
from flask_babel import force_locale
from flask_babel import gettext as _

from schedule_service import media
from schedule_service.db import db
from schedule_service.embargo import public_programme_alone, public_slot
from schedule_service.models import Programme, Slot
from schedule_service.web.caching import public
from schedule_service.web.errors import problem

bp = Blueprint("pictures", __name__)

IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class PageImage:
    """The picture a page, feed or link preview shows, with what is known of it."""

    url: str
    alt: str
    width: int | None = None
    height: int | None = None
    content_type: str | None = None
    credit: str | None = None
    #: Whether the service drew it (a share card), rather than someone's photograph.
    generated: bool = False


@bp.get("/pictures/<digest>/<name>.<ext>")
def picture_file(digest: str, name: str, ext: str):
    """A kept picture or one of its sizes, made on first request if missing."""
    if not media.is_name(digest, name, ext):
        abort(404)
    path = media.derived(Path(current_app.config["PICTURES_DIR"]), digest, name, ext)
    if path is None:
        abort(404)
    # Read whole (a few hundred kilobytes at most): nothing is left open when a 304 is all that goes out.
    response = Response(path.read_bytes(), mimetype=media.FORMATS[ext][1])
    response.set_etag(f"{digest}-{name}.{ext}")
    response.headers["Cache-Control"] = IMMUTABLE
    return response.make_conditional(request)


@bp.get("/slots/<int:slot_id>/card.png")
@public()
def slot_card(slot_id: int):
    """A showing's share card: channel, title and air time, in ``?lang=`` and ``?tz=`` (default the channel's)."""
    slot = db.session.get(Slot, slot_id)
    if slot is None:
        raise problem(404, f"there is no showing {slot_id}")
    lang, tz = _lang_arg(), _tz_arg() or slot.channel.zone
    return _png(media.draw_card(slot_card_text(public_slot(slot), lang, tz)))


@bp.get("/programmes/<int:programme_id>/card.png")
@public()
def programme_card(programme_id: int):
    """A programme's share card: its title, in ``?lang=``."""
    programme = db.session.get(Programme, programme_id)
    if programme is None:
        raise problem(404, f"there is no programme {programme_id}")
    programme = public_programme_alone(db.session, programme)
    lang = _lang_arg()
    with force_locale(lang):
        text = media.CardText(
            site=_("TV schedule"),
            title=programme.text("title", lang),
            badge=_("World exclusive") if programme.is_exclusive else None,
        )
    return _png(media.draw_card(text))


def slot_card_text(slot: Slot, lang: str, tz: ZoneInfo) -> media.CardText:
    """What a showing's card says, in ``lang``, its air time on the wall clock of ``tz``."""
    from schedule_service.web.public import _zone_label

    start = slot.start_at
    when = (
        f"{format_date(start.astimezone(tz).date(), 'full', locale=lang)}, "
        f"{format_time(start, 'HH:mm', tzinfo=tz, locale=lang)} ({_zone_label(tz, start, lang)})"
    )
    with force_locale(lang):
        return media.CardText(
            site=_("TV schedule"),
            channel=slot.channel.name_in(lang),
            title=slot.programme.text("title", lang),
            when=when,
            badge=_("World exclusive") if slot.programme.is_exclusive else None,
        )


def _png(body: bytes) -> Response:
    return Response(body, mimetype="image/png")


def _lang_arg() -> str:
    lang = request.args.get("lang") or current_app.config["BABEL_DEFAULT_LOCALE"]
    if lang not in current_app.config["LANGUAGES"]:
        raise problem(400, f"no language {lang!r}", {"lang": f"one of {', '.join(current_app.config['LANGUAGES'])}"})
    return lang


def _tz_arg() -> ZoneInfo | None:
    name = request.args.get("tz") or ""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise problem(400, f"no time zone {name!r}", {"tz": "an IANA time zone"}) from e


# Which picture a page, feed or preview shows


def own_image(programme: Programme, lang: str | None, base: str) -> PageImage | None:
    """The programme's own picture: the uploaded one's share card, else its ``image_url``; None without."""
    alt = programme.text("image_alt", lang) or programme.text("title", lang)
    if programme.image_hash:
        return PageImage(
            media.card_url(programme.image_hash, base), alt, 1200, 630, "image/jpeg", programme.image_credit
        )
    if programme.image_url:
        return PageImage(programme.image_url, alt, credit=programme.image_credit)
    return None


def slot_image(slot: Slot, lang: str, base: str, tz: ZoneInfo | None = None) -> PageImage:
    """The picture of a showing: the programme's own, else its generated card in ``lang`` (and ``tz``)."""
    own = own_image(slot.programme, lang, base)
    if own is not None:
        return own
    query = f"?lang={lang}" + (f"&tz={tz.key}" if tz is not None else "")
    title = slot.programme.text("title", lang)
    return PageImage(
        f"{base.rstrip('/')}/slots/{slot.id}/card.png{query}", title, 1200, 630, "image/png", generated=True
    )


def programme_image(programme: Programme, lang: str, base: str) -> PageImage:
    """The picture of a programme: its own, else its generated card in ``lang``."""
    own = own_image(programme, lang, base)
    if own is not None:
        return own
    title = programme.text("title", lang)
    url = f"{base.rstrip('/')}/programmes/{programme.id}/card.png?lang={lang}"
    return PageImage(url, title, 1200, 630, "image/png", generated=True)


def file_size(programme: Programme, name: str = "card", ext: str = "jpg") -> int | None:
    """Bytes of one of the programme's kept sizes (an RSS enclosure says it), None when not kept."""
    if not programme.image_hash:
        return None
    path = media.derived(Path(current_app.config["PICTURES_DIR"]), programme.image_hash, name, ext)
    return path.stat().st_size if path is not None else None
