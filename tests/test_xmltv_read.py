"""Reading an XMLTV guide (SPEC §7): what the reader hands the import, whatever the file's layout."""

import io

from schedule_service.interchange import xmltv_read
from schedule_service.interchange.xmltv_read import read_guide


def guide_of(body: str, doctype: str = "") -> io.BytesIO:
    return io.BytesIO(f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}<tv>\n{body}</tv>\n'.encode())


def programme(chan: str, hour: int, title: str) -> str:
    return f'<programme start="202501010{hour}0000 +0000" channel="{chan}"><title>{title}</title></programme>\n'


def test_programmes_of_interleaved_channels_come_back_by_channel_in_file_order(monkeypatch):
    # A guide sorted by time rather than by channel, spooled a few programmes at a time.
    monkeypatch.setattr(xmltv_read, "SPOOL_BATCH", 3)
    order = ["a", "b", "a", "a", "b", "c", "a", "b", "b", "a"]
    body = "".join(programme(chan, i, f"{chan}{i}") for i, chan in enumerate(order))

    with read_guide(guide_of(body)) as guide:
        titles = {chan: [data["values"]["title"] for *_, data in guide.items([chan])] for chan in "abc"}
        both = list(guide.items(["b", "a", "b"]))
        lines = [line for _, line, _, _ in guide.items(["a"])]

    assert titles == {"a": ["a0", "a2", "a3", "a6", "a9"], "b": ["b1", "b4", "b7", "b8"], "c": ["c5"]}
    assert [data["values"]["title"] for *_, data in both] == [f"{c}{i}" for i, c in enumerate(order) if c != "c"]
    assert [seq for seq, *_ in both] == sorted(seq for seq, *_ in both)
    assert lines == [i + 3 for i, chan in enumerate(order) if chan == "a"]


def test_texts_have_their_whitespace_folded_and_entities_kept_readable():
    body = (
        '<programme start="20250101000000 +0000" channel="a">'
        "<title>\n   Tabs\tand\u00a0spaces  here </title>"
        "<sub-title>Already tidy, with an accent: é</sub-title>"
        "<desc>Two&nbsp;words and &unknown; one</desc></programme>\n"
    )
    with read_guide(guide_of(body, '<!DOCTYPE tv SYSTEM "xmltv.dtd">\n')) as guide:
        [(_, _, _, data)] = guide.items(["a"])

    assert data["values"]["title"] == "Tabs and spaces here"
    assert data["values"]["subtitle"] == "Already tidy, with an accent: é"
    assert data["values"]["summary"] == "Two words and &unknown; one"


def test_every_programme_with_a_bad_time_is_a_bad_item_of_its_own():
    bad = '<programme start="20250230000000 +0000" channel="a"><title>Never</title></programme>\n'
    with read_guide(guide_of(bad + programme("a", 1, "Fine") + bad)) as guide:
        items = list(guide.items(["a"]))
        bad_items = guide.bad_items

    assert [(b.line, b.channel) for b in bad_items] == [(3, "a"), (5, "a")]
    assert all("not a real date" in b.message for b in bad_items)
    assert [data["values"]["title"] for *_, data in items] == ["Fine"]
