"""media.py: uploads decoded and re-encoded without metadata, kept by hash, sizes derived; share cards."""

from io import BytesIO

import pytest
from PIL import Image

from schedule_service import media
from tests.conftest import need
from tests.pictures_support import bomb, metadata_of, opened, photo


@pytest.mark.parametrize(
    "data",
    [photo("JPEG"), photo("PNG", alpha=True), photo("WEBP")],
    ids=["jpeg-with-exif", "png-with-alpha", "webp-with-exif"],
)
def test_a_picture_is_kept_by_hash_without_metadata_with_every_size(tmp_path, data):
    assert metadata_of(opened(data)), "the test picture should carry metadata to strip"
    digest = media.ingest(data, tmp_path)
    original = (tmp_path / digest / "original.jpg").read_bytes()
    kept = opened(original)
    assert kept.format == "JPEG" and kept.mode == "RGB" and kept.size == (1600, 1000)
    assert metadata_of(kept) == {}
    for name, (width, height) in media.SIZES.items():
        for ext, fmt in (("jpg", "JPEG"), ("webp", "WEBP")):
            img = opened((tmp_path / digest / f"{name}.{ext}").read_bytes())
            assert img.format == fmt and metadata_of(img) == {}
            assert img.width == width
            assert img.height == (height or round(1000 * width / 1600))


def test_the_same_picture_uploaded_twice_is_one_file(tmp_path):
    data = photo("PNG", exif=False)
    assert media.ingest(data, tmp_path) == media.ingest(data, tmp_path)
    assert len(list(tmp_path.iterdir())) == 1


def test_a_sideways_photo_is_kept_turned_as_the_camera_meant(tmp_path):
    img = Image.new("RGB", (400, 200), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    buf = BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    digest = media.ingest(buf.getvalue(), tmp_path)
    kept = opened((tmp_path / digest / "original.jpg").read_bytes())
    assert kept.size == (200, 400) and metadata_of(kept) == {}


@pytest.mark.parametrize(
    "data, message",
    [
        (b"Just some text, not a picture at all.\n" * 20, media.NOT_A_PICTURE),
        (photo("JPEG")[:300], media.NOT_A_PICTURE),  # cut off: the header says JPEG, the rest is missing
        (photo("GIF", exif=False), media.NOT_A_PICTURE),
        (bomb(), media.TOO_MANY_PIXELS),  # beyond Pillow's own limit: DecompressionBombError
        (bomb((8000, 7000)), media.TOO_MANY_PIXELS),  # beyond ours
        (b"\xff\xd8\xff" + b"\0" * media.MAX_BYTES, media.TOO_BIG),
    ],
    ids=["text", "truncated-jpeg", "gif", "bomb", "too-many-pixels", "too-big"],
)
def test_what_is_not_an_acceptable_picture_is_refused_and_nothing_is_kept(tmp_path, data, message):
    with pytest.raises(media.PictureError) as refused:
        media.ingest(data, tmp_path)
    assert str(refused.value) == message
    assert list(tmp_path.iterdir()) == []


def test_a_missing_size_is_made_from_the_original_on_demand(tmp_path):
    digest = media.ingest(photo("JPEG"), tmp_path)
    (tmp_path / digest / "w160.webp").unlink()
    assert opened(media.derived(tmp_path, digest, "w160", "webp").read_bytes()).width == 160
    assert media.derived(tmp_path, "0" * 64, "w160", "webp") is None


def test_post_picture_gives_the_original_with_alt_text_in_the_language_and_credit(tmp_path, make_programme):
    digest = media.ingest(photo("JPEG"), tmp_path)
    programme = make_programme(
        image_hash=digest,
        image_alt="Serzh Sargsyan at the microphone",
        image_credit="Press Service of the President of Russia",
        translations={"ru": {"image_alt": "Серж Саргсян у микрофона"}},
    )
    picture = media.post_picture_from(tmp_path, programme, "ru", "http://schedule.test/")
    assert picture.content_type == "image/jpeg" and opened(picture.data).size == (1600, 1000)
    assert picture.alt == "Серж Саргсян у микрофона" and picture.credit == "Press Service of the President of Russia"
    assert picture.url == f"http://schedule.test/pictures/{digest}/original.jpg"
    assert media.post_picture_from(tmp_path, programme, "en", "http://x").alt == "Serzh Sargsyan at the microphone"
    assert media.post_picture_from(tmp_path, make_programme("No picture"), "en", "http://x") is None
    linked = make_programme("Linked", image_url="https://a.test/p.jpg")
    assert media.post_picture_from(tmp_path, linked, "en", "") is None


def test_a_share_card_is_1200_by_630_png():
    text = media.CardText(site="TV schedule", title="Evening News", channel="Mir", when="21:00")
    card = opened(media.draw_card(text))
    assert card.format == "PNG" and card.size == (1200, 630)


def test_a_russian_share_card_draws_cyrillic_letters_not_boxes():
    need(media.font_path() is not None, "no DejaVu font (apt-get install fonts-dejavu-core)")

    def card(title: str) -> bytes:
        when = "пятница, 28 ноября 2031 г., 00:05"
        text = media.CardText(site="Телепрограмма", title=title, channel="Мир", when=when)
        return opened(media.draw_card(text)).tobytes()

    # A font without Cyrillic draws every letter as the same box: two titles of as many letters would match.
    assert card("Серж Саргсян") != card("Жвыф Щюзйхэя")
    long_title = "Серж Саргсян: эксклюзивное интервью к 25-летию Договора о коллективной безопасности " * 3
    assert opened(media.draw_card(media.CardText(site="Телепрограмма", title=long_title))).size == (1200, 630)
