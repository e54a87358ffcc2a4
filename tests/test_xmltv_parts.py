"""Reading a big guide in two halves at once gives what one reader gives (SPEC §7), or is one reader.

Every test compares the two: the same channels (with their lines, names and counts), the same
programmes in the same order with the same lines, the same bad items, the same SHA-256.
"""

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from schedule_service.interchange import xmltv_parts
from schedule_service.interchange.xmltv_parts import read_guide_in_parts
from schedule_service.interchange.xmltv_read import GuideRefused, read_guide

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE tv SYSTEM "xmltv.dtd">\n<tv generator-info-name="test">\n'


@pytest.fixture(autouse=True)
def small_files_are_cut(monkeypatch):
    monkeypatch.setattr(xmltv_parts, "MIN_SIZE", 1000)


def programme(channel: str, n: int, *, title: str | None = None, lang: str = "en") -> str:
    title = f"Show {n}" if title is None else title
    start = datetime(2031, 11, 20, tzinfo=UTC) + timedelta(hours=n)
    stop = start + timedelta(minutes=30)
    return (
        f'  <programme start="{start:%Y%m%d%H%M%S} +0000" stop="{stop:%Y%m%d%H%M%S} +0000" channel="{channel}">\n'
        f'    <title lang="{lang}">{title}</title>\n'
        f"    <desc>Number {n}, a programme of {channel}.</desc>\n"
        "  </programme>\n"
    )


def channel(chan: str, name: str) -> str:
    return f'  <channel id="{chan}">\n    <display-name lang="en">{name}</display-name>\n  </channel>\n'


def write(tmp_path, text: str):
    path = tmp_path / "guide.xml"
    path.write_bytes(text.encode())
    return path


def read_both(path):
    with read_guide(path) as one, read_guide_in_parts(path) as two:
        assert two.sha256 == one.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert two.name == one.name == path.name
        assert two.programmes == one.programmes
        assert described(two) == described(one)
        assert two.bad_items == one.bad_items
        items = list(two.items(list(two.channels)))
        assert items == list(one.items(list(one.channels)))
        return two, items


def described(guide):
    return [(c.id, c.line, c.names, c.icon, c.programmes, dict(c.title_langs)) for c in guide.channels.values()]


def test_a_guide_read_in_two_halves_is_the_guide_one_reader_reads(tmp_path):
    body = channel("one", "One") + channel("two", "Two")
    body += "".join(programme("one", n) for n in range(60)) + "".join(programme("two", n) for n in range(60))
    path = write(tmp_path, HEAD + body + "</tv>\n")

    guide, items = read_both(path)

    assert guide._parts  # it was read in two halves
    assert len(items) == 120
    lines = path.read_text().splitlines()
    assert all(lines[line - 1].lstrip().startswith("<programme") for _, line, _, _ in items)


def test_channels_first_named_by_programmes_and_declared_later_and_bad_items_in_both_halves(tmp_path):
    body = "".join(programme("late", n) for n in range(40))
    body += programme("late", 99, title="")  # no title: a bad item in the first half
    body += "".join(programme("late", n) for n in range(40, 80))
    body += channel("late", "Declared late") + channel("late", "A second declaration, not taken")
    body += programme("other", 1, title="")  # and one in the second half
    path = write(tmp_path, HEAD + body + "</tv>\n")

    guide, _ = read_both(path)

    assert guide._parts
    assert guide.channels["late"].names == [("en", "Declared late")]
    assert [b.message for b in guide.bad_items] == ["a programme without a title"] * 2


def test_lines_past_65535_are_the_lines_the_elements_start_on(tmp_path):
    # libxml2 keeps 16 bits of an element's line: past 65,535 the reader works the line out.
    body = "".join(programme("one", n) for n in range(17_000))  # four lines each
    body += programme("one", 17_001, title="")
    path = write(tmp_path, HEAD + body + "</tv>\n")

    guide, items = read_both(path)

    lines = path.read_text().splitlines()
    (bad,) = guide.bad_items
    assert bad.line > 65535 and lines[bad.line - 1].lstrip().startswith("<programme")
    assert all(lines[line - 1].lstrip().startswith("<programme") for _, line, _, _ in items)


@pytest.mark.parametrize(
    "middle",
    [
        '<!-- a comment naming <programme start="x"> in the middle -->\n',
        "<![CDATA[ <programme start='x'> ]]>\n",
        "<junk>\n<programme start='20311120000000 +0000' channel='one'><title>x</title></programme>\n</junk>\n",
    ],
    ids=["comment", "cdata", "unknown element"],
)
def test_a_cut_that_is_not_between_two_items_is_read_whole_by_one_reader(tmp_path, monkeypatch, middle):
    first = HEAD + "".join(programme("one", n) for n in range(30))
    text = first + middle + "".join(programme("one", n) for n in range(30, 60)) + "</tv>\n"
    path = write(tmp_path, text)
    # The cut is looked for from the middle on: put the middle at the odd part.
    middle_at = len(first.encode())
    monkeypatch.setattr(xmltv_parts.os.path, "getsize", lambda _p: 2 * middle_at)

    guide, items = read_both(path)

    assert not guide._parts
    assert len(items) == 60


@pytest.mark.parametrize(
    "head",
    [
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<tv>\n',
        '<?xml version="1.0"?>\n<!DOCTYPE tv [<!ELEMENT tv ANY>]>\n<tv>\n',
        '<?xml version="1.0"?>\n<tv xmlns:x="http://example.org/x">\n',
    ],
    ids=["latin-1", "internal subset", "namespaces"],
)
def test_files_the_second_half_could_not_be_read_without_are_read_by_one_reader(tmp_path, head):
    path = write(tmp_path, head + "".join(programme("one", n) for n in range(80)) + "</tv>\n")

    guide, items = read_both(path)

    assert not guide._parts
    assert len(items) == 80


def test_a_fault_in_the_second_half_is_reported_by_one_reader_with_its_line(tmp_path):
    body = "".join(programme("one", n) for n in range(80))
    broken = body.replace(programme("one", 70), programme("one", 70).replace("</title>", "</titel>"))
    path = write(tmp_path, HEAD + broken + "</tv>\n")

    with pytest.raises(GuideRefused) as one:
        read_guide(path)
    with pytest.raises(GuideRefused) as two:
        read_guide_in_parts(path)

    assert two.value.line == one.value.line and "titel" in two.value.message


def test_progress_counts_every_byte_once(tmp_path):
    path = write(tmp_path, HEAD + "".join(programme("one", n) for n in range(100)) + "</tv>\n")
    seen = []

    with read_guide_in_parts(path, progress=seen.append) as guide:
        assert guide._parts

    assert sum(seen) == path.stat().st_size


def test_an_open_file_is_read_in_halves_and_a_stream_by_one_reader(tmp_path):
    import io

    path = write(tmp_path, HEAD + "".join(programme("one", n) for n in range(100)) + "</tv>\n")

    with open(path, "rb") as f, read_guide_in_parts(f) as guide:
        assert guide._parts and guide.programmes == 100 and guide.name == "guide.xml"
    with read_guide_in_parts(io.BytesIO(path.read_bytes()), name="upload.xml") as guide:
        assert not guide._parts and guide.programmes == 100 and guide.name == "upload.xml"
