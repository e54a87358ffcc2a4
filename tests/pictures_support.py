"""Pictures for the picture tests: photographs with EXIF, transparent PNGs, WebPs, bombs, impostors."""

from io import BytesIO

from PIL import Image

#: EXIF tags a camera writes: who made it, with what, where (GPS IFD pointer).
MAKE, MODEL, ARTIST = 0x010F, 0x0110, 0x013B


def photo(fmt: str = "JPEG", size=(1600, 1000), color=(180, 40, 40), exif: bool = True, alpha: bool = False) -> bytes:
    """A picture in ``fmt``; a JPEG or WebP with camera EXIF unless told otherwise."""
    img = Image.new("RGBA" if alpha else "RGB", size, color + ((128,) if alpha else ()))
    # Something to crop: a white band in the middle third.
    band = Image.new(img.mode, (size[0] // 3, size[1]), (255, 255, 255) + ((255,) if alpha else ()))
    img.paste(band, (size[0] // 3, 0))
    buf = BytesIO()
    kwargs = {}
    if exif and fmt in ("JPEG", "WEBP", "PNG"):
        data = Image.Exif()
        data[MAKE] = "Secret Camera Co"
        data[MODEL] = "Spy 3000"
        data[ARTIST] = "Someone who did not want to be named"
        kwargs["exif"] = data.tobytes()
    if fmt == "JPEG":
        kwargs["comment"] = b"taken at a private address"
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def bomb(size=(12000, 12000)) -> bytes:
    """A PNG of a few kilobytes that would take hundreds of megabytes decoded."""
    buf = BytesIO()
    Image.new("1", size).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def opened(data: bytes) -> Image.Image:
    img = Image.open(BytesIO(data))
    img.load()
    return img


def metadata_of(img: Image.Image) -> dict:
    """Whatever metadata a decoded picture still carries: EXIF tags, ICC, XMP, comments."""
    found = {k: v for k, v in img.info.items() if k in ("exif", "icc_profile", "xmp", "comment", "XML:com.adobe.xmp")}
    if img.getexif():
        found["exif_tags"] = dict(img.getexif())
    return found
