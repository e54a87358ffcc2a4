"""The promo desk's form: a post's own template (lossless: saving it unchanged changes nothing)."""

from flask_babel import lazy_gettext as _l
from wtforms import TextAreaField
from wtforms.validators import Length

from schedule_service.web.staff.checked_form import FlaskForm


class PostTemplateForm(FlaskForm):
    template = TextAreaField(
        _l("The post's own template"),
        validators=[Length(max=10_000)],
        description=_l("Empty: the template of its step. Placeholders in {{ }}, as in the blurb templates."),
    )
