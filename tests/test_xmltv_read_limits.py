"""Reading a guide whatever it holds (SPEC §7): memory stays flat, characters XML 1.0 cannot carry are bad items."""

import io

import pytest
from lxml import etree

from schedule_service.interchange import xmltv_read
from schedule_service.interchange.xmltv_read import read_guide

HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<tv>\n<channel id="one"><display-name>One</display-name></channel>\n'


def programme(title: bytes, start: str = "20311121100000", **extra: bytes) -> bytes:
    more = b"".join(b"<%s>%s</%s>" % (tag.encode(), text, tag.encode()) for tag, text in extra.items())
    return b'<programme start="%s +0000" channel="one"><title>%s</title>%s</programme>\n' % (
        start.encode(),
        title,
        more,
    )


class TreeWatch:
    """The most elements the parser's tree held at once, looked at each time the parser reads."""

    def __init__(self, monkeypatch):
        self.root = None
        self.most = 0
        real = etree.iterparse
        watch = self

        class Watched:
            def __init__(self, *args, **kwargs):
                self.parser = real(*args, **kwargs)

            @property
            def root(self):
                return self.parser.root

            def __iter__(self):
                for event, el in self.parser:
                    if watch.root is None:
                        watch.root = el.getroottree().getroot()
                    yield event, el

        monkeypatch.setattr(xmltv_read.etree, "iterparse", Watched)

    def __call__(self, _bytes_read: int) -> None:
        if self.root is not None:
            self.most = max(self.most, sum(1 for _ in self.root.iter()))


def read(data: bytes, watch=None, chunk: int | None = None):
    stream = io.BytesIO(data) if chunk is None else Trickle(data, chunk)
    return read_guide(stream, progress=watch)


class Trickle:
    """A stream that gives at most ``chunk`` bytes a read, as a slow upload would."""

    def __init__(self, data: bytes, chunk: int):
        self.data, self.chunk, self.at = data, chunk, 0

    def read(self, size: int = -1) -> bytes:
        size = self.chunk if size < 0 else min(size, self.chunk)
        piece = self.data[self.at : self.at + size]
        self.at += len(piece)
        return piece


# Memory


def test_many_unknown_elements_are_freed_as_they_are_read(monkeypatch):
    junk = b"<junk><a>x</a><b>y</b><c><d>z</d></c></junk>\n" * 40_000  # 1.8 MB, 200,000 elements
    data = HEAD + programme(b"Before") + junk + programme(b"After", "20311121110000") + b"</tv>"
    watch = TreeWatch(monkeypatch)

    with read(data, watch) as guide:
        titles = [d["values"]["title"] for *_, d in guide.items(["one"])]

    assert titles == ["Before", "After"]
    assert 0 < watch.most < 100


def test_one_huge_unknown_element_is_freed_as_it_is_read(monkeypatch):
    inside = b"<item><name>x</name></item>\n" * 50_000
    data = HEAD + b"<catalogue>" + inside + b"</catalogue>\n" + programme(b"After") + b"</tv>"
    watch = TreeWatch(monkeypatch)

    with read(data, watch) as guide:
        assert [d["values"]["title"] for *_, d in guide.items(["one"])] == ["After"]

    assert 0 < watch.most < 100


def test_a_programme_holding_too_many_elements_is_a_bad_item_and_does_not_grow_the_tree(monkeypatch):
    crowded = b'<programme start="20311121100000 +0000" channel="one"><title>Crowded</title>'
    crowded += b"<rating><value>x</value></rating>" * 20_000 + b"</programme>\n"
    data = HEAD + crowded + programme(b"Fine", "20311121110000") + b"</tv>"
    watch = TreeWatch(monkeypatch)

    with read(data, watch) as guide:
        assert [d["values"]["title"] for *_, d in guide.items(["one"])] == ["Fine"]
        (bad,) = guide.bad_items

    assert bad.line == 4 and bad.channel == "one" and "more than" in bad.message
    assert watch.most < 3 * xmltv_read.MAX_ITEM_ELEMENTS


# Characters XML 1.0 cannot carry


@pytest.mark.parametrize(
    ("text", "field", "code"),
    [
        (b"Ctrl&#1;TV", "title", "U+0001"),
        (b"Bell\x07TV", "title", "U+0007"),
        (b"Not&#xFFFE;a char", "title", "U+FFFE"),
        (b"Half &#xD800; a pair", "title", "U+D800"),
        (b"Raw half \xed\xa0\x80 a pair", "title", "U+D800"),
        (b"Raw \xef\xbf\xbf", "title", "U+FFFF"),
    ],
)
def test_a_character_xml_cannot_carry_is_a_bad_item_on_its_line(text, field, code):
    data = HEAD + programme(b"Good") + programme(text, "20311121110000") + b"</tv>"

    with read(data) as guide:
        assert [d["values"]["title"] for *_, d in guide.items(["one"])] == ["Good"]
        (bad,) = guide.bad_items

    assert bad.line == 5 and bad.channel == "one"
    assert bad.message.startswith(f"{field} holds {code}")
    assert ("unpaired surrogate" in bad.message) == code.startswith("U+D8")


def test_bad_characters_are_found_in_every_text_field_and_across_reads():
    data = (
        HEAD
        + programme(b"Desc", desc=b"a\x01b")
        + programme(b"Sub", "20311121110000", **{"sub-title": b"&#31;"})
        + b'<programme start="20311121120000 +0000" channel="one"><title>Guest</title>'
        + b'<credits><guest role="x">Serzh&#x0B;Sargsyan</guest></credits></programme>\n'
        + programme(b"Fine", "20311121130000")
        + b"</tv>"
    )

    for chunk in (None, 1, 3, 7):  # a reference or a UTF-8 sequence split over two reads is still found
        with read(data, chunk=chunk) as guide:
            assert [d["values"]["title"] for *_, d in guide.items(["one"])] == ["Fine"]
            assert [(b.line, b.message.split(" holds ")[0]) for b in guide.bad_items] == [
                (4, "summary"),
                (5, "subtitle"),
                (6, "guests.0.name"),
            ]


def test_a_bad_character_in_a_channel_or_its_id_is_a_bad_item():
    data = (
        b"<tv>\n"
        b'<channel id="two"><display-name>Tw&#2;o</display-name></channel>\n'
        b'<programme start="20311121100000 +0000" channel="th&#3;ree"><title>X</title></programme>\n'
        b"</tv>"
    )
    with read(data) as guide:
        assert [(b.line, b.channel, b.message.split(",")[0]) for b in guide.bad_items] == [
            (2, "two", "display-name.0 holds U+0002"),
            (3, None, "channel holds U+0003"),
        ]


def test_other_encodings_are_checked_and_their_own_letters_left_alone():
    # In windows-1251 the bytes of a UTF-8 U+FFFF ("яїї") are letters, not a bad character.
    data = (
        '<?xml version="1.0" encoding="windows-1251"?>\n<tv>\n'
        '<programme start="20311121100000 +0000" channel="one"><title>яїї</title></programme>\n'
        '<programme start="20311121110000 +0000" channel="one"><title>Б\x01</title></programme>\n'
        "</tv>"
    ).encode("windows-1251")

    with read(data) as guide:
        assert [d["values"]["title"] for *_, d in guide.items(["one"])] == ["яїї"]
        assert [(b.line, b.message.split(",")[0]) for b in guide.bad_items] == [(4, "title holds U+0001")]


def test_valid_references_and_plain_text_come_through_unchanged():
    data = HEAD + programme(b"Caf&#233; &#x41;&amp;B \xd0\x9c\xd0\xb8\xd1\x80 &#x1F4FA;") + b"</tv>"
    with read(data, chunk=5) as guide:
        assert [d["values"]["title"] for *_, d in guide.items(["one"])] == ["Café A&B Мир 📺"]
        assert guide.bad_items == []


@pytest.mark.parametrize(
    ("mapping", "said"),
    [
        ('{"one": {"slug": "one", "name": "Ctrl\\u0001TV"}}', "name holds U+0001"),
        ('{"one": {"slug": "one", "name": "Half \\ud800"}}', "name holds U+D800, an unpaired surrogate"),
        ('{"one": {"slug": 5}}', "slug must be text"),
        ('{"one": {"slug": "one", "languages": 5}}', "languages must be a list"),
        ('{"one": {"slug": "one", "languages": [5]}}', "languages.0 must be text"),
    ],
)
def test_a_channel_map_with_bad_text_is_refused_naming_the_entry(mapping, said):
    with pytest.raises(ValueError, match="'one'") as refused:
        xmltv_read.load_channel_map(io.StringIO(mapping))
    assert said in str(refused.value)
