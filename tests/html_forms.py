"""A page's form as a browser reads and submits it: what a person sees in it, and what Save sends.

Follows the HTML standard's "constructing the entry list": the controls of the form in tree
order (and those outside it that name it with ``form=``), not the disabled ones, checkboxes and
radio buttons only when checked, the selected options of a select (a single select with none
marked selected sends its first option), textareas as typed (the newline right after the tag is
not part of the value; newlines go out as CRLF), text inputs without their newlines, and of the
buttons only the one pressed.
"""

import re
from dataclasses import dataclass

import lxml.html
from werkzeug.datastructures import MultiDict

#: Input types whose value loses its newlines (the standard's value sanitization).
_ONE_LINE = {"text", "search", "tel", "password", "hidden", "email", "url"}
_NOT_SENT = {"submit", "image", "reset", "button", "file"}


@dataclass
class HtmlForm:
    """One form of a page: where it goes, and its fields as (name, value) pairs in order."""

    action: str
    method: str
    fields: list[tuple[str, str]]

    def values(self, name: str) -> list[str]:
        """Every value sent under ``name`` (a multi-select or checkbox group sends several)."""
        return [v for n, v in self.fields if n == name]

    def value(self, name: str) -> str:
        """The one value sent under ``name``; fails when there is none or several."""
        found = self.values(name)
        assert len(found) == 1, f"{name!r} is sent {len(found)} times: {found}"
        return found[0]

    def data(self) -> MultiDict:
        """What pressing the button sends, in order, for a test client's ``data=``."""
        return MultiDict(self.fields)

    def changed(self, typed: dict[str, str | None]) -> MultiDict:
        """What is sent after the person typed ``typed`` into those fields; None unticks a checkbox."""
        sent = dict(self.fields)
        out = [(n, typed[n]) if n in typed else (n, v) for n, v in self.fields]
        out += [(n, v) for n, v in typed.items() if n not in sent]
        return MultiDict([(n, v) for n, v in out if v is not None])


def read_form(html: str, base_url: str, css: str = "form[method=post]", index: int = 0, submit: str | None = None):
    """The ``index``-th form matching ``css`` on the page, as pressing ``submit`` would send it.

    :param submit: the pressed button's ``value`` (or text); None presses the form's first submit button.
    """
    page = lxml.html.fromstring(html)
    forms = page.cssselect(css)
    assert len(forms) > index, f"the page has {len(forms)} form(s) matching {css!r}"
    form = forms[index]
    form_id = form.get("id")
    controls = [
        el
        for el in page.iter("input", "select", "textarea", "button")
        if (el.get("form") == form_id if el.get("form") else _owner(el) is form)
    ]
    pressed = _pressed(controls, submit)
    fields: list[tuple[str, str]] = []
    for el in controls:
        name = el.get("name")
        if not name or _disabled(el):
            continue
        if el.tag == "button" or (el.tag == "input" and (el.get("type") or "text").lower() in _NOT_SENT):
            if el is pressed:
                fields.append((name, el.get("value", "")))
            continue
        if el.tag == "textarea":
            text = el.text or ""
            fields.append((name, _crlf(text[1:] if text.startswith("\n") else text)))
        elif el.tag == "select":
            fields += [(name, value) for value in _selected(el)]
        else:
            kind = (el.get("type") or "text").lower()
            value = el.get("value")
            if kind in ("checkbox", "radio"):
                if el.get("checked") is not None:
                    fields.append((name, "on" if value is None else value))
                continue
            value = value or ""
            if kind in _ONE_LINE:
                value = value.replace("\r", "").replace("\n", "")
            if kind in ("email", "url"):
                value = value.strip()
            fields.append((name, value))
    action = form.get("action") or base_url
    return HtmlForm(action=action, method=(form.get("method") or "get").lower(), fields=fields)


def _owner(el):
    for parent in el.iterancestors():
        if parent.tag == "form":
            return parent
    return None


def _disabled(el) -> bool:
    if el.get("disabled") is not None:
        return True
    for parent in el.iterancestors("fieldset"):
        if parent.get("disabled") is not None:
            legend = parent.find("legend")
            if legend is None or el not in legend.iterdescendants():
                return True
    return False


def _pressed(controls, submit: str | None):
    buttons = [
        el
        for el in controls
        if (el.tag == "button" and (el.get("type") or "submit").lower() == "submit")
        or (el.tag == "input" and (el.get("type") or "").lower() in ("submit", "image"))
    ]
    if submit is None:
        return buttons[0] if buttons else None
    for el in buttons:
        if submit in (el.get("value"), _text(el)):
            return el
    raise AssertionError(f"no button {submit!r} in the form")


def _selected(select) -> list[str]:
    options = [o for o in select.iter("option") if o.get("disabled") is None]
    chosen = [o for o in options if o.get("selected") is not None]
    multiple = select.get("multiple") is not None
    if not chosen and not multiple and options and int(select.get("size") or 1) == 1:
        chosen = options[:1]
    if not multiple:
        chosen = chosen[-1:]  # of several marked selected, the last one wins
    return [o.get("value") if o.get("value") is not None else _text(o) for o in chosen]


def _text(el) -> str:
    return re.sub(r"[ \t\n\f\r]+", " ", el.text_content()).strip()


def _crlf(text: str) -> str:
    return re.sub(r"\r\n|\r|\n", "\r\n", text)
