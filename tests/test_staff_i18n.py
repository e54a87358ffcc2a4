"""The staff pages, the 404 page and problem details in Russian: the user's setting, ?lang= for a page."""

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import current_app
from lxml import html
from sqlalchemy import select

from schedule_service import clock
from schedule_service.interchange import import_jobs
from schedule_service.models import Channel, ImportJob, Post, Programme, Slot, Target, User
from schedule_service.promos import plan
from tests.conftest import LOADED
from tests.staff_actions import StaffActions, cheap_password_hashing  # noqa: F401

CATALOG = Path(__file__).resolve().parents[1] / "schedule_service/translations/ru/LC_MESSAGES/messages.po"

#: Words that read the same in a Russian page: names of standards, protocols and units.
TECHNICAL = {
    "API", "XMLTV", "IANA", "CSRF", "URL", "UTC", "MSK", "HH", "MM", "PT10M", "P1D", "Bearer", "TOKEN",
    "Authorization", "Mastodon", "Telegram", "http", "https", "whsec", "lang", "en", "ru", "English", "JSON", "CSV",
    "JPEG", "PNG", "WebP",
}  # fmt: skip

#: A guide for Mir and a channel new to the service, one programme of it in the way of the demo's.
GUIDE = b"""<?xml version="1.0" encoding="UTF-8"?>
<tv>
<channel id="mir"><display-name>Mir</display-name></channel>
<channel id="kultura"><display-name>Kultura</display-name></channel>
<programme start="20311129060000 +0000" stop="20311129070000 +0000" channel="mir"><title>News</title></programme>
<programme start="20311129070000 +0000" channel="mir"><title>Open ending</title></programme>
<programme start="20311129060000 +0000" stop="20311129070000 +0000" channel="kultura"><title>Concert</title></programme>
</tv>
"""
LEASE = timedelta(minutes=5)


@pytest.fixture
def russian_admin(client, session, demo, make_user):
    """The demo, and an admin who chose Russian on the account page, logged in."""
    user = make_user("boss@example.test", "admin")
    staff = StaffActions(client)
    assert staff.login(user.email).status_code == 302
    with clock.frozen(LOADED):
        saved = staff.post("/staff/account", {"language": "ru"})
    assert saved.status_code == 302
    assert "Настройки сохранены." in staff.get(saved.location).text  # said in the language just chosen
    assert session.get(User, user.id).language == "ru"
    return staff


def english_msgids() -> list[tuple[str, re.Pattern]]:
    """Every English UI string of the catalogs, as a pattern a whole text on the page could match."""
    out = []
    with CATALOG.open("rb") as f:
        catalog = read_po(f)
    for message in catalog:
        for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
            if not msgid or not re.search(r"[A-Za-z]{2}", msgid) or message.string == message.id:
                continue  # the same in both languages: "IANA, Europe/Moscow"
            parts = re.split(r"%\(\w+\)s|%\(num\)d", msgid)
            out.append((msgid, re.compile(".+".join(re.escape(p) for p in parts), re.S)))
    return out


def staff_urls(session) -> list[str]:
    """Every page of the staff workspace a GET opens, with the demo's channel, slot, post and target."""
    programme = session.scalar(select(Programme).where(Programme.is_exclusive.is_(True)))
    values = {
        "slug": session.scalar(select(Channel.slug)),
        "programme_id": programme.id,
        "slot_id": session.scalar(select(Slot.id).where(Slot.programme_id == programme.id)),
        "post_id": session.scalar(select(Post.id).limit(1)),
        "name": session.scalar(select(Target.name).limit(1)),
        "job_id": session.scalar(select(ImportJob.id).order_by(ImportJob.id).limit(1)),
    }
    urls = []
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint in ("staff.login", "staff.find_programmes"):  # the JSON one is checked on its own
            continue
        if rule.endpoint.startswith("staff.") and "GET" in rule.methods:
            urls.append(rule.build({k: values[k] for k in rule.arguments})[1])
    return sorted(urls)


def chrome_texts(page: str) -> list[str]:
    """What a person reads on the page as its interface: texts, titles, labels; not data a user entered.

    Left out: <option>s (programmes, zones, and the choices forms.py words, which h-forms wraps),
    text areas (stored text being edited), an audit entry's fields and values (the API's names and
    the stored data), and whatever is marked as being in another language (a promo's text).
    """
    doc = html.fromstring(page)
    foreign = "//*[@lang and @lang!='ru' and not(self::html)]"
    for node in doc.xpath(f"//script|//style|//option|//textarea|//dl[@class='changes']|//code|{foreign}"):
        node.drop_tree()
    texts = [t.strip() for t in doc.xpath("//text()") if t.strip()]
    texts += [v.strip() for v in doc.xpath("//@title|//@placeholder|//@aria-label") if v.strip()]
    return texts


def data_values(session) -> set[str]:
    """What the demo's data says (titles, names, emails, zones, steps): it stays as entered."""
    values = set()
    values.update(session.scalars(select(Programme.title)))
    values.update(c for c in session.scalars(select(Programme.category)) if c)
    values.update(session.scalars(select(Channel.name)))
    values.update(session.scalars(select(Channel.slug)))
    values.update(session.scalars(select(Channel.timezone)))
    values.update(session.scalars(select(User.email)))
    values.update(session.scalars(select(Target.name)))
    values.update(session.scalars(select(Target.kind)))
    values.update(session.scalars(select(Post.step)))
    values.update(step["name"] for step in plan.DEFAULT_PLAN)  # steps of slots beyond the horizon too
    values.update(session.scalars(select(Post.idempotency_key)))
    values.update(str(i) for i in session.scalars(select(Slot.id)))
    values.update(("system", "test", "mir.example"))
    for job in session.scalars(select(ImportJob)):
        values.update(c["channel"] for c in (job.summary or {}).get("channels", []))
        values.add(job.created_by)
    return values


def untranslated(page: str, msgids, data: set[str]) -> list[str]:
    left = []
    for text in chrome_texts(page):
        for msgid, pattern in msgids:
            if pattern.fullmatch(text):
                left.append(f"{text!r} (msgid {msgid!r})")
        rest = text
        for value in sorted(data, key=len, reverse=True):
            rest = rest.replace(value, " ")
        words = [w for w in re.findall(r"[A-Za-z]{3,}", rest) if w not in TECHNICAL]
        if words:
            left.append(f"{text!r}: English words {words}")
    return left


def import_jobs_of_every_kind(session) -> list[ImportJob]:
    """A dry run done, the import it checked done, one failed, one still queued: the import pages' states."""
    made = []
    for body, options in ((GUIDE, {"dry_run": True}), (b"<tv><programme", {}), (GUIDE, {"skip_bad": True})):
        job = import_jobs.queue_import(session, io.BytesIO(body), created_by="editor@example.test", **options)
        session.commit()
        import_jobs.run_pending(session, "worker", LEASE)
        made.append(job)
    made.append(import_jobs.queue_import(session, io.BytesIO(GUIDE), created_by="editor@example.test", dry_run=True))
    session.commit()
    return made


def test_every_staff_page_speaks_russian_by_the_users_setting_and_english_by_lang(russian_admin, session):
    with clock.frozen(LOADED):
        import_jobs_of_every_kind(session)
    msgids, data = english_msgids(), data_values(session)
    seen = {}
    with clock.frozen(LOADED):
        for url in staff_urls(session):
            response = russian_admin.get(url)
            assert response.status_code == 200, url
            assert '<html lang="ru">' in response.text, url
            seen[url] = untranslated(response.text, msgids, data)
        english = russian_admin.get("/staff/?lang=en")
        after = russian_admin.get("/staff/")
    assert {url: left for url, left in seen.items() if left} == {}
    assert len(seen) >= 20
    # ?lang= is for one page: English there, Russian again on the next.
    assert '<html lang="en">' in english.text and "Add a channel" in english.text
    assert "Добавить канал" in after.text and "Add a channel" not in after.text


def test_lang_in_the_query_turns_one_staff_page_russian_for_a_user_without_a_setting(client, demo, make_user):
    staff = StaffActions(client)
    staff.login(make_user("ed@example.test", "editor").email)
    with clock.frozen(LOADED):
        page = staff.get("/staff/channels/mir?lang=ru").text
        plain = staff.get("/staff/channels/mir").text
    doc = html.fromstring(page)
    assert doc.cssselect("aside.side-form h2")[0].text_content() == "Добавить слот"
    assert "чт 27 нояб." in doc.cssselect("#day-2031-11-27 h2")[0].text_content()
    assert [a.text_content() for a in doc.cssselect("nav[aria-label] a")][:2] == ["Сетка вещания", "Передачи"]
    assert "Add a slot" in plain and "Thu 27 Nov" in plain


def test_the_login_page_and_its_messages_follow_the_browser(client, make_user):
    make_user("ed@example.test", "editor")
    staff = StaffActions(client)
    russian = {"Accept-Language": "ru-RU,ru;q=0.9"}
    assert (
        "Войдите, чтобы открыть страницы редакции."
        in client.get("/staff/programmes", headers=russian, follow_redirects=True).text
    )
    refused = staff.login("ed@example.test", "wrong password", headers=russian)
    assert "Неверная эл. почта или пароль." in refused.text


def test_the_account_page_keeps_the_setting_and_saving_it_unchanged_changes_nothing(client, session, make_user):
    from schedule_service.models import AuditEntry

    user = make_user("ed@example.test", "editor")
    staff = StaffActions(client)
    staff.login(user.email)
    page = html.fromstring(staff.get("/staff/account").text)
    assert page.cssselect("#language option[selected]")[0].get("value") == ""
    assert staff.post("/staff/account", {"language": "ru"}).status_code == 302
    shown = html.fromstring(staff.get("/staff/account").text)
    assert shown.cssselect("#language option[selected]")[0].get("value") == "ru"
    entries = session.scalars(select(AuditEntry).where(AuditEntry.entity == "user")).all()
    assert [e.changes for e in entries][-1] == {"language": [None, "ru"]}
    # Posting back what the page showed writes nothing.
    assert staff.post("/staff/account", {"language": "ru"}).status_code == 302
    assert len(session.scalars(select(AuditEntry).where(AuditEntry.entity == "user")).all()) == len(entries)
    assert staff.post("/staff/account", {"language": "xx"}).status_code == 422


# The 404 page and problem details


def test_the_404_page_in_russian(client):
    response = client.get("/no/such/page?lang=ru", headers={"Accept": "text/html"})
    assert response.status_code == 404
    doc = html.fromstring(response.text)
    assert doc.get("lang") == "ru"
    assert doc.cssselect("h1")[0].text_content() == "404 Не найдено"
    assert "По этому адресу ничего нет." in doc.cssselect(".error p")[0].text_content()
    english = html.fromstring(client.get("/no/such/page?lang=en", headers={"Accept": "text/html"}).text)
    assert english.cssselect("h1")[0].text_content() == "404 Not Found"


def test_problem_details_speak_the_language_asked_for(client, editor):
    russian = {**editor, "Accept-Language": "ru"}
    bad = client.post("/api/v1/channels", data="{", content_type="application/json", headers=russian)
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
    assert (bad.json["title"], bad.json["detail"]) == ("Неверный запрос", "Тело запроса — не корректный JSON.")
    invalid = client.post("/api/v1/programmes", json={"title": ""}, headers=russian)
    assert invalid.status_code == 422 and invalid.json["detail"] == "В запросе есть недопустимые поля."
    assert "title" in invalid.json["errors"]
    no_token = client.post("/api/v1/channels", json={}, headers={"Accept-Language": "ru"})
    assert no_token.status_code == 401 and no_token.json["title"] == "Требуется вход"
    assert "Authorization: Bearer TOKEN" in no_token.json["detail"]
    missing = client.get("/api/v1/nothing-here", headers={"Accept-Language": "ru"})
    assert missing.json["title"] == "Не найдено"
    english = client.post("/api/v1/channels", data="{", content_type="application/json", headers=editor)
    assert (english.json["title"], english.json["detail"]) == ("Bad Request", "The request body is not valid JSON.")


def test_fast_entry_imports_and_users_in_every_state_speak_russian(russian_admin, session, demo, make_user):
    """Previews with clashes and new titles, refusals, the messages after a write: all in Russian."""
    staff, slot = russian_admin, demo
    day = LOADED.date()
    jobs = import_jobs_of_every_kind(session)
    other = make_user("ed@example.test", "editor")
    pages = {}

    def seen(name: str, response, status: int = 200):
        assert response.status_code == status, (name, response.status_code)
        if response.status_code in (302, 303):
            response = staff.get(response.location)
        assert '<html lang="ru">' in response.text, name
        pages[name] = response.text

    with clock.frozen(LOADED):
        for job in jobs:
            seen(f"import {job.status}", staff.get(f"/staff/imports/{job.id}"))
        seen("imports", staff.get("/staff/imports"))
        refused = staff.post("/staff/imports", {"timezone": "Mars/Base"}, content_type="multipart/form-data")
        seen("import refused", refused, 422)
        seen("import applied again", staff.post(f"/staff/imports/{jobs[0].id + 2}/apply"), 303)
        seen("grid, a bad date", staff.get("/staff/channels/mir?date=2031-13-01"))
        seen("grid, too far", staff.get("/staff/channels/mir?date=2531-01-01"))
        until = (day + timedelta(days=3)).isoformat()
        repeat = {"every": "day", "until": until}
        seen("repeat preview", staff.post(f"/staff/slots/{slot.id}/repeat", {**repeat, "preview": "1"}))
        seen("repeat refused", staff.post(f"/staff/slots/{slot.id}/repeat", {"every": "day", "preview": "1"}), 422)
        copy = {"source": day.isoformat(), "onto": (day + timedelta(days=1)).isoformat(), "days": "1"}
        seen("copy preview, clashes", staff.post("/staff/channels/mir/copy", {**copy, "preview": "1"}))
        seen("copy refused", staff.post("/staff/channels/mir/copy", {**copy, "apply": "1"}), 409)
        far = (day + timedelta(days=20)).isoformat()
        lineup = {"day": far, "text": "18:00 Evening News\n19:00 A title nobody knows\n20:00"}
        seen("lineup preview", staff.post("/staff/channels/mir/lineup", {**lineup, "preview": "1"}))
        seen("lineup, new titles", staff.post("/staff/channels/mir/lineup", {**lineup, "apply": "1"}), 422)
        made = staff.post("/staff/channels/mir/lineup", {**lineup, "apply": "1", "create_missing": "y"})
        seen("lineup applied", made, 302)
        weekly = {"every": "week", "until": (day + timedelta(days=14)).isoformat(), "apply": "1"}
        seen("repeat applied", staff.post(f"/staff/slots/{slot.id}/repeat", weekly), 302)
        seen("cancel question", staff.get(f"/staff/slots/{slot.id}/cancel"))
        seen("cancelled", staff.post(f"/staff/slots/{slot.id}/cancel", {"act-version": str(slot.version)}), 302)
        seen("signed out", staff.post(f"/staff/users/{other.id}/sign-out"), 302)
        found = staff.get("/staff/programmes/find.json?find=news").json
        everything = staff.get("/staff/programmes/find.json").json
        by_russian_title = staff.get("/staff/programmes/find.json?find=Вечерние").json
        grid = html.fromstring(staff.get("/staff/channels/mir").text)
    assert "Made" not in pages["lineup applied"] and "Новые передачи" in pages["lineup applied"]
    assert "ed@example.test" in pages["signed out"]
    msgids, data = english_msgids(), data_values(session)
    data.update(("Evening News", "A title nobody knows", "Mars/Base", "2031-13-01", "2531-01-01"))
    left = {name: untranslated(page, msgids, data) for name, page in pages.items()}
    assert {name: texts for name, texts in left.items() if texts} == {}
    # The programme list and its search speak the page's language too: the editor types what the grid shows.
    assert [i["label"].split(" (#")[0] for i in by_russian_title["items"]] == ["Вечерние новости"]
    options = [o.text_content() for o in grid.cssselect("#programme_id option")]
    assert any(o.startswith("Вечерние новости (#") for o in options)
    assert not any(o.startswith("Evening News") for o in options)
    for hint in (found["hint"], everything["hint"]):
        assert not re.search(r"[A-Za-z]{3,}", hint.replace("news", "")) and "«»" not in hint, hint


def test_a_refused_lineup_says_why_in_russian(russian_admin, session):
    with clock.frozen(LOADED):
        page = russian_admin.post("/staff/channels/mir/lineup", {"day": "2031-12-17", "text": "x", "preview": "1"})
    assert page.status_code == 422
    assert untranslated(page.text, english_msgids(), data_values(session)) == []


def test_a_refused_lineup_line_is_named_in_russian(russian_admin):
    with clock.frozen(LOADED):
        page = russian_admin.post(
            "/staff/channels/mir/lineup", {"day": "2031-12-17", "text": "18:00 Время\n7pm News", "preview": "1"}
        )
    assert page.status_code == 422
    assert "строка 2: &#39;7pm News&#39; — не «ЧЧ:ММ Название»" in page.text
