"""What text the service takes in: characters XML 1.0 can carry, and bounded sizes.

Every text the service stores ends up in XMLTV, RSS/Atom or iCalendar, so a character those
formats cannot hold is refused at the door (the API's parser and the staff forms use
:func:`refusal`), and the serialisers pass stored text through :func:`xml_safe` anyway.
"""

import re

#: Anything outside XML 1.0's Char production: C0 controls but tab, LF and CR; the surrogates
#: (a lone one cannot be encoded at all); U+FFFE and U+FFFF.
NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

#: A short text: a name, a title, a role.
SHORT = 300
#: A long text: a summary, a quote.
LONG = 10_000
#: The most any one string of a request may hold, whatever field it is in.
ANY_TEXT = 100_000
#: The most entries a map or list of a request may hold (names, translations, guests…).
ENTRIES = 100
#: How deep a JSON body may nest; every document of the API needs a handful of levels.
DEPTH = 32

#: The largest integer a column holds (PostgreSQL's integer).
MAX_INT = 2**31 - 1


def first_bad(text: str) -> tuple[str, int] | None:
    """The first character of ``text`` that cannot be stored, as "U+0007", and where it is; None if none."""
    found = NOT_XML.search(text)
    return None if found is None else (f"U+{ord(found.group()):04X}", found.start())


def refusal(text: str) -> str | None:
    """Why ``text`` cannot be stored, in words; None when it can."""
    bad = first_bad(text)
    if bad is None:
        return None
    code, at = bad
    if "U+D800" <= code <= "U+DFFF":
        return f"holds an unpaired surrogate ({code}) at position {at}; send valid Unicode"
    return f"holds {code}, a character XML cannot carry, at position {at}"


def xml_safe(text: str | None) -> str | None:
    """``text`` without the characters XML cannot carry (for data stored before they were refused)."""
    if not text:
        return text
    return NOT_XML.sub("", text)


def bad_text(document, limit: int = ANY_TEXT) -> dict:
    """Where a JSON-like document holds text that cannot be stored: {dotted.path: message}."""
    found: dict[str, str] = {}
    stack = [("", document)]
    while stack:  # not recursive: a deep document must not exhaust the stack
        path, value = stack.pop()
        if isinstance(value, str):
            why = refusal(value)
            if why is None and len(value) > limit:
                why = f"is longer than {limit} characters"
            if why:
                found[path or "_schema"] = why
            continue
        if isinstance(value, list):
            value = dict(enumerate(value))
        if isinstance(value, dict):
            for key, sub in value.items():
                sub_path = f"{path}.{_shown(str(key))}" if path else _shown(str(key))
                why = refusal(key) if isinstance(key, str) else None
                if why:
                    found[sub_path] = f"its name {why}"
                else:
                    stack.append((sub_path, sub))
    return dict(sorted(found.items()))


def _shown(key: str) -> str:
    """A key as an answer can name it: what cannot be stored as \\uXXXX (an unpaired surrogate
    could not even be sent back)."""
    return NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", key)


def depth(document) -> int:
    """How deep a parsed JSON document nests (a scalar is 0)."""
    deepest, stack = 0, [(document, 0)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, level + 1)
            stack.extend((sub, level + 1) for sub in value)
    return deepest
