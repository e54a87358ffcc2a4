"""The staff forms' base: Flask-WTF's form, with the text rules applied to every field it holds.

Each form in forms.py derives from :class:`FlaskForm` here, so no field has to remember them:
text XML cannot carry (and any text longer than its own ``Length`` or, without one,
``text_rules.LONG``) is an error beside its field, and an integer no column can hold is taken
as no value and an error, before a view looks anything up with it.
"""

import flask_wtf
from flask_babel import gettext as _
from wtforms import Field, FieldList, FormField, PasswordField
from wtforms.validators import Length

from schedule_service import text_rules


class FlaskForm(flask_wtf.FlaskForm):
    def process(self, *args, **kwargs) -> None:
        super().process(*args, **kwargs)
        self._too_large: set[int] = set()
        for field in _fields(self):
            data = field.data
            if isinstance(data, int) and not isinstance(data, bool) and abs(data) > text_rules.MAX_INT:
                field.data = None
                self._too_large.add(id(field))

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in _fields(self):
            message = self._rule_broken(field)
            if message:
                field.errors = [*field.errors, message]
                valid = False
        return valid

    def _rule_broken(self, field: Field) -> str | None:
        if id(field) in self._too_large:
            return _("A whole number up to %(max)s.", max=text_rules.MAX_INT)
        if not isinstance(field.data, str) or isinstance(field, PasswordField):
            return None
        bad = text_rules.first_bad(field.data)
        if bad:
            return _(
                "This text holds %(code)s, a character that cannot be stored, at position %(at)s.",
                code=bad[0],
                at=bad[1],
            )
        has_own_limit = any(isinstance(v, Length) for v in field.validators)
        if not has_own_limit and len(field.data) > text_rules.LONG:
            return _("At most %(max)s characters.", max=text_rules.LONG)
        return None


def _fields(form):
    """Every field of ``form``, into its sub-forms and lists."""
    for field in form:
        if isinstance(field, FormField):
            yield from _fields(field.form)
        elif isinstance(field, FieldList):
            for entry in field.entries:
                yield from _fields(entry.form) if isinstance(entry, FormField) else (entry,)
        else:
            yield field
