"""Pictures on the web (SPEC §11): uploads through the API and the staff form, the kept sizes and
generated share cards, and the picture in every page, preview and feed that carries one."""

import io
import json
import re
import shutil
import subprocess
from datetime import timedelta

import feedparser
import icalendar
import pytest
from lxml import etree
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from schedule_service import clock, media
from schedule_service.models import AuditEntry, FeedItem, Programme
from tests.conftest import LOADED, need
from tests.html_forms import read_form
from tests.pictures_support import bomb, metadata_of, opened, photo
from tests.staff_actions import StaffActions
from tests.test_feeds import DATA, dtd_valid, parse

CREDIT = "Press Service of the President of Russia"


@pytest.fixture(autouse=True)
def pictures_dir(app, tmp_path):
    app.config["PICTURES_DIR"] = str(tmp_path / "pictures")
    return tmp_path / "pictures"


def audit_count(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry))


def get(client, url, **kw):
    with clock.frozen(LOADED):
        return client.get(url, **kw)


def meta(html: str) -> dict[str, str]:
    """The page's OpenGraph and Twitter tags."""
    return dict(
        (key, value.replace("&amp;", "&"))
        for key, value in re.findall(r'<meta (?:property|name)="((?:og|twitter):[^"]+)" content="([^"]*)"', html)
    )


def jsonld(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1))


def put_picture(client, programme_id, headers, data, content_type="image/jpeg"):
    return client.put(
        f"/api/v1/programmes/{programme_id}/picture", data=data, headers={**headers, "Content-Type": content_type}
    )


# Uploads through the API


@pytest.mark.parametrize("fmt, content_type", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_an_uploaded_picture_is_served_in_every_size_without_exif_cacheable_for_a_year(
    client, session, editor, make_programme, fmt, content_type
):
    programme = make_programme(image_credit=CREDIT)
    before = audit_count(session)
    response = put_picture(client, programme.id, editor, photo(fmt), content_type)
    assert response.status_code == 200, response.json
    picture = response.json["picture"]
    assert picture["card"]["jpeg"].startswith("http://schedule.test/pictures/")
    assert client.get(f"/api/v1/programmes/{programme.id}").json["picture"] == picture
    assert audit_count(session) == before + 1
    for name, width, height in (("card", 1200, 630), ("w640", 640, 400), ("w160", 160, 100)):
        for ext, fmt_out in (("jpeg", "JPEG"), ("webp", "WEBP")):
            served = client.get(picture[name][ext].removeprefix("http://schedule.test"))
            assert served.status_code == 200 and served.mimetype == f"image/{fmt_out.lower()}"
            assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            img = opened(served.data)
            assert (img.format, img.size) == (fmt_out, (width, height))
            assert metadata_of(img) == {}
            again = client.get(picture[name][ext], headers={"If-None-Match": served.headers["ETag"]})
            assert again.status_code == 304
    original = opened(client.get(picture["original"]).data)
    assert original.size == (1600, 1000) and metadata_of(original) == {}


def test_a_multipart_upload_works_too(client, editor, make_programme):
    programme = make_programme()
    response = client.put(
        f"/api/v1/programmes/{programme.id}/picture",
        data={"file": (io.BytesIO(photo("PNG", alpha=True)), "logo.png")},
        headers=editor,
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and response.json["picture"]["w160"]["width"] == 160


@pytest.mark.parametrize(
    "data, message",
    [
        (b"not a picture, only text in a file called photo.jpg\n", media.NOT_A_PICTURE),
        (bomb(), media.TOO_MANY_PIXELS),
        (b"", "Send the picture as the body or as the multipart part file."),
    ],
    ids=["text", "bomb", "empty"],
)
def test_what_is_not_a_picture_is_refused_with_422_and_nothing_changes(
    client, session, editor, make_programme, pictures_dir, data, message
):
    programme = make_programme(image_url="https://img.example/a.jpg")
    before = audit_count(session)
    response = put_picture(client, programme.id, editor, data)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.json["detail"] == message and "file" in response.json["errors"]
    session.expire_all()
    assert session.get(Programme, programme.id).image_hash is None
    assert audit_count(session) == before
    assert not pictures_dir.exists() or list(pictures_dir.iterdir()) == []


def test_a_body_beyond_the_upload_limit_is_refused_before_it_is_read(client, editor, make_programme):
    programme = make_programme()
    too_big = b"\xff\xd8" + b"\0" * (10 * 1024 * 1024 + 300 * 1024)
    assert put_picture(client, programme.id, editor, too_big).status_code == 413
    # Other writes keep the ordinary limit.
    assert client.patch(f"/api/v1/programmes/{programme.id}", data=too_big, headers=editor).status_code == 413


def test_uploading_and_removing_need_a_staff_token(client, editor, make_programme):
    programme = make_programme()
    assert put_picture(client, programme.id, {}, photo()).status_code == 401
    assert put_picture(client, 999999, editor, photo()).status_code == 404
    assert put_picture(client, programme.id, editor, photo()).status_code == 200
    removed = client.delete(f"/api/v1/programmes/{programme.id}/picture", headers=editor)
    assert removed.status_code == 200 and removed.json["picture"] is None


def test_the_openapi_document_describes_the_picture(client):
    spec = client.get("/api/v1/openapi.json").json
    put = spec["paths"]["/api/v1/programmes/{programme_id}/picture"]["put"]
    assert set(put["requestBody"]["content"]) == {"image/jpeg", "image/png", "image/webp", "multipart/form-data"}
    assert "picture" in spec["components"]["schemas"]["Programme"]["properties"]


# The staff form


@pytest.fixture
def staff(client, make_user):
    make_user("editor@example.test", "editor")
    actions = StaffActions(client)
    actions.login("editor@example.test")
    return actions


def form_fields(html: str) -> MultiDict:
    """What the browser would send back for the programme form, unchanged (no file chosen)."""
    return read_form(html, "http://localhost", "form.programme").data()


def test_the_staff_form_uploads_a_picture_and_an_unchanged_save_keeps_it(staff, session, make_programme):
    programme = make_programme(image_credit=CREDIT)
    page = staff.get(f"/staff/programmes/{programme.id}")
    assert 'enctype="multipart/form-data"' in page.text
    data = form_fields(page.text)
    data["picture"] = (io.BytesIO(photo("JPEG")), "sargsyan.jpg")
    saved = staff.client.post(f"/staff/programmes/{programme.id}", data=data, content_type="multipart/form-data")
    assert saved.status_code == 302
    session.expire_all()
    digest = session.get(Programme, programme.id).image_hash
    assert digest and metadata_of(opened(staff.get(f"/pictures/{digest}/original.jpg").data)) == {}

    before = audit_count(session)
    page = staff.get(f"/staff/programmes/{programme.id}")
    assert f"/pictures/{digest}/w160.jpg" in page.text
    unchanged = staff.post(
        f"/staff/programmes/{programme.id}", data=form_fields(page.text), content_type="multipart/form-data"
    )
    assert unchanged.status_code == 302
    session.expire_all()
    assert session.get(Programme, programme.id).image_hash == digest
    assert audit_count(session) == before


def test_the_staff_form_refuses_a_file_that_is_no_picture_and_saves_nothing(staff, session, make_programme):
    programme = make_programme()
    page = staff.get(f"/staff/programmes/{programme.id}?lang=ru")
    data = form_fields(page.text)
    data["title"] = "A new title that must not be saved"
    data["picture"] = (io.BytesIO(b"<html>not a picture</html>"), "photo.jpg")
    before = audit_count(session)
    refused = staff.client.post(
        f"/staff/programmes/{programme.id}?lang=ru", data=data, content_type="multipart/form-data"
    )
    assert refused.status_code == 422
    assert "Этот файл — не изображение JPEG, PNG или WebP." in refused.text
    session.expire_all()
    assert session.get(Programme, programme.id).title == "Serzh Sargsyan: the exclusive interview"
    assert audit_count(session) == before


def test_the_staff_form_removes_the_picture_when_asked(staff, session, editor, client, make_programme):
    programme = make_programme()
    put_picture(client, programme.id, editor, photo())
    page = staff.get(f"/staff/programmes/{programme.id}")
    data = form_fields(page.text)
    data["remove_picture"] = "y"
    assert staff.client.post(f"/staff/programmes/{programme.id}", data=data).status_code == 302
    session.expire_all()
    assert session.get(Programme, programme.id).image_hash is None


def test_a_new_programme_may_come_with_its_picture(staff, session):
    page = staff.get("/staff/programmes/new")
    data = form_fields(page.text)
    data["title"] = "Evening News"
    data["picture"] = (io.BytesIO(photo("WEBP")), "news.webp")
    assert staff.client.post("/staff/programmes/new", data=data, content_type="multipart/form-data").status_code == 302
    assert session.scalar(select(Programme).where(Programme.title == "Evening News")).image_hash


# Share cards


def test_a_showing_s_card_is_a_cacheable_1200_by_630_png_in_the_asked_language_and_zone(client, demo):
    need(media.font_path() is not None, "no DejaVu font (apt-get install fonts-dejavu-core)")
    url = f"/slots/{demo.id}/card.png?lang=ru&tz=Asia/Vladivostok"
    response = get(client, url)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert opened(response.data).size == (1200, 630)
    assert "max-age" in response.headers["Cache-Control"] and response.headers["ETag"]
    assert get(client, url, headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
    # Another zone puts another time on the card; English other words.
    assert get(client, f"/slots/{demo.id}/card.png?lang=ru").data != response.data
    assert get(client, f"/slots/{demo.id}/card.png?lang=en&tz=Asia/Vladivostok").data != response.data
    assert get(client, f"/slots/{demo.id}/card.png?tz=Mars/Olympus").status_code == 400
    assert get(client, f"/slots/{demo.id}/card.png?lang=xx").status_code == 400
    assert get(client, "/slots/999999/card.png").status_code == 404


def test_a_programme_s_card_is_a_png_too(client, demo):
    response = get(client, f"/programmes/{demo.programme_id}/card.png?lang=ru")
    assert response.status_code == 200 and opened(response.data).size == (1200, 630)


# Pages and previews


def test_without_a_picture_the_pages_preview_with_the_generated_card(client, demo):
    html = get(client, f"/slots/{demo.id}?lang=ru&tz=Asia/Yerevan").text
    tags = meta(html)
    assert tags["og:image"] == f"http://schedule.test/slots/{demo.id}/card.png?lang=ru&tz=Asia/Yerevan"
    assert (tags["og:image:width"], tags["og:image:height"], tags["og:image:type"]) == ("1200", "630", "image/png")
    assert tags["og:image:alt"] == "Серж Саргсян: эксклюзивное интервью"
    assert tags["twitter:card"] == "summary_large_image" and tags["twitter:image"] == tags["og:image"]
    assert jsonld(html)["image"] == tags["og:image"]
    card = get(client, tags["og:image"].removeprefix("http://schedule.test"))
    assert opened(card.data).size == (1200, 630)
    # The programme's page previews with its next showing's card, in the language and zone the viewer chose.
    programme_tags = meta(get(client, f"/programmes/{demo.programme_id}").text)
    assert programme_tags["og:image"] == tags["og:image"]


def test_an_uploaded_picture_shows_with_its_credit_and_in_every_preview(client, session, editor, demo):
    put_picture(client, demo.programme_id, editor, photo())
    session.expire_all()
    digest = session.get(Programme, demo.programme_id).image_hash
    card = f"http://schedule.test/pictures/{digest}/card.jpg"
    for path in (f"/slots/{demo.id}", f"/programmes/{demo.programme_id}"):
        html = get(client, path).text
        tags = meta(html)
        assert tags["og:image"] == card and tags["twitter:image"] == card
        assert (tags["og:image:width"], tags["og:image:height"]) == ("1200", "630")
        assert tags["og:image:alt"]
        assert tags["twitter:card"] == "summary_large_image"
        assert f"/pictures/{digest}/w640.webp" in html and f"/pictures/{digest}/w640.jpg" in html
        assert f"Photo: {CREDIT}" in html
        data = jsonld(html)
        work = data.get("workPerformed", data)
        assert work["image"] == card and work["creditText"] == CREDIT
    assert f"Фото: {CREDIT}" in get(client, f"/slots/{demo.id}?lang=ru").text


# Feeds


@pytest.fixture
def pictured(session, client, editor, demo):
    """The demo's exclusive with an uploaded picture; the card's URL."""
    put_picture(client, demo.programme_id, editor, photo())
    session.expire_all()
    return f"http://schedule.test/pictures/{session.get(Programme, demo.programme_id).image_hash}/card.jpg"


def test_xmltv_carries_the_picture_as_an_icon_and_stays_valid(client, demo, pictured):
    root = parse(get(client, "/xmltv.xml").data)
    dtd_valid(root)
    icons = root.xpath("programme[title='Serzh Sargsyan: the exclusive interview']/icon")
    assert [(i.get("src"), i.get("width"), i.get("height")) for i in icons] == [(pictured, "1200", "630")]
    xmllint = shutil.which("xmllint")
    need(xmllint is not None, "xmllint is not installed (make system-deps)")
    checked = subprocess.run(
        [xmllint, "--noout", "--dtdvalid", str(DATA / "xmltv.dtd"), "-"],
        input=etree.tostring(root),
        capture_output=True,
    )
    assert checked.returncode == 0, checked.stderr.decode()


def test_icalendar_carries_the_picture_as_an_rfc_7986_image(client, demo, pictured):
    for path in (f"/slots/{demo.id}.ics", "/channels/mir/calendar.ics"):
        cal = icalendar.Calendar.from_ical(get(client, path).data)
        event = next(e for e in cal.walk("VEVENT") if str(e["SUMMARY"]) == "Serzh Sargsyan: the exclusive interview")
        assert str(event["IMAGE"]) == pictured
        assert event["IMAGE"].params["VALUE"] == "URI" and event["IMAGE"].params["FMTTYPE"] == "image/jpeg"


def test_the_promo_feeds_carry_the_picture(client, session, demo, pictured, pictures_dir):
    session.add(
        FeedItem(
            idempotency_key=f"slot-{demo.id}:evening:web",
            slot_id=demo.id,
            lang="en",
            title="World exclusive: Serzh Sargsyan",
            text="World exclusive: Serzh Sargsyan — watch tonight right after midnight on Mir",
            published_at=LOADED - timedelta(hours=1),
            updated_at=LOADED - timedelta(hours=1),
        )
    )
    session.commit()
    size = (pictures_dir / pictured.split("/pictures/")[1]).stat().st_size
    rss = feedparser.parse(get(client, "/feeds/promos.rss").data)
    assert not rss.bozo, rss.get("bozo_exception")
    enclosure = rss.entries[0].enclosures[0]
    assert (enclosure.href, enclosure.type, int(enclosure.length)) == (pictured, "image/jpeg", size)
    atom = feedparser.parse(get(client, "/feeds/promos.atom").data)
    assert not atom.bozo, atom.get("bozo_exception")
    links = [link for link in atom.entries[0].links if link.rel == "enclosure"]
    assert [(link.href, link.type) for link in links] == [(pictured, "image/jpeg")]
    feed = json.loads(get(client, "/feeds/promos.json").data)
    assert feed["items"][0]["image"] == pictured
