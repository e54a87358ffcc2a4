"""The fast-entry forms of the week grid: repeat a slot, copy days, paste a lineup."""

# Labels are translated when shown, in the language of the request; `_` so that extraction finds them.
from flask_babel import lazy_gettext as _
from wtforms import BooleanField, DateField, RadioField, SelectChoice, SelectField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length

from schedule_service.fast_entry import MAX_LINES
from schedule_service.web.staff.checked_form import FlaskForm


class FastEntryForm(FlaskForm):
    """Look first (a dry run), then apply: both buttons on every fast-entry form."""

    preview = SubmitField(_("Preview"))
    apply = SubmitField(_("Apply"))

    @property
    def dry_run(self) -> bool:
        return not self.apply.data


class RepeatForm(FastEntryForm):
    every = RadioField(
        _("Repeat"),
        choices=[
            SelectChoice("day", _("every day")),
            SelectChoice("weekday", _("on weekdays (Monday to Friday)")),
            SelectChoice("week", _("every week")),
        ],
        default="day",
        validators=[InputRequired()],
    )
    until = DateField(
        _("Until"),
        validators=[InputRequired(message=_("Give the last broadcast day to repeat on."))],
        description=_("the last broadcast day, included"),
    )


class CopyForm(FastEntryForm):
    source = DateField(
        _("Copy from"),
        validators=[InputRequired(message=_("Give the first broadcast day to copy."))],
        description=_("the first broadcast day copied"),
    )
    days = SelectField(
        _("How many days"),
        coerce=int,
        choices=[
            SelectChoice(1, _("one day")),
            *(SelectChoice(n, str(n)) for n in range(2, 7)),
            SelectChoice(7, _("a week (7 days)")),
        ],
        default=1,
    )
    onto = DateField(
        _("Onto"),
        validators=[InputRequired(message=_("Give the broadcast day to copy onto."))],
        description=_("the broadcast day the first one lands on"),
    )


class LineupForm(FastEntryForm):
    day = DateField(_("Broadcast day"), validators=[InputRequired(message=_("Give the broadcast day."))])
    text = TextAreaField(
        _("Lineup"),
        validators=[InputRequired(message=_("Paste one line per programme.")), Length(max=40_000)],
        description=_(
            'one line per programme, "HH:MM Title", in air order; times before the broadcast day starts are '
            "after midnight; each runs until the next, the last for its programme's length or until a last line "
            '"HH:MM" alone (at most %(n)s lines)',
            n=MAX_LINES,
        ),
        render_kw={"rows": 14, "spellcheck": "false"},
    )
    create_missing = BooleanField(_("Create the programmes not found"))
