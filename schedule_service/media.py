"""Pictures: validate and re-encode uploads, keep them by content hash, derive sizes, draw share cards.

An upload is decoded by Pillow and encoded again as a JPEG without any metadata, so what is not
a picture is refused, EXIF (camera, place, owner) never leaves the building, and a picture is
stored once whatever it was called. The folder (``PICTURES_DIR``) holds ``{hash}/original.jpg``
and the derived sizes beside it, made once at upload (or at the first request for one that is
missing) and never changed: their URLs hold the hash, so they may be cached for a year, and
nginx serves them from disk.
"""

import hashlib
import logging
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

#: What an upload may be, by its content (never by its name).
ACCEPTED = ("JPEG", "PNG", "WEBP")
MAX_BYTES = 10 * 1024 * 1024
#: More pixels than any photograph needs: beyond it an upload is taken for a decompression bomb.
MAX_PIXELS = 50_000_000
#: The kept original's longest side; larger uploads are scaled down to it.
ORIGINAL_MAX_SIDE = 2400
ORIGINAL = "original"
#: Derived sizes: (width, height); a height of None keeps the picture's proportions.
SIZES: dict[str, tuple[int, int | None]] = {"card": (1200, 630), "w640": (640, None), "w160": (160, None)}
#: Formats of derived files by extension: Pillow's name and the content type.
FORMATS = {"jpg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
CARD_SIZE = (1200, 630)
HASH = re.compile(r"[0-9a-f]{64}")
#: Where Debian's fonts-dejavu-core puts its fonts, which carry Cyrillic.
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")


#: Why an upload is refused; fixed texts, so the staff pages show them in the page's language.
TOO_BIG = "The picture is larger than 10 MB."
NOT_A_PICTURE = "This file is not a JPEG, PNG or WebP picture."
TOO_MANY_PIXELS = "The picture has too many pixels (more than 50 million) to be a photograph; it is refused."


class PictureError(ValueError):
    """An upload that cannot become a picture; the message says why, for the person who sent it."""


@dataclass(frozen=True)
class PostPicture:
    """The one picture a promo post carries, its bytes in hand: what each network uploads or links to."""

    #: Where the picture is published (what a webhook receiver is given), absolute.
    url: str
    #: The picture described for those who cannot see it, in the post's language.
    alt: str | None
    credit: str | None
    #: image/jpeg, image/png or image/webp.
    content_type: str
    data: bytes = field(repr=False)

    @property
    def filename(self) -> str:
        """A file name for a multipart upload, whose extension some networks go by."""
        return "picture." + {"image/png": "png", "image/webp": "webp"}.get(self.content_type, "jpg")


# Uploads


def ingest(data: bytes, folder: Path) -> str:
    """Decode ``data``, re-encode it without metadata, keep it under ``folder`` with its sizes; its hash.

    :raises PictureError: when ``data`` is too big, not a JPEG, PNG or WebP picture, or a bomb.
    """
    if len(data) > MAX_BYTES:
        raise PictureError(TOO_BIG)
    original = _reencode(data)
    digest = hashlib.sha256(original).hexdigest()
    _write(folder / digest / f"{ORIGINAL}.jpg", original)
    for name in SIZES:
        for ext in FORMATS:
            derived(folder, digest, name, ext)
    return digest


def _reencode(data: bytes) -> bytes:
    try:
        with warnings.catch_warnings():
            # Pillow warns between MAX_IMAGE_PIXELS and twice that: refused, as beyond it.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data), formats=ACCEPTED) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise PictureError(TOO_MANY_PIXELS)
                img.load()
                picture = ImageOps.exif_transpose(img)  # turned as the camera meant, before EXIF goes
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise PictureError(TOO_MANY_PIXELS) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        if isinstance(e, PictureError):
            raise
        raise PictureError(NOT_A_PICTURE) from e
    picture = _flat_rgb(picture)
    # Pillow writes some of what it read back out (a JPEG comment, an ICC profile): none of it stays.
    picture.info.clear()
    picture.thumbnail((ORIGINAL_MAX_SIDE, ORIGINAL_MAX_SIDE), Image.Resampling.LANCZOS)
    return _encode(picture, "JPEG")


def _flat_rgb(img: Image.Image) -> Image.Image:
    """RGB, transparency laid on white: JPEG has no alpha, and a logo on black reads badly."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB")


def _encode(img: Image.Image, fmt: str) -> bytes:
    """``img`` in ``fmt`` with no metadata: no EXIF, ICC, XMP or comments are passed to Pillow."""
    buf = BytesIO()
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=88, optimize=True, progressive=True)
    elif fmt == "WEBP":
        img.save(buf, "WEBP", quality=82, method=4)
    else:
        img.save(buf, fmt, optimize=True)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, so a reader (nginx) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# Derived sizes


def is_name(digest: str, name: str, ext: str) -> bool:
    """Whether ``{digest}/{name}.{ext}`` is a file this module makes."""
    return bool(HASH.fullmatch(digest)) and ((name in SIZES and ext in FORMATS) or (name == ORIGINAL and ext == "jpg"))


def derived(folder: Path, digest: str, name: str, ext: str) -> Path | None:
    """The file ``{digest}/{name}.{ext}``, made from the original the first time; None without an original."""
    path = folder / digest / f"{name}.{ext}"
    if path.exists():
        return path
    source = folder / digest / f"{ORIGINAL}.jpg"
    if not source.exists():
        return None
    with Image.open(source) as img:
        img.load()
        width, height = SIZES[name]
        if height is not None:
            out = ImageOps.fit(img, (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.4))
        else:
            out = img.resize((width, max(1, round(img.height * width / img.width))), Image.Resampling.LANCZOS)
    _write(path, _encode(out, FORMATS[ext][0]))
    return path


def path_of(digest: str, name: str, ext: str) -> str:
    """The URL path of a kept file: content-hashed, so it never changes."""
    return f"/pictures/{digest}/{name}.{ext}"


def urls(digest: str, base: str) -> dict:
    """Each derived size's absolute URLs (JPEG and WebP) and dimensions, as the API shows them."""
    base = base.rstrip("/")
    out: dict = {"hash": digest, "original": base + path_of(digest, ORIGINAL, "jpg")}
    for name, (width, height) in SIZES.items():
        out[name] = {
            "jpeg": base + path_of(digest, name, "jpg"),
            "webp": base + path_of(digest, name, "webp"),
            "width": width,
            **({"height": height} if height else {}),
        }
    return out


def card_url(digest: str, base: str) -> str:
    """The 1200×630 share card (JPEG, what every link preview takes) of an uploaded picture."""
    return base.rstrip("/") + path_of(digest, "card", "jpg")


def post_picture_from(folder: Path, programme, lang: str | None, base: str) -> PostPicture | None:
    """The uploaded picture of ``programme`` for a post in ``lang``; None when it has none of its own."""
    digest = getattr(programme, "image_hash", None)
    if not digest:
        return None
    path = folder / digest / f"{ORIGINAL}.jpg"
    if not path.exists():
        log.warning("programme %s's picture %s is missing from %s", programme.id, digest, folder)
        return None
    return PostPicture(
        data=path.read_bytes(),
        content_type="image/jpeg",
        alt=programme.text("image_alt", lang) or None,
        credit=programme.image_credit,
        url=base.rstrip("/") + path_of(digest, ORIGINAL, "jpg"),
    )


def post_picture(session, programme, lang: str | None) -> PostPicture | None:
    """The picture a promo post about ``programme`` in ``lang`` attaches, from the app's settings.

    None when the programme has no uploaded picture (an external ``image_url`` is linked, not
    attached). ``session`` is unused today; it keeps the signature of the publishing side's calls.
    """
    from flask import current_app

    del session
    return post_picture_from(
        Path(current_app.config["PICTURES_DIR"]), programme, lang, current_app.config["PUBLIC_URL"]
    )


# Share cards


@dataclass(frozen=True)
class CardText:
    """What a generated share card says, already in the viewer's language and zone."""

    site: str
    title: str
    channel: str | None = None
    when: str | None = None
    badge: str | None = None


def font_path(bold: bool = False) -> Path | None:
    """A DejaVu Sans (which carries Cyrillic) from ``CARD_FONT_DIR`` or Debian's fonts-dejavu-core; None if absent."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    dirs = [os.environ["CARD_FONT_DIR"]] if os.environ.get("CARD_FONT_DIR") else []
    for folder in [*dirs, *FONT_DIRS]:
        path = Path(folder) / name
        if path.is_file():
            return path
    return None


_warned = False


def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    global _warned
    path = font_path(bold)
    if path is not None:
        return ImageFont.truetype(str(path), size)
    if not _warned:
        _warned = True
        log.warning(
            "no DejaVu font (apt-get install fonts-dejavu-core): share cards use Pillow's own, without Cyrillic"
        )
    return ImageFont.load_default(size)


BACKGROUND = (20, 33, 61)
ACCENT = (255, 196, 61)
INK = (255, 255, 255)
QUIET = (190, 200, 220)
MARGIN = 72


def draw_card(text: CardText) -> bytes:
    """A 1200×630 PNG share card: the site and channel, the badge, the title, when it airs."""
    width, height = CARD_SIZE
    img = Image.new("RGB", CARD_SIZE, BACKGROUND)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 16, height), fill=ACCENT)
    inner = width - 2 * MARGIN
    y = MARGIN - 8
    head = " · ".join(part for part in (text.channel, text.site) if part)
    draw.text((MARGIN, y), _fit_line(draw, head, _font(34, bold=True), inner), font=_font(34, bold=True), fill=QUIET)
    y += 70
    if text.badge:
        badge_font = _font(30, bold=True)
        box = draw.textbbox((MARGIN + 16, y + 8), text.badge.upper(), font=badge_font)
        draw.rounded_rectangle((MARGIN, y, box[2] + 16, box[3] + 10), radius=8, fill=ACCENT)
        draw.text((MARGIN + 16, y + 8), text.badge.upper(), font=badge_font, fill=BACKGROUND)
        y += 80
    room = height - y - MARGIN - (70 if text.when else 0)
    for size in (72, 64, 56, 48, 42):
        title_font = _font(size, bold=True)
        lines = _wrap(draw, text.title, title_font, inner)
        if len(lines) * int(size * 1.2) <= room:
            break
    lines = lines[: max(1, room // int(size * 1.2))]
    for line in lines:
        draw.text((MARGIN, y), line, font=title_font, fill=INK)
        y += int(size * 1.2)
    if text.when:
        for when_size in (36, 32, 28):
            when_font = _font(when_size)
            if draw.textlength(text.when, font=when_font) <= inner:
                break
        draw.text(
            (MARGIN, height - MARGIN - 40), _fit_line(draw, text.when, when_font, inner), font=when_font, fill=ACCENT
        )
    buf = BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and draw.textlength(candidate, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return [_fit_line(draw, line, font, width) for line in lines]


def _fit_line(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """``text``, cut with an ellipsis when wider than ``width``."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text.rstrip() + "…"
