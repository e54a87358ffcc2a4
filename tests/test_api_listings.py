"""Schedules by broadcast day or range, and now/next."""

from datetime import timedelta

from tests.conftest import utc


def test_a_broadcast_day_holds_the_night_after_it(client, make_channel, make_programme, make_slot):
    mir = make_channel("mir", broadcast_day_start="05:00")
    p = make_programme()
    evening = make_slot(utc(2031, 11, 21, 18), channel=mir, programme=p)  # 21:00 Moscow
    night = make_slot(utc(2031, 11, 21, 21, 5), channel=mir, programme=p)  # 00:05 on the 22nd
    morning = make_slot(utc(2031, 11, 22, 2, 0), channel=mir, programme=p)  # 05:00 on the 22nd: next day
    day = client.get("/api/v1/channels/mir/schedule?date=2031-11-21").json
    assert [s["id"] for s in day["slots"]] == [evening.id, night.id]
    assert day["from"] == "2031-11-21T02:00:00+00:00" and day["to"] == "2031-11-22T02:00:00+00:00"
    assert day["slots"][1]["programme"]["title"] == p.title
    nxt = client.get("/api/v1/channels/mir/schedule?date=2031-11-22").json
    assert [s["id"] for s in nxt["slots"]] == [morning.id]


def test_a_day_starting_at_six_in_berlin(client, make_channel, make_programme, make_slot):
    ard = make_channel("ard", timezone="Europe/Berlin", broadcast_day_start="06:00")
    p = make_programme(duration_minutes=30)
    late = make_slot(utc(2031, 6, 2, 3, 30), channel=ard, programme=p)  # 05:30 CEST on the 2nd
    early = make_slot(utc(2031, 6, 2, 4, 0), channel=ard, programme=p)  # 06:00 CEST
    assert [s["id"] for s in client.get("/api/v1/channels/ard/schedule?date=2031-06-01").json["slots"]] == [late.id]
    assert [s["id"] for s in client.get("/api/v1/channels/ard/schedule?date=2031-06-02").json["slots"]] == [early.id]


def test_times_also_in_the_asked_zone_and_titles_in_the_asked_language(client, make_channel, make_programme, make_slot):
    mir = make_channel("mir")
    p = make_programme(translations={"ru": {"title": "Серж Саргсян: эксклюзивное интервью"}})
    make_slot(utc(2031, 11, 21, 21, 5), channel=mir, programme=p)
    day = client.get("/api/v1/channels/mir/schedule?date=2031-11-21&tz=America/New_York&lang=ru").json
    slot = day["slots"][0]
    assert slot["start_tz"] == "2031-11-21T16:05:00-05:00"
    assert slot["start_local"] == "2031-11-22T00:05:00+03:00"
    assert slot["programme"]["title"] == "Серж Саргсян: эксклюзивное интервью"


def test_a_range_reads_across_days_up_to_31(client, make_channel, make_programme, make_slot):
    mir = make_channel("mir")
    p = make_programme()
    a = make_slot(utc(2031, 11, 21, 18), channel=mir, programme=p)
    b = make_slot(utc(2031, 11, 25, 18), channel=mir, programme=p)
    got = client.get("/api/v1/channels/mir/schedule?from=2031-11-21T00:00:00Z&to=2031-11-26T00:00:00Z").json
    assert [s["id"] for s in got["slots"]] == [a.id, b.id]
    too_long = client.get("/api/v1/channels/mir/schedule?from=2031-11-01T00:00:00Z&to=2031-12-03T00:00:00Z")
    assert too_long.status_code == 400 and too_long.content_type == "application/problem+json"


def test_bad_listing_queries_are_400_or_404(client, make_channel):
    make_channel("mir")
    assert client.get("/api/v1/channels/mir/schedule?tz=Mars/Olympus").status_code == 400
    assert client.get("/api/v1/channels/mir/schedule?date=not-a-date").status_code == 400
    assert client.get("/api/v1/channels/mir/schedule?date=9999-01-01").status_code == 400
    assert client.get("/api/v1/channels/mir/schedule?from=2031-11-21T00:00:00Z").status_code == 400
    assert client.get("/api/v1/channels/nope/schedule").status_code == 404


def test_cancelled_slots_are_not_listed(client, session, make_slot):
    from schedule_service import schedule

    slot = make_slot(utc(2031, 11, 21, 18))
    schedule.cancel_slot(session, slot, "test")
    session.commit()
    assert client.get("/api/v1/channels/mir/schedule?date=2031-11-21").json["slots"] == []


def test_now_and_next_on_every_channel(client, make_channel, make_programme, make_slot):
    mir, ard, empty = make_channel("mir"), make_channel("ard", timezone="Europe/Berlin"), make_channel("zzz")
    p = make_programme(duration_minutes=60)
    on_air = make_slot(utc(2031, 11, 21, 20), channel=mir, programme=p)
    after = make_slot(utc(2031, 11, 21, 22), channel=mir, programme=p)
    later = make_slot(utc(2031, 11, 21, 23), channel=ard, programme=p)
    at = utc(2031, 11, 21, 20, 30)
    got = {
        c["channel"]["slug"]: c for c in client.get("/api/v1/now", query_string={"at": at.isoformat()}).json["channels"]
    }
    assert got["mir"]["now"]["id"] == on_air.id and got["mir"]["next"]["id"] == after.id
    assert got["ard"]["now"] is None and got["ard"]["next"]["id"] == later.id
    assert got["zzz"]["now"] is None and got["zzz"]["next"] is None
    # at the end instant the show is over
    end = (on_air.end_at + timedelta(0)).isoformat()
    ended = {c["channel"]["slug"]: c for c in client.get("/api/v1/now", query_string={"at": end}).json["channels"]}
    assert ended["mir"]["now"] is None
    assert empty.slug == "zzz"


def test_now_and_next_show_each_channel_and_slot_as_their_own_rows_do(
    client, session, make_channel, make_programme, make_slot
):
    from schedule_service import schedule

    ard = make_channel("ard", timezone="Europe/Berlin", broadcast_day_start="06:00", names={"ru": "ARD (рус.)"})
    p = make_programme(duration_minutes=60, translations={"ru": {"title": "Интервью"}})
    dropped = make_slot(utc(2031, 3, 30, 0, 30), channel=ard, programme=p)  # on air, then cancelled
    schedule.cancel_slot(session, dropped, "test")
    coming = make_slot(utc(2031, 3, 30, 2, 0), channel=ard, programme=p, is_premiere=True)  # 04:00 CEST
    session.commit()
    at = utc(2031, 3, 30, 1, 0)  # 03:00 CEST, just after the clocks sprang forward
    body = client.get("/api/v1/now", query_string={"at": at.isoformat(), "lang": "ru"}).json
    (row,) = body["channels"]
    assert row["now"] is None  # the cancelled show is not on air
    assert row["channel"] == client.get("/api/v1/channels/ard").json
    listed = client.get("/api/v1/channels/ard/schedule", query_string={"date": "2031-03-29", "lang": "ru"}).json
    assert row["next"] == next(s for s in listed["slots"] if s["id"] == coming.id)
    assert row["next"]["start_local"] == "2031-03-30T04:00:00+02:00" and row["next"]["premiere"] is True
    assert row["next"]["programme"]["title"] == "Интервью"
    # Without a language: the programme as stored, its translations inlined, as the listing has it.
    (plain,) = client.get("/api/v1/now", query_string={"at": at.isoformat()}).json["channels"]
    listed = client.get("/api/v1/channels/ard/schedule", query_string={"date": "2031-03-29"}).json
    assert plain["next"] == next(s for s in listed["slots"] if s["id"] == coming.id)
    assert plain["next"]["programme"]["translations"] == {
        "ru": {"title": "Интервью", "subtitle": None, "summary": None, "quote": None}
        | dict.fromkeys(("category", "image_alt", "guests"))
    }


def test_now_and_next_when_a_programme_airs_on_two_channels_and_a_schedule_runs_out(
    client, make_channel, make_programme, make_slot
):
    mir, ard = make_channel("mir"), make_channel("ard", timezone="Europe/Berlin")
    shared = make_programme(duration_minutes=60, translations={"ru": {"title": "Общее"}, "de": {"title": "Gemeinsam"}})
    last_on_mir = make_slot(utc(2031, 11, 21, 20), channel=mir, programme=shared)
    on_ard = make_slot(utc(2031, 11, 21, 20, 15), channel=ard, programme=shared)
    after_on_ard = make_slot(utc(2031, 11, 21, 21, 15), channel=ard, programme=shared)
    at = utc(2031, 11, 21, 20, 30).isoformat()
    got = {c["channel"]["slug"]: c for c in client.get("/api/v1/now", query_string={"at": at}).json["channels"]}
    assert got["mir"]["now"]["id"] == last_on_mir.id and got["mir"]["next"] is None
    assert got["ard"]["now"]["id"] == on_ard.id and got["ard"]["next"]["id"] == after_on_ard.id
    for row in (got["mir"]["now"], got["ard"]["now"], got["ard"]["next"]):
        assert sorted(row["programme"]["translations"]) == ["de", "ru"]
    german = client.get("/api/v1/now", query_string={"at": at, "lang": "de"}).json["channels"]
    assert {c["channel"]["slug"]: c["now"]["programme"]["title"] for c in german} == {
        "mir": "Gemeinsam",
        "ard": "Gemeinsam",
    }


def test_now_and_next_show_a_programme_edited_after_it_was_kept(
    client, editor, make_channel, make_programme, make_slot
):
    mir = make_channel("mir")
    p = make_programme(title="Old title", duration_minutes=60, translations={"ru": {"title": "Старое"}})
    make_slot(utc(2031, 11, 21, 20), channel=mir, programme=p)
    at = utc(2031, 11, 21, 20, 30)

    def shown(lang=None):
        query = {"at": at.isoformat(), **({"lang": lang} if lang else {})}
        return client.get("/api/v1/now", query_string=query).json["channels"][0]["now"]["programme"]["title"]

    assert (shown(), shown("ru")) == ("Old title", "Старое")
    edit = {"title": "New title", "translations": {"ru": {"title": "Новое"}}}
    assert client.patch(f"/api/v1/programmes/{p.id}", json=edit, headers=editor).status_code == 200
    at += timedelta(seconds=1)
    assert (shown(), shown("ru")) == ("New title", "Новое")


def test_kept_programmes_hold_one_generation_and_never_an_older_one():
    from schedule_service.listings import KeptProgrammes, ProgrammeRow

    def row(i: int, title: str) -> ProgrammeRow:
        return ProgrammeRow(i, title, None, None, None, [], None, False, None, None, None, 60, "en", None)

    kept = KeptProgrammes(limit=3)
    kept.keep(5, {1: row(1, "a"), 2: row(2, "b")})
    assert set(kept.take(5, {1, 2, 3})) == {1, 2} and kept.take(4, {1}) == {} and kept.take(6, {1}) == {}
    kept.keep(4, {3: row(3, "read before the change")})  # older than what is kept: not kept
    assert kept.take(5, {3}) == {}
    kept.keep(6, {1: row(1, "a2")})  # a newer generation drops the rest
    assert kept.take(6, {1, 2}) == {1: row(1, "a2")}
    kept.keep(6, {7: row(7, "x"), 8: row(8, "y"), 9: row(9, "z")})  # past the limit: starts over
    assert len(kept) <= 3 and kept.take(6, {1}) == {}
